"""What both pull consumers share (RocketMQ ``PullAPIWrapper`` and ``MQAdminImpl``): find
a queue's broker, send one PULL_MESSAGE and filter its result by tag text, choose the
offset store of a message model, and the offset lookups of ``MQAdmin``."""

from __future__ import annotations

from pathlib import Path

from rocketq.client.instance import MQClientInstance, subscribe_info
from rocketq.client.message import MessageQueue, PullResult, PullStatus
from rocketq.client.offset_store import LocalFileOffsetStore, OffsetStore, RemoteBrokerOffsetStore
from rocketq.common.errors import BrokerError, ClientError
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.headers import PullMessageRequestHeader
from rocketq.remoting.heartbeat import SubscriptionData

__all__ = ["OffsetQueries", "find_broker_addr", "make_offset_store", "pull_kernel"]

# PullSysFlag bits (client-behaviour.md §4); lite pulls set LITE_PULL as Java 5.x does.
_FLAG_SUSPEND, _FLAG_SUBSCRIPTION, _FLAG_LITE_PULL = 0x2, 0x4, 0x10


async def find_broker_addr(instance: MQClientInstance, mq: MessageQueue, master: bool) -> str:
    """The master (offset queries) or any member (pulls) of ``mq``'s broker group."""
    for attempt in range(2):
        if master:
            addr = instance.find_broker_addr_master(mq.broker_name)
        else:
            addr = instance.find_broker_addr_subscribe(mq.broker_name)
        if addr is not None:
            return addr
        if attempt == 0:
            await instance.update_topic_route(mq.topic)
    raise BrokerError(ResponseCode.SYSTEM_ERROR, f"The broker[{mq.broker_name}] not exist")


async def pull_kernel(
    instance: MQClientInstance,
    group: str,
    mq: MessageQueue,
    sub: SubscriptionData,
    offset: int,
    max_nums: int,
    *,
    suspend_ms: int,
    timeout: float,
    lite: bool = False,
) -> PullResult:
    """``pullKernelImpl`` + ``processPullResult``: one PULL_MESSAGE, filtered by tag text."""
    if offset < 0:
        raise ClientError(f"offset {offset} < 0")
    if max_nums <= 0:
        raise ClientError(f"max_nums {max_nums} <= 0")
    addr = await find_broker_addr(instance, mq, master=False)
    flags = _FLAG_SUBSCRIPTION | (_FLAG_SUSPEND if suspend_ms > 0 else 0)
    header = PullMessageRequestHeader(
        consumer_group=group,
        topic=mq.topic,
        queue_id=mq.queue_id,
        queue_offset=offset,
        max_msg_nums=max_nums,
        sys_flag=flags | (_FLAG_LITE_PULL if lite else 0),
        commit_offset=0,
        suspend_timeout_millis=max(suspend_ms, 0),
        subscription=sub.sub_string,
        sub_version=sub.sub_version,
        expression_type=sub.expression_type,
    )
    result = await instance.api.pull_message(addr, header, timeout, mq.broker_name)
    if result.status is PullStatus.FOUND and not sub.matches_all:
        # The broker filters by tag hash; a hash collision is caught here by the tag text.
        tags = set(sub.tags_set)
        result.messages = [m for m in result.messages if m.tags in tags]
    return result


def make_offset_store(
    model: str, instance: MQClientInstance, group: str, store_dir: str
) -> OffsetStore:
    """CLUSTERING: the broker keeps offsets; BROADCASTING: a local file."""
    if model == "BROADCASTING":
        return LocalFileOffsetStore(instance.client_id, group, Path(store_dir))

    async def fetch(mq: MessageQueue) -> int:
        addr = await find_broker_addr(instance, mq, master=True)
        return await instance.api.query_consumer_offset(addr, group, mq)

    async def commit(mq: MessageQueue, offset: int) -> None:
        addr = await find_broker_addr(instance, mq, master=True)
        # Acknowledged (not oneway) so that a commit is on the broker when it returns.
        await instance.api.update_consumer_offset(addr, group, mq, offset, oneway=False)

    return RemoteBrokerOffsetStore(fetch, commit, group=group)


class OffsetQueries:
    """Offset lookups both consumers offer (RocketMQ ``MQAdmin``)."""

    instance: MQClientInstance

    async def min_offset(self, mq: MessageQueue) -> int:
        """The lowest offset still stored in ``mq``."""
        addr = await find_broker_addr(self.instance, mq, master=True)
        return await self.instance.api.get_min_offset(addr, mq)

    async def max_offset(self, mq: MessageQueue) -> int:
        """The offset the next message of ``mq`` will get."""
        addr = await find_broker_addr(self.instance, mq, master=True)
        return await self.instance.api.get_max_offset(addr, mq)

    async def offset_for_timestamp(self, mq: MessageQueue, timestamp: int) -> int:
        """The first offset of ``mq`` stored at or after ``timestamp`` (epoch ms)."""
        addr = await find_broker_addr(self.instance, mq, master=True)
        return await self.instance.api.search_offset(addr, mq, timestamp)

    async def fetch_message_queues(self, topic: str) -> list[MessageQueue]:
        """Every readable queue of ``topic``, fresh from the NameServer, sorted."""
        if not await self.instance.update_topic_route(topic):
            raise ClientError(f"Can not find Message Queue for this topic, {topic}")
        route = self.instance.route_table[topic]
        return sorted(subscribe_info(topic, route))


# -- lite pull consumer ----------------------------------------------------------------------
