"""Flushing the CommitLog to disk: group commit (SYNC_FLUSH) and the periodic flusher.

RocketMQ has ``GroupCommitService`` (every append waits until its bytes are on disk; all
appends waiting for the same ``fdatasync`` are released together) and
``FlushRealTimeService`` (every ``flushIntervalCommitLog`` ms, when at least
``flushCommitLogLeastPages`` pages are dirty, and thoroughly every
``flushCommitLogThoroughInterval`` ms). Both run the blocking sync in a worker thread
and report back to the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from rocketq.common.tasks import TaskOwner
from rocketq.store.commit_log import CommitLog
from rocketq.store.config import SYNC_FLUSH, StoreConfig

__all__ = ["CommitLogFlushService"]

log = logging.getLogger("rocketq.store")

# A flush request can need two syncs when the bytes it waits for cross into a new file
# (GroupCommitService#doCommit tries twice).
_MAX_SYNCS_PER_REQUEST = 2


class CommitLogFlushService:
    """Keeps the CommitLog flushed as ``flushDiskType`` asks; ``start``/``aclose``."""

    def __init__(
        self,
        commit_log: CommitLog,
        config: StoreConfig,
        on_flushed: Callable[[int], None] | None = None,
    ) -> None:
        self.commit_log = commit_log
        self.config = config
        self._on_flushed = on_flushed
        self._requests: list[tuple[int, asyncio.Future[bool]]] = []
        self._wakeup = asyncio.Event()
        self._tasks = TaskOwner(log)
        self._last_thorough = time.monotonic()

    @property
    def sync(self) -> bool:
        """True for SYNC_FLUSH (group commit)."""
        return self.config.flush_disk_type == SYNC_FLUSH

    def start(self) -> None:
        """Start the flush loop of the configured kind."""
        loop = self._group_commit_loop() if self.sync else self._realtime_loop()
        self._tasks.spawn(loop, "commitlog-flush")

    async def wait_flushed(self, offset: int, timeout: float) -> bool:
        """Wait until the log is on disk up to ``offset``; False after ``timeout`` seconds."""
        if self.commit_log.queue.flushed_where >= offset:
            return True
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._requests.append((offset, future))
        self._wakeup.set()
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return False

    def wakeup(self) -> None:
        """Ask the periodic flusher to run now."""
        self._wakeup.set()

    async def flush_all(self) -> int:
        """Flush everything written so far; return the flushed offset."""
        target = self.commit_log.max_offset()
        for _ in range(len(self.commit_log.queue.files) + 1):
            if self.commit_log.queue.flushed_where >= target:
                break
            await asyncio.to_thread(self.commit_log.flush, 0)
        flushed = self.commit_log.queue.flushed_where
        if self._on_flushed is not None:
            self._on_flushed(flushed)
        return flushed

    async def _group_commit_loop(self) -> None:
        while await self._tasks.sleep(None, self._wakeup):
            batch, self._requests = self._requests, []
            if not batch:
                continue
            target = max(offset for offset, _ in batch)
            try:
                for _ in range(_MAX_SYNCS_PER_REQUEST):
                    if self.commit_log.queue.flushed_where >= target:
                        break
                    await asyncio.to_thread(self.commit_log.flush, 0)
            except Exception:
                log.exception("commitlog flush failed")
            flushed = self.commit_log.queue.flushed_where
            if self._on_flushed is not None:
                self._on_flushed(flushed)
            for offset, future in batch:
                if not future.done():
                    future.set_result(flushed >= offset)

    async def _realtime_loop(self) -> None:
        while await self._tasks.sleep(self._interval(), self._wakeup):
            least_pages = self.config.flush_commit_log_least_pages
            now = time.monotonic()
            if (now - self._last_thorough) * 1000 >= self.config.flush_commit_log_thorough_interval:
                least_pages = 0
                self._last_thorough = now
            try:
                await asyncio.to_thread(self.commit_log.flush, least_pages)
            except Exception:
                log.exception("commitlog flush failed")
                continue
            if self._on_flushed is not None:
                self._on_flushed(self.commit_log.queue.flushed_where)

    def _interval(self) -> float:
        """``flushIntervalCommitLog`` in seconds, read each round."""
        return max(self.config.flush_interval_commit_log, 1) / 1000

    async def aclose(self) -> None:
        """Stop the loop and flush what is left; waiting appends are released."""
        # Let a sync that is running in a worker thread finish: the files stay mapped.
        await self._tasks.aclose(grace=None)
        flushed = await self.flush_all()
        batch, self._requests = self._requests, []
        for offset, future in batch:
            if not future.done():
                future.set_result(flushed >= offset)
