"""Queue allocation strategies: which queues of a topic this consumer pulls.

Each strategy is a small class with RocketMQ's ``name`` and
``allocate(consumer_group, current_cid, mq_all, cid_all) -> list[MessageQueue]``,
computing exactly what the Java client's strategy of the same name computes
(``client/consumer/rebalance/*``), so that rocketq consumers and Java/C++/ons consumers in
one group split the queues without overlap or gaps.

The caller sorts both inputs the way ``RebalanceImpl#rebalanceByTopic`` does: queues by
(topic, brokerName, queueId) and client ids as strings. A strategy never re-sorts.

Like ``AbstractAllocateMessageQueueStrategy#check``, an empty ``current_cid``, ``mq_all``
or ``cid_all`` is a caller bug and raises ``ClientError`` (Java throws, and its rebalance
keeps the previous assignment); a ``current_cid`` missing from ``cid_all`` yields ``[]``.

========================  ======================================  ===========
class                     Java class                              ``name``
========================  ======================================  ===========
AllocateAveragely         AllocateMessageQueueAveragely           AVG
AllocateAveragelyByCircle AllocateMessageQueueAveragelyByCircle   AVG_BY_CIRCLE
AllocateConsistentHash    AllocateMessageQueueConsistentHash      CONSISTENT_HASH
AllocateByConfig          AllocateMessageQueueByConfig            CONFIG
AllocateByMachineRoom     AllocateMessageQueueByMachineRoom       MACHINE_ROOM
AllocateMachineRoomNearby AllocateMachineRoomNearby               MACHINE_ROOM_NEARBY-<inner>
========================  ======================================  ===========
"""

from __future__ import annotations

import bisect
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Protocol, TypeVar

from rocketq.client.message import MessageQueue
from rocketq.common.errors import ClientError

__all__ = [
    "ALLOCATE_STRATEGIES",
    "DEFAULT_VIRTUAL_NODE_COUNT",
    "AllocateAveragely",
    "AllocateAveragelyByCircle",
    "AllocateByConfig",
    "AllocateByMachineRoom",
    "AllocateConsistentHash",
    "AllocateMachineRoomNearby",
    "AllocateMessageQueueStrategy",
    "MachineRoomResolver",
    "md5_hash",
    "message_queue_key",
]

_log = logging.getLogger(__name__)

_T = TypeVar("_T")

# AllocateMessageQueueConsistentHash() uses 10 virtual nodes per consumer; the ring must
# be built identically for a Java consumer and ours to agree on every queue.
DEFAULT_VIRTUAL_NODE_COUNT = 10


class AllocateMessageQueueStrategy(Protocol):
    """What a rebalance needs from a strategy (Java ``AllocateMessageQueueStrategy``)."""

    @property
    def name(self) -> str:
        """RocketMQ's name of the strategy (``getName``)."""
        ...

    def allocate(
        self,
        consumer_group: str,
        current_cid: str,
        mq_all: Sequence[MessageQueue],
        cid_all: Sequence[str],
    ) -> list[MessageQueue]:
        """The queues of ``mq_all`` that ``current_cid`` should consume."""
        ...


def _check(
    consumer_group: str, current_cid: str, mq_all: Sequence[MessageQueue], cid_all: Sequence[str]
) -> bool:
    """``AbstractAllocateMessageQueueStrategy#check``: raise on empty input, False if absent."""
    if not current_cid:
        raise ClientError("currentCID is empty")
    if not mq_all:
        raise ClientError("mqAll is null or mqAll empty")
    if not cid_all:
        raise ClientError("cidAll is null or cidAll empty")
    if current_cid not in cid_all:
        _log.info(
            "[BUG] ConsumerGroup: %s The consumerId: %s not in cidAll: %s",
            consumer_group,
            current_cid,
            list(cid_all),
        )
        return False
    return True


class AllocateAveragely:
    """Contiguous blocks; the first ``len(mq_all) % len(cid_all)`` consumers get one more.

    8 queues / 3 consumers -> 3, 3, 2; more consumers than queues -> one each, the rest none.
    """

    __slots__ = ()
    name = "AVG"

    def allocate(
        self,
        consumer_group: str,
        current_cid: str,
        mq_all: Sequence[MessageQueue],
        cid_all: Sequence[str],
    ) -> list[MessageQueue]:
        """See the class docstring."""
        if not _check(consumer_group, current_cid, mq_all, cid_all):
            return []
        n, c = len(mq_all), len(cid_all)
        index = list(cid_all).index(current_cid)
        mod = n % c
        bigger = mod > 0 and index < mod
        size = 1 if n <= c else (n // c + 1 if bigger else n // c)
        start = index * size if bigger else index * size + mod
        count = min(size, n - start)
        return list(mq_all[start : start + count]) if count > 0 else []


class AllocateAveragelyByCircle:
    """Round robin: consumer ``i`` takes queues ``i, i + c, i + 2c, ...``."""

    __slots__ = ()
    name = "AVG_BY_CIRCLE"

    def allocate(
        self,
        consumer_group: str,
        current_cid: str,
        mq_all: Sequence[MessageQueue],
        cid_all: Sequence[str],
    ) -> list[MessageQueue]:
        """See the class docstring."""
        if not _check(consumer_group, current_cid, mq_all, cid_all):
            return []
        index = list(cid_all).index(current_cid)
        return list(mq_all[index :: len(cid_all)])


class HashFunction(Protocol):
    """Hashes a string onto the ring (Java ``HashFunction``)."""

    def __call__(self, key: str) -> int:
        """The ring position of ``key``."""
        ...


def md5_hash(key: str) -> int:
    """``ConsistentHashRouter.MD5Hash``: the first 4 MD5 bytes, big-endian, unsigned.

    Java hashes ``key.getBytes()`` (the platform charset, UTF-8 on every usual JVM).
    """
    return int.from_bytes(hashlib.md5(key.encode("utf-8")).digest()[:4], "big")


def message_queue_key(mq: MessageQueue) -> str:
    """Java ``MessageQueue#toString``: the key a queue is routed by on the hash ring."""
    return f"MessageQueue [topic={mq.topic}, brokerName={mq.broker_name}, queueId={mq.queue_id}]"


class _HashRing:
    """``ConsistentHashRouter``: virtual nodes ``"<cid>-<i>"`` in a sorted ring."""

    __slots__ = ("_hash", "_nodes", "_points")

    def __init__(self, cids: Iterable[str], virtual_nodes: int, hash_fn: HashFunction) -> None:
        self._hash = hash_fn
        ring: dict[int, str] = {}
        replicas: dict[str, int] = {}
        for cid in cids:
            # addNode numbers a repeated node's replicas after the existing ones
            existing = replicas.get(cid, 0)
            for i in range(virtual_nodes):
                ring[hash_fn(f"{cid}-{i + existing}")] = cid  # TreeMap#put: last one wins
            replicas[cid] = existing + virtual_nodes
        self._points = sorted(ring)
        self._nodes = [ring[p] for p in self._points]

    def route(self, key: str) -> str | None:
        """The node owning ``key``: first point >= hash(key), wrapping to the first point."""
        if not self._points:
            return None
        i = bisect.bisect_left(self._points, self._hash(key))
        return self._nodes[i if i < len(self._points) else 0]


class AllocateConsistentHash:
    """Consistent hashing of ``MessageQueue#toString`` onto a ring of consumer virtual nodes.

    Adding or removing a consumer moves only the queues next to its virtual nodes.
    """

    __slots__ = ("_hash", "_virtual_nodes")
    name = "CONSISTENT_HASH"

    def __init__(
        self,
        virtual_node_count: int = DEFAULT_VIRTUAL_NODE_COUNT,
        hash_function: HashFunction | None = None,
    ) -> None:
        if virtual_node_count < 0:
            raise ClientError(f"illegal virtualNodeCnt :{virtual_node_count}")
        self._virtual_nodes = virtual_node_count
        self._hash: HashFunction = hash_function or md5_hash

    def allocate(
        self,
        consumer_group: str,
        current_cid: str,
        mq_all: Sequence[MessageQueue],
        cid_all: Sequence[str],
    ) -> list[MessageQueue]:
        """See the class docstring."""
        if not _check(consumer_group, current_cid, mq_all, cid_all):
            return []
        ring = _HashRing(cid_all, self._virtual_nodes, self._hash)
        return [mq for mq in mq_all if ring.route(message_queue_key(mq)) == current_cid]


class AllocateByConfig:
    """A fixed list of queues, whatever the group looks like (no input checks, as Java)."""

    __slots__ = ("_queues",)
    name = "CONFIG"

    def __init__(self, message_queues: Iterable[MessageQueue]) -> None:
        self._queues = tuple(message_queues)

    @property
    def message_queues(self) -> tuple[MessageQueue, ...]:
        """The configured queues."""
        return self._queues

    def allocate(
        self,
        consumer_group: str,
        current_cid: str,
        mq_all: Sequence[MessageQueue],
        cid_all: Sequence[str],
    ) -> list[MessageQueue]:
        """The configured queues."""
        return list(self._queues)


def _java_split(text: str, sep: str) -> list[str]:
    """Java ``String#split`` with a literal separator: trailing empty parts are dropped."""
    parts = text.split(sep)
    while parts and not parts[-1]:
        parts.pop()
    return parts


class AllocateByMachineRoom:
    """Queues of brokers named ``"<room>@<broker>"`` whose room is one of ``consumer_idcs``.

    The eligible queues are split into ``len(eligible) // c`` contiguous ones per consumer,
    and the remainder ``eligible[i + (len // c) * c]`` goes to consumers ``i < len % c``.
    Brokers not following the ``room@name`` convention are never allocated.
    """

    __slots__ = ("_idcs",)
    name = "MACHINE_ROOM"

    def __init__(self, consumer_idcs: Iterable[str]) -> None:
        self._idcs = frozenset(consumer_idcs)

    @property
    def consumer_idcs(self) -> frozenset[str]:
        """The machine rooms this consumer takes queues from."""
        return self._idcs

    def allocate(
        self,
        consumer_group: str,
        current_cid: str,
        mq_all: Sequence[MessageQueue],
        cid_all: Sequence[str],
    ) -> list[MessageQueue]:
        """See the class docstring."""
        if not _check(consumer_group, current_cid, mq_all, cid_all):
            return []
        index = list(cid_all).index(current_cid)
        eligible = [mq for mq in mq_all if self._in_rooms(mq.broker_name)]
        c = len(cid_all)
        per, rem = divmod(len(eligible), c)
        result = eligible[per * index : per * index + per]
        if rem > index:
            result.append(eligible[index + per * c])
        return result

    def _in_rooms(self, broker_name: str) -> bool:
        parts = _java_split(broker_name, "@")
        return len(parts) == 2 and parts[0] in self._idcs


class MachineRoomResolver(Protocol):
    """Where brokers and consumers run (Java ``AllocateMachineRoomNearby.MachineRoomResolver``)."""

    def broker_deploy_in(self, mq: MessageQueue) -> str:
        """The machine room of the queue's broker (never empty)."""
        ...

    def consumer_deploy_in(self, client_id: str) -> str:
        """The machine room of a consumer (never empty)."""
        ...


class AllocateMachineRoomNearby:
    """Prefer queues in the consumer's own machine room, via an inner strategy.

    Queues of a room with consumers go to those consumers only; queues of a room without
    any consumer are shared by all consumers.
    """

    __slots__ = ("_inner", "_resolver")

    def __init__(self, inner: AllocateMessageQueueStrategy, resolver: MachineRoomResolver) -> None:
        self._inner = inner
        self._resolver = resolver

    @property
    def name(self) -> str:
        """``MACHINE_ROOM_NEARBY-<inner name>``."""
        return f"MACHINE_ROOM_NEARBY-{self._inner.name}"

    def allocate(
        self,
        consumer_group: str,
        current_cid: str,
        mq_all: Sequence[MessageQueue],
        cid_all: Sequence[str],
    ) -> list[MessageQueue]:
        """See the class docstring."""
        if not _check(consumer_group, current_cid, mq_all, cid_all):
            return []
        room_mqs = _group(mq_all, self._resolver.broker_deploy_in, "mq")
        room_cids = _group(cid_all, self._resolver.consumer_deploy_in, "consumer id")
        own_room = self._resolver.consumer_deploy_in(current_cid)
        result: list[MessageQueue] = []
        own_mqs = room_mqs.pop(own_room, [])
        if own_mqs:
            own_cids = room_cids[own_room]
            result += self._inner.allocate(consumer_group, current_cid, own_mqs, own_cids)
        for room in sorted(room_mqs):  # TreeMap order
            if room not in room_cids:
                result += self._inner.allocate(consumer_group, current_cid, room_mqs[room], cid_all)
        return result


def _group(items: Iterable[_T], room_of: Callable[[_T], str], what: str) -> dict[str, list[_T]]:
    rooms: dict[str, list[_T]] = {}
    for item in items:
        room = room_of(item)
        if not room:
            raise ClientError(f"Machine room is null for {what} {item}")
        rooms.setdefault(room, []).append(item)
    return rooms


# Strategies that need no configuration, by RocketMQ name (e.g. from a consumer config).
ALLOCATE_STRATEGIES: Mapping[str, Callable[[], AllocateMessageQueueStrategy]] = MappingProxyType(
    {
        AllocateAveragely.name: AllocateAveragely,
        AllocateAveragelyByCircle.name: AllocateAveragelyByCircle,
        AllocateConsistentHash.name: AllocateConsistentHash,
    }
)
