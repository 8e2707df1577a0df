"""On-disk layouts of the timer wheel (RocketMQ 5 ``Slot``, ``TimerLog``, ``TimerCheckpoint``).

All integers are big-endian, as Java's ``ByteBuffer`` writes them.

``timerwheel`` — one file of ``slots_total`` slots of 32 bytes; the slot of a time is
``(time_ms // precision_ms) % slots_total``. A slot heads the chain of timer-log units
due in that tick; ``time_ms`` tells which turn of the wheel the chain belongs to (a slot
whose time is not the one looked for is empty)::

    +-------------+--------------+-------------+---------+---------+
    | time_ms  8  | first_pos  8 | last_pos  8 | num   4 | magic 4 |
    +-------------+--------------+-------------+---------+---------+
      tick start    oldest unit    newest unit   units     reserved

``timerlog/`` — segments (named by global offset, like the CommitLog) of 52-byte units,
appended in arrival order and chained backwards per slot through ``prev_pos``::

    +--------+------------+---------+---------------+-----------+
    | size 4 | prev_pos 8 | magic 4 | write_time 8  | delay 4   |
    +--------+------------+---------+---------------+-----------+
    | commit_log_offset 8 | msg_size 4 | topic_hash 4 | queue_offset 8 |
    +---------------------+------------+--------------+----------------+

``size`` is always 52 (0 marks the unwritten tail); ``prev_pos`` is -1 at a chain's start;
``magic`` is 1 (deliver) | 2 (roll: re-park, the real time is still too far);
``write_time + delay`` is when the unit is due; ``queue_offset`` (Java: reserved) is the
unit's offset in the ``rmq_sys_wheel_timer`` queue, so the enqueue progress can be
recovered from the log itself after a crash.

``config/timercheck`` — the progress, five longs::

    +------------------+----------------------------+---------------------------+
    | last_read_time 8 | last_timer_log_flush_pos 8 | last_timer_queue_offset 8 |
    +------------------+----------------------------+---------------------------+
    | master_timer_queue_offset 8 | commit_log_offset 8 |
    +-----------------------------+---------------------+

``commit_log_offset`` is rocketq's: where the CommitLog ended when every tick before
``last_read_time`` had been delivered (the start of the catch-up scan).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from rocketq.common.topic import TIMER_TOPIC

__all__ = [
    "CHECKPOINT_STRUCT",
    "MAGIC_DEFAULT",
    "MAGIC_ROLL",
    "SLOT_SIZE",
    "SLOT_STRUCT",
    "TIMER_TOPIC",
    "UNIT_SIZE",
    "UNIT_STRUCT",
    "Slot",
    "TimerUnit",
]

# TimerMessageStore.TIMER_TOPIC: where timer messages wait (queue 0).

SLOT_STRUCT = struct.Struct(">qqqii")
SLOT_SIZE = SLOT_STRUCT.size  # 32
UNIT_STRUCT = struct.Struct(">iqiqiqiiq")
UNIT_SIZE = UNIT_STRUCT.size  # 52
CHECKPOINT_STRUCT = struct.Struct(">qqqqq")

# TimerMessageStore.MAGIC_DEFAULT / MAGIC_ROLL (MAGIC_DELETE, cancellation, is not kept).
MAGIC_DEFAULT = 1
MAGIC_ROLL = 2


class Slot(NamedTuple):
    """One wheel slot; ``num == 0`` and ``first_pos == -1`` when empty."""

    time_ms: int
    first_pos: int
    last_pos: int
    num: int
    magic: int = 0


EMPTY_SLOT = Slot(0, -1, -1, 0, 0)


class TimerUnit(NamedTuple):
    """One timer-log unit, with its own position."""

    pos: int
    prev_pos: int
    magic: int
    write_time_ms: int
    due_ms: int
    commit_log_offset: int
    msg_size: int
    topic_hash: int
    queue_offset: int

    @property
    def roll(self) -> bool:
        """True for a parked unit whose message goes back to the timer topic."""
        return bool(self.magic & MAGIC_ROLL)

    def pack(self) -> bytes:
        """The 52 stored bytes (the position is where they are, not part of them)."""
        return UNIT_STRUCT.pack(
            UNIT_SIZE,
            self.prev_pos,
            self.magic,
            self.write_time_ms,
            self.due_ms - self.write_time_ms,
            self.commit_log_offset,
            self.msg_size,
            self.topic_hash,
            self.queue_offset,
        )

    @classmethod
    def unpack(cls, pos: int, data: bytes | memoryview) -> TimerUnit | None:
        """Decode the unit at ``pos``; None for the unwritten (zero) tail."""
        size, prev, magic, write, delay, offset, msg_size, th, qo = UNIT_STRUCT.unpack(data)
        if size != UNIT_SIZE:
            return None
        return cls(pos, prev, magic, write, write + delay, offset, msg_size, th, qo)
