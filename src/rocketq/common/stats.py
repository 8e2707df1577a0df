"""RocketMQ's stats items (``common/stats``: ``StatsItem``, ``StatsItemSet``,
``StatsSnapshot``), shared by the broker's ``BrokerStatsManager`` and the client's
``ConsumerStatsManager``.

How a window works (``StatsItem``): an item only counts (``value`` and ``times``, two ints,
O(1) per increment). Sampling appends ``(timestamp, times, value)`` snapshots to three
bounded lists: every 10 s for the minute (7 snapshots = 60 s), every 10 min for the hour
(7 = 60 min), every hour for the day (25 = 24 h). A window's figures come from its first
and last snapshot: ``sum`` = value difference, ``tps`` = sum per second between them,
``avgpt`` = sum per call (for a latency item: the mean latency). The first sample of an
item puts a zero snapshot one period earlier, so an item's first window counts everything.

Nothing here reads a clock: callers pass epoch milliseconds, so tests drive every window
with a fake clock.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DAY",
    "HOUR",
    "MINUTE",
    "WINDOWS",
    "Clock",
    "StatsItem",
    "StatsItemSet",
    "StatsSnapshot",
    "StatsWindows",
    "now_ms",
]

Clock = Callable[[], int]  # milliseconds since the epoch

# StatsItem's three windows: (sampling period in ms, snapshots kept). 7 snapshots 10 s apart
# span the minute, 7 snapshots 10 min apart the hour, 25 snapshots an hour apart the day.
MINUTE, HOUR, DAY = 0, 1, 2
WINDOWS = ((10_000, 7), (600_000, 7), (3_600_000, 25))


def now_ms() -> int:
    """The wall clock in epoch milliseconds (``System.currentTimeMillis``)."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """One window of a stats item (``StatsSnapshot``; ``BrokerStatsItem`` on the wire)."""

    sum: int = 0
    tps: float = 0.0
    avgpt: float = 0.0
    times: int = 0

    def to_obj(self) -> dict[str, Any]:
        """``BrokerStatsItem`` JSON."""
        return {"avgpt": self.avgpt, "sum": self.sum, "tps": self.tps}


@dataclass(frozen=True, slots=True)
class StatsWindows:
    """A stats item over its three windows (``BrokerStatsData``)."""

    minute: StatsSnapshot
    hour: StatsSnapshot
    day: StatsSnapshot

    def to_obj(self) -> dict[str, Any]:
        """``BrokerStatsData`` JSON."""
        return {
            "statsDay": self.day.to_obj(),
            "statsHour": self.hour.to_obj(),
            "statsMinute": self.minute.to_obj(),
        }


# A sample: (timestamp ms, times, value), RocketMQ's CallSnapshot.
_Call = tuple[int, int, int]


class StatsItem:
    """Counters of one key and their snapshot windows (RocketMQ ``StatsItem``; a latency
    item, ``RTStatsItem``, differs only in how Java logs it)."""

    __slots__ = ("_windows", "stats_key", "stats_name", "times", "value")

    def __init__(self, stats_name: str, stats_key: str) -> None:
        self.stats_name = stats_name
        self.stats_key = stats_key
        self.value = 0
        self.times = 0
        self._windows: tuple[deque[_Call], ...] = tuple(deque(maxlen=n) for _, n in WINDOWS)

    def add(self, value: int, times: int = 1) -> None:
        """Count ``value`` (messages, bytes, milliseconds) over ``times`` calls."""
        self.value += value
        self.times += times

    def sample(self, window: int, now_ms: int) -> None:
        """Append a snapshot to ``window`` (MINUTE, HOUR or DAY): ``samplingInSeconds``,
        ``samplingInMinutes``, ``samplingInHour``."""
        calls = self._windows[window]
        if not calls:  # the item's first sample: everything so far counts in the window
            calls.append((now_ms - WINDOWS[window][0], 0, 0))
        calls.append((now_ms, self.times, self.value))

    def snapshot(self, window: int) -> StatsSnapshot:
        """The window's figures (``computeStatsData``); zeros before the first sample."""
        calls = self._windows[window]
        if not calls:
            return StatsSnapshot()
        (t0, times0, value0), (t1, times1, value1) = calls[0], calls[-1]
        total, times = value1 - value0, times1 - times0
        tps = total * 1000.0 / (t1 - t0) if t1 > t0 else 0.0
        avgpt = total / times if times > 0 else 0.0
        return StatsSnapshot(total, tps, avgpt, times)

    def begin(self, now_ms: int) -> None:
        """Start every empty window at ``now_ms`` with the counts as they are, so a
        :meth:`live_snapshot` before the first sampling covers exactly the time since."""
        for calls in self._windows:
            if not calls:
                calls.append((now_ms, self.times, self.value))

    def live_snapshot(self, window: int, now_ms: int) -> StatsSnapshot:
        """The window's figures from its oldest snapshot up to the counts at ``now_ms``
        (fresher than :meth:`snapshot`, which ends at the last sampling)."""
        calls = self._windows[window]
        if not calls:
            return StatsSnapshot()
        t0, times0, value0 = calls[0]
        total, times = self.value - value0, self.times - times0
        tps = total * 1000.0 / (now_ms - t0) if now_ms > t0 else 0.0
        avgpt = total / times if times > 0 else 0.0
        return StatsSnapshot(total, tps, avgpt, times)

    def windows(self) -> StatsWindows:
        """All three windows (``getStatsDataInMinute/Hour/Day``)."""
        return StatsWindows(self.snapshot(MINUTE), self.snapshot(HOUR), self.snapshot(DAY))


class StatsItemSet:
    """The items of one stats name, by key (RocketMQ ``StatsItemSet``)."""

    __slots__ = ("items", "stats_name")

    def __init__(self, stats_name: str) -> None:
        self.stats_name = stats_name
        self.items: dict[str, StatsItem] = {}

    def add_value(self, key: str, value: int, times: int = 1) -> None:
        """Count on the item ``key``, made on first use (``addValue`` / ``addRTValue``)."""
        item = self.items.get(key)
        if item is None:
            item = self.items[key] = StatsItem(self.stats_name, key)
        item.value += value
        item.times += times

    def get_and_create(self, key: str) -> StatsItem:
        """The item ``key``, made on first use."""
        item = self.items.get(key)
        if item is None:
            item = self.items[key] = StatsItem(self.stats_name, key)
        return item

    def get(self, key: str) -> StatsItem | None:
        """The item ``key``, or None."""
        return self.items.get(key)

    def snapshot(self, key: str, window: int) -> StatsSnapshot:
        """A window of the item ``key``; zeros when there is no such item."""
        item = self.items.get(key)
        return item.snapshot(window) if item is not None else StatsSnapshot()

    def sample(self, window: int, now_ms: int) -> None:
        """Sample every item's ``window``."""
        for item in list(self.items.values()):
            item.sample(window, now_ms)

    def delete_where(self, match: Callable[[str], bool]) -> None:
        """Drop the items whose key matches (``delValueByPrefix/Infix/SuffixKey``)."""
        for key in [k for k in self.items if match(k)]:
            del self.items[key]
