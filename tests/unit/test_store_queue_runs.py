"""``put.queue_runs`` (a dispatch pass's ConsumeQueue entries, index records and arrivals as
data) against its compiled twin, and ``ConsumeQueue.put_entries`` against ``put`` of each
entry: the same queue bytes on every path (one write, file roll, pre-blank, re-dispatch)."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rocketq.common.message import decode_properties, encode_properties
from rocketq.common.record import StoredMessage
from rocketq.common.speedups import REFERENCE
from rocketq.common.topic import SCHEDULE_TOPIC
from rocketq.store.commit_log import AppendResult
from rocketq.store.consume_queue import ConsumeQueue
from rocketq.store.index_service import IndexService
from tests.conftest import Kernels

_ENTRY = struct.Struct(">qiq")
FILE_SIZE = 5 * 20  # five entries per file

_tags = st.one_of(st.none(), st.just(""), st.sampled_from(["TagA", "tag-\u00e9", "\U0001f600x"]),
                  st.text(st.characters(blacklist_characters="\x01\x02"), max_size=8))  # fmt: skip
_record = st.fixed_dictionaries({
    "topic": st.sampled_from(["T1", "T2", SCHEDULE_TOPIC]),
    "queue_id": st.integers(0, 2),
    "sys_flag": st.sampled_from([0, 0x4, 0x8, 0xC, 0x10]),
    "tags": _tags,
    "keys": st.one_of(st.none(), st.just(""), st.just("k1 k2"), st.just(" k1  k2 ")),
    "uniq": st.one_of(st.none(), st.just(""), st.just("U1")),
    "parsed": st.booleans(),  # props given, or only the properties text
    "size": st.sampled_from([1, 200, 2**31 - 1, 2**31]),
    "gap": st.sampled_from([1, 1, 1, 1, 0, -5]),  # commitlog bytes after the previous record
    "skip": st.sampled_from([0, 0, 0, 0, 1]),  # queue offsets left out (not consecutive)
})  # fmt: skip


def _scheduled(topic: str, props: Mapping[str, str], stamp: int) -> int:
    return stamp + 1000 + len(props)


def _pass(records: list[dict[str, Any]]) -> tuple[list[StoredMessage], list[AppendResult]]:
    msgs, appended, phys, next_offset = [], [], 0, {}
    for r in records:
        props = {"TAGS": r["tags"], "KEYS": r["keys"], "UNIQ_KEY": r["uniq"]}
        props = {k: v for k, v in props.items() if v is not None}
        text = encode_properties(props)
        key = (r["topic"], r["queue_id"])
        offset = next_offset.get(key, 7) + r["skip"]
        next_offset[key] = offset + 1
        msgs.append(StoredMessage(topic=r["topic"], queue_id=r["queue_id"], body=b"",
                                  properties=text, sys_flag=r["sys_flag"],
                                  props=props if r["parsed"] else None))  # fmt: skip
        phys += r["gap"]
        appended.append(AppendResult(phys, r["size"], offset, 1_700_000_000_000, "ID"))
        phys += 100
    return msgs, appended


def _run(fn: Any, msgs: Any, appended: Any, indexing: bool) -> Any:
    index_keys: list[Any] | None = [] if indexing else None
    arrivals: list[Any] = []
    runs = fn(msgs, appended, _scheduled, index_keys, arrivals)
    if runs is None:
        return None
    runs = {k: (first, bytes(entries)) for k, (first, entries) in runs.items()}
    return runs, index_keys, arrivals


@settings(max_examples=300)
@given(st.lists(_record, min_size=1, max_size=12), st.booleans())
def test_queue_runs_twins(
    both: tuple[Kernels, Kernels], records: list[dict[str, Any]], indexing: bool
) -> None:
    pure, compiled = both
    msgs, appended = _pass(records)
    assert _run(compiled.queue_runs, msgs, appended, indexing) == _run(
        pure.queue_runs, msgs, appended, indexing
    )


def test_queue_runs_usual_pass(impl: Kernels) -> None:
    records = [dict(topic="T1", queue_id=i % 2, sys_flag=0, tags="TagA", keys="k", uniq="U",
                    parsed=True, size=100, gap=0, skip=0) for i in range(5)]  # fmt: skip
    msgs, appended = _pass(records)
    runs, index_keys, arrivals = _run(impl.queue_runs, msgs, appended, True)
    code = 2_598_919  # Java "TagA".hashCode()
    assert runs[("T1", 0)] == (7, b"".join(_ENTRY.pack(p, 100, code) for p in (0, 200, 400)))
    assert runs[("T1", 1)] == (7, b"".join(_ENTRY.pack(p, 100, code) for p in (100, 300)))
    assert [a[:3] for a in arrivals] == [("T1", 0, 8), ("T1", 1, 8), ("T1", 0, 9), ("T1", 1, 9),
                                         ("T1", 0, 10)]  # fmt: skip
    assert {a[3] for a in arrivals} == {code}
    assert index_keys == [("T1#", key, phys, 1_700_000_000_000)
                          for phys in (0, 100, 200, 300, 400) for key in ("U", "k")]  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(st.lists(_record, min_size=1, max_size=12))
def test_pass_keys_index_what_build_many_does(
    tmp_path_factory: Any, records: list[dict[str, Any]]
) -> None:
    """The keys queue_runs makes, put with put_pass_keys: the same index files as
    build_many of the records (what the record-by-record dispatch hands it)."""
    msgs, appended = _pass(records)
    index_keys: list[Any] = []
    if REFERENCE["queue_runs"](msgs, appended, _scheduled, index_keys, []) is None:
        return
    indexed = [(m.topic, (m.props or decode_properties(m.properties)).get("KEYS") or "",
                (m.props or decode_properties(m.properties)).get("UNIQ_KEY"),
                a.physical_offset, a.store_timestamp, m.sys_flag)
               for m, a in zip(msgs, appended, strict=True)]  # fmt: skip
    indexed = [r for r in indexed if r[1] or r[2]]
    if not index_keys:  # ROLLBACK records only (build_many opens a file for no key)
        assert all(r[5] & 0xC == 0xC for r in indexed)
        return
    roots = tmp_path_factory.mktemp("pass"), tmp_path_factory.mktemp("many")
    services = [IndexService(root, 16, 40, clock=lambda: 1_700_000_000_000) for root in roots]
    services[0].put_pass_keys(index_keys)
    services[1].build_many(indexed)
    for service in services:
        service.close()
    files = [{p.name: p.read_bytes() for p in sorted(root.iterdir())} for root in roots]
    assert files[0] == files[1]


def _queue(root: Path) -> ConsumeQueue:
    cq = ConsumeQueue(root, "T", 0, FILE_SIZE)
    cq.load()
    cq.recover()
    return cq


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "T" / "0").iterdir())}


@given(st.lists(st.tuples(st.integers(0, 13), st.integers(1, 9)), min_size=1, max_size=6))
@settings(max_examples=60, deadline=None)
def test_put_entries_writes_what_put_does(
    tmp_path_factory: Any, runs: list[tuple[int, int]]
) -> None:
    """Runs at any queue offset (the next one, past a file end, behind: re-dispatched,
    ahead: a gap or a first file's pre-blank), each entry put one by one in a twin queue."""
    one, each = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("each")
    by_run, by_entry = _queue(one), _queue(each)
    phys = 0
    for first, count in runs:
        entries = b"".join(_ENTRY.pack(phys + 10 * i, 10, i) for i in range(count))
        error = None
        try:
            by_run.put_entries(first, entries)
        except Exception as exc:  # a gap: put raises on the first entry it cannot place
            error = type(exc)
        try:
            for i in range(count):
                by_entry.put(phys + 10 * i, 10, i, first + i)
        except Exception as exc:
            assert error is type(exc)
        else:
            assert error is None
        phys += 10 * count
        assert by_run.max_physic_offset == by_entry.max_physic_offset
        assert by_run.max_offset_in_queue() == by_entry.max_offset_in_queue()
        assert by_run.min_offset_in_queue() == by_entry.min_offset_in_queue()
    by_run.close()
    by_entry.close()
    assert _files(one) == _files(each)


def test_queue_runs_many_queues_twins(both: tuple[Kernels, Kernels]) -> None:
    """More queues in a pass than the compiled pass keeps at hand (it looks the rest up)."""
    pure, compiled = both
    base = dict(topic="T1", sys_flag=0, tags="TagA", keys=None, uniq="U", parsed=True,
                size=100, gap=0)  # fmt: skip
    records = [dict(base, queue_id=i % 12, skip=0) for i in range(36)]
    msgs, appended = _pass(records)
    got = _run(compiled.queue_runs, msgs, appended, True)
    assert got is not None and len(got[0]) == 12
    assert got == _run(pure.queue_runs, msgs, appended, True)
    records[30]["skip"] = 1  # queue 6 (one kept at hand), then queue 10 (one looked up)
    msgs, appended = _pass(records)
    assert _run(compiled.queue_runs, msgs, appended, True) is None
    records[30]["skip"], records[34]["skip"] = 0, 1
    msgs, appended = _pass(records)
    assert _run(compiled.queue_runs, msgs, appended, True) is None
    assert _run(pure.queue_runs, msgs, appended, True) is None
