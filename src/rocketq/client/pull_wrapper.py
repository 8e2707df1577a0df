"""What every consumer shares (RocketMQ ``PullAPIWrapper`` and ``MQAdminImpl``): find a
queue's broker, send one PULL_MESSAGE and filter its result by tag text, keep where each
queue should be pulled from next, choose the offset store of a message model, and the
offset lookups of ``MQAdmin``.

Which member of a broker group is asked (Java 4.9 ``PullAPIWrapper``,
``RemoteBrokerOffsetStore``, ``MQAdminImpl``):

* pulls: the broker id the queue's last pull response suggested (``suggestWhichBrokerId``,
  the master until one came), else any member, master first — so a consumer reads from
  a slave while its group has no master in the route, and from the master again once the
  route lists it; pulls to a slave never carry the COMMIT_OFFSET flag;
* committing and querying consumer offsets: the master, else (the route refreshed and
  still without a master) any member, so commits land on a slave while the master is down;
* min / max / timestamp offset lookups: the master only.
"""

from __future__ import annotations

from pathlib import Path

from rocketq.client.instance import (
    MASTER_ID,
    FindBrokerResult,
    MQClientInstance,
    subscribe_info,
)
from rocketq.client.message import MessageQueue, PullResult, PullStatus
from rocketq.client.namespace import queue_with_namespace, queue_without_namespace, with_namespace
from rocketq.client.offset_store import LocalFileOffsetStore, OffsetStore, RemoteBrokerOffsetStore
from rocketq.common.errors import BrokerError, ClientError, RemotingError
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.heartbeat import SubscriptionData

__all__ = [
    "OffsetQueries",
    "PullAPIWrapper",
    "find_broker_addr",
    "find_master_addr",
    "make_offset_store",
    "pull_request_ext",
    "pull_sys_flag",
]

# PullSysFlag bits (client-behaviour.md §4); lite pulls set LITE_PULL as Java 5.x does.
_FLAG_COMMIT_OFFSET, _FLAG_SUSPEND, _FLAG_SUBSCRIPTION, _FLAG_LITE_PULL = 0x1, 0x2, 0x4, 0x10


async def find_broker_addr(
    instance: MQClientInstance,
    mq: MessageQueue,
    broker_id: int = MASTER_ID,
    *,
    only_this_broker: bool = False,
) -> FindBrokerResult:
    """``findBrokerAddressInSubscribe`` for ``mq``'s group; when nothing fits, the route is
    fetched again and any member is taken (Java's second try passes onlyThisBroker=false)."""
    found = instance.find_broker_address_in_subscribe(mq.broker_name, broker_id, only_this_broker)
    if found is None:
        await instance.update_topic_route(mq.topic)
        found = instance.find_broker_address_in_subscribe(mq.broker_name, broker_id, False)
    if found is None:
        raise BrokerError(ResponseCode.SYSTEM_ERROR, f"The broker[{mq.broker_name}] not exist")
    return found


async def find_master_addr(instance: MQClientInstance, mq: MessageQueue) -> str:
    """The master of ``mq``'s group, the route fetched again once if it lists none
    (``MQAdminImpl#maxOffset`` and friends)."""
    addr = instance.find_broker_addr_master(mq.broker_name)
    if addr is None:
        await instance.update_topic_route(mq.topic)
        addr = instance.find_broker_addr_master(mq.broker_name)
    if addr is None:
        raise BrokerError(ResponseCode.SYSTEM_ERROR, f"The broker[{mq.broker_name}] not exist")
    return addr


def pull_sys_flag(*, commit_offset: bool, suspend: bool, lite: bool, slave: bool) -> int:
    """PULL_MESSAGE's sysFlag; a slave never takes a commit offset
    (``PullSysFlag.clearCommitOffsetFlag`` in ``pullKernelImpl``)."""
    flags = _FLAG_SUBSCRIPTION
    if commit_offset and not slave:
        flags |= _FLAG_COMMIT_OFFSET
    if suspend:
        flags |= _FLAG_SUSPEND
    if lite:
        flags |= _FLAG_LITE_PULL
    return flags


class PullAPIWrapper:
    """One consumer's pulls (``PullAPIWrapper``): the broker id each queue is pulled from
    next (``pullFromWhichNodeTable``, set from every pull response's
    ``suggestWhichBrokerId``) and ``pull_kernel``."""

    def __init__(self, instance: MQClientInstance, group: str) -> None:
        self.instance = instance
        self.group = group
        self._pull_from_which_node: dict[MessageQueue, int] = {}

    def update_pull_from_which_node(self, mq: MessageQueue, broker_id: int) -> None:
        """Pull ``mq`` from ``broker_id`` next (what its last response suggested)."""
        self._pull_from_which_node[mq] = broker_id

    def recalculate_pull_from_which_node(self, mq: MessageQueue) -> int:
        """The broker id to pull ``mq`` from: the last suggestion, else the master."""
        return self._pull_from_which_node.get(mq, MASTER_ID)

    async def pull_kernel(
        self,
        mq: MessageQueue,
        sub: SubscriptionData,
        offset: int,
        max_nums: int,
        *,
        suspend_ms: int,
        timeout: float,
        commit_offset: int = 0,
        lite: bool = False,
    ) -> PullResult:
        """``pullKernelImpl`` + ``processPullResult``: one PULL_MESSAGE, filtered by tag text."""
        if offset < 0:
            raise ClientError(f"offset {offset} < 0")
        if max_nums <= 0:
            raise ClientError(f"max_nums {max_nums} <= 0")
        found = await find_broker_addr(self.instance, mq, self.recalculate_pull_from_which_node(mq))
        flags = pull_sys_flag(
            commit_offset=commit_offset > 0, suspend=suspend_ms > 0, lite=lite, slave=found.slave
        )
        header = pull_request_ext(
            self.group, mq, offset, max_nums, flags, max(commit_offset, 0), max(suspend_ms, 0), sub
        )
        try:
            result = await self.instance.api.pull_message(
                found.addr, header, timeout, mq.broker_name
            )
        except RemotingError as exc:
            self.instance.note_broker_failure(mq.topic, exc)
            raise
        self.update_pull_from_which_node(mq, result.suggest_which_broker_id)
        if result.status is PullStatus.FOUND and sub.tags_set and not sub.matches_all:
            # The broker filters by tag hash; a hash collision is caught here by the tag
            # text (only for tag subscriptions: SQL92 ones have no tags to compare).
            tags = set(sub.tags_set)
            result.messages = [m for m in result.messages if m.tags in tags]
        return result


def pull_request_ext(
    group: str,
    mq: MessageQueue,
    offset: int,
    max_nums: int,
    sys_flag: int,
    commit_offset: int,
    suspend_ms: int,
    sub: SubscriptionData,
) -> dict[str, str]:
    """The extFields of ``PullMessageRequestHeader`` for one pull, written out: the frozen
    header object and its generic ``to_ext`` cost ~10 µs a pull (a test keeps both the
    same)."""
    ext = {
        "consumerGroup": group,
        "topic": mq.topic,
        "queueId": str(mq.queue_id),
        "queueOffset": str(offset),
        "maxMsgNums": str(max_nums),
        "sysFlag": str(sys_flag),
        "commitOffset": str(commit_offset),
        "suspendTimeoutMillis": str(suspend_ms),
    }
    if sub.sub_string is not None:
        ext["subscription"] = sub.sub_string
    ext["subVersion"] = str(sub.sub_version)
    if sub.expression_type is not None:
        ext["expressionType"] = sub.expression_type
    return ext


def make_offset_store(
    model: str,
    instance: MQClientInstance,
    group: str,
    store_dir: str,
    *,
    oneway: bool = False,
) -> OffsetStore:
    """CLUSTERING: the broker keeps offsets (its master, else a slave); BROADCASTING: a
    local file. ``oneway`` commits without waiting for the broker (the push consumer, as
    Java's ``persistAll``); otherwise a commit is on the broker when it returns."""
    if model == "BROADCASTING":
        return LocalFileOffsetStore(instance.client_id, group, Path(store_dir))

    async def fetch(mq: MessageQueue) -> int:
        found = await find_broker_addr(instance, mq, MASTER_ID, only_this_broker=True)
        try:
            return await instance.api.query_consumer_offset(found.addr, group, mq)
        except RemotingError as exc:
            instance.note_broker_failure(mq.topic, exc)
            raise

    async def commit(mq: MessageQueue, offset: int) -> None:
        found = await find_broker_addr(instance, mq, MASTER_ID, only_this_broker=True)
        try:
            await instance.api.update_consumer_offset(found.addr, group, mq, offset, oneway)
        except RemotingError as exc:
            instance.note_broker_failure(mq.topic, exc)
            raise

    return RemoteBrokerOffsetStore(fetch, commit, group=group)


class OffsetQueries:
    """Offset lookups both consumers offer (RocketMQ ``MQAdmin``). Queues and topics are
    given and returned in plain names; ``namespace`` (``ClientConfig.namespace``) is added
    on the wire (``queueWithNamespace``)."""

    instance: MQClientInstance
    namespace: str = ""

    async def min_offset(self, mq: MessageQueue) -> int:
        """The lowest offset still stored in ``mq``."""
        mq = queue_with_namespace(self.namespace, mq)
        addr = await find_master_addr(self.instance, mq)
        return await self.instance.api.get_min_offset(addr, mq)

    async def max_offset(self, mq: MessageQueue) -> int:
        """The offset the next message of ``mq`` will get."""
        mq = queue_with_namespace(self.namespace, mq)
        addr = await find_master_addr(self.instance, mq)
        return await self.instance.api.get_max_offset(addr, mq)

    async def offset_for_timestamp(self, mq: MessageQueue, timestamp: int) -> int:
        """The first offset of ``mq`` stored at or after ``timestamp`` (epoch ms)."""
        mq = queue_with_namespace(self.namespace, mq)
        addr = await find_master_addr(self.instance, mq)
        return await self.instance.api.search_offset(addr, mq, timestamp)

    async def fetch_message_queues(self, topic: str) -> list[MessageQueue]:
        """Every readable queue of ``topic``, fresh from the NameServer, sorted."""
        wire = with_namespace(self.namespace, topic)
        if not await self.instance.update_topic_route(wire):
            raise ClientError(f"Can not find Message Queue for this topic, {topic}")
        route = self.instance.route_table[wire]
        return sorted(
            queue_without_namespace(self.namespace, mq) for mq in subscribe_info(wire, route)
        )


# -- lite pull consumer ----------------------------------------------------------------------
