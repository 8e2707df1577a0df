"""A consumer's pull and consume figures per topic and group (RocketMQ
``ConsumerStatsManager``), reported in ConsumerRunningInfo's ``statusTable``.

Five item sets keyed ``topic@group``: pull RT and pull TPS (counted when a pull found
messages), consume RT (listener time per batch), consume OK TPS and consume failed TPS
(messages). The client instance calls :meth:`ConsumerStatsManager.tick` every second; the
minute window is sampled every 10 s and the hour window every 10 min, as Java's
``StatsItemSet`` schedules do.

Where Java reports a window up to its last sampling, :meth:`consume_status` reports it up
to now (:meth:`StatsItem.live_snapshot`), so a status asked right after a burst already
shows it. Clock: epoch milliseconds, a constructor argument (tests pass a fake one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rocketq.common.stats import HOUR, MINUTE, WINDOWS, Clock, StatsItem, StatsItemSet, now_ms

__all__ = ["ConsumeCounters", "ConsumeStatus", "ConsumerStatsManager"]

# ConsumerStatsManager's item set names.
CONSUME_OK_TPS = "CONSUME_OK_TPS"
CONSUME_FAILED_TPS = "CONSUME_FAILED_TPS"
CONSUME_RT = "CONSUME_RT"
PULL_TPS = "PULL_TPS"
PULL_RT = "PULL_RT"
_NAMES = (CONSUME_OK_TPS, CONSUME_FAILED_TPS, CONSUME_RT, PULL_TPS, PULL_RT)
# The windows a consumer reports: the minute (rates) and the hour (failed messages).
_SAMPLED = (MINUTE, HOUR)


@dataclass(frozen=True, slots=True)
class ConsumeStatus:
    """One topic's line of ``statusTable`` (Java ``ConsumeStatus``)."""

    pull_rt: float = 0.0
    pull_tps: float = 0.0
    consume_rt: float = 0.0
    consume_ok_tps: float = 0.0
    consume_failed_tps: float = 0.0
    consume_failed_msgs: int = 0

    def to_obj(self) -> dict[str, Any]:
        """fastjson's shape (Java field names)."""
        return {
            "consumeFailedMsgs": self.consume_failed_msgs,
            "consumeFailedTPS": self.consume_failed_tps,
            "consumeOKTPS": self.consume_ok_tps,
            "consumeRT": self.consume_rt,
            "pullRT": self.pull_rt,
            "pullTPS": self.pull_tps,
        }


class ConsumeCounters:
    """The three consume items of one ``topic@group`` (see
    :meth:`ConsumerStatsManager.consume_counters`); ``add`` as the ``inc_consume_*``
    methods count."""

    __slots__ = ("failed_tps", "ok_tps", "rt")

    def __init__(self, rt: StatsItem, ok_tps: StatsItem, failed_tps: StatsItem) -> None:
        self.rt = rt
        self.ok_tps = ok_tps
        self.failed_tps = failed_tps


class ConsumerStatsManager:
    """Counts pulls and consumption per ``topic@group`` (see the module docstring)."""

    def __init__(self, clock: Clock = now_ms) -> None:
        self.clock = clock
        self.sets = {name: StatsItemSet(name) for name in _NAMES}
        now = clock()
        self._due = [now + WINDOWS[w][0] for w in _SAMPLED]

    def _add(self, name: str, group: str, topic: str, value: int) -> None:
        self._made(name, group, topic).add(value)

    def inc_pull_rt(self, group: str, topic: str, rt_ms: int) -> None:
        """A pull that found messages took ``rt_ms`` (``incPullRT``)."""
        self._add(PULL_RT, group, topic, rt_ms)

    def inc_pull_tps(self, group: str, topic: str, msgs: int) -> None:
        """A pull brought ``msgs`` messages (``incPullTPS``)."""
        self._add(PULL_TPS, group, topic, msgs)

    def inc_consume_rt(self, group: str, topic: str, rt_ms: int) -> None:
        """The listener took ``rt_ms`` on one batch (``incConsumeRT``)."""
        self._add(CONSUME_RT, group, topic, rt_ms)

    def inc_consume_ok_tps(self, group: str, topic: str, msgs: int) -> None:
        """``msgs`` messages were consumed (``incConsumeOKTPS``)."""
        self._add(CONSUME_OK_TPS, group, topic, msgs)

    def inc_consume_failed_tps(self, group: str, topic: str, msgs: int) -> None:
        """``msgs`` messages failed and will be retried (``incConsumeFailedTPS``)."""
        self._add(CONSUME_FAILED_TPS, group, topic, msgs)

    def consume_counters(self, group: str, topic: str) -> ConsumeCounters:
        """The consume RT, OK TPS and failed TPS items of ``topic@group``, made on first
        use: a consume service keeps them, so a batch is counted without a key lookup."""
        return ConsumeCounters(
            self._made(CONSUME_RT, group, topic),
            self._made(CONSUME_OK_TPS, group, topic),
            self._made(CONSUME_FAILED_TPS, group, topic),
        )

    def _made(self, name: str, group: str, topic: str) -> StatsItem:
        item = self.sets[name].get(f"{topic}@{group}")
        if item is None:
            item = self.sets[name].get_and_create(f"{topic}@{group}")
            item.begin(self.clock())
        return item

    def _item(self, name: str, group: str, topic: str) -> StatsItem | None:
        return self.sets[name].get(f"{topic}@{group}")

    def consume_status(self, group: str, topic: str) -> ConsumeStatus:
        """``consumeStatus``: RTs and TPS over the minute (consume RT over the hour when
        the minute saw no batch), failed messages over the hour."""
        now = self.clock()

        def window(name: str, w: int = MINUTE) -> tuple[float, float, int]:
            item = self._item(name, group, topic)
            if item is None:
                return 0.0, 0.0, 0
            snap = item.live_snapshot(w, now)
            return snap.tps, snap.avgpt, snap.sum

        _, consume_rt, consumed = window(CONSUME_RT)
        if consumed == 0:
            _, consume_rt, _ = window(CONSUME_RT, HOUR)
        return ConsumeStatus(
            pull_rt=window(PULL_RT)[1],
            pull_tps=window(PULL_TPS)[0],
            consume_rt=consume_rt,
            consume_ok_tps=window(CONSUME_OK_TPS)[0],
            consume_failed_tps=window(CONSUME_FAILED_TPS)[0],
            consume_failed_msgs=window(CONSUME_FAILED_TPS, HOUR)[2],
        )

    def tick(self) -> None:
        """Sample each window whose period has passed (called every second)."""
        now = self.clock()
        for i, w in enumerate(_SAMPLED):
            if now < self._due[i]:
                continue
            for item_set in self.sets.values():
                item_set.sample(w, now)
            period = WINDOWS[w][0]
            due = self._due[i] + period
            self._due[i] = due if due > now else now + period
