"""The admin requests of ``mqadmin`` and the console and the offset lookups of clients
(RocketMQ ``AdminBrokerProcessor``, ``Broker2Client#resetOffset``), plus
``register_admin_processors`` for them, for the orderly-consume locks
(:mod:`rocketq.broker.processor.locks`) and for ``QueryMessageProcessor``.

MessageQueue-keyed bodies (TopicStatsTable, ConsumeStats, ResetOffsetBody) are written with
``fastjson.dumps_java``, the object-key form Java's tools read (remoting.md §6).
"""

from __future__ import annotations

import copy
import logging
import shutil
import time
from typing import TYPE_CHECKING, Any

from rocketq.broker.processor.locks import RebalanceLockManager, RebalanceLockProcessor, json_body
from rocketq.broker.processor.query import QueryMessageProcessor
from rocketq.broker.subscription_group import SubscriptionGroupConfig
from rocketq.broker.topic_attributes import alter_attributes, parse_modification
from rocketq.common.config import dump_properties, parse_properties
from rocketq.common.errors import BrokerError
from rocketq.common.topic import TopicConfig, is_system_topic, topic_name_problem
from rocketq.remoting import fastjson
from rocketq.remoting.body import DataVersion, KVTable
from rocketq.remoting.codes import LanguageCode, RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection, ProcessorTable
from rocketq.remoting.fastjson import ObjectKey
from rocketq.remoting.headers import (
    CreateTopicRequestHeader,
    DeleteSubscriptionGroupRequestHeader,
    DeleteTopicRequestHeader,
    GetConsumerConnectionListRequestHeader,
    GetConsumeStatsRequestHeader,
    GetEarliestMsgStoretimeRequestHeader,
    GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader,
    GetMaxOffsetResponseHeader,
    GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader,
    GetProducerConnectionListRequestHeader,
    GetTopicStatsInfoRequestHeader,
    ResetOffsetRequestHeader,
    SearchOffsetRequestHeader,
    SearchOffsetResponseHeader,
    parse_bool,
)
from rocketq.store.config import SLAVE

if TYPE_CHECKING:
    from rocketq.broker.client_manager import ClientChannelInfo, ConsumerManager, ProducerManager
    from rocketq.broker.config import BrokerConfig
    from rocketq.broker.consumer_offset import ConsumerOffsetManager
    from rocketq.broker.registrar import Registrar
    from rocketq.broker.schedule import DelayOffsetFile
    from rocketq.broker.stats import BrokerStatsManager
    from rocketq.broker.subscription_group import SubscriptionGroupManager
    from rocketq.broker.topic_config import TopicConfigManager
    from rocketq.store.config import StoreConfig
    from rocketq.store.message_store import DefaultMessageStore

__all__ = ["AdminBrokerProcessor", "RebalanceLockManager", "register_admin_processors"]

log = logging.getLogger("rocketq.broker")

# MQVersion: the version this broker reports, and its name.
BROKER_VERSION = 401
BROKER_VERSION_DESC = "V4_9_4"
# MQVersion.Version.V3_0_7_SNAPSHOT: older clients cannot take RESET_CONSUMER_CLIENT_OFFSET.
# Store settings whose threads and files are set up at start: updateBrokerConfig leaves
# them as they are (Java writes the new value and then fails its sends' flush waits).
START_ONLY_KEYS = frozenset({"flushDiskType"})
_VERSION_RESET_OFFSET = 28  # its ordinal in MQVersion.Version (V3_0_0_SNAPSHOT = 0)
# TopicValidator.SYSTEM_TOPIC_PREFIX: topics named like this belong to the broker.
_SLAVE_REMARK = (
    "Can't modify topic or subscription group from slave broker, "
    "please execute it from master broker."
)


def mq_key(topic: str, broker_name: str, queue_id: int) -> ObjectKey:
    """A ``MessageQueue`` as a fastjson object key."""
    return ObjectKey((("brokerName", broker_name), ("queueId", queue_id), ("topic", topic)))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class AdminBrokerProcessor:
    """One method per admin request code."""

    def __init__(
        self,
        *,
        config: BrokerConfig,
        store_config: StoreConfig,
        store: DefaultMessageStore,
        topic_config_manager: TopicConfigManager,
        subscription_group_manager: SubscriptionGroupManager,
        consumer_offset_manager: ConsumerOffsetManager,
        consumer_manager: ConsumerManager,
        producer_manager: ProducerManager,
        delay_offsets: DelayOffsetFile,
        registrar: Registrar,
        boot_timestamp: int,
        stats: BrokerStatsManager,
    ) -> None:
        self.config = config
        self.store_config = store_config
        self.store = store
        self.topic_config_manager = topic_config_manager
        self.subscription_group_manager = subscription_group_manager
        self.consumer_offset_manager = consumer_offset_manager
        self.consumer_manager = consumer_manager
        self.producer_manager = producer_manager
        self.delay_offsets = delay_offsets
        self.registrar = registrar
        self.boot_timestamp = boot_timestamp
        self.config_version = DataVersion(timestamp=_now_ms())
        self.stats = stats

    # -- topics -----------------------------------------------------------------------------

    def _check_slave(self) -> None:
        if self.store_config.broker_role == SLAVE:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, _SLAVE_REMARK)

    @staticmethod
    def _check_topic(topic: str) -> None:
        """``TopicValidator.validateTopic`` and ``isSystemTopic``."""
        problem = topic_name_problem(topic)
        if problem is not None:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, problem)
        if is_system_topic(topic):
            raise BrokerError(
                ResponseCode.SYSTEM_ERROR, f"The topic[{topic}] is conflict with system topic."
            )

    async def update_and_create_topic(
        self, conn: Connection, req: RemotingCommand
    ) -> RemotingCommand:
        """Create or replace a topic, then register with the NameServers before answering
        (as Java does), so the topic is routable when the admin tool returns."""
        self._check_slave()
        h = CreateTopicRequestHeader.from_ext(req.ext_fields)
        self._check_topic(h.topic)
        if h.read_queue_nums < 0 or h.write_queue_nums < 0:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, "queue numbers may not be negative")
        current = self.topic_config_manager.select(h.topic)
        try:  # RocketMQ 5's attributes: the modification applied to the current ones
            attributes = alter_attributes(
                current.attributes if current else {},
                parse_modification(h.attributes),
                current is None,
            )
        except ValueError as exc:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, str(exc)) from exc
        config = TopicConfig(
            h.topic,
            h.read_queue_nums,
            h.write_queue_nums,
            h.perm,
            h.topic_filter_type,
            h.topic_sys_flag or 0,
            h.order,
            attributes,
        )
        log.info("updateAndCreateTopic %s called by %s", config, conn.peer)
        self.topic_config_manager.update(config)
        await self.registrar.register_broker_all()
        return req.make_response()

    def delete_topic(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Forget a topic and every group's offsets on it (its queue files stay until
        retention removes them)."""
        self._check_slave()
        h = DeleteTopicRequestHeader.from_ext(req.ext_fields)
        self._check_topic(h.topic)
        log.info("deleteTopic %s called by %s", h.topic, conn.peer)
        self.topic_config_manager.delete(h.topic)
        self.consumer_offset_manager.remove_topic(h.topic)
        self.stats.on_topic_deleted(h.topic)
        self.registrar.request_register()
        return req.make_response()

    def get_all_topic_config(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """TopicConfigSerializeWrapper of every topic."""
        return req.make_response(body=self.topic_config_manager.wrapper().encode())

    def get_topic_config(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """5.x GET_TOPIC_CONFIG: one topic's config (TopicConfigAndQueueMapping)."""
        topic = req.ext("topic") or ""
        config = self.topic_config_manager.select(topic)
        if config is None:
            raise BrokerError(
                ResponseCode.TOPIC_NOT_EXIST, f"No topic in this broker. topic: {topic}"
            )
        return req.make_response(body=fastjson.dumps(config.to_obj()))

    def get_topic_stats_info(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """TopicStatsTable: min/max offset and last store time of each write queue."""
        h = GetTopicStatsInfoRequestHeader.from_ext(req.ext_fields)
        config = self.topic_config_manager.select(h.topic)
        if config is None:
            raise BrokerError(ResponseCode.TOPIC_NOT_EXIST, f"topic[{h.topic}] not exist")
        store, name = self.store, self.config.broker_name
        table = {}
        for qid in range(config.write_queue_nums):
            low = max(store.get_min_offset_in_queue(h.topic, qid), 0)
            high = max(store.get_max_offset_in_queue(h.topic, qid), 0)
            stamp = store.get_message_store_timestamp(h.topic, qid, high - 1) if high else 0
            table[mq_key(h.topic, name, qid)] = {
                "lastUpdateTimestamp": stamp,
                "maxOffset": high,
                "minOffset": low,
            }
        return req.make_response(body=fastjson.dumps_java({"offsetTable": table}))

    # -- consumers and producers --------------------------------------------------------------

    def get_consume_stats(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """ConsumeStats: broker offset, committed offset and its store time per queue."""
        h = GetConsumeStatsRequestHeader.from_ext(req.ext_fields)
        group = h.consumer_group
        topics = (
            {h.topic}
            if h.topic and h.topic.strip()
            else self.consumer_offset_manager.topics_of_group(group)
        )
        info = self.consumer_manager.groups.get(group)
        table: dict[ObjectKey, dict[str, int]] = {}
        consume_tps = 0.0  # Java adds up each topic's tpsGroupGetNums
        for topic in sorted(topics):
            config = self.topic_config_manager.select(topic)
            if config is None:
                continue
            if info is not None and info.subscriptions and topic not in info.subscriptions:
                continue  # online, but no longer subscribed to this topic
            consume_tps += self.stats.tps_group_get_nums(group, topic)
            for qid in range(config.read_queue_nums):
                table[mq_key(topic, self.config.broker_name, qid)] = self._offsets(
                    group, topic, qid
                )
        body = {"consumeTps": consume_tps, "offsetTable": table}
        return req.make_response(body=fastjson.dumps_java(body))

    def _offsets(self, group: str, topic: str, qid: int) -> dict[str, int]:
        store = self.store
        broker_offset = max(store.get_max_offset_in_queue(topic, qid), 0)
        consumer_offset = max(self.consumer_offset_manager.query(group, topic, qid), 0)
        last = 0
        if consumer_offset > 0:
            last = max(store.get_message_store_timestamp(topic, qid, consumer_offset - 1), 0)
        return {
            "brokerOffset": broker_offset,
            "consumerOffset": consumer_offset,
            "lastTimestamp": last,
        }

    @staticmethod
    def _connection(info: ClientChannelInfo) -> dict[str, Any]:
        return {
            "clientAddr": info.client_addr,
            "clientId": info.client_id,
            "language": info.language,
            "version": info.version,
        }

    def get_consumer_connection_list(
        self, conn: Connection, req: RemotingCommand
    ) -> RemotingCommand:
        """ConsumerConnection: the group's members and subscriptions."""
        h = GetConsumerConnectionListRequestHeader.from_ext(req.ext_fields)
        info = self.consumer_manager.groups.get(h.consumer_group)
        if info is None or not info.channels:
            raise BrokerError(
                ResponseCode.CONSUMER_NOT_ONLINE,
                f"the consumer group[{h.consumer_group}] not online",
            )
        body = {
            "connectionSet": [self._connection(c) for c in info.channels.values()],
            "consumeFromWhere": info.consume_from_where,
            "consumeType": info.consume_type,
            "messageModel": info.message_model,
            "subscriptionTable": {t: s.to_obj() for t, s in info.subscriptions.items()},
        }
        return req.make_response(body=fastjson.dumps(body))

    def get_producer_connection_list(
        self, conn: Connection, req: RemotingCommand
    ) -> RemotingCommand:
        """ProducerConnection: the group's live channels."""
        h = GetProducerConnectionListRequestHeader.from_ext(req.ext_fields)
        channels = self.producer_manager.groups.get(h.producer_group)
        if channels is None:
            raise BrokerError(
                ResponseCode.SYSTEM_ERROR, f"the producer group[{h.producer_group}] not exist"
            )
        body = {"connectionSet": [self._connection(c) for c in channels.values()]}
        return req.make_response(body=fastjson.dumps(body))

    # -- subscription groups and offsets ------------------------------------------------------

    def update_and_create_subscription_group(
        self, conn: Connection, req: RemotingCommand
    ) -> RemotingCommand:
        """Create or replace a consumer group's settings (body SubscriptionGroupConfig)."""
        self._check_slave()
        obj = json_body(req)
        try:
            config = SubscriptionGroupConfig.from_obj(obj)
        except (TypeError, ValueError) as exc:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, f"bad group config: {exc}") from exc
        if not config.group_name:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, "the group name is blank")
        log.info("updateAndCreateSubscriptionGroup %s called by %s", config, conn.peer)
        self.subscription_group_manager.update(config)
        return req.make_response()

    def get_all_subscription_group(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """SubscriptionGroupWrapper of every group."""
        body = fastjson.dumps(self.subscription_group_manager.encode())
        return req.make_response(body=body)

    def delete_subscription_group(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Forget a group; with ``cleanOffset`` (4.9: ``removeOffset``) its offsets too."""
        self._check_slave()
        h = DeleteSubscriptionGroupRequestHeader.from_ext(req.ext_fields)
        log.info("deleteSubscriptionGroup %s called by %s", h.group_name, conn.peer)
        self.subscription_group_manager.delete(h.group_name)
        self.stats.on_group_deleted(h.group_name)
        if h.clean_offset or parse_bool(req.ext("removeOffset") or "false"):
            self.consumer_offset_manager.remove_group(h.group_name)
        return req.make_response()

    def get_all_consumer_offset(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """ConsumerOffsetSerializeWrapper, bare integer keys as Java writes it."""
        body = fastjson.dumps_java(self.consumer_offset_manager.encode())
        return req.make_response(body=body)

    def get_all_delay_offset(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """The delay levels' progress as ``delayOffset.json`` holds it (a slave keeps a copy,
        ``SlaveSynchronize#syncDelayOffset``); bare integer keys as Java writes them."""
        body = fastjson.dumps_java(self.delay_offsets.encode())
        return req.make_response(body=body)

    def reset_offset(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """INVOKE_BROKER_TO_RESET_OFFSET (``Broker2Client#resetOffset``): offsets by store
        time, RESET_CONSUMER_CLIENT_OFFSET to every member, committed offsets updated."""
        h = ResetOffsetRequestHeader.from_ext(req.ext_fields)
        offsets = self._reset_offsets(h)
        info = self.consumer_manager.groups.get(h.group)
        if info is None or not info.channels:
            raise BrokerError(
                ResponseCode.CONSUMER_NOT_ONLINE,
                "Consumer not online, so can not reset offset, "
                f"Group: {h.group} Topic: {h.topic} Timestamp: {h.timestamp}",
            )
        for member in info.channels.values():
            if member.version < _VERSION_RESET_OFFSET:
                raise BrokerError(
                    ResponseCode.SYSTEM_ERROR,
                    f"the client does not support this feature. version={member.version}",
                )
        request_is_cpp = req.language == LanguageCode.CPP.name
        for member in info.channels.values():
            self._send_reset(member, h, offsets, request_is_cpp)
        for qid, offset in offsets.items():
            self.consumer_offset_manager.commit(h.group, h.topic, qid, offset)
        name = self.config.broker_name
        table = {mq_key(h.topic, name, q): o for q, o in offsets.items()}
        return req.make_response(body=fastjson.dumps_java({"offsetTable": table}))

    def _reset_offsets(self, h: ResetOffsetRequestHeader) -> dict[int, int]:
        config = self.topic_config_manager.select(h.topic)
        if config is None:
            raise BrokerError(
                ResponseCode.TOPIC_NOT_EXIST,
                f"[reset-offset] reset offset failed, no topic in this broker. topic={h.topic}",
            )
        store, com = self.store, self.consumer_offset_manager
        out = {}
        for qid in range(config.write_queue_nums):
            current = com.query(h.group, h.topic, qid)
            if current == -1:
                raise BrokerError(
                    ResponseCode.SYSTEM_ERROR, f"THe consumer group <{h.group}> not exist"
                )
            if h.queue_id is not None and h.queue_id >= 0 and h.offset is not None:
                if qid == h.queue_id:  # 5.x: one queue to an explicit offset
                    out[qid] = h.offset
                continue
            if h.timestamp == -1:
                target = store.get_max_offset_in_queue(h.topic, qid)
            else:
                target = store.get_offset_in_queue_by_time(h.topic, qid, h.timestamp)
            target = max(target, 0)
            out[qid] = target if h.is_force or target < current else current
        return out

    def _send_reset(
        self,
        member: ClientChannelInfo,
        h: ResetOffsetRequestHeader,
        offsets: dict[int, int],
        request_is_cpp: bool,
    ) -> None:
        name = self.config.broker_name
        if request_is_cpp or member.language == LanguageCode.CPP.name:
            # ResetOffsetBodyForC: the C++ client parses a list, not object keys
            entries = [
                {"brokerName": name, "offset": o, "queueId": q, "topic": h.topic}
                for q, o in offsets.items()
            ]
            body = fastjson.dumps({"offsetTable": entries})
        else:
            table = {mq_key(h.topic, name, q): o for q, o in offsets.items()}
            body = fastjson.dumps_java({"offsetTable": table})
        ext = {"topic": h.topic, "group": h.group, "timestamp": str(h.timestamp)}
        ext["isForce"] = "true" if h.is_force else "false"
        cmd = RemotingCommand.request(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, ext, body)
        conn = member.connection
        if isinstance(conn, Connection) and conn.is_open:
            try:
                conn.send_oneway(cmd)
            except Exception as exc:  # the consumer is going away; it re-reads offsets
                log.warning("reset offset to %s failed: %s", member.client_id, exc)

    # -- broker config and runtime ------------------------------------------------------------

    def update_broker_config(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Apply the known broker and store keys of a properties body; those of
        :data:`START_ONLY_KEYS` are checked but left as the broker started, so
        getBrokerConfig keeps telling the mode it runs in."""
        values = parse_properties((req.body or b"").decode("utf-8", "replace"))
        log.info("updateBrokerConfig %s called by %s", values, conn.peer)
        broker, store = self.config, self.store_config
        known = {**broker.keys(), **store.keys()}
        try:  # check every value first so that a bad one changes nothing
            copy.copy(broker).update(values)
            copy.copy(store).update(values)
        except ValueError as exc:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, str(exc)) from exc
        current = store.to_properties()
        start_only = {k for k in values.keys() & START_ONLY_KEYS if values[k] != current.get(k)}
        live = {k: v for k, v in values.items() if k not in START_ONLY_KEYS}
        broker.update(live)
        store.update(live)
        self.store.commit_log.max_message_size = store.max_message_size
        ignored = sorted(set(values) - set(known))
        if ignored:
            log.warning("updateBrokerConfig ignores unknown keys %s", ignored)
        if start_only:
            log.warning("updateBrokerConfig leaves %s as the broker started (read at "
                        "start only: set it in the broker's config file)",
                        sorted(start_only))  # fmt: skip
        self.config_version = DataVersion(
            timestamp=_now_ms(), counter=self.config_version.counter + 1
        )
        if "brokerPermission" in values:
            self.topic_config_manager.next_version()
            self.registrar.request_register()
        return req.make_response()

    def get_broker_config(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Every broker and store setting as properties text; header ``version``."""
        props = {**self.config.to_properties(), **self.store_config.to_properties()}
        ext = {"version": self.config_version.encode().decode()}
        return req.make_response(ext_fields=ext, body=dump_properties(props).encode())

    def get_broker_runtime_info(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """KVTable of figures, with the key names of Java's ``prepareRuntimeInfo``."""
        return req.make_response(body=KVTable(self.runtime_info()).encode())

    def runtime_info(self) -> dict[str, str]:
        """The runtime figures (all values text, as Java sends them)."""
        stats = self.store.stats()
        root = self.store_config.store_path_root_dir
        info = {
            "brokerVersionDesc": BROKER_VERSION_DESC,
            "brokerVersion": str(BROKER_VERSION),
            "bootTimestamp": str(self.boot_timestamp),
            "runtime": _format_runtime(_now_ms() - self.boot_timestamp),
            "commitLogMinOffset": str(stats.commit_log_min_offset),
            "commitLogMaxOffset": str(stats.commit_log_max_offset),
            "putMessageTimesTotal": str(max(stats.put_count, 1)),
            "dispatchBehindBytes": "0",
            "pageCacheLockTimeMills": "0",
            "earliestMessageTimeStamp": str(self._earliest_message_time()),
            "startAcceptSendRequestTimeStamp": "0",
            "remainHowManyDataToFlush": _human_bytes(
                stats.commit_log_max_offset - stats.commit_log_flushed_offset
            ),
        }
        info.update(self.stats.runtime_info())  # putTps ... getTransferedTps, msg*Total*
        info.update(_disk_info(root, self.store_config.commit_log_dir()))
        for key in ("send", "pull", "query"):
            info[f"{key}ThreadPoolQueueSize"] = "0"
            info[f"{key}ThreadPoolQueueHeadWaitTimeMills"] = "0"
        return info

    def _earliest_message_time(self) -> int:
        """Store time of the oldest CommitLog record (``getEarliestMessageTime``)."""
        record = self.store.look_message_by_offset(self.store.min_phy_offset())
        return record.store_timestamp if record is not None else -1

    # -- offsets by queue ----------------------------------------------------------------------

    def search_offset_by_timestamp(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Queue offset of the first message stored at/after the time (5.x ``upper``: last
        at/before)."""
        h = SearchOffsetRequestHeader.from_ext(req.ext_fields)
        upper = (h.boundary_type or "").lower() == "upper"
        offset = self.store.get_offset_in_queue_by_time(h.topic, h.queue_id, h.timestamp, upper)
        return req.make_response(ext_fields=SearchOffsetResponseHeader(offset=offset).to_ext())

    def get_max_offset(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """The queue's next write offset."""
        h = GetMaxOffsetRequestHeader.from_ext(req.ext_fields)
        offset = self.store.get_max_offset_in_queue(h.topic, h.queue_id)
        return req.make_response(ext_fields=GetMaxOffsetResponseHeader(offset=offset).to_ext())

    def get_min_offset(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """The queue's smallest readable offset."""
        h = GetMinOffsetRequestHeader.from_ext(req.ext_fields)
        offset = self.store.get_min_offset_in_queue(h.topic, h.queue_id)
        return req.make_response(ext_fields=GetMinOffsetResponseHeader(offset=offset).to_ext())

    def get_earliest_msg_storetime(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Store time of the queue's oldest readable message (-1 when none)."""
        h = GetEarliestMsgStoretimeRequestHeader.from_ext(req.ext_fields)
        stamp = self.store.get_earliest_message_time(h.topic, h.queue_id)
        ext = GetEarliestMsgStoretimeResponseHeader(timestamp=stamp).to_ext()
        return req.make_response(ext_fields=ext)


def _format_runtime(ms: int) -> str:
    """``StoreStatsService#getFormatRuntime``."""
    seconds = ms // 1000
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"[ {days} days, {hours} hours, {minutes} minutes, {seconds} seconds ]"


def _human_bytes(n: int) -> str:
    """``MixAll.humanReadableByteCount(n, false)``."""
    if n < 1024:
        return f"{n} B"
    exp, value = 0, float(n)
    while value >= 1024 and exp < 6:
        value /= 1024
        exp += 1
    return f"{value:.1f} {'KMGTPE'[exp - 1]}iB"


def _disk_info(root: str, commit_log_dir: str) -> dict[str, str]:
    """Disk used ratios and capacity of the store's partition."""
    try:
        usage = shutil.disk_usage(root)
    except OSError:
        return {"commitLogDiskRatio": "-1.0", "consumeQueueDiskRatio": "-1.0"}
    ratio = str((usage.total - usage.free) / usage.total if usage.total else -1.0)
    return {
        "commitLogDiskRatio": ratio,
        f"commitLogDiskRatio_{commit_log_dir}": ratio,
        "consumeQueueDiskRatio": ratio,
        "commitLogDirCapacity": (
            f"Total : {_human_bytes(usage.total)}, Free : {_human_bytes(usage.free)}."
        ),
    }


def register_admin_processors(
    table: ProcessorTable, admin: AdminBrokerProcessor, query: QueryMessageProcessor
) -> None:
    """Register the admin request codes (and QUERY_MESSAGE / VIEW_MESSAGE_BY_ID)."""
    rc = RequestCode
    locks = RebalanceLockProcessor()
    table.register(rc.UPDATE_AND_CREATE_TOPIC, admin.update_and_create_topic)
    handlers = {
        rc.DELETE_TOPIC_IN_BROKER: admin.delete_topic,
        rc.GET_ALL_TOPIC_CONFIG: admin.get_all_topic_config,
        rc.GET_TOPIC_CONFIG: admin.get_topic_config,
        rc.GET_TOPIC_STATS_INFO: admin.get_topic_stats_info,
        rc.GET_CONSUME_STATS: admin.get_consume_stats,
        rc.GET_CONSUMER_CONNECTION_LIST: admin.get_consumer_connection_list,
        rc.GET_PRODUCER_CONNECTION_LIST: admin.get_producer_connection_list,
        rc.GET_BROKER_RUNTIME_INFO: admin.get_broker_runtime_info,
        rc.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: admin.update_and_create_subscription_group,
        rc.GET_ALL_SUBSCRIPTIONGROUP_CONFIG: admin.get_all_subscription_group,
        rc.DELETE_SUBSCRIPTIONGROUP: admin.delete_subscription_group,
        rc.INVOKE_BROKER_TO_RESET_OFFSET: admin.reset_offset,
        rc.UPDATE_BROKER_CONFIG: admin.update_broker_config,
        rc.GET_BROKER_CONFIG: admin.get_broker_config,
        rc.GET_MAX_OFFSET: admin.get_max_offset,
        rc.GET_MIN_OFFSET: admin.get_min_offset,
        rc.SEARCH_OFFSET_BY_TIMESTAMP: admin.search_offset_by_timestamp,
        rc.GET_EARLIEST_MSG_STORETIME: admin.get_earliest_msg_storetime,
        rc.LOCK_BATCH_MQ: locks.lock_batch_mq,
        rc.UNLOCK_BATCH_MQ: locks.unlock_batch_mq,
        rc.GET_ALL_CONSUMER_OFFSET: admin.get_all_consumer_offset,
        rc.GET_ALL_DELAY_OFFSET: admin.get_all_delay_offset,
        rc.QUERY_MESSAGE: query.query_message,
        rc.VIEW_MESSAGE_BY_ID: query.view_message_by_id,
    }
    for code, handler in handlers.items():
        table.register(code, handler)
