"""Consumer and producer inspection of the admin API (``MQAdminExt``): a client's running
info and status relayed by the broker, a message consumed directly, a broker's consume
stats, time spans, who consumes a topic, cloned and corrected offsets, producers. A mixin
of :class:`~rocketq.admin.api.AdminClient`; bodies are returned as the plain JSON objects
RocketMQ sends (object keys become :class:`~rocketq.remoting.fastjson.ObjectKey`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rocketq.client.api import MQClientAPI, check_response
from rocketq.client.message import MessageQueue
from rocketq.common.errors import BrokerError
from rocketq.common.record import decode_offset_msg_id
from rocketq.common.topic import retry_topic
from rocketq.remoting import fastjson
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.fastjson import ObjectKey
from rocketq.remoting.headers.broker import (
    CloneGroupOffsetRequestHeader,
    ConsumeMessageDirectlyResultRequestHeader,
    GetConsumerRunningInfoRequestHeader,
    GetConsumerStatusRequestHeader,
    GetConsumeStatsInBrokerHeader,
    QueryConsumeTimeSpanRequestHeader,
    QueryCorrectionOffsetHeader,
    QueryTopicConsumeByWhoRequestHeader,
)

__all__ = ["ConsumersMixin", "mq_of"]

# DefaultMQAdminExtImpl waits three RPC timeouts for a client's running info: the broker
# itself waits up to 10 s for the client.
_RELAYED_TIMEOUT_FACTOR = 3


def mq_of(key: Any) -> MessageQueue:
    """A MessageQueue from a fastjson object key, a quoted JSON key or a plain object."""
    if isinstance(key, ObjectKey):
        return MessageQueue.from_obj(key.as_dict())
    if isinstance(key, dict):
        return MessageQueue.from_obj(key)
    return MessageQueue.from_obj(fastjson.loads(key))


class ConsumersMixin:
    """Requests about consumers and producers (see the module docstring)."""

    api: MQClientAPI
    timeout: float

    if TYPE_CHECKING:  # provided by AdminClient

        async def _route_brokers(self, topic: str) -> list[tuple[str, str]]: ...

    async def _json(
        self, addr: str, code: int, ext: dict[str, str] | None = None, timeout: float | None = None
    ) -> Any:
        cmd = RemotingCommand.request(code, ext)
        if timeout is None:
            resp = await self.api.request(addr, cmd)
        else:
            resp = check_response(await self.api.remoting.invoke(addr, cmd, timeout))
        return fastjson.loads(resp.body) if resp.body else {}

    async def _group_broker(self, group: str) -> str:
        """The first broker of ``%RETRY%group`` (where the group's clients heartbeat)."""
        brokers = await self._route_brokers(retry_topic(group))
        if not brokers:
            raise BrokerError(ResponseCode.TOPIC_NOT_EXIST, f"no broker serves group {group}")
        return brokers[0][1]

    async def consumer_running_info(
        self, group: str, client_id: str, jstack: bool = False
    ) -> dict[str, Any]:
        """GET_CONSUMER_RUNNING_INFO, relayed by a broker of the group to the client:
        its ConsumerRunningInfo (properties, subscriptionSet, mqTable, statusTable)."""
        addr = await self._group_broker(group)
        ext = GetConsumerRunningInfoRequestHeader(
            consumer_group=group, client_id=client_id, jstack_enable=jstack
        ).to_ext()
        timeout = self.timeout * _RELAYED_TIMEOUT_FACTOR
        result: dict[str, Any] = await self._json(
            addr, RequestCode.GET_CONSUMER_RUNNING_INFO, ext, timeout
        )
        return result

    async def consume_message_directly(
        self, group: str, client_id: str, msg_id: str, topic: str | None = None
    ) -> dict[str, Any]:
        """CONSUME_MESSAGE_DIRECTLY to the broker that stored the message (the offset msgId
        ``msg_id`` names it, as ``DefaultMQAdminExtImpl`` asks the store host): the client
        consumes that message; its ConsumeMessageDirectlyResult."""
        (host, port), _offset = decode_offset_msg_id(msg_id)
        ext = ConsumeMessageDirectlyResultRequestHeader(
            consumer_group=group, client_id=client_id, msg_id=msg_id
        ).to_ext()
        if topic:
            ext["topic"] = topic
        timeout = self.timeout * _RELAYED_TIMEOUT_FACTOR
        result: dict[str, Any] = await self._json(
            f"{host}:{port}", RequestCode.CONSUME_MESSAGE_DIRECTLY, ext, timeout
        )
        return result

    async def consumer_status(
        self, topic: str, group: str, client_addr: str | None = None
    ) -> dict[str, dict[MessageQueue, int]]:
        """INVOKE_BROKER_TO_GET_CONSUMER_STATUS on every broker of the topic: clientId ->
        {queue: offset} as each consumer holds them (``getConsumeStatus``)."""
        out: dict[str, dict[MessageQueue, int]] = {}
        ext = GetConsumerStatusRequestHeader(topic=topic, group=group, client_addr=client_addr)
        for _name, addr in await self._route_brokers(topic):
            obj = await self._json(
                addr, RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS, ext.to_ext()
            )
            for client, table in (obj.get("consumerTable") or {}).items():
                mine = out.setdefault(str(client), {})
                mine.update({mq_of(k): int(v) for k, v in (table or {}).items()})
        return out

    async def broker_all_consume_stats(
        self, broker_addr: str, order_only: bool = False, timeout: float | None = None
    ) -> dict[str, Any]:
        """GET_BROKER_CONSUME_STATS: ConsumeStatsList (``brokerAddr``, ``totalDiff`` and
        ``consumeStatsList``: [{group: [ConsumeStats]}])."""
        ext = GetConsumeStatsInBrokerHeader(is_order=order_only).to_ext()
        result: dict[str, Any] = await self._json(
            broker_addr, RequestCode.GET_BROKER_CONSUME_STATS, ext, timeout
        )
        return result

    async def consume_time_span(self, topic: str, group: str) -> list[dict[str, Any]]:
        """QUERY_CONSUME_TIME_SPAN on every broker of the topic: per queue its min, max and
        consumed store times and the delay of the next message."""
        ext = QueryConsumeTimeSpanRequestHeader(topic=topic, group=group).to_ext()
        spans: list[dict[str, Any]] = []
        for _name, addr in await self._route_brokers(topic):
            obj = await self._json(addr, RequestCode.QUERY_CONSUME_TIME_SPAN, dict(ext))
            spans.extend(obj.get("consumeTimeSpanSet") or [])
        return spans

    async def topic_consumed_by(self, topic: str) -> list[str]:
        """QUERY_TOPIC_CONSUME_BY_WHO on every broker of the topic (``queryTopicConsumeByWho``
        asks the first; the union is what a user means)."""
        groups: set[str] = set()
        ext = QueryTopicConsumeByWhoRequestHeader(topic=topic).to_ext()
        for _name, addr in await self._route_brokers(topic):
            obj = await self._json(addr, RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, dict(ext))
            groups.update(str(g) for g in obj.get("groupList") or [])
        return sorted(groups)

    async def clone_group_offset(
        self, src_group: str, dest_group: str, topic: str, offline: bool = False
    ) -> None:
        """CLONE_GROUP_OFFSET on every broker of the topic."""
        ext = CloneGroupOffsetRequestHeader(
            src_group=src_group, dest_group=dest_group, topic=topic, offline=offline
        ).to_ext()
        for _name, addr in await self._route_brokers(topic):
            await self.api.request(
                addr, RemotingCommand.request(RequestCode.CLONE_GROUP_OFFSET, dict(ext))
            )

    async def correction_offsets(
        self, broker_addr: str, topic: str, compare_group: str, filter_groups: str | None = None
    ) -> dict[int, int]:
        """QUERY_CORRECTION_OFFSET of one broker: queue -> offset."""
        ext = QueryCorrectionOffsetHeader(
            compare_group=compare_group, topic=topic, filter_groups=filter_groups
        ).to_ext()
        obj = await self._json(broker_addr, RequestCode.QUERY_CORRECTION_OFFSET, ext)
        return {int(k): int(v) for k, v in (obj.get("correctionOffsets") or {}).items()}

    async def all_producer_info(self, broker_addr: str) -> dict[str, list[dict[str, Any]]]:
        """GET_ALL_PRODUCER_INFO: producer group -> its ProducerInfo list."""
        obj = await self._json(broker_addr, RequestCode.GET_ALL_PRODUCER_INFO)
        return {str(g): list(v or []) for g, v in (obj.get("data") or {}).items()}
