"""The timer wheel and its log together (the storage half of RocketMQ 5
``TimerMessageStore``), with no I/O loop and no clock of its own: times are passed in.

Two cursors split the time line::

    ... delivered ... | done_ms | being delivered | read_ms | waiting in the wheel ...

* :meth:`enqueue` appends a unit to the log and makes it the newest of its slot's chain.
  A unit never goes into a tick before ``read_ms`` (that tick was already taken): an
  overdue message goes into the tick at ``read_ms``. A unit due ``roll window`` or more
  after ``read_ms`` is parked instead (``MAGIC_ROLL``) at ``read_ms`` + window (or + half
  a window when it would otherwise come back just short of its time, as Java does); its
  message is re-put to the timer topic then and enqueued again, nearer its time. So every
  chain in the wheel is less than one window ahead of ``read_ms``, and a slot reused one
  span (two windows) later never holds a chain not yet delivered.
* :meth:`take_slot` returns the chain of the tick at ``read_ms`` (walked backwards from the
  newest unit, only that slot's units) and moves ``read_ms`` on one tick;
  :meth:`finish_slot` moves ``done_ms`` after it once its messages are re-put.

Nothing but the wheel file, the log and the checkpoint holds pending messages: memory is
one slot's chain at a time.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from rocketq.broker.timer.checkpoint import TimerCheckpoint
from rocketq.broker.timer.format import MAGIC_DEFAULT, MAGIC_ROLL, UNIT_SIZE, TimerUnit
from rocketq.broker.timer.log import TimerLog
from rocketq.broker.timer.wheel import TimerWheel

__all__ = ["TimerStore"]


class TimerStore:
    """``<root>/timerwheel``, ``<root>/timerlog/`` and ``<root>/config/timercheck``."""

    def __init__(
        self, root: str | Path, precision_ms: int, roll_window_slot: int, log_file_size: int
    ) -> None:
        root = Path(root)
        # The span is two windows, so a rolled unit (< one window ahead) never lands on
        # a slot whose older chain is still pending (Java: 2 x 7 days of slots).
        self.wheel = TimerWheel(root / "timerwheel", 2 * roll_window_slot, precision_ms)
        self.log = TimerLog(root / "timerlog", log_file_size)
        self.checkpoint_path = root / "config" / "timercheck"
        self.precision_ms = precision_ms
        self.window_ms = roll_window_slot * precision_ms
        self.read_ms = 0
        self.done_ms = 0
        self.next_queue_offset = 0
        self.relinked = 0

    # -- lifecycle --------------------------------------------------------------------------

    def open(self, now_ms: int, commit_log_offset: int = -1) -> TimerCheckpoint:
        """Map the files and recover; return the checkpoint recovery started from.

        The log units written after the checkpoint are linked into their slots again (a
        crash between the unit and its slot update leaves the slot one unit short), and
        the enqueue progress is taken from the newest unit's queue offset.
        """
        self.wheel.open()
        self.log.load()
        cp = TimerCheckpoint.read(self.checkpoint_path)
        if cp is None:  # first start: write one so a crash before the next keeps read_ms
            start = self.wheel.tick_of(now_ms)
            cp = TimerCheckpoint(start, self.log.max_offset(), 0, commit_log_offset)
            cp.write(self.checkpoint_path)
        self.read_ms = self.done_ms = cp.last_read_time_ms
        self.next_queue_offset = cp.last_timer_queue_offset
        for unit in self.log.iter_from(cp.last_timer_log_flush_pos):
            self._relink(unit)
            self.next_queue_offset = max(self.next_queue_offset, unit.queue_offset + 1)
        return cp

    def _relink(self, unit: TimerUnit) -> None:
        slot = self.wheel.get(unit.due_ms)
        if slot.num and slot.last_pos >= unit.pos:
            return  # already the chain's newest or older
        first = slot.first_pos if slot.num else unit.pos
        self.wheel.put(unit.due_ms, first, unit.pos, slot.num + 1)
        self.relinked += 1

    def checkpoint(self, done_ms: int, commit_log_offset: int) -> TimerCheckpoint:
        """The progress to persist: ``done_ms`` and the CommitLog end when it was reached,
        with the log tail and the enqueue progress as they are now."""
        return TimerCheckpoint(
            done_ms, self.log.max_offset(), self.next_queue_offset, commit_log_offset
        )

    def flush(self, cp: TimerCheckpoint) -> None:
        """Flush the wheel and the log, then write ``cp`` (a worker thread may call this)."""
        self.log.flush()
        self.wheel.flush()
        cp.write(self.checkpoint_path)

    def clean_log(self) -> int:
        """Delete the oldest log segments whose units are all delivered; return how many.

        A unit is due less than ``precision + window`` after it was written (it is parked
        at most one window after ``read_ms``, which is never ahead of the clock by more
        than a tick), so a segment is done once ``done_ms`` passes its newest unit's write
        time by that much. Chains reaching into a deleted segment end there.
        """
        deleted = 0
        files = self.log.queue.files
        while len(files) > 1:
            first = files[0]
            newest = self.log.read(first.file_from_offset + first.file_size - UNIT_SIZE)
            margin = self.window_ms + 2 * self.precision_ms
            if newest is not None and self.done_ms <= newest.write_time_ms + margin:
                break
            files = files[1:]
            self.log.queue.files = files  # replaced, not mutated: readers hold the old list
            first.destroy()
            deleted += 1
        return deleted

    def close(self) -> None:
        """Unmap the files."""
        self.wheel.close()
        self.log.close()

    # -- enqueue ----------------------------------------------------------------------------

    def enqueue(
        self,
        deliver_ms: int,
        commit_log_offset: int,
        size: int,
        queue_offset: int,
        write_ms: int,
        real_topic: str = "",
    ) -> TimerUnit:
        """Add the message at ``commit_log_offset`` (timer-queue entry ``queue_offset``)."""
        due = max(deliver_ms, self.read_ms)
        magic = MAGIC_DEFAULT
        ahead = due - self.read_ms
        if ahead >= self.window_ms:  # TimerMessageStore#doEnqueue: needRoll
            magic |= MAGIC_ROLL
            if ahead - self.window_ms < self.window_ms // 3:
                due = self.read_ms + self.window_ms // 2
            else:
                due = self.read_ms + self.window_ms - self.precision_ms
        slot = self.wheel.get(due)
        prev = slot.last_pos if slot.num else -1
        topic_hash = zlib.crc32(real_topic.encode()) & 0x7FFFFFFF
        unit = TimerUnit(
            -1, prev, magic, write_ms, due, commit_log_offset, size, topic_hash, queue_offset
        )
        pos = self.log.append(unit)
        self.wheel.put(due, slot.first_pos if slot.num else pos, pos, slot.num + 1)
        self.next_queue_offset = max(self.next_queue_offset, queue_offset + 1)
        return unit._replace(pos=pos)

    # -- dequeue ----------------------------------------------------------------------------

    def take_slot(self) -> tuple[int, list[TimerUnit]]:
        """The tick at ``read_ms`` and its units, oldest first; ``read_ms`` moves on."""
        tick = self.read_ms
        slot = self.wheel.get(tick)
        units: list[TimerUnit] = []
        pos = slot.last_pos if slot.num else -1
        while pos >= 0 and len(units) < slot.num:
            unit = self.log.read(pos)
            if unit is None:  # its segment is gone
                break
            units.append(unit)
            pos = unit.prev_pos
        units.reverse()
        self.read_ms = tick + self.precision_ms
        return tick, units

    def finish_slot(self, tick: int) -> None:
        """Every message of ``tick`` is re-put: the progress may pass it."""
        self.done_ms = max(self.done_ms, tick + self.precision_ms)
