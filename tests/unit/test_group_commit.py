"""GroupCommitThread: syncs back to back on its own thread, one round for everything asked
before it began, reports each round on the event loop."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from rocketq.store.group_commit import GroupCommitThread

WAIT_S = 10.0


async def test_requests_during_a_sync_share_the_next_round() -> None:
    loop = asyncio.get_running_loop()
    gate = threading.Event()  # holds the first sync until the test has asked more
    in_sync = threading.Event()
    synced_to: list[int] = []
    asked = {"high": 0}
    rounds: list[tuple[int, int, bool, bool]] = []
    finished = asyncio.Event()

    def flush() -> int:
        in_sync.set()
        if not synced_to:
            gate.wait(WAIT_S)
        synced_to.append(asked["high"])
        return asked["high"]

    def done(target: int, flushed: int, ok: bool) -> None:
        on_loop = threading.current_thread() is threading.main_thread()
        rounds.append((target, flushed, ok, on_loop))
        if target >= 300:
            finished.set()

    committer = GroupCommitThread(flush, done, loop)
    committer.start()
    try:
        asked["high"] = 100
        committer.request(100)
        assert await asyncio.to_thread(in_sync.wait, WAIT_S)
        for offset in (200, 250, 300):  # all during the first sync
            asked["high"] = offset
            committer.request(offset)
        committer.request(50)  # below what was asked: no round of its own
        gate.set()
        await asyncio.wait_for(finished.wait(), WAIT_S)
    finally:
        await asyncio.to_thread(committer.stop)
    assert rounds == [(100, 300, True, True), (300, 300, True, True)]


async def test_a_failed_sync_is_reported_and_the_thread_goes_on() -> None:
    loop = asyncio.get_running_loop()
    rounds: list[tuple[int, bool]] = []
    two = asyncio.Event()
    calls = {"n": 0}

    def flush() -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk gone")
        return 10_000

    def done(target: int, flushed: int, ok: bool) -> None:
        rounds.append((target, ok))
        if len(rounds) == 2:
            two.set()

    committer = GroupCommitThread(flush, done, loop)
    committer.start()
    try:
        committer.request(10)
        while not rounds:
            await asyncio.sleep(0.01)
        committer.request(20)
        await asyncio.wait_for(two.wait(), WAIT_S)
    finally:
        await asyncio.to_thread(committer.stop)
    assert rounds == [(10, False), (20, True)]


async def test_stop_finishes_what_was_asked() -> None:
    loop = asyncio.get_running_loop()
    synced: list[int] = []
    committer = GroupCommitThread(lambda: synced.append(1) or 5, lambda *_: None, loop)
    committer.request(5)  # before start: served once it runs
    committer.start()
    await asyncio.to_thread(committer.stop)
    assert synced == [1]


async def test_a_round_spanning_several_files_syncs_each() -> None:
    # one flush() call syncs one file: a target three files on takes three calls
    loop = asyncio.get_running_loop()
    files = iter([100, 200, 300, 300])
    calls: list[int] = []
    rounds: list[tuple[int, int, bool]] = []
    ended = asyncio.Event()

    def flush() -> int:
        calls.append(1)
        return next(files)

    def done(target: int, flushed: int, ok: bool) -> None:
        rounds.append((target, flushed, ok))
        ended.set()

    committer = GroupCommitThread(flush, done, loop)
    committer.start()
    try:
        committer.request(300)
        await asyncio.wait_for(ended.wait(), WAIT_S)
    finally:
        await asyncio.to_thread(committer.stop)
    assert rounds == [(300, 300, True)] and len(calls) == 3


class FirstSyncHeld:
    """A GroupCommitThread whose first sync lasts until ``release()``, on a clock the test
    sets (``now``): its rounds' waits end by requests or by the test, never by real time."""

    def __init__(self, max_gather_s: float) -> None:
        self.gate = threading.Event()
        self.in_sync = threading.Event()
        self.rounds: list[int] = []
        self.high = 0
        self.now = 0.0
        self.changed = asyncio.Event()
        loop = asyncio.get_running_loop()
        self.committer = GroupCommitThread(
            self._flush, self._done, loop, max_gather_s, clock=lambda: self.now
        )

    def _flush(self) -> int:
        self.in_sync.set()
        if not self.rounds:
            self.gate.wait(WAIT_S)
        return self.high

    def _done(self, target: int, flushed: int, ok: bool) -> None:
        self.rounds.append(target)
        self.changed.set()

    async def ask(self, *offsets: int) -> None:
        """Request each offset; the first one's sync is under way before the next."""
        for offset in offsets:
            self.high = offset
            self.committer.request(offset)
            if not self.in_sync.is_set():
                assert await asyncio.to_thread(self.in_sync.wait, WAIT_S)

    async def release(self, sync_s: float) -> None:
        """End the first sync as if it had taken ``sync_s``; wait for its round."""
        self.now += sync_s
        self.gate.set()
        await self.rounds_done(1)

    async def rounds_done(self, count: int) -> None:
        while len(self.rounds) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), WAIT_S)


async def test_a_round_waits_for_the_senders_it_expects() -> None:
    # Round 1 carries one request; two more come during its sync: three senders are
    # outstanding. Round 2 then waits for a third request before it syncs, instead of
    # syncing the two at once and leaving the third for a round of its own.
    held = FirstSyncHeld(max_gather_s=WAIT_S)
    held.committer.start()
    try:
        await held.ask(100, 200, 250)
        await held.release(sync_s=100.0)  # round 2 may wait as long as the cap (WAIT_S)
        await asyncio.sleep(0.05)
        assert held.rounds == [100]  # gathering (without it, 250 would be synced by now)
        await held.ask(300)  # the sender round 1 answered comes back
        await held.rounds_done(2)
    finally:
        await asyncio.to_thread(held.committer.stop)
    assert held.rounds == [100, 300]
    assert (held.committer.rounds, held.committer.requests) == (2, 4)


async def test_a_sender_that_stopped_costs_one_capped_wait() -> None:
    # Three outstanding, but only two come back: the round is cut once the cap passed.
    held = FirstSyncHeld(max_gather_s=0.05)
    held.committer.start()
    try:
        await held.ask(100, 200, 250)
        await held.release(sync_s=100.0)
        await asyncio.sleep(0.05)
        assert held.rounds == [100]  # still within the cap: the clock has not moved
        held.now += 1.0  # past the cap
        await held.rounds_done(2)
    finally:
        await asyncio.to_thread(held.committer.stop)
    assert held.rounds == [100, 250]


async def test_with_idle_flush_it_syncs_what_nobody_asked_for() -> None:
    loop = asyncio.get_running_loop()
    dirty = {"end": 0}
    reported: list[tuple[int, int, bool]] = []
    synced = asyncio.Event()

    def flush() -> int:
        return dirty["end"]  # everything written so far is on disk after this

    def done(target: int, flushed: int, ok: bool) -> None:
        reported.append((target, flushed, ok))
        if flushed >= 700:
            synced.set()

    quiet = GroupCommitThread(flush, done, loop)  # without idle_flush_s: only when asked
    idle = GroupCommitThread(flush, done, loop, idle_flush_s=0.001)
    quiet.start()
    idle.start()
    try:
        dirty["end"] = 700  # appended, nobody asks (a slave's copy of its master's log)
        await asyncio.wait_for(synced.wait(), WAIT_S)
    finally:
        await asyncio.to_thread(quiet.stop)
        await asyncio.to_thread(idle.stop)
    assert (700, 700, True) in reported
    assert quiet.rounds == 0 and idle.rounds == 0  # idle syncs are not request rounds
    assert len([r for r in reported if r[1] == 700]) == 1  # reported once, not every 1 ms


async def test_an_idle_flush_that_keeps_failing_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    calls = {"n": 0}
    failed_enough = threading.Event()

    def flush() -> int:
        calls["n"] += 1
        if calls["n"] >= 20:
            failed_enough.set()
        raise OSError(5, "Input/output error")

    committer = GroupCommitThread(flush, lambda *_: None, loop, idle_flush_s=0.001)
    with caplog.at_level(logging.ERROR, logger="rocketq.store"):
        committer.start()
        try:
            assert await asyncio.to_thread(failed_enough.wait, WAIT_S)
        finally:
            await asyncio.to_thread(committer.stop)
    assert len([r for r in caplog.records if "idle flush failed" in r.getMessage()]) == 1


def test_the_thread_ends_once_its_loop_is_closed() -> None:
    loop = asyncio.new_event_loop()
    flushes = threading.Event()

    def flush() -> int:
        flushes.set()
        return 0  # nothing new: no report that could notice the closed loop

    committer = GroupCommitThread(flush, lambda *_: None, loop, idle_flush_s=0.001)
    committer.start()
    assert flushes.wait(WAIT_S)
    loop.close()
    thread = committer._thread
    assert thread is not None
    thread.join(WAIT_S)
    assert not thread.is_alive()
