"""Flushing the CommitLog to disk: group commit (SYNC_FLUSH) and the periodic flusher.

RocketMQ has ``GroupCommitService`` (every append waits until its bytes are on disk; all
appends waiting for the same ``fdatasync`` are released together) and
``FlushRealTimeService`` (every ``flushIntervalCommitLog`` ms, when at least
``flushCommitLogLeastPages`` pages are dirty, and thoroughly every
``flushCommitLogThoroughInterval`` ms). The group commit runs on a thread of its own
(:mod:`rocketq.store.group_commit`), the periodic flusher in a worker thread; both report
back to the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from rocketq.common.tasks import TaskOwner
from rocketq.store.commit_log import CommitLog
from rocketq.store.config import SYNC_FLUSH, StoreConfig
from rocketq.store.group_commit import IDLE_FLUSH_S, GroupCommitThread

__all__ = ["CommitLogFlushService"]

log = logging.getLogger("rocketq.store")


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
        # Appends waiting for the disk: (end offset, deadline, callback(ok)), in arrival
        # order, which is also offset order and deadline order (every append is later and
        # further than the one before and waits as long): both ends are released from the left.
        self._waiters: deque[tuple[int, float, Callable[[bool], None]]] = deque()
        self._watchdog: asyncio.TimerHandle | None = None
        self._wakeup = asyncio.Event()
        self._tasks = TaskOwner(log)
        self._last_thorough = time.monotonic()
        self._committer: GroupCommitThread | None = None  # SYNC_FLUSH, once started
        # The mode is chosen once: updateBrokerConfig may change flushDiskType in the
        # config, which applies from the next start (the store's threads are this mode's).
        self._sync = config.flush_disk_type == SYNC_FLUSH

    @property
    def sync(self) -> bool:
        """True for SYNC_FLUSH (group commit), as the store was started."""
        return self._sync

    def start(self) -> None:
        """Start the group commit thread (SYNC_FLUSH) or the periodic flush loop."""
        if self.sync:
            self._committer = GroupCommitThread(
                lambda: self.commit_log.flush(0), self._synced, asyncio.get_running_loop(),
                idle_flush_s=IDLE_FLUSH_S,
            )  # fmt: skip
            self._committer.start()
        else:
            self._tasks.spawn(self._realtime_loop(), "commitlog-flush")

    async def wait_flushed(self, offset: int, timeout: float) -> bool:
        """Wait until the log is on disk up to ``offset``; False after ``timeout`` seconds."""
        if self.commit_log.queue.flushed_where >= offset:
            return True
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def done(ok: bool) -> None:
            if not future.done():  # the waiting caller may have been cancelled
                future.set_result(ok)

        self.when_flushed(offset, timeout, done)
        return await future

    def when_flushed(self, offset: int, timeout: float, callback: Callable[[bool], None]) -> None:
        """Call ``callback(True)`` once the log is on disk up to ``offset`` (group commit),
        ``callback(False)`` after ``timeout`` seconds or a failed sync; exactly once.

        A plain callback, no Future or Task per waiting append: SYNC_FLUSH sends are
        answered from it (``GroupCommitService`` requests with ``syncFlushTimeout``).
        """
        if self.commit_log.queue.flushed_where >= offset:
            callback(True)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._waiters.append((offset, deadline, callback))
        if self._watchdog is None:
            self._watchdog = loop.call_at(deadline, self._expire)
        if self._committer is not None:
            self._committer.request(offset)
        else:  # not started (or closing): aclose() releases it
            self._wakeup.set()

    def _expire(self) -> None:
        """Time out the waiters whose deadline passed; watch the next one."""
        waiters = self._waiters
        now = asyncio.get_running_loop().time()
        while waiters and waiters[0][1] <= now:
            _call(waiters.popleft()[2], False)
        self._watchdog = None
        if waiters:
            self._watchdog = asyncio.get_running_loop().call_at(waiters[0][1], self._expire)

    def _release(self, target: int, flushed: int) -> None:
        """Answer every waiter up to ``target``: on disk or not."""
        waiters = self._waiters
        while waiters and waiters[0][0] <= target:
            offset, _, callback = waiters.popleft()
            _call(callback, flushed >= offset)

    def wakeup(self) -> None:
        """Ask for a flush of everything appended so far, now (an append that does not
        wait for it: the periodic flusher runs, or the group commit syncs)."""
        if self._committer is not None:
            self._committer.request(self.commit_log.max_offset())
        else:
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

    def _synced(self, target: int, flushed: int, ok: bool) -> None:
        """A group commit round ended (on the loop): answer everyone it was for."""
        if not ok:  # a failed sync: what did reach the disk still counts
            flushed = self.commit_log.queue.flushed_where
        if self._on_flushed is not None:
            self._on_flushed(flushed)
        self._release(target, flushed)

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
        if self._committer is not None:
            await asyncio.to_thread(self._committer.stop)
            self._committer = None
        flushed = await self.flush_all()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._release(self.commit_log.max_offset(), flushed)


def _call(callback: Callable[[bool], None], ok: bool) -> None:
    try:
        callback(ok)
    except Exception:
        log.exception("flush waiter callback failed")
