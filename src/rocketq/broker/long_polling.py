"""Long polling: pulls that found nothing wait for a message (``PullRequestHoldService``).

A PULL_MESSAGE with the suspend flag that finds no new message is held instead of
answered. It is re-run (and answered with its original ``opaque``) as soon as a message
reaches its queue and passes its tag filter, or when its suspend time is over — then it
usually answers PULL_NOT_FOUND. RocketMQ checks held pulls every 5 s; here they expire on
ticks of 50 ms (``TICK_S``), so a pull is answered at most one tick after its suspend time,
and arrivals wake it at once.

A consumer that keeps up has a pull held on every queue it reads, and each message it
gets ends one and starts the next: the ticks are a dict per tick, where a pull goes in
and out for a dict insert and delete, with one loop timer armed for the earliest tick
(a timer per pull cost its handle, heap entry and cancel, ~1-2 µs a message).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers import PullMessageRequestHeader

__all__ = ["TICK_S", "HeldPull", "PullRequestHoldService"]

log = logging.getLogger("rocketq.broker")

Matcher = Callable[[int | None], bool]  # None: the pull takes every message
Key = tuple[str, int]

# Held pulls expire on ticks this long: never before their suspend time, at most this late.
TICK_S = 0.05


@dataclass(eq=False, slots=True)
class HeldPull:
    """One suspended pull; ``header`` is what the processor parsed of it (re-used when
    the pull is re-run, so its extFields are not parsed twice)."""

    connection: Connection
    request: RemotingCommand
    pull_offset: int
    matches: Matcher | None
    header: PullMessageRequestHeader | None = None
    tick: int = 0  # the tick it expires on


Rerun = Callable[[HeldPull], None]


class PullRequestHoldService:
    """Held pulls by (topic, queue id); ``rerun`` answers one (suspension not allowed)."""

    def __init__(self, rerun: Rerun) -> None:
        self._rerun = rerun
        self._held: dict[Key, list[HeldPull]] = {}
        # The held pulls by the tick they expire on, each with its key; the loop timer
        # armed for the earliest of them (and the tick it is armed for).
        self._ticks: dict[int, dict[HeldPull, Key]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_tick = 0

    def __len__(self) -> int:
        return sum(len(v) for v in self._held.values())

    def suspend(
        self,
        topic: str,
        queue_id: int,
        pull: HeldPull,
        timeout_ms: int,
    ) -> None:
        """Hold ``pull`` for at most ``timeout_ms`` (and one tick)."""
        key = (topic, queue_id)
        waiting = self._held.get(key)
        if waiting is None:
            self._held[key] = [pull]
        else:
            waiting.append(pull)
        loop = asyncio.get_running_loop()
        tick = pull.tick = math.ceil((loop.time() + max(timeout_ms, 0) / 1000) / TICK_S)
        pulls = self._ticks.get(tick)
        if pulls is None:
            self._ticks[tick] = {pull: key}
            if self._timer is None or tick < self._timer_tick:
                self._arm(loop, tick)
        else:
            pulls[pull] = key

    def _arm(self, loop: asyncio.AbstractEventLoop, tick: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_tick = tick
        self._timer = loop.call_at(tick * TICK_S, self._on_tick)

    def _on_tick(self) -> None:
        """Answer the pulls whose tick has come; arm the timer for the next tick."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = (loop.time() + 0.001) / TICK_S  # a timer may fire a little early
        ticks = self._ticks
        for tick in sorted(t for t in ticks if t <= now):
            for pull, key in list(ticks.pop(tick).items()):
                if self._remove(key, pull):
                    self._run(pull)
        if ticks and self._timer is None:
            self._arm(loop, min(ticks))

    def _remove(self, key: Key, pull: HeldPull) -> bool:
        waiting = self._held.get(key)
        if not waiting or pull not in waiting:
            return False
        waiting.remove(pull)
        if not waiting:
            del self._held[key]
        self._untick(pull)
        return True

    def _untick(self, pull: HeldPull) -> None:
        """Take ``pull`` off its tick (it is answered before it expires)."""
        pulls = self._ticks.get(pull.tick)
        if pulls is not None:
            pulls.pop(pull, None)
            if not pulls:
                del self._ticks[pull.tick]

    def _run(self, pull: HeldPull) -> None:
        if not pull.connection.is_open:
            return
        try:
            self._rerun(pull)
        except Exception:
            log.exception("re-running a held pull failed")

    def notify_message_arriving(
        self, topic: str, queue_id: int, max_offset: int, tags_code: int | None = None
    ) -> None:
        """A message reached ``topic``/``queue_id``: wake the pulls it satisfies."""
        key = (topic, queue_id)
        waiting = self._held.get(key)
        if not waiting:
            return
        ready = [
            p
            for p in waiting
            if max_offset > p.pull_offset and (p.matches is None or p.matches(tags_code))
        ]
        for pull in ready:
            self._remove(key, pull)
            self._run(pull)

    def notify_messages_arriving(self, arrivals: list[tuple[str, int, int, int]]) -> None:
        """:meth:`notify_message_arriving` of each (topic, queue id, next offset, tags
        code) of one dispatch pass; one test while no pull is held. A queue with one
        pull held (a consumer keeping up: every message wakes one) is handled here."""
        held = self._held
        if not held:
            return
        for topic, queue_id, max_offset, code in arrivals:
            key = (topic, queue_id)
            waiting = held.get(key)
            if waiting is None:
                continue
            if len(waiting) != 1:
                self.notify_message_arriving(topic, queue_id, max_offset, code)
                continue
            pull = waiting[0]
            if max_offset <= pull.pull_offset or not (pull.matches is None or pull.matches(code)):
                continue
            del held[key]
            self._untick(pull)
            self._run(pull)

    def wake_all(self) -> None:
        """Answer every held pull now (shutdown)."""
        for key, waiting in list(self._held.items()):
            for pull in list(waiting):
                self._remove(key, pull)
                self._run(pull)
        if self._timer is not None and not self._ticks:
            self._timer.cancel()
            self._timer = None
