"""Queue allocation strategies against hand-computed results of Java's algorithms."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rocketq.client.message import MessageQueue
from rocketq.client.rebalance import (
    ALLOCATE_STRATEGIES,
    AllocateAveragely,
    AllocateAveragelyByCircle,
    AllocateByConfig,
    AllocateByMachineRoom,
    AllocateConsistentHash,
    AllocateMachineRoomNearby,
    AllocateMessageQueueStrategy,
    md5_hash,
    message_queue_key,
)
from rocketq.common.errors import ClientError

GROUP = "g"


def queues(n: int, topic: str = "T", brokers: tuple[str, ...] = ("b",)) -> list[MessageQueue]:
    per = -(-n // len(brokers))
    mqs = [MessageQueue(topic, b, i) for b in brokers for i in range(per)][:n]
    return sorted(mqs)


def cids(c: int) -> list[str]:
    return sorted(f"10.0.0.{i}@{i}" for i in range(c))


def split(
    strategy: AllocateMessageQueueStrategy, mqs: list[MessageQueue], ids: list[str]
) -> list[list[int]]:
    """Indices into ``mqs`` each consumer gets, in cid order."""
    return [[mqs.index(q) for q in strategy.allocate(GROUP, cid, mqs, ids)] for cid in ids]


@pytest.mark.parametrize(
    ("n", "c", "expected"),
    [
        (8, 3, [[0, 1, 2], [3, 4, 5], [6, 7]]),
        (5, 3, [[0, 1], [2, 3], [4]]),
        (6, 3, [[0, 1], [2, 3], [4, 5]]),
        (2, 4, [[0], [1], [], []]),
        (3, 3, [[0], [1], [2]]),
        (1, 1, [[0]]),
        (10, 4, [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]),
    ],
)
def test_averagely(n: int, c: int, expected: list[list[int]]) -> None:
    assert split(AllocateAveragely(), queues(n), cids(c)) == expected


@pytest.mark.parametrize(
    ("n", "c", "expected"),
    [
        (8, 3, [[0, 3, 6], [1, 4, 7], [2, 5]]),
        (5, 3, [[0, 3], [1, 4], [2]]),
        (2, 4, [[0], [1], [], []]),
    ],
)
def test_averagely_by_circle(n: int, c: int, expected: list[list[int]]) -> None:
    assert split(AllocateAveragelyByCircle(), queues(n), cids(c)) == expected


@pytest.mark.parametrize(
    "strategy",
    [
        AllocateAveragely(),
        AllocateAveragelyByCircle(),
        AllocateConsistentHash(),
        AllocateByMachineRoom({"b"}),
    ],
)
def test_unknown_current_cid_gets_nothing_and_empty_input_raises(
    strategy: AllocateMessageQueueStrategy,
) -> None:
    mqs = queues(4)
    assert strategy.allocate(GROUP, "stranger", mqs, cids(2)) == []
    with pytest.raises(ClientError):
        strategy.allocate(GROUP, "", mqs, cids(2))
    with pytest.raises(ClientError):
        strategy.allocate(GROUP, cids(1)[0], [], cids(1))
    with pytest.raises(ClientError):
        strategy.allocate(GROUP, "x", mqs, [])


def test_names_are_javas() -> None:
    assert AllocateAveragely.name == "AVG"
    assert AllocateAveragelyByCircle.name == "AVG_BY_CIRCLE"
    assert AllocateConsistentHash.name == "CONSISTENT_HASH"
    assert AllocateByConfig([]).name == "CONFIG"
    assert AllocateByMachineRoom(()).name == "MACHINE_ROOM"
    nearby = AllocateMachineRoomNearby(AllocateAveragely(), _PrefixResolver())
    assert nearby.name == "MACHINE_ROOM_NEARBY-AVG"
    assert sorted(ALLOCATE_STRATEGIES) == ["AVG", "AVG_BY_CIRCLE", "CONSISTENT_HASH"]
    assert isinstance(ALLOCATE_STRATEGIES["AVG"](), AllocateAveragely)


# -- consistent hash ------------------------------------------------------------------------


def test_md5_hash_is_first_four_digest_bytes_unsigned() -> None:
    # md5("") = d41d8cd98f00b204e9800998ecf8427e, md5("a") = 0cc175b9c0f1b6a831c399e269772661
    assert md5_hash("") == 0xD41D8CD9
    assert md5_hash("a") == 0x0CC175B9


def test_queue_key_is_java_to_string() -> None:
    mq = MessageQueue("TopicA", "broker-a", 3)
    assert message_queue_key(mq) == "MessageQueue [topic=TopicA, brokerName=broker-a, queueId=3]"


def reference_consistent_hash(
    mqs: list[MessageQueue], ids: list[str], vnodes: int
) -> dict[MessageQueue, str]:
    """A brute-force ring: owner = virtual node with the smallest point >= hash, else the
    smallest point overall; later nodes win ties (TreeMap#put)."""
    points: dict[int, str] = {}
    for cid in ids:
        for i in range(vnodes):
            digest = hashlib.md5(f"{cid}-{i}".encode()).digest()
            points[int.from_bytes(digest[:4], "big")] = cid
    owners = {}
    for mq in mqs:
        key = f"MessageQueue [topic={mq.topic}, brokerName={mq.broker_name}, queueId={mq.queue_id}]"
        h = int.from_bytes(hashlib.md5(key.encode()).digest()[:4], "big")
        above = [p for p in points if p >= h]
        owners[mq] = points[min(above) if above else min(points)]
    return owners


@pytest.mark.parametrize("vnodes", [1, 10, 3])
def test_consistent_hash_matches_ring(vnodes: int) -> None:
    mqs = queues(16, brokers=("broker-a", "broker-b"))
    ids = cids(3)
    owners = reference_consistent_hash(mqs, ids, vnodes)
    strategy = AllocateConsistentHash(vnodes)
    for cid in ids:
        assert strategy.allocate(GROUP, cid, mqs, ids) == [mq for mq in mqs if owners[mq] == cid]


def test_consistent_hash_zero_virtual_nodes_allocates_nothing_and_negative_raises() -> None:
    assert AllocateConsistentHash(0).allocate(GROUP, "a", queues(3), ["a"]) == []
    with pytest.raises(ClientError):
        AllocateConsistentHash(-1)


def test_consistent_hash_custom_hash_function() -> None:
    # every point and key hash to 0: the ring's first point (last writer) owns everything
    strategy = AllocateConsistentHash(2, hash_function=lambda key: 0)
    assert strategy.allocate(GROUP, "b", queues(3), ["a", "b"]) == queues(3)
    assert strategy.allocate(GROUP, "a", queues(3), ["a", "b"]) == []


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), c=st.integers(1, 8))
def test_consistent_hash_adding_a_consumer_moves_queues_only_to_it(n: int, c: int) -> None:
    mqs = queues(n, brokers=("broker-a", "broker-b"))
    before_ids = cids(c)
    newcomer = "10.9.9.9@99"
    after_ids = sorted([*before_ids, newcomer])
    strategy = AllocateConsistentHash()
    before = {
        mq: cid for cid in before_ids for mq in strategy.allocate(GROUP, cid, mqs, before_ids)
    }
    after = {mq: cid for cid in after_ids for mq in strategy.allocate(GROUP, cid, mqs, after_ids)}
    moved = [mq for mq in mqs if before[mq] != after[mq]]
    assert all(after[mq] == newcomer for mq in moved)


# -- config and machine room -------------------------------------------------------------------


def test_by_config_returns_the_fixed_list() -> None:
    fixed = [MessageQueue("T", "b", 7), MessageQueue("T", "b", 1)]
    strategy = AllocateByConfig(fixed)
    assert strategy.allocate(GROUP, "anyone", queues(2), ["other"]) == fixed
    assert strategy.message_queues == tuple(fixed)


def test_by_machine_room() -> None:
    mqs = sorted(
        [MessageQueue("T", "hz@b1", i) for i in range(4)]
        + [MessageQueue("T", "sh@b2", i) for i in range(2)]
        + [MessageQueue("T", "b3", i) for i in range(2)]
        + [MessageQueue("T", "hz@", 0), MessageQueue("T", "hz@x@y", 0)]
    )
    strategy = AllocateByMachineRoom({"hz"})
    eligible = [MessageQueue("T", "hz@b1", i) for i in range(4)]
    ids = cids(3)
    # 4 eligible / 3 consumers: one each, the 4th (index 0 + 1 * 3) to the first
    assert [strategy.allocate(GROUP, cid, mqs, ids) for cid in ids] == [
        [eligible[0], eligible[3]],
        [eligible[1]],
        [eligible[2]],
    ]


def test_by_machine_room_java_split_keeps_trailing_separator() -> None:
    # Java's "hz@b1@".split("@") is ["hz", "b1"]: two parts, so the broker is eligible
    mqs = [MessageQueue("T", "hz@b1@", 0), MessageQueue("T", "hz@", 0)]
    assert AllocateByMachineRoom({"hz"}).allocate(GROUP, "a", mqs, ["a"]) == mqs[:1]


class _PrefixResolver:
    """Room = text before '@' of broker name / client id."""

    def broker_deploy_in(self, mq: MessageQueue) -> str:
        return mq.broker_name.split("@")[0]

    def consumer_deploy_in(self, client_id: str) -> str:
        return client_id.split("@")[0]


def test_machine_room_nearby() -> None:
    mqs = sorted(
        [MessageQueue("T", "hz@b1", i) for i in range(4)]
        + [MessageQueue("T", "sh@b2", i) for i in range(2)]
        + [MessageQueue("T", "bj@b3", i) for i in range(2)]
    )
    ids = sorted(["hz@c1", "hz@c2", "sh@c3"])
    strategy = AllocateMachineRoomNearby(AllocateAveragely(), _PrefixResolver())
    got = {cid: strategy.allocate(GROUP, cid, mqs, ids) for cid in ids}
    bj = [MessageQueue("T", "bj@b3", i) for i in range(2)]
    hz = [MessageQueue("T", "hz@b1", i) for i in range(4)]
    # own room first (hz split by the two hz consumers), then bj (no consumer) by all three
    assert got["hz@c1"] == [hz[0], hz[1], bj[0]]
    assert got["hz@c2"] == [hz[2], hz[3], bj[1]]
    assert got["sh@c3"] == [MessageQueue("T", "sh@b2", 0), MessageQueue("T", "sh@b2", 1)]


# -- every queue exactly once ----------------------------------------------------------------


def _strategies() -> list[AllocateMessageQueueStrategy]:
    return [
        AllocateAveragely(),
        AllocateAveragelyByCircle(),
        AllocateConsistentHash(),
        AllocateMachineRoomNearby(AllocateAveragelyByCircle(), _PrefixResolver()),
    ]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 50),
    brokers=st.lists(
        st.sampled_from(["hz@a", "hz@b", "sh@c", "bj@d"]), min_size=1, max_size=4, unique=True
    ),
    cid_rooms=st.lists(st.sampled_from(["hz", "sh", "gz"]), min_size=1, max_size=9),
)
def test_every_queue_exactly_once(n: int, brokers: list[str], cid_rooms: list[str]) -> None:
    mqs = queues(n, brokers=tuple(brokers))
    ids = sorted(f"{room}@10.0.0.{i}" for i, room in enumerate(cid_rooms))
    for strategy in _strategies():
        counts = Counter(mq for cid in ids for mq in strategy.allocate(GROUP, cid, mqs, ids))
        assert counts == Counter(mqs), strategy.name


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 50), c=st.integers(1, 9), rooms=st.sets(st.sampled_from(["hz", "sh"])))
def test_machine_room_covers_eligible_queues_exactly_once(n: int, c: int, rooms: set[str]) -> None:
    mqs = queues(n, brokers=("hz@a", "sh@b", "plain"))
    ids = cids(c)
    strategy = AllocateByMachineRoom(rooms)
    counts = Counter(mq for cid in ids for mq in strategy.allocate(GROUP, cid, mqs, ids))
    assert counts == Counter(mq for mq in mqs if mq.broker_name.split("@")[0] in rooms)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 60), c=st.integers(1, 12))
def test_averagely_sizes_differ_by_at_most_one(n: int, c: int) -> None:
    sizes = [len(got) for got in split(AllocateAveragely(), queues(n), cids(c))]
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)
