"""DefaultMessageStore.submit_many: the puts of one socket read stored at once answer exactly
what one submit_messages per put answers (offsets, msgIds, statuses, files, queues, index).

Each test runs the same puts through two stores over real files with the same fixed clock:
one calls ``submit_messages`` per put, the other ``submit_many`` once (or a few times), and
everything observable is compared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rocketq.common.topic import SCHEDULE_TOPIC
from rocketq.store.config import StoreConfig
from rocketq.store.format import StoredMessage, encode_properties
from rocketq.store.index_service import IndexService
from rocketq.store.message_store import DefaultMessageStore
from rocketq.store.result import PutMessageResult, PutMessageStatus

Put = tuple[Sequence[StoredMessage], bool]
STAMP = 1_700_000_000_000
FILE_SIZE = 4096


def make_config(root: Path, **overrides: object) -> StoreConfig:
    config = StoreConfig(
        store_path_root_dir=str(root),
        mapped_file_size_commit_log=FILE_SIZE,
        mapped_file_size_consume_queue=20 * 16,
        flush_interval_commit_log=10,
        flush_interval_consume_queue=10,
        max_message_size=3000,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def java_msg(
    i: int,
    topic: str = "T",
    queue_id: int = 0,
    size: int = 300,
    keys: str | None = None,
    sys_flag: int = 0,
    extra: dict[str, str] | None = None,
) -> StoredMessage:
    """A message as a Java producer sends it: UNIQ_KEY, WAIT, TAGS (and maybe KEYS)."""
    props = {"UNIQ_KEY": f"7F000001{i:024X}", "WAIT": "true", "TAGS": f"tag{i % 3}"}
    if keys is not None:
        props["KEYS"] = keys
    props.update(extra or {})
    return StoredMessage(
        topic=topic,
        queue_id=queue_id,
        body=bytes([i % 251]) * size,
        properties=encode_properties(props),
        props=props if i % 2 else None,  # the store parses them itself for the others
        sys_flag=sys_flag,
        born_timestamp=STAMP - i,
        born_host=("10.0.0.7", 40000 + i),
    )


class Pair:
    """Two stores fed the same puts: ``one`` per put, ``many`` in groups."""

    def __init__(self, root: Path, **overrides: object) -> None:
        self.one = DefaultMessageStore(make_config(root / "one", **overrides))
        self.many = DefaultMessageStore(make_config(root / "many", **overrides))
        self.calls: dict[str, list[tuple[str, int, int, int]]] = {"one": [], "many": []}

    async def __aenter__(self) -> Pair:
        for name, store in (("one", self.one), ("many", self.many)):
            await store.start()
            store.commit_log._clock = lambda: STAMP
            calls = self.calls[name]
            store.message_arriving_listener = lambda *args, c=calls: c.append(args)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.one.aclose()
        await self.many.aclose()

    async def run(self, groups: Sequence[Sequence[Put]]) -> list[PutMessageResult]:
        """Store every group both ways; the results, once awaited, must be equal."""
        out = []
        for group in groups:
            expected = [self.one.submit_messages(m, w) for m, w in group]
            got = self.many.submit_many(group)
            assert len(got) == len(expected)
            for e, g in zip(expected, got, strict=True):
                assert isinstance(e, PutMessageResult) == isinstance(g, PutMessageResult)
                e_result, g_result = await settle(e), await settle(g)
                assert g_result == e_result
                out.append(g_result)
        self.assert_same_state()
        return out

    def assert_same_state(self) -> None:
        one, many = self.one, self.many
        assert many.commit_log.max_offset() == one.commit_log.max_offset()
        assert len(many.commit_log.queue.files) == len(one.commit_log.queue.files)
        for a, b in zip(one.commit_log.queue.files, many.commit_log.queue.files, strict=True):
            assert b.wrote_position == a.wrote_position
            assert bytes(b.buffer()) == bytes(a.buffer())
        assert many.commit_log.topic_queue_table == one.commit_log.topic_queue_table
        assert sorted(many.consume_queues) == sorted(one.consume_queues)
        for key, cq in one.consume_queues.items():
            other = many.consume_queues[key]
            n = cq.max_offset_in_queue()
            assert other.max_offset_in_queue() == n
            assert other.get_entries(0, n) == cq.get_entries(0, n)
            assert other.max_physic_offset == cq.max_physic_offset
        assert self.calls["many"] == self.calls["one"]
        assert many._put_count == one._put_count
        assert many._last_dispatched_timestamp == one._last_dispatched_timestamp
        if one._append_marks:  # one mark per run instead of one per put: same last one
            assert many._append_marks[-1] == one._append_marks[-1]
        for topic, key in [("T", "k1"), ("T", "k2"), ("U", "k1")] + [
            ("T", f"7F000001{i:024X}") for i in range(0, 64, 7)
        ]:
            assert many.query_message(topic, key, 64, 0, 2**62).buffers == (
                one.query_message(topic, key, 64, 0, 2**62).buffers
            )


async def settle(result: PutMessageResult | Awaitable[PutMessageResult]) -> PutMessageResult:
    if isinstance(result, PutMessageResult):
        return result
    return await asyncio.wait_for(result, 10)


async def test_groups_of_plain_sends_match_one_put_each(tmp_path: Path) -> None:
    async with Pair(tmp_path) as pair:
        groups = [
            [
                ([java_msg(i * 8 + j, queue_id=j % 3, keys="k1" if j == 2 else None)], True)
                for j in range(8)
            ]
            for i in range(12)  # 96 x ~400 bytes: the 4 KiB files roll many times
        ]
        results = await pair.run(groups)
        assert all(r.status is PutMessageStatus.PUT_OK for r in results)
        assert len(pair.many.commit_log.queue.files) > 5


async def test_batches_stay_in_one_file_and_mix_with_plain_sends(tmp_path: Path) -> None:
    async with Pair(tmp_path) as pair:
        batch = [java_msg(100 + i, topic="U", queue_id=1, keys="k1 k2") for i in range(5)]
        groups: list[list[Put]] = [
            [([java_msg(0)], True), (batch, True), ([java_msg(1)], False)],
            [([java_msg(i, size=900)], True) for i in range(2, 9)],
            [(batch[:3], True), ([], True), (batch[3:], True)],
        ]
        results = await pair.run(groups)
        for r in results[1], results[-3]:
            files = {a.physical_offset // FILE_SIZE for a in r.appended}
            assert len(files) == 1


async def test_refused_puts_keep_their_place(tmp_path: Path) -> None:
    async with Pair(tmp_path) as pair:
        long_topic = java_msg(1, topic="x" * 128)
        big_props = StoredMessage(topic="T", queue_id=0, body=b"", properties="k\x01" + "v" * 40000)
        too_big = java_msg(2, size=5000)
        groups: list[list[Put]] = [
            [([java_msg(0)], True), ([long_topic], True), ([java_msg(3)], True)],
            [([big_props], True), ([java_msg(4)], True), ([too_big], True)],
            [([java_msg(5), too_big], True), ([java_msg(6)], True)],
        ]
        results = await pair.run(groups)
        assert [r.status for r in results] == [
            PutMessageStatus.PUT_OK,
            PutMessageStatus.MESSAGE_ILLEGAL,
            PutMessageStatus.PUT_OK,
            PutMessageStatus.PROPERTIES_SIZE_EXCEEDED,
            PutMessageStatus.PUT_OK,
            PutMessageStatus.MESSAGE_ILLEGAL,
            PutMessageStatus.MESSAGE_ILLEGAL,
            PutMessageStatus.PUT_OK,
        ]


async def test_transactions_and_schedule_topic(tmp_path: Path) -> None:
    async with Pair(tmp_path) as pair:
        prepared = java_msg(1, sys_flag=0x4, keys="k1")
        rollback = java_msg(2, sys_flag=0xC, keys="k2")
        commit = java_msg(3, sys_flag=0x8, keys="k2")
        delayed = java_msg(4, topic=SCHEDULE_TOPIC, queue_id=2, extra={"DELAY": "3"})
        groups: list[list[Put]] = [
            [([prepared], True), ([rollback], True), ([commit], True), ([delayed], True)],
            [([java_msg(5)], True), ([prepared, commit], True)],
        ]
        results = await pair.run(groups)
        assert results[0].appended[0].queue_offset == 0
        assert all(r.status is PutMessageStatus.PUT_OK for r in results)


async def test_store_not_running_refuses_everything(tmp_path: Path) -> None:
    store = DefaultMessageStore(make_config(tmp_path))
    got = store.submit_many([([java_msg(0)], True), ([java_msg(1)], False)])
    assert [r.status for r in got if isinstance(r, PutMessageResult)] == [
        PutMessageStatus.SERVICE_NOT_AVAILABLE
    ] * 2


async def test_slave_refuses_everything(tmp_path: Path) -> None:
    async with Pair(tmp_path, broker_role="SLAVE") as pair:
        results = await pair.run([[([java_msg(0)], True), ([java_msg(1)], True)]])
        assert {r.status for r in results} == {PutMessageStatus.SERVICE_NOT_AVAILABLE}


async def test_sync_flush_answers_after_the_sync(tmp_path: Path) -> None:
    # Files large enough that no group commit round spans more than two of them.
    big_files = {"mapped_file_size_commit_log": 64 * 1024}
    async with Pair(tmp_path, flush_disk_type="SYNC_FLUSH", **big_files) as pair:
        group: list[Put] = [([java_msg(i)], i % 3 != 0) for i in range(8)]
        for m, w in group:  # the same puts into the other store, to keep them in step
            await settle(pair.one.submit_messages(m, w))
        pending = pair.many.submit_many(group)
        waiting = [p for p in pending if not isinstance(p, PutMessageResult)]
        assert len(waiting) == 5  # wait_store=False puts answer at once
        results = [await settle(p) for p in pending]
        assert all(r.status is PutMessageStatus.PUT_OK for r in results)
        last = results[-1].appended[0]
        assert pair.many.commit_log.queue.flushed_where >= last.physical_offset + last.size
        await pair.run([group, group[:3]])


async def test_controller_mode_holds_dispatch(tmp_path: Path) -> None:
    async with Pair(tmp_path) as pair:
        for store in (pair.one, pair.many):
            store.hold_dispatch_at(0)
        await pair.run([[([java_msg(i)], True) for i in range(4)]])
        assert pair.calls["many"] == []
        for store in (pair.one, pair.many):
            store.hold_dispatch_at(store.max_phy_offset())
        pair.assert_same_state()
        assert len(pair.calls["many"]) == 4


_messages = st.builds(
    java_msg,
    i=st.integers(0, 63),
    topic=st.sampled_from(["T", "U"]),
    queue_id=st.integers(0, 2),
    size=st.sampled_from([0, 10, 300, 1024, 2500, 3500]),
    keys=st.sampled_from([None, "k1", "k1 k2", ""]),
    sys_flag=st.sampled_from([0, 0, 0, 0x4, 0x8, 0xC]),
)
_puts = st.tuples(st.lists(_messages, min_size=0, max_size=3), st.booleans())


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(groups=st.lists(st.lists(_puts, min_size=0, max_size=9), min_size=1, max_size=6))
def test_random_groups_match_one_put_each(
    tmp_path_factory: pytest.TempPathFactory, groups: list[list[Put]]
) -> None:
    root = tmp_path_factory.mktemp("many")

    async def main() -> None:
        async with Pair(root) as pair:  # SYNC_FLUSH: tiny files, statuses on thread timing
            await pair.run(groups)

    asyncio.run(main())


async def test_sync_master_without_slave(tmp_path: Path) -> None:
    async with Pair(tmp_path, broker_role="SYNC_MASTER", flush_disk_type="SYNC_FLUSH",
                    mapped_file_size_commit_log=64 * 1024) as pair:  # fmt: skip
        results = await pair.run([[([java_msg(i)], i != 1) for i in range(4)]])
        assert [r.status for r in results] == [
            PutMessageStatus.SLAVE_NOT_AVAILABLE,
            PutMessageStatus.PUT_OK,
            PutMessageStatus.SLAVE_NOT_AVAILABLE,
            PutMessageStatus.SLAVE_NOT_AVAILABLE,
        ]


async def test_an_unexpected_error_keeps_what_was_stored_before_it(tmp_path: Path) -> None:
    async with Pair(tmp_path) as pair:
        bad = java_msg(9, queue_id=2**40)  # no Java int: the record cannot be encoded
        group: list[Put] = [([java_msg(0)], True), ([java_msg(1)], True), ([bad], True)]
        with pytest.raises(Exception) as raised:  # struct.error, as the reference says
            pair.many.submit_many(group)
        with pytest.raises(raised.type):
            for msgs, wait in group:
                pair.one.submit_messages(msgs, wait)
        pair.assert_same_state()
        assert pair.many.get_max_offset_in_queue("T", 0) == 2
        await pair.run([[([java_msg(3)], True)]])


async def test_batch_listener_gets_every_arrival_once_per_pass(tmp_path: Path) -> None:
    async with Pair(tmp_path) as pair:
        passes: list[list[tuple[str, int, int, int]]] = []
        pair.many.messages_arriving_listener = passes.append
        group: list[Put] = [([java_msg(i, queue_id=i % 2)], True) for i in range(5)]
        group.append(([java_msg(7, sys_flag=0x4)], True))  # PREPARED: no queue, no arrival
        await pair.run([group, group[:2]])
        assert [len(p) for p in passes] == [5, 2]
        assert [a for p in passes for a in p] == pair.calls["many"]


def test_index_build_many_is_build_index_each(tmp_path: Path) -> None:
    records = [
        (f"T{i % 2}", keys, f"U{i}" if i % 3 else None, 1000 + 100 * i, STAMP + i, flag)
        for i, (keys, flag) in enumerate(
            [("k1", 0), ("k1 k2", 0), ("", 0), ("a  b", 0xC), ("k3", 0x4), ("k1", 0x8)] * 4
        )
    ]
    records.insert(5, ("T0", "old", "U", 50, STAMP, 0))  # below what is indexed: skipped
    one = IndexService(tmp_path / "one", 5, 7, clock=lambda: STAMP)
    many = IndexService(tmp_path / "many", 5, 7, clock=lambda: STAMP)
    for topic, keys, uniq, phy, ts, flag in records:
        one.build_index(topic, keys, uniq, phy, ts, flag)
    many.build_many(records[:9])
    many.build_many(records[9:])
    # 7 entries a file: rolled several times. build_index rolls a full file also for a
    # record it then skips (an empty file more); build_many only when it has a key to put.
    used_one = [bytes(f._mm) for f in one.files if f.index_count > 1]
    used_many = [bytes(f._mm) for f in many.files if f.index_count > 1]
    assert used_many == used_one
    assert len(used_one) > 3
    for key in ("k1", "k2", "U4", "a", "b", "k3"):
        for topic in ("T0", "T1"):
            assert many.query_offsets(topic, key, 64, 0, 2**62) == one.query_offsets(
                topic, key, 64, 0, 2**62
            )
    one.close()
    many.close()
