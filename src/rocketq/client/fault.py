"""Send latency fault tolerance (RocketMQ ``MQFaultStrategy``/``LatencyFaultToleranceImpl``):
a broker that answered slowly or failed is avoided for a while."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["LatencyFaultTolerance"]

# MQFaultStrategy: a send that took >= latencyMax[i] ms makes the broker unavailable for
# notAvailableDuration[i] ms; a failed send counts as 30 s.
LATENCY_MAX = (50, 100, 550, 1000, 2000, 3000, 15000)
NOT_AVAILABLE_DURATION = (0, 0, 30000, 60000, 120000, 180000, 600000)
ISOLATION_LATENCY = 30_000


def _now_ms() -> float:
    return time.monotonic() * 1000


class LatencyFaultTolerance:
    """Which brokers to avoid, and until when."""

    def __init__(self, clock: Callable[[], float] = _now_ms) -> None:
        self._until: dict[str, float] = {}
        self._clock = clock

    def update(self, broker_name: str, latency_ms: float, isolation: bool) -> None:
        """Record a send's outcome."""
        latency = ISOLATION_LATENCY if isolation else latency_ms
        duration = 0
        for limit, wait in zip(
            reversed(LATENCY_MAX), reversed(NOT_AVAILABLE_DURATION), strict=True
        ):
            if latency >= limit:
                duration = wait
                break
        self._until[broker_name] = self._clock() + duration

    def is_available(self, broker_name: str) -> bool:
        """False while the broker is being avoided."""
        return self._clock() >= self._until.get(broker_name, 0)

    def pick_one_at_least(self) -> str | None:
        """The broker whose avoidance ends first (when every broker is avoided)."""
        if not self._until:
            return None
        return min(self._until, key=self._until.__getitem__)
