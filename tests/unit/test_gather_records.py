"""``record.gather_records`` (an unfiltered pull's records joined from ConsumeQueue entries
and a CommitLog span), pure Python and compiled, against each other and against the
entry-by-entry rule it mirrors; and ``get_message(..., joined=True)`` against the views of
the plain read on a real store."""

from __future__ import annotations

import random
import struct
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from rocketq.common import record, speedups
from rocketq.common.message import encode_properties
from rocketq.store.config import StoreConfig
from rocketq.store.format import StoredMessage
from rocketq.store.message_store import DefaultMessageStore
from rocketq.store.read import JoinedGetMessageResult
from rocketq.store.result import GetMessageStatus
from tests.conftest import compiled_kernels, outcome_of
from tests.unit.test_store_retention import at_hour, clean_of, fill, store, usage

__all__ = ["store"]  # the fixture, used by name

_ENTRY = struct.Struct(">qiq")
_SPAN_START = 1000


def _model(
    entries: list[tuple[int, int]],
    index: int,
    span: bytes,
    min_phys: int,
    count: int,
    total: int,
    limits: tuple[int, ...],
) -> tuple[bytes, int, int, int, int, bool]:
    """The rule, one entry at a time (MessageStoreReads' unfiltered loop)."""
    max_nums, max_phys, memory_limit, mem_bytes, mem_count, disk_bytes, disk_count = limits
    out, last, full = b"", -1, False
    for phys, size in entries[index:]:
        if count:
            on_disk = max_phys - phys > memory_limit
            max_bytes, max_count = (disk_bytes, disk_count) if on_disk else (mem_bytes, mem_count)
            if count >= max_nums or total + size > max_bytes or count > max_count - 1:
                full = True
                break
        end = _SPAN_START + len(span)
        if phys < min_phys or phys < _SPAN_START or phys + size > end or size < 0:
            break
        out += span[phys - _SPAN_START : phys - _SPAN_START + size]
        count, total, last, index = count + 1, total + size, phys, index + 1
    return out, index, count, total, last, full


# physical offsets around the span, and a corrupt entry's extremes (2**63 - 5 + size wraps
# in 64 bits: it must not pass the span check)
_phys = st.one_of(st.integers(900, 1300), st.sampled_from([-1, -(2**62), 2**63 - 5, 2**63 - 1]))
_entries = st.lists(st.tuples(_phys, st.integers(-2, 80)), max_size=12)
_limits = st.tuples(
    st.integers(1, 40),  # maxMsgNums
    st.integers(1000, 1400),  # the CommitLog's max offset
    st.integers(0, 300),  # in-memory distance
    st.integers(0, 500),
    st.integers(0, 10),
    st.integers(0, 500),
    st.integers(0, 10),
)


@given(
    _entries,
    st.integers(0, 3),
    st.integers(0, 300),
    st.integers(900, 1100),
    st.integers(0, 5),
    st.integers(0, 200),
    _limits,
)
def test_twins_agree_with_the_rule_entry_by_entry(
    entries: list[tuple[int, int]],
    index: int,
    span_len: int,
    min_phys: int,
    count: int,
    total: int,
    limits: tuple[int, int, int, int, int, int, int],
) -> None:
    raw = b"".join(_ENTRY.pack(p, s, 7) for p, s in entries)
    span = bytes(random.Random(span_len).getrandbits(8) for _ in range(span_len))
    args = (raw, index, span, _SPAN_START, min_phys, count, total, limits)
    expected = _model(entries, index, span, min_phys, count, total, limits)
    assert record.gather_records  # registers the reference
    for fn in (speedups.REFERENCE["gather_records"], compiled_kernels().gather_records):
        assert outcome_of(fn, *args) == expected
        assert outcome_of(fn, memoryview(raw), *args[1:]) == expected


def test_a_negative_entry_index_is_refused_both_ways() -> None:
    raw = _ENTRY.pack(1000, 10, 7) * 3
    assert record.gather_records  # registers the reference
    for fn in (speedups.REFERENCE["gather_records"], compiled_kernels().gather_records):
        outcome = outcome_of(fn, raw, -1, b"x" * 50, _SPAN_START, 0, 0, 0, (32,) + (10**6,) * 6)
        assert outcome is ValueError, fn


async def test_a_corrupt_consume_queue_entry_is_skipped_by_both_reads(tmp_path: Path) -> None:
    # an entry whose size went negative: the joined read must neither loop on it nor copy
    # from it; it is scanned and skipped, as by the plain read
    store = DefaultMessageStore(StoreConfig(store_path_root_dir=str(tmp_path)))
    await store.start()
    try:
        for i in range(5):
            await store.put_message(StoredMessage(topic="T", queue_id=0, body=b"m%d" % i))
        cq = store.find_consume_queue("T", 0)
        assert cq is not None
        mapped = cq.queue.files[0]
        mapped.buffer()[2 * 20 + 8 : 2 * 20 + 12] = struct.pack(">i", -7)  # entry 2: size
        plain = store.get_message("g", "T", 0, 0, 32)
        joined = store.get_message("g", "T", 0, 0, 32, joined=True)
        assert isinstance(joined, JoinedGetMessageResult)
        assert joined.body == b"".join(plain.buffers)
        assert joined.message_count == plain.message_count == 4
        assert joined.next_begin_offset == plain.next_begin_offset == 5
        plain.release()
        joined.release()
    finally:
        await store.aclose()


async def test_a_joined_read_is_the_plain_reads_views_joined(tmp_path: Path) -> None:
    # Small CommitLog files: records of one pull lie in several files, and the transfer
    # limits cut pulls short.
    config = StoreConfig(
        store_path_root_dir=str(tmp_path),
        mapped_file_size_commit_log=16 * 1024,
        max_transfer_bytes_on_message_in_memory=9000,
    )
    store = DefaultMessageStore(config)
    await store.start()
    try:
        rng = random.Random(5)
        props = encode_properties({"TAGS": "a", "UNIQ_KEY": "U1"})
        for i in range(240):
            body = b"x" * rng.randint(1, 2500)
            await store.put_message(
                StoredMessage(topic="T", queue_id=i % 3, body=body, properties=props)
            )  # appended and dispatched before it returns
        cases = 0
        for queue_id in range(3):
            for offset in (*range(0, 90, 5), 79):  # 79: the last record (its own path)
                for most in (1, 4, 32, 64):
                    plain = store.get_message("g", "T", queue_id, offset, most)
                    joined = store.get_message("g", "T", queue_id, offset, most, joined=True)
                    body = joined.body if isinstance(joined, JoinedGetMessageResult) else b""
                    assert body == b"".join(plain.buffers)
                    assert joined.message_count == plain.message_count
                    assert (joined.status, joined.next_begin_offset, joined.queue_offsets) == (
                        plain.status,
                        plain.next_begin_offset,
                        plain.queue_offsets,
                    )
                    assert joined.buffer_total_size == plain.buffer_total_size
                    assert joined.suggest_pulling_from_slave == plain.suggest_pulling_from_slave
                    assert (joined.min_offset, joined.max_offset) == (
                        plain.min_offset,
                        plain.max_offset,
                    )
                    cases += plain.status is GetMessageStatus.FOUND
                    plain.release()
                    joined.release()
        assert cases > 100
    finally:
        await store.aclose()


async def test_joined_and_plain_reads_agree_after_commit_log_files_are_deleted(
    store: DefaultMessageStore,
) -> None:
    await fill(store, 60)
    await fill(store, 3, queue_id=1)
    await clean_of(store, clock=at_hour(4), disk_usage=usage(0.1)).run_once()
    assert store.get_min_offset_in_queue("T", 0) > 0
    for queue_id in (0, 1):
        for offset in range(0, 64):
            for most in (1, 32):
                plain = store.get_message("g", "T", queue_id, offset, most)
                joined = store.get_message("g", "T", queue_id, offset, most, joined=True)
                body = joined.body if isinstance(joined, JoinedGetMessageResult) else b""
                assert body == b"".join(plain.buffers)
                assert (joined.status, joined.next_begin_offset, joined.message_count) == (
                    plain.status,
                    plain.next_begin_offset,
                    plain.message_count,
                )
                plain.release()
                joined.release()
