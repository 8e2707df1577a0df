"""The timer wheel, the timer log and the clock-free TimerStore (add, chain walk,
wrap-around, roll, reload)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rocketq.broker.timer.checkpoint import TimerCheckpoint
from rocketq.broker.timer.format import MAGIC_DEFAULT, MAGIC_ROLL, UNIT_SIZE, TimerUnit
from rocketq.broker.timer.log import TimerLog
from rocketq.broker.timer.service import record_properties
from rocketq.broker.timer.store import TimerStore
from rocketq.broker.timer.wheel import TimerWheel
from rocketq.common.message import decode_properties, encode_properties
from rocketq.common.record import StoredMessage, decode_record, encode_record
from rocketq.store.format import StoreError

T0 = 1_700_000_000_000  # a tick boundary for precision 100
PRECISION = 100
WINDOW = 50  # slots: 5 s roll window, 10 s wheel span


def make_store(root: Path, now: int = T0, log_size: int = 100 * UNIT_SIZE) -> TimerStore:
    store = TimerStore(root, PRECISION, WINDOW, log_size)
    store.open(now)
    return store


def unit(due: int, offset: int) -> TimerUnit:
    return TimerUnit(-1, -1, MAGIC_DEFAULT, T0, due, offset, 100, 7, offset)


def test_unit_round_trip() -> None:
    u = TimerUnit(0, 1234, MAGIC_ROLL, T0, T0 + 5000, 99, 321, 5, 17)
    data = u.pack()
    assert len(data) == UNIT_SIZE == 52
    assert TimerUnit.unpack(0, data) == u
    assert TimerUnit.unpack(0, bytes(52)) is None


def test_wheel_slots_by_time_and_turn(tmp_path: Path) -> None:
    wheel = TimerWheel(tmp_path / "w", 10, PRECISION)
    wheel.open()
    wheel.put(T0 + 250, 5, 9, 2)
    assert wheel.get(T0 + 200).last_pos == 9  # same tick
    assert wheel.get(T0 + 299).num == 2
    assert wheel.get(T0 + 200 + wheel.span_ms).num == 0  # same slot, next turn: empty
    wheel.close()
    again = TimerWheel(tmp_path / "w", 10, PRECISION)
    again.open()
    assert again.get(T0 + 200) == (T0 + 200, 5, 9, 2, 0)
    again.close()
    with pytest.raises(StoreError):
        TimerWheel(tmp_path / "w", 11, PRECISION).open()


def test_log_append_read_and_tail_after_reload(tmp_path: Path) -> None:
    log = TimerLog(tmp_path / "log", 4 * UNIT_SIZE + 10)  # rounded to 4 units per file
    positions = [log.append(unit(T0 + i, i)) for i in range(10)]
    assert positions == [i * UNIT_SIZE for i in range(10)]
    assert len(log.queue.files) == 3
    assert log.read(positions[6]).commit_log_offset == 6  # type: ignore[union-attr]
    log.close()
    again = TimerLog(tmp_path / "log", 4 * UNIT_SIZE)
    again.load()
    assert again.max_offset() == 10 * UNIT_SIZE
    assert [u.commit_log_offset for u in again.iter_from(3 * UNIT_SIZE)] == list(range(3, 10))
    assert again.append(unit(T0, 10)) == 10 * UNIT_SIZE
    again.close()


def test_enqueue_and_walk_only_the_current_slot(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.enqueue(T0 + 30, 1, 10, 0, T0)
    store.enqueue(T0 + 150, 2, 10, 1, T0)  # next tick
    store.enqueue(T0 + 10, 3, 10, 2, T0)
    tick, units = store.take_slot()
    assert tick == T0 and [u.commit_log_offset for u in units] == [1, 3]  # oldest first
    assert store.read_ms == T0 + PRECISION
    tick, units = store.take_slot()
    assert tick == T0 + 100 and [u.due_ms for u in units] == [T0 + 150]
    assert store.take_slot()[1] == []
    assert store.next_queue_offset == 3


def test_overdue_goes_to_the_current_read_tick(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.take_slot()
    store.take_slot()  # read_ms is T0 + 200 now
    u = store.enqueue(T0 - 5000, 1, 10, 0, T0)
    assert u.due_ms == T0 + 200
    assert [x.commit_log_offset for x in store.take_slot()[1]] == [1]


def test_wrap_around_reuses_a_slot_for_the_next_turn(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    span = store.wheel.span_ms  # 10 s
    store.enqueue(T0 + 300, 1, 10, 0, T0)
    for _ in range(4):
        store.take_slot()
    # 6 s later the slot of T0+300 is behind; a message at T0+300+span (less than one
    # window ahead now) lands in the same slot, on the wheel's next turn.
    while store.read_ms < T0 + 6000:
        store.take_slot()
    store.enqueue(T0 + 300 + span, 2, 10, 1, T0)
    while store.read_ms < T0 + 300 + span:
        assert store.take_slot()[1] == []
    tick, units = store.take_slot()
    assert tick == T0 + 300 + span and [u.commit_log_offset for u in units] == [2]
    assert units[0].prev_pos == -1  # a new chain, not linked to the old turn's unit


def test_far_messages_are_rolled(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    window = store.window_ms  # 5 s
    near = store.enqueue(T0 + window - 100, 1, 10, 0, T0)
    far = store.enqueue(T0 + 9 * window, 2, 10, 1, T0)
    just_over = store.enqueue(T0 + window + 100, 3, 10, 2, T0)
    assert not near.roll and near.due_ms == T0 + window - 100
    assert far.roll and far.due_ms == T0 + window - PRECISION
    assert just_over.roll and just_over.due_ms == T0 + window // 2  # Java's half-window park
    assert far.magic == MAGIC_DEFAULT | MAGIC_ROLL


def test_reload_keeps_pending_and_progress(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    for i in range(5):
        store.enqueue(T0 + 500 + i, 100 + i, 10, i, T0)
    store.take_slot()
    store.finish_slot(T0)
    store.flush(store.checkpoint(store.done_ms, 4242))
    store.enqueue(T0 + 700, 200, 10, 5, T0)  # after the checkpoint
    store.close()
    again = TimerStore(tmp_path, PRECISION, WINDOW, 100 * UNIT_SIZE)
    cp = again.open(T0 + 60_000)
    assert cp.commit_log_offset == 4242 and again.read_ms == T0 + PRECISION
    assert again.next_queue_offset == 6  # from the unit written after the checkpoint
    found: list[int] = []
    while again.read_ms <= T0 + 700:
        found += [u.commit_log_offset for u in again.take_slot()[1]]
    assert found == [100, 101, 102, 103, 104, 200]
    again.close()


def test_a_unit_whose_slot_update_was_lost_is_relinked(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.flush(store.checkpoint(store.done_ms, 0))
    store.enqueue(T0 + 300, 1, 10, 0, T0)
    u2 = store.enqueue(T0 + 320, 2, 10, 1, T0)
    store.wheel.put(T0 + 300, 0, 0, 1)  # as if killed between unit 2 and its slot write
    store.close()
    again = TimerStore(tmp_path, PRECISION, WINDOW, 100 * UNIT_SIZE)
    again.open(T0)
    assert again.relinked == 1
    slot = again.wheel.get(T0 + 300)
    assert (slot.first_pos, slot.last_pos, slot.num) == (0, u2.pos, 2)
    again.close()


def test_first_open_writes_a_checkpoint(tmp_path: Path) -> None:
    make_store(tmp_path, now=T0 + 42).close()
    cp = TimerCheckpoint.read(tmp_path / "config" / "timercheck")
    assert cp == TimerCheckpoint(T0, 0, 0, -1)


@pytest.mark.parametrize("born_host", [("127.0.0.1", 5000), ("::1", 5000)])
def test_record_properties_matches_the_full_decode(born_host: tuple[str, int]) -> None:
    props = {"TAGS": "a", "REAL_TOPIC": "T", "TIMER_OUT_MS": "123"}
    msg = StoredMessage(
        topic="rmq_sys_wheel_timer",
        queue_id=0,
        body=b"\x02TIMER_OUT_MS\x01999" * 3,
        properties=encode_properties(props),
        born_host=born_host,
    )
    data = encode_record(msg)
    assert record_properties(memoryview(data)) == decode_record(data).properties
    assert decode_properties(record_properties(memoryview(data)))["TIMER_OUT_MS"] == "123"


def test_delivered_log_segments_are_deleted(tmp_path: Path) -> None:
    store = make_store(tmp_path, log_size=4 * UNIT_SIZE)
    for i in range(10):  # 3 segments, written at T0
        store.enqueue(T0 + 100 * i, i, 10, i, T0)
    assert store.clean_log() == 0  # nothing delivered yet
    while store.read_ms < T0 + store.window_ms + 300:
        store.finish_slot(store.take_slot()[0])
    assert store.clean_log() == 2  # the segment being appended to stays
    assert store.log.min_offset() == 8 * UNIT_SIZE
    store.enqueue(T0 + 20_000, 99, 10, 10, T0 + 20_000)
    assert store.log.max_offset() == 11 * UNIT_SIZE
    store.close()
