"""The lookups producers and consumers offer besides sending and consuming (RocketMQ
``MQAdminImpl``): view a message by msgId, query messages by key, the offset of a time,
a queue's min/max offsets and the queues of a topic. Each works through the client
instance's routes and its :class:`~rocketq.client.api.MQClientAPI`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rocketq.client.message import MessageExt, MessageQueue
from rocketq.common.errors import BrokerError, ClientError, RemotingError
from rocketq.common.message import MessageConst
from rocketq.common.record import RecordFormatError, decode_offset_msg_id
from rocketq.common.topic import PERM_READ
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.headers import QueryMessageRequestHeader

if TYPE_CHECKING:
    from rocketq.client.instance import MQClientInstance

__all__ = ["MQAdminImpl"]

# Long.MAX_VALUE: "no end" of a time range.
LONG_MAX = (1 << 63) - 1
# MQAdminImpl#queryMessageByUniqKey asks for at most 32 copies of one msgId.
_UNIQ_KEY_MAX_NUM = 32
# TCP port numbers end here.
_MAX_PORT = 65535


class MQAdminImpl:
    """Lookups over one client instance."""

    def __init__(self, instance: MQClientInstance) -> None:
        self.instance = instance

    async def _broker_addr(self, mq: MessageQueue) -> str:
        addr = self.instance.find_broker_addr_master(mq.broker_name)
        if addr is None:
            await self.instance.update_topic_route(mq.topic)
            addr = self.instance.find_broker_addr_master(mq.broker_name)
        if addr is None:
            raise ClientError(f"The broker[{mq.broker_name}] not exist")
        return addr

    async def search_offset(self, mq: MessageQueue, timestamp: int) -> int:
        """The first offset of ``mq`` stored at or after ``timestamp`` (ms)."""
        return await self.instance.api.search_offset(await self._broker_addr(mq), mq, timestamp)

    async def max_offset(self, mq: MessageQueue) -> int:
        """The offset the next message of ``mq`` will get."""
        return await self.instance.api.get_max_offset(await self._broker_addr(mq), mq)

    async def min_offset(self, mq: MessageQueue) -> int:
        """The lowest offset ``mq`` still holds."""
        return await self.instance.api.get_min_offset(await self._broker_addr(mq), mq)

    async def earliest_msg_store_time(self, mq: MessageQueue) -> int:
        """The store time (ms) of the oldest message of ``mq``."""
        addr = await self._broker_addr(mq)
        return await self.instance.api.get_earliest_msg_storetime(addr, mq)

    async def fetch_subscribe_message_queues(self, topic: str) -> list[MessageQueue]:
        """Every readable queue of ``topic`` (``fetchSubscribeMessageQueues``)."""
        route = await self.instance.api.get_topic_route(topic)
        return sorted(
            MessageQueue(topic, qd.broker_name, i)
            for qd in route.queue_datas
            if qd.perm & PERM_READ
            for i in range(qd.read_queue_nums)
        )

    async def view_message(self, msg_id: str, topic: str | None = None) -> MessageExt:
        """The message of an offset msgId (VIEW_MESSAGE_BY_ID at the broker it names); with
        ``topic``, a UNIQ_KEY msgId is looked up too (``viewMessage(topic, msgId)``: Java
        tries the offset form first and falls back on any failure)."""
        addr_offset = _offset_id(msg_id)
        if topic is None:
            if addr_offset is None:
                raise ClientError(f"not an offset msgId: {msg_id!r} (give the topic)")
            return await self.instance.api.view_message(*addr_offset)
        if addr_offset is not None:
            try:
                return await self.instance.api.view_message(*addr_offset)
            except (BrokerError, RemotingError):
                pass
        found = await self.query_message(topic, msg_id, _UNIQ_KEY_MAX_NUM, unique=True)
        if not found:
            remark = f"query message by key finished, no message {msg_id}"
            raise BrokerError(ResponseCode.QUERY_NOT_FOUND, remark)
        return found[0]

    async def query_message(
        self,
        topic: str,
        key: str,
        max_num: int = 64,
        begin: int = 0,
        end: int = LONG_MAX,
        *,
        unique: bool = False,
    ) -> list[MessageExt]:
        """Messages of ``topic`` with ``key`` among their KEYS (or, ``unique``, with this
        UNIQ_KEY) stored between ``begin`` and ``end`` ms, from every broker of the topic,
        oldest first (``MQAdminImpl#queryMessage``)."""
        route = await self.instance.api.get_topic_route(topic)
        header = QueryMessageRequestHeader(
            topic=topic, key=key, max_num=max_num, begin_timestamp=begin, end_timestamp=end
        )
        found: list[MessageExt] = []
        for bd in route.broker_datas:
            addr = bd.broker_addrs.get(0) or next(iter(bd.broker_addrs.values()), None)
            if addr is not None:
                found += await self.instance.api.query_message(addr, header, unique, bd.broker_name)
        return sorted(
            (m for m in found if _matches(m, key, unique)),
            key=lambda m: (m.store_timestamp, m.commit_log_offset),
        )


def _matches(msg: MessageExt, key: str, unique: bool) -> bool:
    """The index holds hashes: keep only messages that really carry the key."""
    if unique:
        return msg.properties.get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX) == key
    keys = msg.properties.get(MessageConst.KEYS, "")
    return key in keys.split(MessageConst.KEY_SEPARATOR)


def _offset_id(msg_id: str) -> tuple[str, int] | None:
    """(broker address, commit-log offset) of an offset msgId; None for anything else. A
    UNIQ_KEY msgId has the same length, but where the port would be it holds the pid and
    more, beyond 65535 (Java's InetSocketAddress refuses it the same way)."""
    try:
        (host, port), offset = decode_offset_msg_id(msg_id)
    except RecordFormatError:
        return None
    if not 0 < port <= _MAX_PORT:
        return None
    return f"{host}:{port}", offset
