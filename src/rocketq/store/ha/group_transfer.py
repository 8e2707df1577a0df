"""SYNC_MASTER waits: puts held until a slave has acknowledged their bytes.

Mirrors ``HAService.GroupTransferService`` (4.9): a put registers the end offset of its
records; every offset report of a slave raises ``push2SlaveMaxOffset`` and releases, in
one pass, every put whose end is now covered. Instead of Java's thread that re-checks
each request every second, the waiters sit in a heap ordered by offset (released by acks)
and a deque ordered by deadline (expired by one timer for the earliest deadline), so
nothing polls per message.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque

__all__ = ["GroupTransferService"]


class GroupTransferService:
    """Futures resolved True when ``push2SlaveMaxOffset`` reaches their offset, False
    at their deadline."""

    def __init__(self) -> None:
        self.push2slave_max_offset = 0
        self._by_offset: list[tuple[int, int, asyncio.Future[bool]]] = []
        self._by_deadline: deque[tuple[float, asyncio.Future[bool]]] = deque()
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    @property
    def waiting(self) -> int:
        """Puts still waiting (including ones already resolved but not yet swept)."""
        return len(self._by_offset)

    def wait(self, end_offset: int, timeout: float) -> asyncio.Future[bool]:
        """A future: True once a slave acked ``end_offset``, False after ``timeout`` s."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        if self.push2slave_max_offset >= end_offset:
            future.set_result(True)
            return future
        deadline = loop.time() + timeout
        heapq.heappush(self._by_offset, (end_offset, next(self._seq), future))
        if self._by_deadline and deadline < self._by_deadline[-1][0]:
            # slaveTimeout was lowered at run time: keep the deque sorted
            self._insert_sorted(deadline, future)
        else:
            self._by_deadline.append((deadline, future))
        self._arm(loop)
        return future

    def notify_ack(self, offset: int) -> None:
        """A slave acknowledged ``offset`` (``notifyTransferSome``): release covered puts."""
        if offset <= self.push2slave_max_offset:
            return
        self.push2slave_max_offset = offset
        heap = self._by_offset
        while heap and heap[0][0] <= offset:
            future = heapq.heappop(heap)[2]
            if not future.done():
                future.set_result(True)
        pending = self._by_deadline  # acks come in deadline order too: drop what they released
        while pending and pending[0][1].done():
            pending.popleft()

    def close(self) -> None:
        """Release every waiter as timed out (the service is stopping)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for _, _, future in self._by_offset:
            if not future.done():
                future.set_result(False)
        self._by_offset.clear()
        self._by_deadline.clear()

    def _insert_sorted(self, deadline: float, future: asyncio.Future[bool]) -> None:
        items = list(self._by_deadline)
        index = next(i for i, (d, _) in enumerate(items) if d > deadline)
        items.insert(index, (deadline, future))
        self._by_deadline = deque(items)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """Keep one timer at the earliest deadline still waiting."""
        while self._by_deadline and self._by_deadline[0][1].done():
            self._by_deadline.popleft()
        if not self._by_deadline:
            return
        first = self._by_deadline[0][0]
        if self._timer is not None:
            if self._timer_at <= first:
                return
            self._timer.cancel()
        self._timer_at = first
        self._timer = loop.call_at(first, self._expire)

    def _expire(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        expired = False
        while self._by_deadline and self._by_deadline[0][0] <= now:
            future = self._by_deadline.popleft()[1]
            if not future.done():
                future.set_result(False)
                expired = True
        if expired:  # drop the resolved entries from the heap as well
            self._by_offset = [item for item in self._by_offset if not item[2].done()]
            heapq.heapify(self._by_offset)
        self._arm(loop)
