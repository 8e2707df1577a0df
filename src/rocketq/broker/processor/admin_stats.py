"""Read-only admin requests about consumption and statistics (RocketMQ
``AdminBrokerProcessor``): GET_BROKER_CONSUME_STATS (317), VIEW_BROKER_STATS_DATA (315),
QUERY_CONSUME_TIME_SPAN (303), QUERY_TOPIC_CONSUME_BY_WHO (300), GET_ALL_PRODUCER_INFO
(328), QUERY_CONSUME_QUEUE (321), QUERY_CORRECTION_OFFSET (308) and
GET_SYSTEM_TOPIC_LIST_FROM_BROKER (305).

Statistics come from a :class:`StatsSource`: the broker's
:class:`~rocketq.broker.stats.BrokerStatsManager` (RocketMQ's items, by name and key); an
item it does not keep is "not exist", as Java answers.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from rocketq.broker.processor.admin import mq_key
from rocketq.broker.stats import (  # re-exported: the names VIEW_BROKER_STATS_DATA serves
    BROKER_PUT_NUMS,
    GROUP_GET_NUMS,
    TOPIC_PUT_NUMS,
    StatsSnapshot,
    StatsWindows,
)
from rocketq.common.errors import BrokerError
from rocketq.common.topic import SYSTEM_TOPICS, is_system_topic
from rocketq.remoting import fastjson
from rocketq.remoting.codes import LanguageCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.fastjson import ObjectKey
from rocketq.remoting.headers.broker import (
    GetConsumeStatsInBrokerHeader,
    QueryConsumeQueueRequestHeader,
    QueryConsumeTimeSpanRequestHeader,
    QueryCorrectionOffsetHeader,
    QueryTopicConsumeByWhoRequestHeader,
    ViewBrokerStatsDataRequestHeader,
)

if TYPE_CHECKING:
    from rocketq.broker.client_manager import ConsumerManager, ProducerManager
    from rocketq.broker.config import BrokerConfig
    from rocketq.broker.consumer_offset import ConsumerOffsetManager
    from rocketq.broker.subscription_group import SubscriptionGroupManager
    from rocketq.broker.topic_config import TopicConfigManager
    from rocketq.store.message_store import DefaultMessageStore

__all__ = [
    "BROKER_PUT_NUMS",
    "GROUP_GET_NUMS",
    "TOPIC_PUT_NUMS",
    "AdminStatsProcessor",
    "StatsSnapshot",
    "StatsSource",
    "StatsWindows",
]

# Long.MAX_VALUE: QUERY_CORRECTION_OFFSET's "the compare group is behind" marker.
_LONG_MAX = (1 << 63) - 1


class StatsSource(Protocol):
    """Where VIEW_BROKER_STATS_DATA and consume TPS read figures from."""

    def stats_item(self, name: str, key: str) -> StatsWindows | None:
        """The item ``name``/``key``, or None when the broker keeps no such item."""
        ...

    def tps_group_get_nums(self, group: str, topic: str) -> float:
        """Messages per second the group pulled from the topic over the last minute."""
        ...


class AdminStatsProcessor:
    """One method per request code; see the module docstring."""

    def __init__(
        self,
        *,
        config: BrokerConfig,
        store: DefaultMessageStore,
        topic_config_manager: TopicConfigManager,
        subscription_group_manager: SubscriptionGroupManager,
        consumer_offset_manager: ConsumerOffsetManager,
        consumer_manager: ConsumerManager,
        producer_manager: ProducerManager,
        stats: StatsSource,
    ) -> None:
        self.config = config
        self.store = store
        self.topic_config_manager = topic_config_manager
        self.subscription_group_manager = subscription_group_manager
        self.consumer_offset_manager = consumer_offset_manager
        self.consumer_manager = consumer_manager
        self.producer_manager = producer_manager
        self.stats = stats

    # -- consumption ---------------------------------------------------------------------------

    def get_broker_consume_stats(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """``fetchAllConsumeStatsInBroker``: ConsumeStatsList over every subscription group
        (with ``isOrder``, only ordered topics), and the broker's total lag."""
        h = GetConsumeStatsInBrokerHeader.from_ext(req.ext_fields)
        entries: list[dict[str, list[dict[str, Any]]]] = []
        total_diff = 0
        for group in list(self.subscription_group_manager.table):
            stats_list = []
            for topic in sorted(self.consumer_offset_manager.topics_of_group(group)):
                one = self._consume_stats(group, topic, h.is_order)
                if one is not None:
                    total_diff += one[1]
                    stats_list.append(one[0])
            entries.append({group: stats_list})
        body = {
            "brokerAddr": self.config.broker_addr,
            "consumeStatsList": entries,
            "totalDiff": total_diff,
        }
        return req.make_response(body=fastjson.dumps_java(body))

    def _consume_stats(
        self, group: str, topic: str, order_only: bool
    ) -> tuple[dict[str, Any], int] | None:
        """One group's ConsumeStats on one topic and its lag; None when skipped."""
        config = self.topic_config_manager.select(topic)
        if config is None or (order_only and not config.order):
            return None
        info = self.consumer_manager.groups.get(group)
        if info is not None and info.subscriptions and topic not in info.subscriptions:
            return None  # online, but no longer subscribed to this topic
        table: dict[ObjectKey, dict[str, int]] = {}
        diff = 0
        for qid in range(config.write_queue_nums):
            broker_offset = max(self.store.get_max_offset_in_queue(topic, qid), 0)
            consumer_offset = max(self.consumer_offset_manager.query(group, topic, qid), 0)
            last = 0
            if consumer_offset > 0:
                stamp = self.store.get_message_store_timestamp(topic, qid, consumer_offset - 1)
                last = max(stamp, 0)
            table[mq_key(topic, self.config.broker_name, qid)] = {
                "brokerOffset": broker_offset,
                "consumerOffset": consumer_offset,
                "lastTimestamp": last,
            }
            diff += broker_offset - consumer_offset
        tps = self.stats.tps_group_get_nums(group, topic)
        return {"consumeTps": tps, "offsetTable": table}, diff

    def query_consume_time_span(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """QueryConsumeTimeSpanBody: per queue the oldest and newest store times, the store
        time of the group's last consumed message and how long the next one has waited."""
        h = QueryConsumeTimeSpanRequestHeader.from_ext(req.ext_fields)
        config = self.topic_config_manager.select(h.topic)
        if config is None:
            raise BrokerError(ResponseCode.TOPIC_NOT_EXIST, f"topic[{h.topic}] not exist")
        store, spans = self.store, []
        for qid in range(config.write_queue_nums):
            min_time = store.get_earliest_message_time(h.topic, qid)
            high = store.get_max_offset_in_queue(h.topic, qid)
            max_time = store.get_message_store_timestamp(h.topic, qid, high - 1)
            consumed = self.consumer_offset_manager.query(h.group, h.topic, qid)
            consume_time = (
                store.get_message_store_timestamp(h.topic, qid, consumed - 1)
                if consumed > 0
                else min_time
            )
            delay = 0
            if consumed < high:
                delay = _now_ms() - store.get_message_store_timestamp(h.topic, qid, consumed)
            spans.append(
                {
                    "consumeTimeStamp": consume_time,
                    "delayTime": delay,
                    "maxTimeStamp": max_time,
                    "messageQueue": dict(mq_key(h.topic, self.config.broker_name, qid)),
                    "minTimeStamp": min_time,
                }
            )
        return req.make_response(body=fastjson.dumps({"consumeTimeSpanSet": spans}))

    def query_topic_consume_by_who(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """GroupList: online groups subscribed to the topic plus groups with offsets on it."""
        h = QueryTopicConsumeByWhoRequestHeader.from_ext(req.ext_fields)
        groups = self.consumer_manager.groups_of_topic(h.topic)
        groups |= self.consumer_offset_manager.groups_of_topic(h.topic)
        return req.make_response(body=fastjson.dumps({"groupList": sorted(groups)}))

    def query_correction_offset(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """QueryCorrectionOffsetBody: per queue the smallest offset of the groups (but the
        filtered ones) still readable, or Long.MAX_VALUE where ``compareGroup`` is behind."""
        h = QueryCorrectionOffsetHeader.from_ext(req.ext_fields)
        skip = {g for g in (h.filter_groups or "").split(",") if g.strip()}
        lowest: dict[int, int] = {}
        for group in self.consumer_offset_manager.groups_of_topic(h.topic) - skip:
            for qid, offset in self.consumer_offset_manager.query_all(group, h.topic).items():
                if offset >= self.store.get_min_offset_in_queue(h.topic, qid):
                    lowest[qid] = min(offset, lowest.get(qid, _LONG_MAX))
        compare = self.consumer_offset_manager.query_all(h.compare_group, h.topic)
        for qid, offset in compare.items():
            if qid in lowest:  # Java fails on a queue only the compare group has
                lowest[qid] = _LONG_MAX if lowest[qid] > offset else lowest[qid]
        body = fastjson.dumps_java({"correctionOffsets": dict(sorted(lowest.items()))})
        return req.make_response(body=body)

    # -- queues, producers, topics -------------------------------------------------------------

    def query_consume_queue(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """QueryConsumeQueueResponseBody: ``count`` raw entries of a ConsumeQueue from
        ``index`` (with a group: its subscription, or that it is offline)."""
        h = QueryConsumeQueueRequestHeader.from_ext(req.ext_fields)
        cq = self.store.find_consume_queue(h.topic, h.queue_id)
        if cq is None:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, f"{h.queue_id}@{h.topic} is not exist!")
        body: dict[str, Any] = {
            "maxQueueIndex": cq.max_offset_in_queue(),
            "minQueueIndex": cq.min_offset_in_queue(),
        }
        if h.consumer_group is not None:
            sub = self.consumer_manager.find_subscription(h.consumer_group, h.topic)
            if sub is None:
                body["filterData"] = f"{h.consumer_group}@{h.topic} is not online!"
            else:
                body["subscriptionData"] = sub.to_obj()
                body["filterData"] = "null"  # no ConsumerFilterData: tag filtering
        if not cq.min_offset_in_queue() <= h.index < cq.max_offset_in_queue():
            remark = f"Index {h.index} of {h.queue_id}@{h.topic} is not exist!"
            return req.make_response(remark=remark)
        entries = cq.get_entries(h.index, max(h.count, 0))
        body["queueData"] = [
            {"physicOffset": e.physical_offset, "physicSize": e.size, "tagsCode": e.tags_code}
            for e in entries
        ]
        return req.make_response(body=fastjson.dumps(body))

    def get_all_producer_info(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """ProducerTableInfo: every producer group's live channels."""
        data = {
            group: [
                {
                    "clientId": info.client_id,
                    "language": info.language or LanguageCode.JAVA.name,
                    "lastUpdateTimestamp": info.last_update,
                    "remoteIP": info.client_addr,
                    "version": info.version,
                }
                for info in list(channels.values())
            ]
            for group, channels in list(self.producer_manager.groups.items())
        }
        return req.make_response(body=fastjson.dumps({"data": data}))

    def get_system_topic_list(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """TopicList of ``TopicValidator.getSystemTopicSet``: the fixed system topics, the
        cluster and broker topics, and every ``rmq_sys_`` topic this broker has."""
        topics = set(SYSTEM_TOPICS) | {self.config.broker_cluster_name, self.config.broker_name}
        topics |= {t for t in list(self.topic_config_manager.table) if is_system_topic(t)}
        return req.make_response(body=fastjson.dumps({"topicList": sorted(topics)}))

    def view_broker_stats_data(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """BrokerStatsData of one stats item; SYSTEM_ERROR when the broker has none."""
        h = ViewBrokerStatsDataRequestHeader.from_ext(req.ext_fields)
        item = self.stats.stats_item(h.stats_name, h.stats_key)
        if item is None:
            raise BrokerError(
                ResponseCode.SYSTEM_ERROR, f"The stats <{h.stats_name}> <{h.stats_key}> not exist"
            )
        return req.make_response(body=fastjson.dumps(item.to_obj()))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
