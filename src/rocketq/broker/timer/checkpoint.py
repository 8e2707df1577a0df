"""``config/timercheck`` (RocketMQ 5 ``TimerCheckpoint``): the timer progress, five longs.

Written whole to a temp file, fsynced and renamed over the old one, so a crash leaves
either the old or the new progress, never a torn mix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rocketq.broker.timer.format import CHECKPOINT_STRUCT

__all__ = ["TimerCheckpoint"]


@dataclass(frozen=True, slots=True)
class TimerCheckpoint:
    """Every tick before ``last_read_time_ms`` is delivered; the log up to
    ``last_timer_log_flush_pos`` is linked into the wheel; queue entries below
    ``last_timer_queue_offset`` are in the log; the CommitLog ended at
    ``commit_log_offset`` when ``last_read_time_ms`` was reached."""

    last_read_time_ms: int
    last_timer_log_flush_pos: int
    last_timer_queue_offset: int
    commit_log_offset: int

    def write(self, path: str | Path) -> None:
        """Persist atomically (temp file + fsync + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = CHECKPOINT_STRUCT.pack(
            self.last_read_time_ms,
            self.last_timer_log_flush_pos,
            self.last_timer_queue_offset,
            self.last_timer_queue_offset,  # masterTimerQueueOffset: a master's own
            self.commit_log_offset,
        )
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: str | Path) -> TimerCheckpoint | None:
        """The stored progress, or None when there is no (whole) file."""
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            return None
        if len(data) < CHECKPOINT_STRUCT.size:
            return None
        read_ms, flush_pos, queue_offset, _, clog = CHECKPOINT_STRUCT.unpack_from(data)
        return cls(read_ms, flush_pos, queue_offset, clog)
