"""TaskOwner: the one owner of a service's background tasks (DESIGN house style 10)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from rocketq.common.tasks import TaskOwner

log = logging.getLogger("test.tasks")


async def test_aclose_cancels_at_once_by_default() -> None:
    owner = TaskOwner(log)
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = owner.spawn(forever(), "forever")
    await started.wait()
    await owner.aclose()
    assert task.cancelled()
    assert owner.closed and len(owner) == 0


async def test_grace_lets_running_work_finish() -> None:
    owner = TaskOwner(log)
    release = asyncio.Event()
    finished: list[str] = []

    async def work() -> None:
        await release.wait()
        finished.append("done")

    owner.spawn(work(), "work")
    closing = asyncio.create_task(owner.aclose(grace=None))
    await asyncio.sleep(0)
    assert owner.closed and not closing.done()  # waiting for the work, not cancelling it
    release.set()
    await closing
    assert finished == ["done"]


async def test_grace_ends_in_cancellation_for_what_does_not_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner = TaskOwner(log)
    task = owner.spawn(asyncio.Event().wait(), "stuck")
    await asyncio.sleep(0)
    await owner.aclose(grace=0.01)
    assert task.cancelled()
    assert "stuck did not end" in caplog.text


async def test_sleep_returns_false_as_soon_as_close_begins() -> None:
    owner = TaskOwner(log)
    rounds: list[int] = []

    async def loop() -> None:
        while await owner.sleep(3600):
            rounds.append(1)

    task = owner.spawn(loop(), "loop")
    await asyncio.sleep(0)
    await owner.aclose(grace=None)  # would hang for an hour if sleep were not woken
    assert task.done() and not task.cancelled() and rounds == []
    assert await owner.sleep(0) is False


async def test_every_runs_on_wake_and_survives_a_failed_round(
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner = TaskOwner(log)
    wake = asyncio.Event()
    calls: list[int] = []
    ran = asyncio.Event()

    async def round_() -> None:
        calls.append(len(calls))
        ran.set()
        if len(calls) == 1:
            raise ValueError("first round fails")

    owner.every(3600, round_, "hourly", wake=wake)
    for _ in range(2):
        ran.clear()
        wake.set()
        await ran.wait()
    await owner.aclose(grace=None)  # the sleeping loop ends by itself
    assert calls == [0, 1]
    assert "hourly failed" in caplog.text


async def test_spawn_after_close_is_refused() -> None:
    owner = TaskOwner(log)
    await owner.aclose()
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="closed"):
        owner.spawn(coro, "late")


async def test_a_task_may_close_its_own_owner() -> None:
    owner = TaskOwner(log)
    other = owner.spawn(asyncio.Event().wait(), "other")

    async def closer() -> None:
        await owner.aclose(grace=0.5)

    me = owner.spawn(closer(), "closer")
    await me
    assert other.cancelled()


async def test_a_dying_task_is_logged_with_its_name(caplog: pytest.LogCaptureFixture) -> None:
    owner = TaskOwner(log)

    async def boom() -> None:
        raise RuntimeError("kaput")

    task = owner.spawn(boom(), "boomer")
    with pytest.raises(RuntimeError):
        await task
    await asyncio.sleep(0)
    assert "task boomer died" in caplog.text
    await owner.aclose()


async def test_close_refuses_new_work_before_aclose_waits() -> None:
    owner = TaskOwner(log)
    release = asyncio.Event()
    task = owner.spawn(release.wait(), "running")
    owner.close()
    assert owner.closed and not task.done()  # close() does not wait or cancel
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        owner.spawn(coro, "late")
    release.set()
    await owner.aclose(grace=None)
    assert task.done() and not task.cancelled()
