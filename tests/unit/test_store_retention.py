"""CleanService over a real DefaultMessageStore with tiny files: what goes, when, and after."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rocketq.store.clean import (
    DISK_SPACE_CLEAN_FORCIBLY_RATIO,
    CleanService,
    disk_used_ratio,
    parse_delete_when,
)
from rocketq.store.config import StoreConfig
from rocketq.store.format import StoredMessage, decode_properties, encode_properties
from rocketq.store.mapped_file import DELETE_FILES_BATCH_MAX
from rocketq.store.message_store import DefaultMessageStore, decode_records
from rocketq.store.result import GetMessageStatus

BODY = bytes(200)  # about 300 bytes a record: a dozen records per 4 KiB commitlog file


def make_config(root: Path, **overrides: object) -> StoreConfig:
    config = StoreConfig(
        store_path_root_dir=str(root),
        mapped_file_size_commit_log=4096,
        mapped_file_size_consume_queue=20 * 16,
        flush_interval_commit_log=10,
        flush_interval_consume_queue=10,
        delete_commit_log_files_interval=0,
        delete_consume_queue_files_interval=0,
        max_hash_slot_num=8,
        max_index_num=32,  # 31 keys per IndexFile: the index rolls too
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def msg(key: str, queue_id: int = 0) -> StoredMessage:
    return StoredMessage(
        topic="T",
        queue_id=queue_id,
        body=BODY,
        properties=encode_properties({"TAGS": "A", "KEYS": key}),
        born_timestamp=1,
        born_host=("127.0.0.1", 5000),
    )


def clean_of(store: DefaultMessageStore, **seams: Any) -> CleanService:
    """A CleanService over the parts of ``store`` (not the store: house style 17)."""
    return CleanService(
        store.config, store.commit_log, store.consume_queues, store.index_service, **seams
    )


def at_hour(hour: int, days_ahead: int = 5) -> Callable[[], int]:
    """A clock at ``hour``:30 local time ``days_ahead`` days on (files are then > 72 h old)."""
    day = datetime.now() + timedelta(days=days_ahead)
    moment = day.replace(hour=hour, minute=30, second=0, microsecond=0)
    stamp = int(moment.timestamp() * 1000)
    return lambda: stamp


def usage(ratio: float) -> Callable[[str], float]:
    return lambda path: ratio


def commit_log_names(store: DefaultMessageStore) -> list[str]:
    return sorted(os.listdir(store.config.commit_log_dir()))


def cq_names(store: DefaultMessageStore, queue_id: int = 0) -> list[str]:
    return sorted(os.listdir(Path(store.config.consume_queue_dir()) / "T" / str(queue_id)))


async def fill(store: DefaultMessageStore, count: int, queue_id: int = 0) -> None:
    """``count`` messages with keys ``k0``, ``k1``, ... (``q1-k0``, ... in queue 1)."""
    prefix = f"q{queue_id}-" if queue_id else ""
    for i in range(count):
        assert (await store.put_message(msg(f"{prefix}k{i}", queue_id))).status.stored


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DefaultMessageStore]:
    store = DefaultMessageStore(make_config(tmp_path))
    await store.start()
    yield store
    await store.aclose()


def test_parse_delete_when_and_disk_ratio(tmp_path: Path) -> None:
    assert parse_delete_when("04") == {4}
    assert parse_delete_when("04; 16;x") == {4, 16}
    assert 0 <= disk_used_ratio(str(tmp_path)) <= 1
    assert 0 <= disk_used_ratio(str(tmp_path / "not" / "yet")) <= 1


async def test_delete_when_hour_deletes_expired_files(store: DefaultMessageStore) -> None:
    await fill(store, 60)
    await fill(store, 3, queue_id=1)
    files = list(store.commit_log.queue.files)
    assert len(files) >= 4
    last_start = files[-1].file_from_offset
    cq_before, index_before = len(cq_names(store)), len(store.index_service.files)  # type: ignore[union-attr]
    clean = clean_of(store, clock=at_hour(4), disk_usage=usage(0.1))

    result = await clean.run_once()

    assert result.time_up and not result.space_full and not result.clean_immediately
    assert result.commit_log_files == len(files) - 1
    assert commit_log_names(store) == [f"{last_start:020d}"]
    assert store.commit_log.min_offset() == last_start == result.commit_log_min_offset
    # ConsumeQueue: whole files below the new min are gone, the min offset moved on.
    assert result.consume_queue_files > 0 and len(cq_names(store)) < cq_before
    low = store.get_min_offset_in_queue("T", 0)
    assert low > 0 and store.get_max_offset_in_queue("T", 0) == 60
    assert store.get_commit_log_offset_in_queue("T", 0, low) >= last_start
    too_small = store.get_message("g", "T", 0, 0, 32)
    assert too_small.status is GetMessageStatus.OFFSET_TOO_SMALL
    assert too_small.next_begin_offset == low
    found = store.get_message("g", "T", 0, low, 32)
    assert found.status is GetMessageStatus.FOUND and found.queue_offsets[0] == low
    first_found = decode_records(b"".join(found.buffers))[0]
    assert decode_properties(first_found.properties)["KEYS"] == f"k{low}"
    found.release()
    # Queue 1 lives wholly in the last file: untouched.
    assert store.get_min_offset_in_queue("T", 1) == 0
    assert store.get_message("g", "T", 1, 0, 32).status is GetMessageStatus.FOUND
    # IndexFiles wholly below the min are gone; a deleted message's key finds nothing.
    assert result.index_files > 0
    assert len(store.index_service.files) == index_before - result.index_files  # type: ignore[union-attr]
    assert all(f.end_phy_offset >= last_start for f in store.index_service.files)  # type: ignore[union-attr]
    assert not store.query_message("T", "k0", 32, 0, 2**62).buffers
    assert store.query_message("T", "k59", 32, 0, 2**62).buffers
    # Nothing more to do, and writes go on.
    again = await clean.run_once()
    assert (again.commit_log_files, again.consume_queue_files, again.index_files) == (0, 0, 0)
    await fill(store, 1)
    assert store.get_max_offset_in_queue("T", 0) == 61


@pytest.mark.parametrize("delete_when", ["04;16", "16"])
async def test_several_delete_hours(tmp_path: Path, delete_when: str) -> None:
    store = DefaultMessageStore(make_config(tmp_path, delete_when=delete_when))
    await store.start()
    try:
        await fill(store, 40)
        result = await clean_of(store, clock=at_hour(16), disk_usage=usage(0.1)).run_once()
        assert result.time_up and result.commit_log_files > 0
    finally:
        await store.aclose()


async def test_other_hour_and_disk_fine_deletes_nothing(store: DefaultMessageStore) -> None:
    await fill(store, 40)
    names = commit_log_names(store)
    result = await clean_of(store, clock=at_hour(5), disk_usage=usage(0.5)).run_once()
    assert not (result.time_up or result.space_full or result.manual)
    assert (result.commit_log_files, result.consume_queue_files, result.index_files) == (0, 0, 0)
    assert commit_log_names(store) == names and store.commit_log.min_offset() == 0
    assert store.get_min_offset_in_queue("T", 0) == 0


async def test_disk_over_max_ratio_deletes_expired_files_at_any_hour(
    store: DefaultMessageStore,
) -> None:
    await fill(store, 40)
    young = await clean_of(store, clock=at_hour(5, 0), disk_usage=usage(0.8)).run_once()
    assert young.space_full and not young.clean_immediately
    assert young.commit_log_files == 0  # over 75 % but under 85 %: only expired files go
    old = await clean_of(store, clock=at_hour(5), disk_usage=usage(0.8)).run_once()
    assert old.space_full and old.commit_log_files > 0
    assert len(commit_log_names(store)) == 1
    assert store.get_min_offset_in_queue("T", 0) > 0


async def test_disk_over_forcibly_ratio_deletes_unexpired_files(store: DefaultMessageStore) -> None:
    await fill(store, 40)
    nearly_full = DISK_SPACE_CLEAN_FORCIBLY_RATIO + 0.03
    clean = clean_of(store, disk_usage=usage(nearly_full))  # the real clock: files are young
    result = await clean.run_once()
    assert result.clean_immediately and result.commit_log_files > 0
    assert len(commit_log_names(store)) == 1 and not clean.disk_full


async def test_forcible_clean_can_be_disabled(tmp_path: Path) -> None:
    store = DefaultMessageStore(make_config(tmp_path, clean_file_forcibly_enable=False))
    await store.start()
    try:
        await fill(store, 40)
        result = await clean_of(store, disk_usage=usage(0.88)).run_once()
        assert result.clean_immediately and result.commit_log_files == 0
    finally:
        await store.aclose()


async def test_disk_full_flag_follows_usage(store: DefaultMessageStore) -> None:
    ratio = [0.95]
    clean = clean_of(store, disk_usage=lambda path: ratio[0])
    await clean.run_once()
    assert clean.disk_full
    ratio[0] = 0.5
    await clean.run_once()
    assert not clean.disk_full


async def test_at_most_a_batch_per_run(store: DefaultMessageStore) -> None:
    await fill(store, 12 * (DELETE_FILES_BATCH_MAX + 3))
    total = len(store.commit_log.queue.files)
    assert total > DELETE_FILES_BATCH_MAX + 1
    clean = clean_of(store, clock=at_hour(4), disk_usage=usage(0.1))
    first = await clean.run_once()
    assert first.commit_log_files == DELETE_FILES_BATCH_MAX
    second = await clean.run_once()
    assert second.commit_log_files == total - 1 - DELETE_FILES_BATCH_MAX
    assert len(commit_log_names(store)) == 1
    assert store.get_min_offset_in_queue("T", 0) > 0


async def test_manual_trigger_ignores_the_hour(store: DefaultMessageStore) -> None:
    await fill(store, 40)
    clean = clean_of(store, clock=at_hour(5), disk_usage=usage(0.1))
    assert (await clean.run_once()).commit_log_files == 0
    clean.execute_delete_files_manually()
    result = await clean.run_once()
    assert result.manual and result.commit_log_files > 0


async def test_readers_holding_views_keep_their_bytes(store: DefaultMessageStore) -> None:
    await fill(store, 40)
    held = store.get_message("g", "T", 0, 0, 4)
    expected = [bytes(view) for view in held.buffers]
    result = await clean_of(store, clock=at_hour(4), disk_usage=usage(0.1)).run_once()
    assert result.commit_log_files > 0
    assert [bytes(view) for view in held.buffers] == expected  # still mapped, no crash
    held.release()
    assert store.get_message("g", "T", 0, 0, 4).status is GetMessageStatus.OFFSET_TOO_SMALL


async def test_failed_destroy_is_retried(
    store: DefaultMessageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fill(store, 40)
    first = store.commit_log.queue.files[0]
    real_destroy = first.destroy
    calls = []

    def destroy_failing_once() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("device busy")
        real_destroy()

    monkeypatch.setattr(first, "destroy", destroy_failing_once)
    now = [at_hour(4)()]
    clean = clean_of(store, clock=lambda: now[0], disk_usage=usage(0.1))
    await clean.run_once()
    assert first.path.exists()  # out of the queue, but still on disk
    assert store.commit_log.min_offset() > first.file_from_offset
    now[0] += store.config.redelete_hanged_file_interval + 1
    await clean.run_once()
    assert not first.path.exists() and len(calls) == 2


async def test_loop_runs_and_stops(tmp_path: Path) -> None:
    store = DefaultMessageStore(make_config(tmp_path, clean_resource_interval=10))
    await store.start()
    clean = clean_of(store, clock=at_hour(4), disk_usage=usage(0.1), initial_delay_ms=0)
    try:
        await fill(store, 40)
        clean.start()
        async with asyncio.timeout(10):
            while store.commit_log.min_offset() == 0:
                await asyncio.sleep(0.01)
    finally:
        await clean.aclose()
        await store.aclose()
    assert len(commit_log_names(store)) == 1


async def test_restart_after_clean_keeps_offsets(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = DefaultMessageStore(config)
    await store.start()
    await fill(store, 60)
    clean = clean_of(store, clock=at_hour(4), disk_usage=usage(0.1))
    await clean.run_once()
    commit_min = store.commit_log.min_offset()
    low = store.get_min_offset_in_queue("T", 0)
    await store.aclose()

    again = DefaultMessageStore(config)
    await again.start()
    restarted = clean_of(again, clock=at_hour(4), disk_usage=usage(0.1))
    restarted.start()  # corrects the queues' min offsets, as recoverTopicQueueTable does
    try:
        assert again.commit_log.min_offset() == commit_min
        assert again.get_min_offset_in_queue("T", 0) == low
        assert again.get_max_offset_in_queue("T", 0) == 60
        r = again.get_message("g", "T", 0, 0, 32)
        assert r.status is GetMessageStatus.OFFSET_TOO_SMALL and r.next_begin_offset == low
        r = again.get_message("g", "T", 0, low, 32)
        assert r.status is GetMessageStatus.FOUND
        r.release()
        assert not again.query_message("T", "k0", 32, 0, 2**62).buffers
        put = await again.put_message(msg("new"))
        assert put.appended[0].queue_offset == 60
    finally:
        await restarted.aclose()
        await again.aclose()
