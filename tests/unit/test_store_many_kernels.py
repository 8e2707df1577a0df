"""``put_batches`` (the records of several puts straight into a CommitLog mapping) against
its pure-Python reference: the bytes written, the results, the queue offsets taken and where
it stops, over both implementations and a hypothesis differential run."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rocketq.common.record import decode_records
from rocketq.store import commit_log  # registers the put_batches twin
from rocketq.store.commit_log import AppendResult
from rocketq.store.format import StoredMessage, create_offset_msg_id, encode_properties
from rocketq.store.index_file import _LiveHeader
from tests.conftest import Kernels, outcome_of, twin_implementations

HOST = ("192.168.0.9", 10911)
BASE = 1 << 30  # the file's first byte in the log
STAMP = 1_700_000_000_123
MAX = 4096  # maxMessageSize

assert commit_log.put_batches is not None


def send(
    i: int, topic: str = "T", queue_id: int = 0, size: int = 40, **fields: Any
) -> StoredMessage:
    props = {"UNIQ_KEY": f"U{i:08d}", "WAIT": "true", "TAGS": "a"}
    values: dict[str, Any] = {
        "topic": topic,
        "queue_id": queue_id,
        "body": bytes([i % 256]) * size,
        "properties": encode_properties(props),
        "born_timestamp": STAMP - 5,
        "born_host": ("10.1.2.3", 5555),
    }
    values.update(fields)
    return StoredMessage(**values)


def run(impl: Kernels, batches: list[list[StoredMessage]], position: int = 100,
        limit: int = 8000, first: int = 0, table: dict[str, int] | None = None,
        ) -> tuple[int, bytearray, dict[str, int], list[tuple[AppendResult, ...]]]:  # fmt: skip
    buf = bytearray(b"\xee" * 8192)
    table = {"T-0": 7} if table is None else table
    out: list[tuple[AppendResult, ...]] = []
    end = impl.put_batches(buf, position, limit, batches, first, table, BASE, STAMP, HOST, MAX,
                           out)  # fmt: skip
    return end, buf, table, out


def test_writes_records_back_to_back(impl: Kernels) -> None:
    batches = [[send(0)], [send(1, queue_id=1), send(2, queue_id=1)], [send(3, sys_flag=0x4)]]
    end, buf, table, out = run(impl, batches)
    records = decode_records(bytes(buf[100:end]))
    assert [r.body for r in records] == [m.body for b in batches for m in b]
    assert [r.queue_offset for r in records] == [7, 0, 1, 0]  # PREPARED takes none
    assert table == {"T-0": 8, "T-1": 2}
    assert [len(results) for results in out] == [1, 2, 1]
    flat = [r for results in out for r in results]
    starts = [BASE + 100 + sum(x.total_size for x in records[:i]) for i in range(4)]
    assert [r.physical_offset for r in flat] == starts
    for result, record in zip(flat, records, strict=True):
        assert record.physical_offset == result.physical_offset
        assert record.store_timestamp == result.store_timestamp == STAMP
        assert record.store_host == HOST
        assert result.size == record.total_size
        assert result.msg_id == create_offset_msg_id(HOST, result.physical_offset)
    assert buf[end:] == b"\xee" * (8192 - end)


@pytest.mark.parametrize(
    "bad",
    [
        [],
        [send(9, size=MAX + 1)],
        [send(9, topic="x" * 128)],
        [send(9, properties="k\x01" + "v" * 40000)],
        [send(9), send(9, queue_id=2**31)],
        [send(9, born_host=("not an ip", 1))],
        [send(9, size=7000)],  # past the limit: the caller rolls the file
    ],
)
def test_stops_before_a_batch_it_cannot_take(impl: Kernels, bad: list[StoredMessage]) -> None:
    end, buf, table, out = run(impl, [[send(0)], bad, [send(1)]])
    assert len(out) == 1
    assert table == {"T-0": 8}
    assert end == 100 + out[0][0].size
    assert buf[end:] == b"\xee" * (8192 - end)
    # and from the batch after it, when the caller has taken that one
    _, _, table2, out2 = run(impl, [[send(0)], bad, [send(1)]], end, first=2, table=table)
    assert len(out2) == 1 and table2 == {"T-0": 9}


_hosts = st.sampled_from([("127.0.0.1", 1), ("::1", 2), ("10.0.0.1", 2**31), ("x", 3)])
_ints = st.one_of(st.integers(-3, 3), st.sampled_from([2**31 - 1, 2**31, -(2**63), 2**63]))
_messages = st.builds(
    send,
    i=st.integers(0, 255),
    topic=st.sampled_from(["T", "U", "é", "x" * 127, "x" * 128]),
    queue_id=st.integers(0, 2),
    size=st.sampled_from([0, 1, 100, 1000, MAX, MAX + 1]),
    flag=_ints,
    sys_flag=st.sampled_from([0, 0x4, 0x8, 0xC, 0x10, 0x30, -1]),
    born_host=_hosts,
    reconsume_times=_ints,
    prepared_transaction_offset=_ints,
)


@settings(max_examples=300, deadline=None)
@given(
    batches=st.lists(st.lists(_messages, max_size=4), max_size=5),
    position=st.integers(0, 3000),
    limit=st.integers(0, 8192),
    first=st.integers(0, 2),
)
def test_compiled_matches_reference(
    batches: list[list[StoredMessage]], position: int, limit: int, first: int
) -> None:
    pure, compiled = both_implementations()
    got = run(compiled, batches, position, limit, first, {"T-0": 3, "U-1": 2**63 - 2})
    want = run(pure, batches, position, limit, first, {"T-0": 3, "U-1": 2**63 - 2})
    # The kernel may stop earlier on a value the reference stores (never later).
    assert got[0] <= want[0]
    assert got[3] == want[3][: len(got[3])]
    assert got[1][: got[0]] == want[1][: got[0]]
    if got[0] == want[0]:
        assert got == want


_BOTH: list[tuple[Kernels, Kernels]] = []


def both_implementations() -> tuple[Kernels, Kernels]:
    if not _BOTH:
        _BOTH.append(twin_implementations())
    return _BOTH[0]


_I64 = st.integers(-(2**63), 2**63 - 1)
_index_keys = st.tuples(
    st.sampled_from(["T#", "", "é#"]),
    st.text(st.sampled_from("ab#é😀"), max_size=4),
    st.one_of(st.integers(0, 10**6), _I64),
    st.one_of(st.integers(1_700_000_000_000, 1_700_000_100_000), _I64),
)


def _header_state(header: _LiveHeader) -> tuple[int, ...]:
    return tuple(getattr(header, name) for name in _LiveHeader.__slots__)


@settings(max_examples=300, deadline=None)
@given(
    slots=st.integers(1, 6),
    entries=st.integers(2, 9),
    count=st.integers(0, 9),
    begin=st.one_of(st.integers(-5, 1_700_000_000_000), _I64),
    keys=st.lists(_index_keys, max_size=10),
    first=st.integers(0, 3),
)
def test_put_index_keys_matches_reference(
    slots: int, entries: int, count: int, begin: int, keys: list[Any], first: int
) -> None:
    results = []
    for impl in both_implementations():
        buf = bytearray(range(256)) * 2  # old bytes everywhere
        header = _LiveHeader(begin, begin, 7, 7, min(count, 3), count)
        outcome = outcome_of(impl.put_index_keys, buf, header, slots, entries, keys, first)
        results.append((outcome, bytes(buf), _header_state(header)))
    assert results[0] == results[1]


def test_put_index_keys_is_put_index_key_each(impl: Kernels) -> None:
    keys = [("T#", f"k{i % 3}", 100 * i, STAMP + 1000 * i) for i in range(6)]
    buf_many, buf_each = bytearray(40 + 5 * 4 + 5 * 20), bytearray(40 + 5 * 4 + 5 * 20)
    many, each = _LiveHeader(), _LiveHeader()
    assert impl.put_index_keys(buf_many, many, 5, 5, keys, 1) == 5  # entry 0 is never used
    for prefix, key, phy, ts in keys[1:5]:
        assert impl.put_index_key(buf_each, each, 5, 5, prefix, key, phy, ts)
    assert (bytes(buf_many), _header_state(many)) == (bytes(buf_each), _header_state(each))
    assert impl.put_index_keys(buf_many, many, 5, 5, keys, 5) == 5  # full: nothing put


def test_store_host_changes_between_calls() -> None:
    """The compiled twin works a store host out once and again when another comes (a new
    tuple of the same value, another port, one it cannot pack): what the reference does."""
    pure, compiled = both_implementations()
    hosts = [("10.0.0.2", 10911), ("10.0.0.2", 10911), ("10.0.0.3", 10911), ("10.0.0.2", 10912),
             ("x", 1), ("10.0.0.1", 2**31), ("10.0.0.2", 10911)]  # fmt: skip
    for host in hosts:
        answers = []
        for impl in (pure, compiled):
            buf, out = bytearray(4096), []
            end = outcome_of(impl.put_batches, buf, 0, 4000, [[send(1)], [send(2)]], 0,
                             {}, BASE, STAMP, host, MAX, out)  # fmt: skip
            answers.append((end, bytes(buf), out))
        assert answers[1] == answers[0]
        if answers[0][2]:  # (a host it cannot pack: nothing written)
            assert answers[0][2][0][0].msg_id == create_offset_msg_id(host, BASE)


def test_queue_keys_of_many_queues_and_fresh_topic_texts() -> None:
    """More queues than the compiled twin keeps keys for, each topic text a new str every
    time (as a decoded send's is), queues met again after others pushed them out: the
    same queue offsets and table as the reference."""
    pure, compiled = both_implementations()
    order = [(t, q) for _ in range(3) for t in ("T", "Topic", "é") for q in range(12)]
    order += [("T", 0), ("T", 11), ("Topic", 3)] * 3
    answers = []
    for impl in (pure, compiled):
        table: dict[str, int] = {"T-0": 5, "é-3": 2**40}
        out: list[tuple[AppendResult, ...]] = []
        for topic, queue_id in order:
            fresh = "".join(list(topic))  # equal text, another object
            buf = bytearray(512)
            impl.put_batches(buf, 0, 500, [[send(queue_id, topic=fresh, queue_id=queue_id)]],
                             0, table, BASE, STAMP, HOST, MAX, out)  # fmt: skip
        answers.append((table, [r.queue_offset for results in out for r in results]))
    assert answers[1] == answers[0]
    assert answers[0][0]["T-0"] == 5 + 3 + 3


def test_an_ipv6_store_host_is_sized_in_every_twin(impl: Kernels) -> None:
    # the record holds the CommitLog's host, not the message's own: 12 bytes more for IPv6
    buf = bytearray(b"\xee" * 8192)
    out: list[tuple[AppendResult, ...]] = []
    batches = [[send(0)], [send(1), send(2, born_host=("::1", 7))]]
    end = impl.put_batches(buf, 0, 8000, batches, 0, {}, BASE, STAMP, ("::1", 10911), MAX, out)
    records = decode_records(bytes(buf[:end]))
    assert [r.body for r in records] == [bytes([i]) * 40 for i in range(3)]
    assert {r.store_host for r in records} == {("::1", 10911)}
    assert [a.size for batch in out for a in batch] == [r.total_size for r in records]
