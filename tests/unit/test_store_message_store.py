"""DefaultMessageStore over real files in tmp_path: put, get, statuses, restart, recovery."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from rocketq.store.config import StoreConfig
from rocketq.store.format import StoredMessage, encode_properties, tags_code
from rocketq.store.message_store import DefaultMessageStore, decode_records
from rocketq.store.result import GetMessageStatus, PutMessageStatus


def make_config(root: Path, **overrides: object) -> StoreConfig:
    config = StoreConfig(
        store_path_root_dir=str(root),
        mapped_file_size_commit_log=4096,
        mapped_file_size_consume_queue=20 * 16,
        flush_interval_commit_log=10,
        flush_interval_consume_queue=10,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def msg(
    topic: str = "T",
    queue_id: int = 0,
    body: bytes = b"hello",
    tag: str | None = None,
    keys: str | None = None,
) -> StoredMessage:
    props = encode_properties({"TAGS": tag, "KEYS": keys})
    return StoredMessage(
        topic=topic,
        queue_id=queue_id,
        body=body,
        properties=props,
        born_timestamp=1,
        born_host=("127.0.0.1", 5000),
    )


async def crash(store: DefaultMessageStore) -> None:
    """Stop the store's tasks and unmap its files without any of the clean-exit steps."""
    for tasks in (store.flush_service._tasks, store._tasks, store.clean_service._tasks):
        await tasks.aclose()  # cancelled at once, as a kill stops them
    store.commit_log.close()
    for cq in store.consume_queues.values():
        cq.close()
    store.lock.release()  # the kernel does this for a killed process


class TagFilter:
    def __init__(self, tag: str) -> None:
        self.code = tags_code(tag)

    def is_matched_by_consume_queue(self, code: int | None) -> bool:
        return code == self.code

    def is_matched_by_commit_log(self, record: memoryview) -> bool:
        return True


async def test_put_get_and_statuses(tmp_path: Path) -> None:
    store = DefaultMessageStore(make_config(tmp_path))
    await store.start()
    try:
        r = store.get_message("g", "T", 0, 0, 32)
        assert r.status is GetMessageStatus.NO_MATCHED_LOGIC_QUEUE
        for i in range(10):
            put = await store.put_message(msg(body=b"m%d" % i, tag="A" if i % 2 else "B"))
            assert put.status is PutMessageStatus.PUT_OK
            assert put.appended[0].queue_offset == i
        r = store.get_message("g", "T", 0, 0, 32)
        assert r.status is GetMessageStatus.FOUND
        assert (r.min_offset, r.max_offset, r.next_begin_offset) == (0, 10, 10)
        bodies = [rec.body for rec in decode_records(b"".join(r.buffers))]
        assert bodies == [b"m%d" % i for i in range(10)]
        r.release()
        r = store.get_message("g", "T", 0, 3, 2)
        assert r.queue_offsets == [3, 4] and r.next_begin_offset == 5
        r.release()
        assert store.get_message("g", "T", 0, 10, 32).status is GetMessageStatus.OFFSET_OVERFLOW_ONE
        bad = store.get_message("g", "T", 0, 99, 32)
        assert bad.status is GetMessageStatus.OFFSET_OVERFLOW_BADLY and bad.next_begin_offset == 10
        filtered = store.get_message("g", "T", 0, 0, 32, TagFilter("A"))
        assert filtered.queue_offsets == [1, 3, 5, 7, 9]
        filtered.release()
        none = store.get_message("g", "T", 0, 0, 32, TagFilter("Z"))
        assert none.status is GetMessageStatus.NO_MATCHED_MESSAGE and none.next_begin_offset == 10
    finally:
        await store.aclose()


async def test_batch_rolls_files_and_survives_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = DefaultMessageStore(config)
    await store.start()
    put = await store.put_messages([msg(body=bytes(300)) for _ in range(5)])
    assert [a.queue_offset for a in put.appended] == [0, 1, 2, 3, 4]
    for _ in range(40):  # many files of 4 KiB
        assert (await store.put_message(msg(queue_id=1, body=bytes(200)))).status.stored
    await store.aclose()
    assert len(os.listdir(config.commit_log_dir())) > 2
    assert not store.abort_file.exists()

    again = DefaultMessageStore(config)
    await again.start()
    try:
        assert again.get_max_offset_in_queue("T", 0) == 5
        assert again.get_max_offset_in_queue("T", 1) == 40
        nxt = await again.put_message(msg(queue_id=1))
        assert nxt.appended[0].queue_offset == 40
        r = again.get_message("g", "T", 1, 38, 32)
        assert r.queue_offsets == [38, 39, 40]
        r.release()
    finally:
        await again.aclose()


async def test_crash_with_torn_tail_and_missing_dispatch(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = DefaultMessageStore(config)
    await store.start()
    for i in range(6):
        await store.put_message(msg(body=b"x%d" % i))
    end = store.commit_log.max_offset()
    # Simulate a crash: no aclose (abort file stays), a torn record after the last one,
    # and the ConsumeQueue lost its last two entries.
    last = store.commit_log.queue.last
    assert last is not None
    last.buffer()[last.wrote_position : last.wrote_position + 12] = (
        b"\x00\x00\x01\x00\xda\xa3\x20\xa7garb"
    )
    cq = store.find_consume_queue("T", 0)
    assert cq is not None
    cq.queue.truncate_dirty_files(4 * 20)
    await crash(store)
    assert store.abort_file.exists()

    recovered = DefaultMessageStore(config)
    await recovered.start()
    try:
        assert recovered.commit_log.max_offset() == end
        assert recovered.get_max_offset_in_queue("T", 0) == 6  # re-dispatched
        r = recovered.get_message("g", "T", 0, 0, 32)
        assert [rec.body for rec in decode_records(b"".join(r.buffers))] == [
            b"x%d" % i for i in range(6)
        ]
        r.release()
        assert (await recovered.put_message(msg())).appended[0].queue_offset == 6
    finally:
        await recovered.aclose()


async def test_sync_flush_and_lookups(tmp_path: Path) -> None:
    store = DefaultMessageStore(make_config(tmp_path, flush_disk_type="SYNC_FLUSH"))
    await store.start()
    try:
        put = await store.put_message(msg(keys="k1 k2"))
        assert put.status is PutMessageStatus.PUT_OK
        first = put.appended[0]
        assert store.commit_log.queue.flushed_where >= first.physical_offset + first.size
        record = store.look_message_by_offset(first.physical_offset)
        assert record is not None and record.body == b"hello"
        raw = store.select_one_message_by_offset(first.physical_offset)
        assert raw is not None and len(raw) == first.size
        assert store.look_message_by_offset(10**9) is None
        ts = first.store_timestamp
        assert store.get_earliest_message_time("T", 0) == ts
        assert store.get_offset_in_queue_by_time("T", 0, ts - 1) == 0
        assert store.get_offset_in_queue_by_time("T", 0, ts + 10_000) == 1
        found = store.query_message("T", "k2", 32, 0, ts + 1)
        assert len(found.buffers) == 1
    finally:
        await store.aclose()


@pytest.mark.parametrize("topic", ["x" * 128])
async def test_illegal_messages(tmp_path: Path, topic: str) -> None:
    store = DefaultMessageStore(make_config(tmp_path))
    await store.start()
    try:
        assert (
            await store.put_message(msg(topic=topic))
        ).status is PutMessageStatus.MESSAGE_ILLEGAL
        big = StoredMessage(topic="T", queue_id=0, body=b"", properties="k\x01" + "v" * 40000)
        assert (await store.put_message(big)).status is PutMessageStatus.PROPERTIES_SIZE_EXCEEDED
        huge = msg(body=bytes(5 * 1024 * 1024))
        assert (await store.put_message(huge)).status is PutMessageStatus.MESSAGE_ILLEGAL
    finally:
        await store.aclose()


async def test_a_sync_flush_slave_syncs_what_it_copies(tmp_path: Path) -> None:
    # No send asks a slave's group commit for a sync: it syncs the copy all the same
    # (GroupCommitService flushes every 10 ms), so the flushed offset reaches the end.
    master = DefaultMessageStore(make_config(tmp_path / "m"))
    slave = DefaultMessageStore(make_config(tmp_path / "s", flush_disk_type="SYNC_FLUSH"))
    await master.start()
    await slave.start()
    try:
        for i in range(5):
            await master.put_message(msg(queue_id=0, body=bytes(300), keys=f"key{i}"))
        end = master.commit_log.max_offset()
        with master.commit_log.get_data(0, end) as view:
            assert slave.append_to_commit_log(0, bytes(view))
        for _ in range(500):
            if slave.commit_log.queue.flushed_where >= end:
                break
            await asyncio.sleep(0.01)
        assert slave.commit_log.queue.flushed_where == end
    finally:
        await master.aclose()
        await slave.aclose()


async def test_flush_disk_type_changed_while_running_applies_from_the_next_start(
    tmp_path: Path,
) -> None:
    # updateBrokerConfig writes flushDiskType into the live config; the store keeps the
    # mode it started in (no group commit thread to answer a SYNC_FLUSH wait here).
    config = make_config(tmp_path, broker_role="SYNC_MASTER", sync_flush_timeout=60_000)
    store = DefaultMessageStore(config)
    await store.start()
    try:
        config.flush_disk_type = "SYNC_FLUSH"
        put = await asyncio.wait_for(store.put_message(msg()), 30)  # not the 60 s timeout
        assert put.status is PutMessageStatus.SLAVE_NOT_AVAILABLE  # no slave; not a flush wait
    finally:
        await store.aclose()


async def test_slave_appends_master_bytes_and_dispatches(tmp_path: Path) -> None:
    master = DefaultMessageStore(make_config(tmp_path / "m"))
    slave = DefaultMessageStore(make_config(tmp_path / "s"))
    await master.start()
    await slave.start()
    try:
        for i in range(30):  # several 4 KiB files, with end-of-file fillers
            await master.put_message(msg(queue_id=i % 2, body=bytes(300), keys=f"key{i}"))
        end = master.commit_log.max_offset()
        pos = 0
        while pos < end:  # ship it in odd-sized chunks, as HA transfer would
            chunk = min(1000, end - pos, 4096 - pos % 4096)  # within one file
            with master.commit_log.get_data(pos, chunk) as view:
                assert slave.append_to_commit_log(pos, bytes(view))
            pos += chunk
        assert not slave.append_to_commit_log(0, b"x")  # out of step
        assert slave.commit_log.max_offset() == end
        for qid in (0, 1):
            assert slave.get_max_offset_in_queue("T", qid) == 15
        assert len(slave.query_message("T", "key7", 32, 0, 2**62).buffers) == 1
    finally:
        await master.aclose()
        await slave.aclose()
