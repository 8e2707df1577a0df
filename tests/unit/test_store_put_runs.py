"""``put_twins.put_runs`` (a dispatch pass's ConsumeQueue runs written at the tail of their queues)
against its compiled twin, and both against ``ConsumeQueue.put_entries`` of every run: the
same queue bytes, positions, answers and errors on every path (the next slot, a file to
roll, a first file to pre-blank, entries already there, a gap, a queue not created yet)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rocketq.store import put_twins  # registers the put_runs twin
from rocketq.store.consume_queue import ConsumeQueue
from tests.conftest import Kernels, outcome_of

_ENTRY = struct.Struct(">qiq")
FILE_SIZE = 5 * 20  # five entries per file
Key = tuple[str, int]

assert put_twins.put_runs is not None


def _queues(root: Path, keys: list[Key]) -> dict[Key, ConsumeQueue]:
    queues = {}
    for topic, queue_id in keys:
        cq = ConsumeQueue(root, topic, queue_id, FILE_SIZE)
        cq.load()
        cq.recover()
        queues[(topic, queue_id)] = cq
    return queues


def _entries(phys: int, count: int, size: int = 10) -> bytearray:
    return bytearray(b"".join(_ENTRY.pack(phys + size * i, size, i) for i in range(count)))


def _state(root: Path, queues: dict[Key, ConsumeQueue]) -> Any:
    files = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
             if p.is_file()}  # fmt: skip
    marks = {key: (cq.max_physic_offset, cq.max_offset_in_queue(), cq.min_offset_in_queue())
             for key, cq in queues.items()}  # fmt: skip
    return files, marks


def _put_entries(
    queues: dict[Key, ConsumeQueue], runs: list[tuple[Key, int, bytearray]]
) -> dict[Key, type]:
    """``put_entries`` of each run whose queue is there; the error type of each that failed
    (a gap: ``put`` raises on the first entry, before writing it)."""
    errors = {}
    for key, first, entries in runs:
        if key in queues:
            try:
                queues[key].put_entries(first, bytes(entries))
            except Exception as exc:
                errors[key] = type(exc)
    return errors


def _put(fn: Any, queues: dict[Key, ConsumeQueue], runs: dict[Key, tuple[int, bytearray]]) -> Any:
    """``fn`` as ``_dispatch_appended`` uses it: the runs it leaves go to put_entries."""
    left = outcome_of(fn, queues, runs)
    if isinstance(left, type):
        return left
    return [key for key, _, _ in left], _put_entries(queues, left)


_run = st.tuples(
    st.sampled_from([("T", 0), ("T", 1), ("U", 0)]),
    st.sampled_from([0, 0, 0, 0, 1, -1, -3, 4]),  # queue offset after the queue's last one
    st.integers(1, 7),  # entries
    st.sampled_from([0, 0, 0, -15]),  # commitlog bytes after the previous run
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(_run, min_size=1, max_size=4), min_size=1, max_size=5),
    st.sets(st.sampled_from([("T", 0), ("T", 1), ("U", 0)])),
    st.sampled_from([0, 3, 7]),
)
def test_put_runs_twins_write_what_put_entries_does(
    both: tuple[Kernels, Kernels],
    tmp_path_factory: Any,
    passes: list[list[tuple[Key, int, int, int]]],
    created: set[Key],
    start: int,
) -> None:
    """Passes of runs over queues (some not created: left to the caller), each applied by
    both twins and by ``put_entries`` alone: the same files and marks after each pass."""
    roots = [tmp_path_factory.mktemp(name) for name in ("pure", "compiled", "entries")]
    stores = [_queues(root, sorted(created)) for root in roots]
    pure, compiled = both
    nexts: dict[Key, int] = {}
    phys = 1000
    for runs in passes:
        by_key: dict[Key, tuple[int, bytearray]] = {}
        for key, skip, count, gap in runs:
            if key in by_key:
                continue
            first = max(0, nexts.get(key, start) + skip)
            phys += gap
            by_key[key] = (first, _entries(phys, count))
            phys += 10 * count
            nexts[key] = first + count
        answers = [_put(fn, queues, by_key) for fn, queues in zip(
            (pure.put_runs, compiled.put_runs), stores, strict=False)]  # fmt: skip
        assert answers[1] == answers[0]
        errors = _put_entries(stores[2], [(key, *run) for key, run in by_key.items()])
        assert errors == answers[0][1]
        states = [_state(root, queues) for root, queues in zip(roots, stores, strict=True)]
        assert states[1] == states[0]
        assert states[2] == states[0]
    for queues in stores:
        for cq in queues.values():
            cq.close()


def test_put_runs_usual_pass(impl: Kernels, tmp_path: Path) -> None:
    """Each run after its queue's last entry: written, up to the first run it cannot take
    (a queue not there yet); that one and every later run are left, untouched, in run
    order (the queues written in run order even if the slow way fails on one)."""
    queues = _queues(tmp_path, [("T", 0), ("T", 1), ("T", 2)])
    for i, cq in enumerate(queues.values()):
        cq.put(100 * i, 10, 0, 0)  # the first entry of a queue goes the slow way
    queues[("T", 2)].put_entries(1, bytes(_entries(500, 4)))  # its file is full now
    runs = {("T", 0): (1, _entries(1000, 2)), ("X", 0): (0, _entries(1020, 1)),
            ("T", 1): (1, _entries(1030, 4)), ("T", 2): (5, _entries(1070, 1))}  # fmt: skip
    left = impl.put_runs(queues, runs)
    assert [(key, first, bytes(e)) for key, first, e in left] == [
        (("X", 0), 0, bytes(_entries(1020, 1))),
        (("T", 1), 1, bytes(_entries(1030, 4))),
        (("T", 2), 5, bytes(_entries(1070, 1))),
    ]
    assert queues[("T", 0)].max_offset_in_queue() == 3
    assert queues[("T", 0)].max_physic_offset == 1020
    assert queues[("T", 1)].max_offset_in_queue() == 1  # left: not written
    assert queues[("T", 2)].max_offset_in_queue() == 5
    runs = {("T", 1): (1, _entries(1030, 4)), ("T", 2): (5, _entries(1070, 1))}
    assert [key for key, _, _ in impl.put_runs(queues, runs)] == [("T", 2)]  # full file
    assert [e.physical_offset for e in queues[("T", 1)].get_entries(0, 9)] == [
        100,
        1030,
        1040,
        1050,
        1060,
    ]
    for cq in queues.values():
        cq.close()


def test_put_runs_already_there_or_ahead_is_left(impl: Kernels, tmp_path: Path) -> None:
    queues = _queues(tmp_path, [("T", 0)])
    cq = queues[("T", 0)]
    cq.put(0, 10, 0, 0)
    cq.put(10, 10, 0, 1)
    runs: dict[Key, tuple[int, bytearray]] = {("T", 0): (1, _entries(10, 1))}  # entry 1 again
    assert [key for key, _, _ in impl.put_runs(queues, runs)] == [("T", 0)]
    runs = {("T", 0): (3, _entries(20, 1))}  # a gap after entry 1
    assert [key for key, _, _ in impl.put_runs(queues, runs)] == [("T", 0)]
    assert cq.max_offset_in_queue() == 2 and cq.max_physic_offset == 20
    cq.close()


@pytest.mark.parametrize("unusual", ["bytes", "synced", "mapping", "closed", "short"])
def test_put_runs_unusual_inputs_twins(
    both: tuple[Kernels, Kernels], tmp_path: Path, unusual: str
) -> None:
    """What the compiled twin hands to the Python path: entries as bytes, a tail file with
    synced appends (read-ahead advice), a queue mapping that is not a dict, a closed file,
    entries that are not whole: the same outcome and bytes both ways."""
    results = []
    for impl in both:
        root = tmp_path / impl.put_runs.__module__
        queues: Any = _queues(root, [("T", 0)])
        cq = queues[("T", 0)]
        cq.put(0, 10, 0, 0)
        entries: Any = _entries(10, 3)
        if unusual == "bytes":
            entries = bytes(entries)
        elif unusual == "synced":
            cq.queue.files[-1]._synced_appends = True
        elif unusual == "mapping":
            queues = _Mapping(queues)
        elif unusual == "short":
            entries = entries[:-3]
        elif unusual == "closed":
            cq.queue.files[-1]._mm.close()
        left = outcome_of(impl.put_runs, queues, {("T", 0): (1, entries)})
        if isinstance(left, list):
            left = [(key, first, bytes(e)) for key, first, e in left]
        state = (
            None if unusual == "closed" else (_state(root, {("T", 0): cq}), cq.max_physic_offset)
        )
        if unusual != "closed":
            cq.close()
        results.append((left, state))
    assert results[1] == results[0]


class _Mapping(dict[Key, ConsumeQueue]):
    """A dict subclass: not the exact type the compiled twin reads itself."""


def test_put_runs_of_a_negative_offset_agree(both: tuple[Kernels, Kernels], tmp_path: Path) -> None:
    # an entry's end is computed in C only where it cannot overflow; the rest as Python does
    outcomes = []
    for i, impl in enumerate(both):
        root = tmp_path / str(i)
        queues = _queues(root, [("T", 0)])
        cq = queues[("T", 0)]
        cq.put(100, 10, 0, 0)
        entries = bytearray(_ENTRY.pack(-(2**63), -1, 7))
        left = impl.put_runs(queues, {("T", 0): (1, entries)})
        outcomes.append(([key for key, _, _ in left], _state(root, queues)))
        cq.close()
    assert outcomes[0] == outcomes[1]
