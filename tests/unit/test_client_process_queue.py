"""ProcessQueue: offset bookkeeping of one queue, against Java's ProcessQueue semantics."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rocketq.client.message import MessageExt
from rocketq.client.process_queue import (
    PULL_MAX_IDLE_TIME_MS,
    REBALANCE_LOCK_MAX_LIVE_TIME_MS,
    ProcessQueue,
)
from rocketq.common.message import MessageConst


class FakeClock:
    """Epoch milliseconds that move only when told."""

    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def msg(offset: int, body: bytes = b"xx", props: dict[str, str] | None = None) -> MessageExt:
    return MessageExt(
        topic="T", body=body, properties=dict(props or {}), msg_id=f"id{offset}", offset_msg_id="",
        queue_id=0, queue_offset=offset, commit_log_offset=0, born_timestamp=0,
        born_host=("127.0.0.1", 1), store_timestamp=0, store_host=("127.0.0.1", 2),
        reconsume_times=0, sys_flag=0, flag=0, body_crc=0,
    )  # fmt: skip


def msgs(*offsets: int) -> list[MessageExt]:
    return [msg(o) for o in offsets]


def test_put_counts_sizes_and_dispatches_once() -> None:
    pq = ProcessQueue()
    assert pq.put_messages(msgs(0, 1, 2)) is True
    assert (pq.msg_count, pq.msg_size, pq.max_span, pq.min_offset) == (3, 6, 2, 0)
    # already dispatched: no second consume task until take_messages finds nothing
    assert pq.put_messages(msgs(3)) is False
    # a duplicate offset replaces without being counted twice
    assert pq.put_messages([msg(3, b"yyyy")]) is False
    assert (pq.msg_count, pq.msg_size) == (4, 10)
    assert pq.put_messages([]) is False


def test_remove_returns_lowest_waiting_then_max_plus_one() -> None:
    pq = ProcessQueue()
    assert pq.remove_messages(msgs(0)) == -1  # nothing held
    pq.put_messages(msgs(10, 11, 12, 13))
    assert pq.remove_messages(msgs(11, 12)) == 10  # 10 still unconsumed
    assert pq.remove_messages(msgs(10)) == 13
    assert pq.remove_messages(msgs(13)) == 14  # empty: highest seen + 1
    assert (pq.msg_count, pq.msg_size, pq.max_span) == (0, 0, 0)
    assert pq.remove_messages(msgs(13)) == -1


def test_remove_of_unknown_message_changes_nothing() -> None:
    pq = ProcessQueue()
    pq.put_messages(msgs(5, 6))
    assert pq.remove_messages(msgs(99)) == 5
    assert pq.msg_count == 2


def test_out_of_order_put_keeps_offsets_sorted() -> None:
    pq = ProcessQueue()
    pq.put_messages(msgs(7, 3, 5))
    assert [m.queue_offset for m in pq.messages()] == [3, 5, 7]
    assert pq.max_span == 4
    assert pq.remove_messages(msgs(3)) == 5


def test_acc_count_from_max_offset_property() -> None:
    pq = ProcessQueue()
    pq.put_messages([msg(0), msg(1, props={MessageConst.MAX_OFFSET: "100"})])
    assert pq.msg_acc_count == 99
    pq.put_messages([msg(2, props={MessageConst.MAX_OFFSET: "2"})])  # not positive: kept
    assert pq.msg_acc_count == 99


def test_orderly_take_commit_and_retry() -> None:
    pq = ProcessQueue()
    pq.put_messages(msgs(0, 1, 2, 3, 4))
    batch = pq.take_messages(2)
    assert [m.queue_offset for m in batch] == [0, 1]
    assert pq.msg_count == 5  # taken messages still count for flow control
    assert pq.commit() == 2
    assert (pq.msg_count, pq.msg_size) == (3, 6)
    assert pq.commit() == -1  # nothing taken

    batch = pq.take_messages(2)
    pq.make_messages_to_consume_again(batch[1:])  # 3 failed: back for a local retry
    assert pq.commit() == 3
    assert [m.queue_offset for m in pq.messages()] == [3, 4]
    assert (pq.msg_count, pq.msg_size) == (2, 4)

    pq.take_messages(5)
    pq.rollback()
    assert [m.queue_offset for m in pq.messages()] == [3, 4]
    assert pq.stats().transaction_msg_count == 0


def test_take_on_empty_queue_marks_idle_so_next_put_dispatches() -> None:
    pq = ProcessQueue()
    assert pq.put_messages(msgs(0)) is True
    assert len(pq.take_messages(8)) == 1
    assert pq.put_messages(msgs(1)) is False  # consume task still running
    assert pq.take_messages(8) == msgs(1)
    assert pq.take_messages(8) == []
    assert not pq.consuming
    assert pq.put_messages(msgs(2)) is True


def test_expiry_and_timestamps_follow_the_clock() -> None:
    clock = FakeClock()
    pq = ProcessQueue(clock=clock)
    assert not pq.is_pull_expired() and not pq.is_lock_expired()
    clock.now += REBALANCE_LOCK_MAX_LIVE_TIME_MS
    assert not pq.is_lock_expired()  # strictly greater, as Java
    clock.now += 1
    assert pq.is_lock_expired()
    pq.last_lock_timestamp = clock.now
    assert not pq.is_lock_expired()
    clock.now = pq.last_pull_timestamp + PULL_MAX_IDLE_TIME_MS + 1
    assert pq.is_pull_expired()
    pq.remove_messages([])
    assert pq.last_consume_timestamp == clock.now


def test_head_if_consume_expired() -> None:
    clock = FakeClock()
    pq = ProcessQueue(clock=clock)
    assert pq.head_if_consume_expired(1000) is None
    started = str(clock.now)
    pq.put_messages([msg(0, props={MessageConst.CONSUME_START_TIMESTAMP: started}), msg(1)])
    assert pq.head_if_consume_expired(1000) is None
    clock.now += 1001
    head = pq.head_if_consume_expired(1000)
    assert head is not None and head.queue_offset == 0


def test_stats_and_clear() -> None:
    pq = ProcessQueue()
    pq.put_messages(msgs(4, 5, 6))
    pq.take_messages(1)
    pq.inc_try_unlock_times()
    stats = pq.stats()
    assert (stats.cached_msg_min_offset, stats.cached_msg_max_offset, stats.cached_msg_count) == (
        5, 6, 2,
    )  # fmt: skip
    assert (stats.transaction_msg_min_offset, stats.transaction_msg_count) == (4, 1)
    assert stats.try_unlock_times == 1 and not stats.dropped and not stats.locked
    pq.clear()
    assert (pq.msg_count, pq.msg_size, pq.has_temp_message()) == (0, 0, False)


# -- model-based --------------------------------------------------------------------------

# An operation: ("pull", how many new offsets) or ("consume", which held messages).
ops_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("pull"), st.integers(0, 6)),
        st.tuples(st.just("consume"), st.lists(st.integers(0, 50), max_size=6)),
    ),
    max_size=40,
)


@settings(max_examples=100, deadline=None)
@given(ops=ops_strategy, start=st.integers(0, 1000))
def test_random_put_remove_matches_model(ops: list[tuple[str, object]], start: int) -> None:
    pq = ProcessQueue()
    held: set[int] = set()  # model: offsets pulled and not yet consumed
    next_offset = start
    max_seen: int | None = None
    committed = -1
    for kind, arg in ops:
        if kind == "pull":
            assert isinstance(arg, int)
            batch = list(range(next_offset, next_offset + arg))
            next_offset += arg
            pq.put_messages(msgs(*batch))
            held.update(batch)
            if batch:
                max_seen = batch[-1]
        else:
            assert isinstance(arg, list)
            ordered = sorted(held)
            chosen = {ordered[i % len(ordered)] for i in arg} if ordered else set()
            was_empty = not held
            result = pq.remove_messages(msgs(*sorted(chosen)))
            held -= chosen
            if was_empty:
                expected = -1
            elif held:
                expected = min(held)
            else:
                assert max_seen is not None
                expected = max_seen + 1
            assert result == expected
            if result >= 0:
                # never skips a message still being consumed, never goes backwards
                assert all(result <= o for o in held)
                assert result >= committed
                committed = result
        assert pq.msg_count == len(held)
        assert pq.msg_size == 2 * len(held)
        assert pq.max_span == (max(held) - min(held) if held else 0)
        assert [m.queue_offset for m in pq.messages()] == sorted(held)


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(1, 30),
    steps=st.lists(st.tuples(st.integers(1, 5), st.booleans()), min_size=1, max_size=20),
)
def test_orderly_commit_never_skips_unconsumed(n: int, steps: list[tuple[int, bool]]) -> None:
    pq = ProcessQueue()
    pq.put_messages(msgs(*range(n)))
    done: set[int] = set()
    for batch_size, ok in steps:
        batch = pq.take_messages(batch_size)
        if not batch:
            break
        if ok:
            offset = pq.commit()
            done.update(m.queue_offset for m in batch)
            assert offset == max(done) + 1
            assert set(range(offset)) == done  # everything below the commit is consumed
        else:
            pq.make_messages_to_consume_again(batch)
            assert pq.commit() == -1
        assert pq.msg_count == n - len(done)


def test_acc_count_from_the_pull_responses_max_offset_matches_the_property() -> None:
    by_property, by_header = ProcessQueue(), ProcessQueue()
    batch = [msg(o, props={MessageConst.MAX_OFFSET: "20"}) for o in (5, 6, 7)]
    by_property.put_messages(batch)
    by_header.put_messages(batch, 20)
    assert by_property.msg_acc_count == by_header.msg_acc_count == 13
    by_header.put_messages([msg(30)], 20)
    assert by_header.msg_acc_count == 13  # not positive: left as it was, as Java does
