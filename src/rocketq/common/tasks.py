"""Background tasks owned by one service (DESIGN house style 10, trio's nursery idea).

Every loop a service runs (registration, persistence, flush, clean-up, HA transfer, slave
sync, delay levels, ...) is started through its :class:`TaskOwner`, which keeps the task,
logs an exception that ends it with the task's name, and on :meth:`TaskOwner.aclose` ends
them all. So no task is fire-and-forget, none outlives its service, and none dies
silently. The owner is also the service's started/closed state: a service needs no flag
of its own.

Two ways to stop, chosen by the caller of ``aclose``:

* ``aclose()`` cancels at once (a loop that only sleeps and sends);
* ``aclose(grace=s)`` first tells the loops to end (:attr:`TaskOwner.closed` turns True and
  every :meth:`TaskOwner.sleep` returns False at once) and waits up to ``s`` seconds
  (``None``: as long as they take) before cancelling the rest — for loops that must not be
  cut inside a worker thread (a flush that would go on writing a file being closed) and for
  work that should finish (an async send, a running listener).
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
        # Set by aclose: wakes every sleep() at once. Events passed as ``wake`` are set too.
        self._stop = asyncio.Event()
        self._wakes: set[asyncio.Event] = set()

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` has begun: nothing new is started, loops should end."""
        return self._closed

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task of this owner (RuntimeError once closed)."""
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
        An exception from one call is logged and the loop goes on; it ends at close."""
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
        while await self.sleep(delay, wake):
            try:
                await fn()
            except Exception:
                self._log.exception("%s failed; it runs again in %.1f s", name, delay)
            delay = _seconds(interval)

    async def sleep(self, seconds: float | None, wake: asyncio.Event | None = None) -> bool:
        """Wait ``seconds`` (None: no limit) or until ``wake`` is set (then cleared) or
        :meth:`aclose` begins; True while the owner is open — ``while await t.sleep(s):``."""
        if self._closed:
            return False
        event = self._stop
        if wake is not None:
            self._wakes.add(wake)
            event = wake
        if seconds is None:
            await event.wait()
        elif not event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), seconds)
        if wake is not None:
            wake.clear()
        return not self._closed

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("task %s died", task.get_name(), exc_info=task.exception())

    def close(self) -> None:
        """Begin closing without waiting: refuse new tasks, wake every :meth:`sleep` (so
        loops end). :meth:`aclose` then waits; this alone lets a service stop taking work
        before it shuts what the running tasks wait on (``asyncio.Server.close``'s idea)."""
        self._closed = True
        self._stop.set()
        for wake in self._wakes:
            wake.set()

    async def aclose(self, grace: float | None = 0) -> None:
        """:meth:`close`, then give the running tasks up to ``grace`` seconds (None: as long
        as they take) to end by themselves; then cancel and await what is left. The task
        calling this is neither waited for nor cancelled."""
        self.close()
        current = asyncio.current_task()
        pending = [task for task in self._tasks if task is not current]
        if pending and grace != 0:
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                self._log.warning("%s did not end within %.1f s; cancelled", task.get_name(), grace)
            pending = list(late)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _seconds(interval: Interval) -> float:
    return interval() if callable(interval) else interval
