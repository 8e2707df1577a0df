"""Background tasks owned by one service (DESIGN house style 10, trio's nursery idea).

Every loop a service runs (registration, persistence, HA transfer, slave sync, ...) is
started through its :class:`TaskOwner`, which keeps the task, logs an exception that ends
it with the task's name, and on :meth:`TaskOwner.aclose` cancels and awaits them all. So
no task is fire-and-forget, none outlives its service, and none dies silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

__all__ = ["TaskOwner"]

Interval = float | Callable[[], float]


class TaskOwner:
    """The tasks of one service; ``spawn`` and ``every`` start them, ``aclose`` ends them."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` has begun: nothing new is started."""
        return self._closed

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task of this owner."""
        if self._closed:
            coro.close()
            raise RuntimeError(f"cannot start {name}: its service is closed")
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def every(
        self,
        interval: Interval,
        fn: Callable[[], Awaitable[object]],
        name: str,
        *,
        initial_delay: float | None = None,
        wake: asyncio.Event | None = None,
    ) -> asyncio.Task[Any]:
        """Call ``fn`` every ``interval`` seconds (a number, or a function read each time)
        after ``initial_delay`` (default: one interval); ``wake.set()`` runs it at once.
        An exception from one call is logged and the loop goes on."""
        return self.spawn(self._periodic(interval, fn, name, initial_delay, wake), name)

    async def _periodic(
        self,
        interval: Interval,
        fn: Callable[[], Awaitable[object]],
        name: str,
        initial_delay: float | None,
        wake: asyncio.Event | None,
    ) -> None:
        delay = _seconds(interval) if initial_delay is None else initial_delay
        while True:
            await _sleep_or_wake(delay, wake)
            try:
                await fn()
            except Exception:
                self._log.exception("%s failed; it runs again in %.1f s", name, delay)
            delay = _seconds(interval)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("task %s died", task.get_name(), exc_info=task.exception())

    async def aclose(self) -> None:
        """Cancel every task and wait until all have ended."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _seconds(interval: Interval) -> float:
    return interval() if callable(interval) else interval


async def _sleep_or_wake(delay: float, wake: asyncio.Event | None) -> None:
    if wake is None:
        await asyncio.sleep(delay)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), delay)
    wake.clear()
