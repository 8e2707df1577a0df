"""SYNC_MASTER waits: released in one pass by acks, expired at their deadline, closed on
shutdown (an event loop, no sockets)."""

from __future__ import annotations

import asyncio

from rocketq.store.ha.group_transfer import GroupTransferService


async def test_acks_release_every_covered_waiter_in_offset_order() -> None:
    service = GroupTransferService()
    waits = [service.wait(end, 600) for end in (100, 200, 300)]
    service.notify_ack(50)
    assert not any(w.done() for w in waits)
    service.notify_ack(250)
    assert [w.done() for w in waits] == [True, True, False]
    assert waits[0].result() and waits[1].result()
    service.notify_ack(200)  # an older ack lowers nothing
    assert service.push2slave_max_offset == 250
    service.notify_ack(300)
    assert waits[2].result() is True
    assert service.waiting == 0


async def test_already_acked_offsets_need_no_wait() -> None:
    service = GroupTransferService()
    service.notify_ack(1000)
    future = service.wait(900, 600)
    assert future.done() and future.result() is True


async def test_deadline_expires_with_false_and_later_waiters_keep_waiting() -> None:
    service = GroupTransferService()
    short = service.wait(100, 0.01)
    long = service.wait(200, 600)
    assert await short is False
    assert not long.done()
    service.notify_ack(200)
    assert await long is True


async def test_a_lowered_timeout_still_expires_in_deadline_order() -> None:
    service = GroupTransferService()
    long = service.wait(100, 600)
    short = service.wait(200, 0.01)  # slaveTimeout lowered at run time
    assert await short is False
    assert not long.done()
    service.close()
    assert long.result() is False


async def test_close_releases_everyone_as_timed_out() -> None:
    service = GroupTransferService()
    waits = [service.wait(end, 600) for end in range(1, 50)]
    service.close()
    assert all(w.done() and w.result() is False for w in waits)
    await asyncio.sleep(0)


async def test_a_cancelled_put_is_skipped() -> None:
    service = GroupTransferService()
    first = service.wait(10, 600)
    second = service.wait(20, 600)
    first.cancel()
    service.notify_ack(20)
    assert first.cancelled() and second.result() is True
