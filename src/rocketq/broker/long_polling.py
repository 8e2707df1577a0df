"""Long polling: pulls that found nothing wait for a message (``PullRequestHoldService``).

A PULL_MESSAGE with the suspend flag that finds no new message is held instead of
answered. It is re-run (and answered with its original ``opaque``) as soon as a message
reaches its queue and passes its tag filter, or when its suspend time is over — then it
usually answers PULL_NOT_FOUND. RocketMQ checks held pulls every 5 s; here each held
pull has its own timer, so it is answered on time, and arrivals wake it at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection

__all__ = ["HeldPull", "PullRequestHoldService"]

log = logging.getLogger("rocketq.broker")

Matcher = Callable[[int | None], bool]


@dataclass(eq=False, slots=True)
class HeldPull:
    """One suspended pull; ``header`` is what the processor parsed of it (re-used when
    the pull is re-run, so its extFields are not parsed twice)."""

    connection: Connection
    request: RemotingCommand
    pull_offset: int
    matches: Matcher
    header: Any = None
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


Rerun = Callable[[HeldPull], None]


class PullRequestHoldService:
    """Held pulls by (topic, queue id); ``rerun`` answers one (suspension not allowed)."""

    def __init__(self, rerun: Rerun, max_offset: Callable[[str, int], int]) -> None:
        self._rerun = rerun
        self._max_offset = max_offset
        self._held: dict[tuple[str, int], list[HeldPull]] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self._held.values())

    def suspend(
        self,
        topic: str,
        queue_id: int,
        pull: HeldPull,
        timeout_ms: int,
    ) -> None:
        """Hold ``pull`` for at most ``timeout_ms``."""
        key = (topic, queue_id)
        self._held.setdefault(key, []).append(pull)
        loop = asyncio.get_running_loop()
        pull.timer = loop.call_later(max(timeout_ms, 0) / 1000, self._expire, key, pull)

    def _expire(self, key: tuple[str, int], pull: HeldPull) -> None:
        if self._remove(key, pull):
            self._run(pull)

    def _remove(self, key: tuple[str, int], pull: HeldPull) -> bool:
        waiting = self._held.get(key)
        if not waiting or pull not in waiting:
            return False
        waiting.remove(pull)
        if not waiting:
            del self._held[key]
        return True

    def _run(self, pull: HeldPull) -> None:
        if pull.timer is not None:
            pull.timer.cancel()
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
        ready = [p for p in waiting if max_offset > p.pull_offset and p.matches(tags_code)]
        for pull in ready:
            self._remove(key, pull)
            self._run(pull)

    def notify_messages_arriving(self, arrivals: list[tuple[str, int, int, int]]) -> None:
        """:meth:`notify_message_arriving` of each (topic, queue id, next offset, tags
        code) of one dispatch pass; one test while no pull is held."""
        if not self._held:
            return
        for topic, queue_id, max_offset, code in arrivals:
            self.notify_message_arriving(topic, queue_id, max_offset, code)

    def wake_all(self) -> None:
        """Answer every held pull now (shutdown)."""
        for key, waiting in list(self._held.items()):
            for pull in list(waiting):
                self._remove(key, pull)
                self._run(pull)
