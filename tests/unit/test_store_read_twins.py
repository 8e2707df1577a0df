"""The per-read bookkeeping of ``submit_many`` as twins: ``checked_batches`` (the puts of a
read when the store's checks pass them all), ``put_oks`` (PUT_OK of each stored put) and
``stored_flat`` (the stored records back to back), each against its compiled twin over the
same cases: usual reads, refusals at each limit, failed appends, unusual types."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rocketq.store import put_twins  # registers the twins
from rocketq.store.commit_log import AppendResult, MessageSizeExceededError
from rocketq.store.format import StoredMessage
from rocketq.store.put_twins import MAX_TOPIC_LENGTH, check_messages
from rocketq.store.result import PutMessageStatus
from tests.conftest import Kernels, outcome_of

assert put_twins.checked_batches is not None

_MAX_PROPS = 32767  # PROPERTIESLENGTH is a signed short
_topics = st.sampled_from(["T", "t" * MAX_TOPIC_LENGTH, "t" * (MAX_TOPIC_LENGTH + 1),
                           "\u00e9" * 63, "\u00e9" * 64, "\u00e9" * 127, "%RETRY%G"])  # fmt: skip
_props = st.sampled_from(["", "UNIQ_KEY\x01U1\x02TAGS\x01a\x02", "a" * _MAX_PROPS,
                          "a" * (_MAX_PROPS + 1), "\u00e9" * 16383, "\u00e9" * 16384,
                          "\U0001f600" * 8192])  # fmt: skip
_message = st.builds(
    lambda topic, props: StoredMessage(topic=topic, queue_id=0, body=b"x", properties=props),
    _topics,
    _props,
)
_batch = st.one_of(st.lists(_message, max_size=3), st.lists(_message, max_size=3).map(tuple))


@settings(max_examples=300)
@given(st.lists(st.tuples(_batch, st.booleans()), max_size=5))
def test_checked_batches_twins(both: tuple[Kernels, Kernels], puts: list[Any]) -> None:
    pure, compiled = both
    got = outcome_of(compiled.checked_batches, puts)
    assert got == outcome_of(pure.checked_batches, puts)
    refused = any(not msgs or check_messages(msgs) for msgs, _ in puts)
    assert got == (None if refused else [msgs for msgs, _ in puts])
    if got is not None:
        assert all(a is b for a, (b, _) in zip(got, puts, strict=True))


def test_checked_batches_usual_read(impl: Kernels) -> None:
    puts = [([StoredMessage(topic="T", queue_id=i, body=b"", properties="A\x01b\x02")], True)
            for i in range(4)]  # fmt: skip
    assert impl.checked_batches(puts) == [msgs for msgs, _ in puts]
    assert impl.checked_batches([]) == []
    assert impl.checked_batches([*puts, ([], True)]) is None
    assert impl.checked_batches(tuple(puts)) == [msgs for msgs, _ in puts]
    assert outcome_of(impl.checked_batches, [(puts[0][0],)]) is ValueError


def _results(n: int, at: int = 0) -> tuple[AppendResult, ...]:
    return tuple(AppendResult(at + 10 * i, 10, i, 1_700_000_000_000, f"ID{at + i}")
                 for i in range(n))  # fmt: skip


_outcome = st.one_of(
    st.integers(1, 3).map(_results),
    st.just(MessageSizeExceededError("too big")),
    st.just(OSError("no file")),
    st.integers(1, 3).map(lambda n: list(_results(n))),  # not a tuple: as a failure
)


@settings(max_examples=200)
@given(st.lists(_outcome, max_size=6))
def test_put_oks_twins(both: tuple[Kernels, Kernels], outcomes: list[Any]) -> None:
    pure, compiled = both
    got = compiled.put_oks(outcomes)
    assert got == pure.put_oks(outcomes)
    if all(type(o) is tuple for o in outcomes):
        assert got is not None
        assert [r.status for r in got] == [PutMessageStatus.PUT_OK] * len(outcomes)
        assert [r.appended for r in got] == outcomes
        assert all(r.appended is o for r, o in zip(got, outcomes, strict=True))
    else:
        assert got is None
    assert compiled.put_oks(tuple(outcomes)) == pure.put_oks(tuple(outcomes))


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(1, 3), _outcome, st.booleans()), max_size=6),
       st.integers(-1, 1))  # fmt: skip
def test_stored_flat_twins(
    both: tuple[Kernels, Kernels], parts: list[tuple[int, Any, bool]], extra: int
) -> None:
    pure, compiled = both
    batches: list[Any] = []
    for n, _, as_tuple in parts:
        batch = [StoredMessage(topic="T", queue_id=len(batches), body=b"") for _ in range(n)]
        batches.append(tuple(batch) if as_tuple else batch)
    outcomes = [outcome for _, outcome, _ in parts]
    if extra < 0:
        outcomes = outcomes[:-1]
    elif extra > 0:
        outcomes.append(_results(1))
    got = outcome_of(compiled.stored_flat, batches, outcomes)
    assert got == outcome_of(pure.stored_flat, batches, outcomes)
    if len(outcomes) == len(batches) and all(type(o) is tuple for o in outcomes):
        assert got == ([m for b in batches for m in b], [r for o in outcomes for r in o])
    else:
        assert got is None
    assert outcome_of(compiled.stored_flat, tuple(batches), outcomes) == outcome_of(
        pure.stored_flat, tuple(batches), outcomes
    )


@pytest.mark.parametrize("n", [0, 1, 4])
def test_stored_flat_one_message_sends(impl: Kernels, n: int) -> None:
    batches = [[StoredMessage(topic="T", queue_id=i, body=b"")] for i in range(n)]
    outcomes = [_results(1, 100 * i) for i in range(n)]
    flat = impl.stored_flat(batches, outcomes)
    assert flat == ([b[0] for b in batches], [o[0] for o in outcomes])
