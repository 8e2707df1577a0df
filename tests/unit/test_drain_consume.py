"""How the concurrent ConsumeService spreads a backlog over its workers: listeners that
return without waiting leave it all to one worker (no Task per batch); listeners that wait
get more workers, up to consume_thread_max."""

from __future__ import annotations

import asyncio

from rocketq.client.consume_service import ConsumeConcurrentlyStatus, ConsumeService
from rocketq.client.message import MessageExt
from tests.unit.test_client_consume_service import (
    FakeConsumer,
    GatedListener,
    committed,
    deliver,
)


async def _turns(count: int) -> None:
    """Let the event loop run ``count`` times round (no wall-clock wait)."""
    for _ in range(count):
        await asyncio.sleep(0)


def _gated_service() -> tuple[FakeConsumer, GatedListener, ConsumeService]:
    """A concurrent ConsumeService of up to four workers whose listener waits on a gate."""
    consumer = FakeConsumer()
    consumer.config.consume_thread_max = 4
    listener = GatedListener()
    return consumer, listener, ConsumeService(consumer, listener.listen, orderly=False)


async def _four_wait_then_all_commit(
    consumer: FakeConsumer, listener: GatedListener, service: ConsumeService, offsets: list[int]
) -> None:
    """Deliver ``offsets`` (one batch each): four listeners wait at once, never more, and
    once the gate opens and the service closes the offset after the last is committed."""
    deliver(service, offsets)
    await _turns(20)
    assert listener.running == 4
    listener.gate.set()
    await service.aclose()
    assert listener.most == 4
    assert await committed(consumer) == offsets[-1] + 1


async def test_a_listener_that_never_waits_runs_the_backlog_on_one_worker() -> None:
    consumer = FakeConsumer()
    consumer.config.consume_thread_max = 8
    tasks: set[asyncio.Task[object] | None] = set()

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        tasks.add(asyncio.current_task())
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    service = ConsumeService(consumer, listener, orderly=False)
    deliver(service, list(range(100)))  # 100 batches of one
    await _turns(10)
    assert len(tasks) == 1
    assert await committed(consumer) == 100
    await service.aclose()


async def test_listeners_that_wait_get_up_to_thread_max_workers() -> None:
    consumer, listener, service = _gated_service()
    await _four_wait_then_all_commit(consumer, listener, service, list(range(20)))


async def test_a_worker_left_without_batches_waits_and_takes_the_next_pull() -> None:
    consumer = FakeConsumer()
    consumer.config.consume_thread_max = 4
    tasks: list[asyncio.Task[object] | None] = []

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        tasks.append(asyncio.current_task())
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    service = ConsumeService(consumer, listener, orderly=False)
    for first in (0, 10, 20):  # three pulls, each consumed before the next arrives
        deliver(service, list(range(first, first + 10)))
        await _turns(5)
    assert len(tasks) == 30
    assert len(set(tasks)) == 1  # one worker, parked between pulls, no Task per pull
    await service.aclose()
    assert len(service._tasks) == 0
    assert not service._idle


async def test_close_ends_parked_workers_at_once_and_a_restart_consumes_again() -> None:
    _consumer, listener, service = _gated_service()
    deliver(service, list(range(8)))
    await _turns(10)
    listener.gate.set()  # four workers finish and park
    await _turns(10)
    assert len(service._idle) == 4
    await service.aclose()  # wakes them: nothing is left for the grace period to wait on
    assert len(service._tasks) == 0 and service._workers == 0
    service.start()
    deliver(service, [8, 9])
    await _turns(10)
    assert sorted(listener.seen) == list(range(10))
    await service.aclose()


async def test_parked_workers_are_woken_when_listeners_wait() -> None:
    consumer, listener, service = _gated_service()
    deliver(service, list(range(8)))  # the listeners wait: four workers start
    await _turns(20)
    listener.gate.set()
    await _turns(20)
    assert len(service._idle) == 4  # done: all four parked
    listener.gate.clear()
    listener.most = 0
    # they wait again: every parked worker takes one
    await _four_wait_then_all_commit(consumer, listener, service, list(range(8, 16)))
