"""The timer log (RocketMQ 5 ``TimerLog``): append-only 52-byte units in mapped segments.

Segments are sized to whole units, so no unit straddles two files and no blank filler is
needed (Java writes one at each file end). The tail is found after a restart by a binary
search of the last segment for the first unit whose size field is 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from rocketq.broker.timer.format import UNIT_SIZE, TimerUnit
from rocketq.store.mapped_file import MappedFileQueue

__all__ = ["TimerLog"]


class TimerLog:
    """Units appended at the end, read by position."""

    def __init__(self, store_dir: str | Path, file_size: int) -> None:
        units = max(file_size // UNIT_SIZE, 1)
        self.queue = MappedFileQueue(store_dir, units * UNIT_SIZE)

    def load(self) -> None:
        """Map the segments and find the tail (units after it are zero)."""
        self.queue.load()
        last = self.queue.last
        if last is None:
            return
        lo, hi = 0, self.queue.file_size // UNIT_SIZE
        buf = last.buffer()
        while lo < hi:  # first unit whose size field is 0
            mid = (lo + hi) // 2
            if int.from_bytes(buf[mid * UNIT_SIZE : mid * UNIT_SIZE + 4], "big") == UNIT_SIZE:
                lo = mid + 1
            else:
                hi = mid
        last.set_positions(lo * UNIT_SIZE)

    def min_offset(self) -> int:
        """Position of the oldest unit kept (0 when empty)."""
        return max(self.queue.min_offset(), 0)

    def max_offset(self) -> int:
        """Position after the newest unit."""
        return self.queue.max_offset()

    def append(self, unit: TimerUnit) -> int:
        """Write ``unit`` at the tail (its ``pos`` is ignored); return where it went."""
        mapped = self.queue.get_last_file()
        assert mapped is not None
        return mapped.file_from_offset + mapped.append(unit.pack())

    def read(self, pos: int) -> TimerUnit | None:
        """The unit at ``pos``, or None when it is not (or no longer) in the log."""
        mapped = self.queue.find_file(pos)
        if mapped is None or pos < mapped.file_from_offset:
            return None
        at = pos - mapped.file_from_offset
        if at + UNIT_SIZE > mapped.wrote_position:
            return None
        return TimerUnit.unpack(pos, mapped.buffer()[at : at + UNIT_SIZE])

    def iter_from(self, pos: int) -> Iterator[TimerUnit]:
        """Units from ``pos`` to the tail (recovery)."""
        pos = max(pos, self.min_offset())
        while pos < self.max_offset():
            unit = self.read(pos)
            if unit is None:
                return
            yield unit
            pos += UNIT_SIZE

    def flush(self) -> None:
        """``fdatasync`` the segments with unflushed units (safe from a worker thread)."""
        for mapped in self.queue.files[-2:]:
            mapped.flush()

    def close(self) -> None:
        """Unmap every segment."""
        for mapped in self.queue.files:
            mapped.close()
