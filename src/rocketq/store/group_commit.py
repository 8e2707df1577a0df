"""The SYNC_FLUSH group commit's own thread (RocketMQ ``GroupCommitService``).

Appends that must be on disk before they are answered ask for an offset; the thread syncs
the CommitLog up to the highest offset asked, reports back to the event loop once per
sync, and starts the next sync at once when more was asked meanwhile. The disk is kept
busy back to back: appends that arrive during a sync share the next one, as in RocketMQ,
and no event-loop turn, executor hand-off or asyncio task sits between two syncs (those
had cost about as much as the ``fdatasync`` itself with 8 concurrent senders).

One thing RocketMQ does not do: a round waits briefly for the appends it can expect. A
client that writes each request on its own (the Java client) splits its synchronous
senders into cohorts that take turns at the disk: the sync starts with the first request
of a turn, the rest of that turn wait for the next sync, and each cohort pays about two
syncs per message. So a round, before it syncs, waits until as many requests are in as
were outstanding when the previous round ended (those it answered plus those that came
during its sync: the senders' concurrency), for at most as long as that sync took (capped
at ``max_gather_s``, :data:`MAX_GATHER_S` by default). A lone sender (one outstanding)
never waits; senders that stop cost one capped wait, after which the expectation follows
the lower count.

With ``idle_flush_s`` the thread also syncs when nobody asked for that long, as
``GroupCommitService`` does every 10 ms: bytes appended without a request (a slave's copy
of its master's log, an append that does not wait for the disk) reach it too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Final

__all__ = ["IDLE_FLUSH_S", "GroupCommitThread"]

log = logging.getLogger("rocketq.store")

# The longest a round waits for the requests it expects: an fdatasync on an SSD takes
# 0.1-1 ms, on a spinning disk several; waiting longer than this for a sender that may
# have stopped costs more latency than a second sync would.
MAX_GATHER_S: Final = 0.002
# GroupCommitService#run: waitForRunning(10), then a flush whether or not anyone asked.
IDLE_FLUSH_S: Final = 0.010


class GroupCommitThread:
    """Syncs up to the highest offset asked, one sync after the other, on its own thread.

    ``flush()`` syncs what is dirty and returns the flushed offset (blocking, GIL released
    in ``fdatasync``); ``done(target, flushed, ok)`` is called on ``loop`` after each
    round: every offset up to ``target`` was asked for before that round began.
    ``max_gather_s`` caps a round's wait for the requests it expects; ``clock`` (seconds,
    monotonic) times the syncs and those waits; ``idle_flush_s`` (None: never) is how long
    the thread waits for a request before it syncs what is dirty all the same (reported
    with ``done(flushed, flushed, True)`` when that moved the flushed offset).
    """

    def __init__(
        self,
        flush: Callable[[], int],
        done: Callable[[int, int, bool], None],
        loop: asyncio.AbstractEventLoop,
        max_gather_s: float = MAX_GATHER_S,
        clock: Callable[[], float] = time.monotonic,
        idle_flush_s: float | None = None,
    ) -> None:
        self._flush = flush
        self._idle_flush_s = idle_flush_s
        self._idle_flushed = -1  # the offset the last idle sync reported
        self._idle_failing = False  # the last idle sync raised (logged once)
        self._max_gather_s = max_gather_s
        self._clock = clock
        self._done = done
        self._loop = loop
        self._cond = threading.Condition()
        self._asked = 0  # highest offset asked for
        self._served = 0  # highest offset a finished round covered
        self._count = 0  # requests since the current round was cut
        self._expected = 0  # requests outstanding when the last round ended
        self._last_sync_s = 0.0  # how long the last round's sync took
        self._stopping = False
        self.rounds = 0  # rounds synced so far (figures for benchmarks and tests)
        self.requests = 0  # requests those rounds carried
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
            self._count += 1  # a round gathering requests counts this one too
            self._asked = max(self._asked, offset)
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
                idle = self._wait_for_work()
                if idle is None:  # stopping with nothing left
                    return
                if not idle:
                    self._gather()
                    target, carried, self._count = self._asked, self._count, 0
            if idle:
                if not self._idle_round():
                    return
                continue
            began = self._clock()
            ok, flushed = self._sync(target)
            with self._cond:
                self._last_sync_s = self._clock() - began
                self._served = target
                self._expected = carried + self._count  # answered now + came meanwhile
                self.rounds += 1
                self.requests += carried
            try:
                self._loop.call_soon_threadsafe(self._done, target, flushed, ok)
            except RuntimeError:  # the loop closed under us: nobody waits any more
                return

    def _wait_for_work(self) -> bool | None:
        """(Lock held.) False once a request is waiting; True when ``idle_flush_s`` passed
        without one; None when stopping with nothing left to sync."""
        while self._asked <= self._served and not self._stopping:
            if not self._cond.wait(self._idle_flush_s) and self._asked <= self._served:
                return True  # timed out (only with idle_flush_s) and still nothing asked
        return None if self._asked <= self._served else False

    def _idle_round(self) -> bool:
        """Sync what is dirty although nobody asked; report it when that changed the
        flushed offset (a truncation may have lowered it). False when the loop is gone
        (the thread ends). A failing sync is logged when it starts failing, not every
        round."""
        if self._loop.is_closed():
            return False
        try:
            flushed = self._flush()
        except Exception:
            if not self._idle_failing:
                log.exception("commitlog idle flush failed (logged again once it recovers)")
            self._idle_failing = True
            return True
        if self._idle_failing:
            log.info("commitlog idle flush works again")
            self._idle_failing = False
        if flushed == self._idle_flushed:
            return True
        self._idle_flushed = flushed
        try:
            self._loop.call_soon_threadsafe(self._done, flushed, flushed, True)
        except RuntimeError:  # the loop closed under us: nobody waits any more
            return False
        return True

    def _gather(self) -> None:
        """Before a round is cut (lock held): wait until the requests expected are in, at
        most as long as the last sync took. Returns at once for a lone sender."""
        if self._expected < 2 or self._count >= self._expected:
            return
        deadline = self._clock() + min(self._last_sync_s, self._max_gather_s)
        while self._count < self._expected and not self._stopping:
            left = deadline - self._clock()
            if left <= 0:
                return
            self._cond.wait(left)

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
