"""The timing wheel file (RocketMQ 5 ``TimerWheel``): one mapped file of fixed slots.

The file is created sparse at its full size; only the pages of slots in use take memory
or disk (an hour of 100 ms ticks is 36,000 slots, about 1.1 MiB).
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

from rocketq.broker.timer.format import EMPTY_SLOT, SLOT_SIZE, SLOT_STRUCT, Slot
from rocketq.store.format import StoreError

__all__ = ["TimerWheel"]


class TimerWheel:
    """``slots_total`` slots of ``precision_ms`` each, indexed by time modulo the span."""

    def __init__(self, path: str | Path, slots_total: int, precision_ms: int) -> None:
        if slots_total <= 0 or precision_ms <= 0:
            raise ValueError("slots_total and precision_ms must be positive")
        self.path = Path(path)
        self.slots_total = slots_total
        self.precision_ms = precision_ms
        self.file_size = slots_total * SLOT_SIZE
        self._mm: mmap.mmap | None = None
        self._fd = -1

    @property
    def span_ms(self) -> int:
        """The time one turn of the wheel covers."""
        return self.slots_total * self.precision_ms

    def open(self) -> None:
        """Map the file, creating it (sparse) when missing."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                os.ftruncate(fd, self.file_size)
            elif size != self.file_size:
                raise StoreError(
                    f"{self.path} has {size} bytes but timerRollWindowSlot/timerPrecisionMs "
                    f"need {self.file_size}; a changed wheel geometry cannot reuse the file"
                )
            self._mm = mmap.mmap(fd, self.file_size)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def tick_of(self, time_ms: int) -> int:
        """The start of the tick holding ``time_ms``."""
        return time_ms - time_ms % self.precision_ms

    def _offset(self, time_ms: int) -> int:
        return (time_ms // self.precision_ms) % self.slots_total * SLOT_SIZE

    def get(self, time_ms: int) -> Slot:
        """The slot of the tick holding ``time_ms``; the empty slot when it belongs to
        another turn of the wheel."""
        assert self._mm is not None, "wheel not open"
        slot = Slot._make(SLOT_STRUCT.unpack_from(self._mm, self._offset(time_ms)))
        return slot if slot.time_ms == self.tick_of(time_ms) else EMPTY_SLOT

    def put(self, time_ms: int, first_pos: int, last_pos: int, num: int, magic: int = 0) -> None:
        """Write the slot of the tick holding ``time_ms``."""
        assert self._mm is not None, "wheel not open"
        tick = self.tick_of(time_ms)
        SLOT_STRUCT.pack_into(
            self._mm, self._offset(time_ms), tick, first_pos, last_pos, num, magic
        )

    def flush(self) -> None:
        """``msync`` the dirty pages (safe from a worker thread)."""
        if self._mm is not None:
            self._mm.flush()

    def close(self) -> None:
        """Flush and unmap (idempotent)."""
        if self._mm is None:
            return
        self._mm.flush()
        self._mm.close()
        self._mm = None
        os.close(self._fd)
