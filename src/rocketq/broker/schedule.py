"""Delay levels (RocketMQ ``ScheduleMessageService``).

A message with property DELAY=n (n in 1..18 by default: "1s 5s 10s 30s 1m 2m 3m 4m
5m 6m 7m 8m 9m 10m 20m 30m 1h 2h") is stored in ``SCHEDULE_TOPIC_XXXX`` queue n-1 with
its real topic and queue in REAL_TOPIC/REAL_QID; the ConsumeQueue entry holds its
delivery time where other queues hold the tag hash. One task per level reads that
queue in order and, when an entry is due, writes the message to its real queue. The
progress per level is ``config/delayOffset.json``, written every
``flushDelayOffsetInterval``. So that a crash between two writes neither loses nor
repeats a delivery, each delivered copy carries its source (property ``DELAY_SRC`` =
``level:offset``) and the file records how far the CommitLog reached when it was
written; at start the copies written after that point move the progress forward.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rocketq.broker.config_file import ConfigFile
from rocketq.common.message import MessageConst, decode_properties
from rocketq.common.record import copy_message
from rocketq.common.tasks import TaskOwner
from rocketq.common.topic import SCHEDULE_TOPIC

if TYPE_CHECKING:
    from rocketq.broker.stats import BrokerStatsManager
    from rocketq.store.config import StoreConfig
    from rocketq.store.message_store import DefaultMessageStore

__all__ = ["DelayOffsetFile", "ScheduleMessageService", "to_schedule"]

log = logging.getLogger("rocketq.broker")

# ScheduleMessageService: first check 1 s after start, then every 100 ms when idle.
FIRST_DELAY_S = 1.0
DELAY_FOR_A_WHILE_S = 0.1
# Entries handled per wake-up before yielding the loop to other work.
_BATCH = 64
# On a delivered copy: which level and schedule-queue offset it came from.
PROPERTY_DELAY_SOURCE = MessageConst.DELAY_SOURCE


def to_schedule(
    props: MutableMapping[str, str], topic: str, queue_id: int, max_level: int
) -> tuple[str, int]:
    """Park a delayed message: REAL_TOPIC/REAL_QID added, the schedule topic/queue returned
    (``CommitLog#putMessage`` 4.9, ``HookUtils#handleScheduleMessage`` 5.x)."""
    level = min(int(props[MessageConst.DELAY_TIME_LEVEL]), max_level)
    props[MessageConst.DELAY_TIME_LEVEL] = str(level)
    props[MessageConst.REAL_TOPIC] = topic
    props[MessageConst.REAL_QUEUE_ID] = str(queue_id)
    return SCHEDULE_TOPIC, level - 1


def delay_level_of(props: MutableMapping[str, str]) -> int:
    """The DELAY property as an int (0 when absent or not a number)."""
    try:
        return int(props.get(MessageConst.DELAY_TIME_LEVEL, "0"))
    except ValueError:
        return 0


class DelayOffsetFile(ConfigFile):
    """``{"offsetTable": {level: next queue offset}, "commitLogOffset": n}`` (the second
    key is rocketq's: where the CommitLog ended when the table was taken)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.table: dict[int, int] = {}
        self.commit_log_offset: int | None = None

    def encode(self) -> dict[str, Any]:
        out: dict[str, Any] = {"offsetTable": dict(sorted(self.table.items()))}
        if self.commit_log_offset is not None:
            out["commitLogOffset"] = self.commit_log_offset
        return out

    def decode(self, obj: dict[str, Any]) -> None:
        self.table = {int(k): int(v) for k, v in (obj.get("offsetTable") or {}).items()}
        offset = obj.get("commitLogOffset")
        self.commit_log_offset = None if offset is None else int(offset)


class ScheduleMessageService:
    """One delivery task per delay level; ``start()``/``aclose()``."""

    def __init__(
        self,
        store: DefaultMessageStore,
        store_config: StoreConfig,
        stats: BrokerStatsManager | None = None,
    ) -> None:
        self.store = store
        self.store_config = store_config
        self.stats = stats
        root = Path(store_config.store_path_root_dir)
        self.offsets = DelayOffsetFile(root / "config" / "delayOffset.json")
        self.levels = store.delay_levels
        self._tasks = TaskOwner(log)
        self._wake = asyncio.Event()

    def start(self) -> None:
        """Load progress (and catch up with copies written after it) and start the tasks.
        Does nothing while running; after :meth:`aclose` it starts again (a controller-mode
        broker stops the service when demoted and starts it when promoted again)."""
        if self._tasks.closed:
            self._tasks = TaskOwner(log)
        elif len(self._tasks):
            return
        self.offsets.load()
        self._catch_up()
        for level in range(1, len(self.levels) + 1):
            self._tasks.spawn(self._level_loop(level), f"schedule-{level}")
        self._tasks.spawn(self._persist_loop(), "schedule-persist")

    def _catch_up(self) -> None:
        """Advance the progress past deliveries the last write of the file did not see."""
        store = self.store
        start = self.offsets.commit_log_offset
        if start is None or start < store.min_phy_offset():
            start = store.min_phy_offset()
        for record in store.commit_log.iter_records(start):
            if PROPERTY_DELAY_SOURCE not in record.properties:
                continue
            source = decode_properties(record.properties).get(PROPERTY_DELAY_SOURCE, "")
            level, _, offset = source.partition(":")
            if level.isdigit() and offset.isdigit():
                nxt = int(offset) + 1
                if nxt > self.offsets.table.get(int(level), 0):
                    self.offsets.table[int(level)] = nxt

    def persist(self) -> None:
        """Write the progress with the CommitLog position it is consistent with."""
        self._persist_snapshot(dict(self.offsets.table), self.store.max_phy_offset())

    def _persist_snapshot(self, table: dict[int, int], position: int) -> None:
        # One writer at a time (the file's lock): the periodic write in a worker thread may
        # still be running when shutdown writes the final table.
        snapshot = DelayOffsetFile(self.offsets.path)
        snapshot.table, snapshot.commit_log_offset = table, position
        snapshot._write_lock = self.offsets._write_lock
        snapshot.persist()

    async def aclose(self) -> None:
        """Stop and persist the progress."""
        await self._tasks.aclose()
        self.persist()

    def wakeup(self) -> None:
        """A delayed message was stored: re-check soon (levels sleep at most 100 ms anyway)."""
        self._wake.set()

    async def _persist_loop(self) -> None:
        while await self._tasks.sleep(
            max(self.store_config.flush_delay_offset_interval, 100) / 1000
        ):
            # Take the table and the log position together on the loop, write in a thread.
            table, position = dict(self.offsets.table), self.store.max_phy_offset()
            try:
                await asyncio.to_thread(self._persist_snapshot, table, position)
            except OSError:
                log.exception("writing %s failed; retried next round", self.offsets.path)

    async def _level_loop(self, level: int) -> None:
        await asyncio.sleep(FIRST_DELAY_S)
        while not self._tasks.closed:
            try:
                wait = await self._deliver_due(level)
            except Exception:
                log.exception("delivering delay level %d failed", level)
                wait = DELAY_FOR_A_WHILE_S * 10
            if wait > 0:
                await asyncio.sleep(min(wait, DELAY_FOR_A_WHILE_S))

    async def _deliver_due(self, level: int) -> float:
        """Deliver what is due on ``level``; return seconds until the next check."""
        store = self.store
        cq = store.find_consume_queue(SCHEDULE_TOPIC, level - 1)
        if cq is None:
            return DELAY_FOR_A_WHILE_S
        offset = max(self.offsets.table.get(level, 0), cq.min_offset_in_queue())
        entries = cq.get_entries(offset, _BATCH)
        now = int(time.time() * 1000)
        for entry in entries:
            deliver_at = min(entry.tags_code, now + self.levels[level - 1])  # clock went back
            if deliver_at > now:
                return (deliver_at - now) / 1000
            present = entry.physical_offset >= store.min_phy_offset()
            if present and not await self._deliver(entry.physical_offset, level, offset):
                return DELAY_FOR_A_WHILE_S  # the store refused: try again shortly
            offset += 1
            self.offsets.table[level] = offset
        return 0.0 if len(entries) == _BATCH else DELAY_FOR_A_WHILE_S

    async def _deliver(self, physical_offset: int, level: int, offset: int) -> bool:
        record = self.store.look_message_by_offset(physical_offset)
        if record is None:
            return True  # gone (cleaned): nothing to deliver
        props = decode_properties(record.properties)
        topic = props.get(MessageConst.REAL_TOPIC, record.topic)
        queue_id = int(props.get(MessageConst.REAL_QUEUE_ID, "0"))
        props.pop(MessageConst.DELAY_TIME_LEVEL, None)
        props[PROPERTY_DELAY_SOURCE] = f"{level}:{offset}"
        msg = copy_message(record, topic, queue_id, props)
        result = await self.store.put_messages([msg], wait_store=False)
        if not result.status.stored:
            log.warning("delayed message to %s not delivered: %s", topic, result.status)
            return False
        if self.stats is not None:  # DeliverDelayedMessageTimerTask's counts
            wrote = sum(a.size for a in result.appended)
            self.stats.on_schedule_delivered(level, topic, len(result.appended), wrote)
        return True
