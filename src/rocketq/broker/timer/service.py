"""The timer message service (the pipeline of RocketMQ 5 ``TimerMessageStore``).

Three tasks on the broker's loop, around a :class:`TimerStore`:

* **enqueue** reads new entries of ``rmq_sys_wheel_timer`` queue 0 (from the store's
  ConsumeQueue), reads ``TIMER_OUT_MS`` from each message and adds it to the wheel;
* **dequeue** takes the slot of each tick when the tick starts, waits for each unit's own
  millisecond and re-puts its message: to ``REAL_TOPIC``/``REAL_QID`` (those two removed,
  ``TIMER_OUT_MS`` kept, ``TIMER_ENQUEUE_MS``/``TIMER_DEQUEUE_MS`` added), or, for a rolled
  unit, back to the timer topic with ``TIMER_ROLL_TIMES`` + 1;
* **persist** flushes the wheel and the log and writes ``config/timercheck`` every
  ``timerFlushIntervalMs``, in a worker thread.

Exactly once across a crash (the idea of :mod:`rocketq.broker.schedule`): every re-put
copy carries ``TIMER_SRC`` = the position of its unit, and the checkpoint holds where the
CommitLog ended when the dequeue cursor last passed a tick boundary. At start the copies
written after that point are read back; their units are skipped when the dequeue cursor
walks those ticks again. The enqueue side needs no such trick: each unit stores its
timer-queue offset, and recovery resumes after the newest one in the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rocketq.broker.timer.format import TIMER_TOPIC, TimerUnit
from rocketq.broker.timer.store import TimerStore
from rocketq.common.message import MessageConst, decode_properties
from rocketq.common.record import (
    MESSAGE_MAGIC_CODE_V2,
    MessageRecord,
    RecordFormatError,
    StoredMessage,
    copy_message,
)
from rocketq.common.tasks import TaskOwner
from rocketq.store.format import StoreError

if TYPE_CHECKING:
    from rocketq.store.config import StoreConfig
    from rocketq.store.message_store import DefaultMessageStore

__all__ = ["TimerMessageService", "TimerStats"]

log = logging.getLogger("rocketq.broker")

# Enqueue: entries read per wake-up before yielding the loop; idle poll of the queue.
_ENQUEUE_BATCH = 256
_ENQUEUE_IDLE_S = 0.01
# Dequeue: overdue messages re-put back to back before yielding the loop (a put of an
# ASYNC_FLUSH store never suspends).
_REPUTS_PER_YIELD = 64
# Dequeue: empty ticks walked (catching up after downtime) before yielding the loop.
_EMPTY_TICKS_PER_YIELD = 1000
# A refused re-put (disk full, store closing) is retried after this pause.
_RETRY_PAUSE_S = 0.1
# aclose waits this long for the tasks to end on their own before cancelling them.
_STOP_TIMEOUT_S = 5.0
# Record layout (MessageDecoder): sysFlag at 36; bodyLength at 84 with IPv4 born and store
# hosts, each IPv6 host 12 bytes more (sysFlag bits 0x10 and 0x20).
_SYSFLAG_POS = 36
_BODY_LEN_POS_V4 = 84
_V6_EXTRA = 12


def record_properties(view: memoryview) -> str:
    """The properties text of the stored record in ``view``, without decoding the rest
    (the enqueue path reads only ``TIMER_OUT_MS`` and ``REAL_TOPIC``)."""
    magic = int.from_bytes(view[4:8], "big")
    sys_flag = int.from_bytes(view[_SYSFLAG_POS : _SYSFLAG_POS + 4], "big")
    pos = _BODY_LEN_POS_V4 + _V6_EXTRA * (bool(sys_flag & 0x10) + bool(sys_flag & 0x20))
    pos += 4 + int.from_bytes(view[pos : pos + 4], "big")
    if magic == MESSAGE_MAGIC_CODE_V2:
        pos += 2 + int.from_bytes(view[pos : pos + 2], "big")
    else:
        pos += 1 + view[pos]
    end = pos + 2 + int.from_bytes(view[pos : pos + 2], "big")
    if end != len(view):
        raise RecordFormatError(f"record fields end at {end}, not at its size {len(view)}")
    return bytes(view[pos + 2 : end]).decode("utf-8", "replace")


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class TimerStats:
    """Counters since start and the cursors (``stats()``)."""

    enqueued: int
    delivered: int
    rolled: int
    skipped_after_crash: int
    read_ms: int
    next_queue_offset: int
    timer_log_bytes: int


class TimerMessageService:
    """Owns the timer files and the three tasks; ``start()``/``aclose()``.

    ``message_store`` is the broker's store (read for the timer queue, written with the
    due messages); ``store`` is the wheel and log this service keeps.
    """

    def __init__(self, message_store: DefaultMessageStore, store_config: StoreConfig) -> None:
        self.message_store = message_store
        self.store_config = store_config
        self.store = self._new_store()
        self._tasks = TaskOwner(log)
        self._opened = False
        # (done_ms, CommitLog end) at the last tick boundary: what a checkpoint may claim.
        self._boundary = (0, 0)
        # Units re-put after the last checkpoint (found at start); skipped once.
        self._skip: set[int] = set()
        self._skip_until_ms = 0
        self._counts = {"enqueued": 0, "delivered": 0, "rolled": 0, "skipped": 0}

    # -- lifecycle --------------------------------------------------------------------------

    def _new_store(self) -> TimerStore:
        cfg = self.store_config
        return TimerStore(
            Path(cfg.store_path_root_dir),
            cfg.timer_precision_ms,
            cfg.timer_roll_window_slot,
            cfg.mapped_file_size_timer_log,
        )

    def start(self) -> None:
        """Recover the files, catch up with copies written after the checkpoint, start.
        Does nothing while running; after :meth:`aclose` it recovers and starts again (a
        controller-mode broker stops the service when demoted, starts it when promoted)."""
        if self._opened:
            return
        if self._tasks.closed:  # stopped before: fresh tasks and file mappings
            self._tasks = TaskOwner(log)
            self.store = self._new_store()
            self._skip.clear()
        cp = self.store.open(_now_ms(), self.message_store.max_phy_offset())
        self._opened = True
        self._boundary = (self.store.done_ms, max(cp.commit_log_offset, 0))
        if cp.commit_log_offset >= 0:
            self._catch_up(cp.commit_log_offset)
        self._skip_until_ms = _now_ms()
        log.info(
            "timer wheel: read time %d, queue offset %d, %d units relinked, %d re-puts found",
            self.store.read_ms,
            self.store.next_queue_offset,
            self.store.relinked,
            len(self._skip),
        )
        self._tasks.spawn(self._enqueue_loop(), "timer-enqueue")
        self._tasks.spawn(self._dequeue_loop(), "timer-dequeue")
        self._tasks.spawn(self._persist_loop(), "timer-persist")

    def _catch_up(self, start: int) -> None:
        """Collect the units whose copies the CommitLog holds after ``start``."""
        store = self.message_store
        start = max(start, store.min_phy_offset())
        for record in store.commit_log.iter_records(start):
            if MessageConst.TIMER_SOURCE not in record.properties:
                continue
            source = decode_properties(record.properties).get(MessageConst.TIMER_SOURCE, "")
            if source.isdigit():
                self._skip.add(int(source))

    async def aclose(self) -> None:
        """Stop, persist and unmap. The tasks are not cancelled but told to end: the
        dequeue task finishes its tick, the persist task its flush (a worker thread that
        a cancellation would leave writing the files while they are closed)."""
        await self._tasks.aclose(grace=_STOP_TIMEOUT_S)
        if self._opened:
            self.store.flush(self.store.checkpoint(*self._boundary))
            self.store.close()
            self._opened = False

    def stats(self) -> TimerStats:
        """Counters and cursors."""
        c = self._counts
        return TimerStats(
            c["enqueued"],
            c["delivered"],
            c["rolled"],
            c["skipped"],
            self.store.read_ms,
            self.store.next_queue_offset,
            self.store.log.max_offset(),
        )

    async def _persist_loop(self) -> None:
        interval = max(self.store_config.timer_flush_interval_ms, 10) / 1000
        while await self._tasks.sleep(interval):  # at close, aclose writes the last checkpoint
            cp = self.store.checkpoint(*self._boundary)  # taken on the loop, written off it
            try:
                await asyncio.to_thread(self.store.flush, cp)
            except OSError:
                log.exception("persisting the timer checkpoint failed")
                continue
            deleted = self.store.clean_log()  # after the flush: no thread holds a segment
            if deleted:
                log.info("deleted %d delivered timer log segment(s)", deleted)

    # -- enqueue ----------------------------------------------------------------------------

    async def _enqueue_loop(self) -> None:
        while not self._tasks.closed:
            try:
                busy = self._enqueue_batch()
            except Exception:
                log.exception("timer enqueue failed")
                busy = False
            await asyncio.sleep(0 if busy else _ENQUEUE_IDLE_S)

    def _enqueue_batch(self) -> bool:
        """Add the next entries of the timer queue; True when there may be more."""
        cq = self.message_store.find_consume_queue(TIMER_TOPIC, 0)
        if cq is None:
            return False
        offset = max(self.store.next_queue_offset, cq.min_offset_in_queue())
        count = 0
        for phys, size, _tags in cq.iter_entries(offset, _ENQUEUE_BATCH):
            props = self._read_properties(phys, size)
            if props is not None:
                self._enqueue_one(props, phys, size, offset + count)
            self.store.next_queue_offset = offset + count + 1
            count += 1
        return count == _ENQUEUE_BATCH

    def _read_properties(self, phys: int, size: int) -> dict[str, str] | None:
        store = self.message_store
        if phys < store.min_phy_offset():
            return None  # cleaned away
        try:
            with store.commit_log.get_data(phys, size) as view:
                return decode_properties(record_properties(view))
        except (StoreError, RecordFormatError, IndexError) as exc:
            log.warning("timer message at %d unreadable (%s); dropped", phys, exc)
            return None

    def _enqueue_one(self, props: dict[str, str], phys: int, size: int, queue_offset: int) -> None:
        now = _now_ms()
        try:
            deliver = int(props[MessageConst.TIMER_OUT_MS])
        except (KeyError, ValueError):
            log.warning("timer message at %d has no TIMER_OUT_MS: due now", phys)
            deliver = now
        real_topic = props.get(MessageConst.REAL_TOPIC, "")
        self.store.enqueue(deliver, phys, size, queue_offset, now, real_topic)
        self._counts["enqueued"] += 1

    # -- dequeue ----------------------------------------------------------------------------

    async def _dequeue_loop(self) -> None:
        empty = 0
        while not self._tasks.closed:
            now = _now_ms()
            if self.store.read_ms > now:
                await asyncio.sleep(min(self.store.read_ms - now, 50) / 1000)
                continue
            self._boundary = (self.store.done_ms, self.message_store.max_phy_offset())
            tick, units = self.store.take_slot()
            if self._skip and tick > self._skip_until_ms:
                self._skip.clear()  # every tick re-walked since the restart is behind us
            if units:
                empty = 0
                await self._deliver_tick(units)
            else:
                empty += 1
                if empty % _EMPTY_TICKS_PER_YIELD == 0:
                    await asyncio.sleep(0)
            self.store.finish_slot(tick)

    async def _deliver_tick(self, units: list[TimerUnit]) -> None:
        """Re-put each unit's message at its own millisecond (earliest first)."""
        for n, unit in enumerate(sorted(units, key=lambda u: u.due_ms), 1):
            if unit.pos in self._skip:
                self._skip.discard(unit.pos)
                self._counts["skipped"] += 1
                continue
            wait = unit.due_ms - _now_ms()
            if wait > 0:
                await asyncio.sleep(wait / 1000)
            elif n % _REPUTS_PER_YIELD == 0:
                await asyncio.sleep(0)  # an overdue backlog: let sends and pulls in
            while not await self._reput(unit):
                await asyncio.sleep(_RETRY_PAUSE_S)

    async def _reput(self, unit: TimerUnit) -> bool:
        """Write the unit's message to its real queue (or back to the wheel); False to retry."""
        record = self.message_store.look_message_by_offset(unit.commit_log_offset)
        if record is None:
            log.warning("timer message at %d is gone; dropped", unit.commit_log_offset)
            return True
        msg = self._convert(record, unit)
        result = await self.message_store.put_messages([msg], wait_store=False)
        if not result.status.stored:
            log.warning("timer message to %s not delivered: %s", msg.topic, result.status)
            return self._tasks.closed  # closing: the restart delivers it
        self._counts["rolled" if unit.roll else "delivered"] += 1
        return True

    def _convert(self, record: MessageRecord, unit: TimerUnit) -> StoredMessage:
        """``TimerMessageStore#convert``/``convertMessage``."""
        props = decode_properties(record.properties)
        props[MessageConst.TIMER_SOURCE] = str(unit.pos)
        if unit.roll:
            topic, queue_id = TIMER_TOPIC, 0
            rolls = props.get(MessageConst.TIMER_ROLL_TIMES, "0")
            props[MessageConst.TIMER_ROLL_TIMES] = str(int(rolls) + 1 if rolls.isdigit() else 1)
        else:
            topic = props.pop(MessageConst.REAL_TOPIC, record.topic)
            queue_id = int(props.pop(MessageConst.REAL_QUEUE_ID, "0"))
            props[MessageConst.TIMER_ENQUEUE_MS] = str(unit.write_time_ms)
            props[MessageConst.TIMER_DEQUEUE_MS] = str(_now_ms())
        return copy_message(record, topic, queue_id, props)
