"""Bytes moved per second on an HA link (RocketMQ 5's ``FlowMonitor``): a counter for the
current second and the total of the last complete one, which ``haStatus`` shows."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["FlowMeter"]


class FlowMeter:
    """``add`` what was sent or received; ``per_second`` is the last whole second's total."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._second = int(clock())
        self._current = 0
        self._last = 0

    def add(self, nbytes: int) -> None:
        """Count ``nbytes`` in the current second."""
        self._roll()
        self._current += nbytes

    def per_second(self) -> int:
        """Bytes in the last complete second (0 when that second was idle)."""
        self._roll()
        return self._last

    def _roll(self) -> None:
        now = int(self._clock())
        if now != self._second:
            self._last = self._current if now == self._second + 1 else 0
            self._current = 0
            self._second = now
