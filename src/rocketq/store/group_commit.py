"""The SYNC_FLUSH group commit's own thread (RocketMQ ``GroupCommitService``).

Appends that must be on disk before they are answered ask for an offset; the thread syncs
the CommitLog up to the highest offset asked, reports back to the event loop once per
sync, and starts the next sync at once when more was asked meanwhile. The disk is kept
busy back to back: appends that arrive during a sync share the next one, as in RocketMQ,
and no event-loop turn, executor hand-off or asyncio task sits between two syncs (those
had cost about as much as the ``fdatasync`` itself with 8 concurrent senders).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

__all__ = ["GroupCommitThread"]

log = logging.getLogger("rocketq.store")



class GroupCommitThread:
    """Syncs up to the highest offset asked, one sync after the other, on its own thread.

    ``flush()`` syncs what is dirty and returns the flushed offset (blocking, GIL released
    in ``fdatasync``); ``done(target, flushed, ok)`` is called on ``loop`` after each
    round: every offset up to ``target`` was asked for before that round began.
    """

    def __init__(
        self,
        flush: Callable[[], int],
        done: Callable[[int, int, bool], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._flush = flush
        self._done = done
        self._loop = loop
        self._cond = threading.Condition()
        self._asked = 0  # highest offset asked for
        self._served = 0  # highest offset a finished round covered
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="rocketq-group-commit", daemon=True
            )
            self._thread.start()

    def request(self, offset: int) -> None:
        """Ask for the log to be on disk up to ``offset`` (any thread)."""
        with self._cond:
            if offset > self._asked:
                self._asked = offset
                self._cond.notify()

    def stop(self) -> None:
        """Finish the round asked for so far, then end the thread (blocking: call it from
        a worker thread or at shutdown)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._asked <= self._served and not self._stopping:
                    self._cond.wait()
                if self._asked <= self._served:  # stopping with nothing left
                    return
                target = self._asked
            ok, flushed = self._sync(target)
            self._served = target
            try:
                self._loop.call_soon_threadsafe(self._done, target, flushed, ok)
            except RuntimeError:  # the loop closed under us: nobody waits any more
                return

    def _sync(self, target: int) -> tuple[bool, int]:
        """Sync until ``target`` is on disk: one ``flush()`` per file the round spans
        (GroupCommitService#doCommit tries twice; a round here may span more files), as
        long as each one gets further."""
        flushed = -1
        try:
            while True:
                before, flushed = flushed, self._flush()
                if flushed >= target or flushed <= before:
                    break
        except Exception:
            log.exception("commitlog group commit failed")
            return False, max(flushed, 0)
        return True, flushed
