"""A :class:`~rocketq.common.tasks.TaskOwner` that can also close gracefully.

The producer lets its in-flight async sends finish at close, and the consume service
lets running listeners finish (for up to 10 s, ``ConsumeMessageConcurrentlyService``'s
``awaitTerminationMillisWhenShutdown`` idea) before what is left is cancelled.
``TaskOwner.aclose`` cancels at once, so this adds the one missing step.
"""

from __future__ import annotations

import asyncio

from rocketq.common.tasks import TaskOwner

__all__ = ["GracefulTaskOwner"]


class GracefulTaskOwner(TaskOwner):
    """``TaskOwner`` plus :meth:`aclose_gracefully`."""

    async def aclose_gracefully(self, timeout: float | None) -> None:
        """Refuse new tasks, give the running ones up to ``timeout`` seconds (None: as long
        as they take) to end by themselves, then cancel and await what is left."""
        self._closed = True
        current = asyncio.current_task()
        pending = [task for task in self._tasks if task is not current]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        await self.aclose()
