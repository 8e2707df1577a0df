"""ConsumeService built alone: its push consumer is a small fake of the ConsumerSide seam."""

from __future__ import annotations

import asyncio
import threading

from rocketq.client.config import ConsumerConfig
from rocketq.client.consume_service import (
    ConsumeConcurrentlyStatus,
    ConsumeOrderlyStatus,
    ConsumerSide,
    ConsumeService,
)
from rocketq.client.message import MessageExt, MessageQueue
from rocketq.client.offset_store import OffsetStore, ReadOffsetType, RemoteBrokerOffsetStore
from rocketq.client.process_queue import ProcessQueue

MQ = MessageQueue("T", "broker-a", 0)


class FakeConsumer:
    """The few things ConsumeService uses of a push consumer, recorded."""

    def __init__(self, *, model: str = "CLUSTERING", send_back_ok: bool = True) -> None:
        self.config = ConsumerConfig(message_model=model, consume_thread_max=2)
        self.offset_store: OffsetStore = RemoteBrokerOffsetStore(self._fetch, self._commit)
        self.sent_back: list[tuple[int, int]] = []  # (queue offset, delay level)
        self.send_back_ok = send_back_ok

    async def _fetch(self, mq: MessageQueue) -> int:
        return -1

    async def _commit(self, mq: MessageQueue, offset: int) -> None:
        return None

    def reset_retry_topic(self, msgs: list[MessageExt]) -> None:
        return None

    async def send_message_back(self, msg: MessageExt, delay_level: int, mq: MessageQueue) -> bool:
        self.sent_back.append((msg.queue_offset, delay_level))
        return self.send_back_ok

    async def try_lock_later(self, mq: MessageQueue) -> None:
        return None

    def max_reconsume_times(self) -> int:
        return 16


def msg(offset: int) -> MessageExt:
    return MessageExt(
        topic="T", body=b"x", properties={}, msg_id=f"id{offset}", offset_msg_id="",
        queue_id=0, queue_offset=offset, commit_log_offset=0, born_timestamp=0,
        born_host=("127.0.0.1", 1), store_timestamp=0, store_host=("127.0.0.1", 2),
        reconsume_times=0, sys_flag=0, flag=0, body_crc=0,
    )  # fmt: skip


def deliver(service: ConsumeService, offsets: list[int]) -> ProcessQueue:
    pq = ProcessQueue()
    batch = [msg(o) for o in offsets]
    service.submit(batch, pq, MQ, pq.put_messages(batch))
    return pq


async def committed(consumer: FakeConsumer) -> int:
    return await consumer.offset_store.read_offset(MQ, ReadOffsetType.READ_FROM_MEMORY)


class GatedListener:
    """A concurrent listener that waits on ``gate`` before it succeeds, counting how many
    wait at once (``running``, the peak in ``most``) and recording the offsets it consumed."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.running = 0
        self.most = 0
        self.seen: list[int] = []

    async def listen(self, msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        """The listener itself (a bound coroutine method, so ConsumeService awaits it)."""
        self.running += 1
        self.most = max(self.most, self.running)
        await self.gate.wait()
        self.running -= 1
        self.seen.extend(m.queue_offset for m in msgs)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS


def test_fake_consumer_fits_the_seam() -> None:
    side: ConsumerSide = FakeConsumer()
    assert side.max_reconsume_times() == 16


async def test_concurrent_success_moves_the_offset_past_the_batch() -> None:
    consumer = FakeConsumer()
    seen: list[int] = []

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        seen.extend(m.queue_offset for m in msgs)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    service = ConsumeService(consumer, listener, orderly=False)
    deliver(service, [5, 6, 7])
    await service.aclose()  # lets the running listeners finish
    assert sorted(seen) == [5, 6, 7]
    assert await committed(consumer) == 8
    assert consumer.sent_back == []


async def test_concurrent_failure_sends_back_and_moves_on() -> None:
    consumer = FakeConsumer()

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        raise RuntimeError("listener bug")

    service = ConsumeService(consumer, listener, orderly=False)
    deliver(service, [0, 1])
    await service.aclose()
    assert sorted(consumer.sent_back) == [(0, 0), (1, 0)]
    assert await committed(consumer) == 2


async def test_broadcasting_failure_is_dropped_not_sent_back() -> None:
    consumer = FakeConsumer(model="BROADCASTING")

    def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        return ConsumeConcurrentlyStatus.RECONSUME_LATER

    service = ConsumeService(consumer, listener, orderly=False)
    deliver(service, [3])
    await service.aclose()
    assert consumer.sent_back == []
    assert await committed(consumer) == 4


async def test_orderly_consumes_in_queue_order_on_one_task() -> None:
    consumer = FakeConsumer(model="BROADCASTING")  # no broker lock to hold
    consumer.config.consume_message_batch_max_size = 2
    batches: list[list[int]] = []

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeOrderlyStatus:
        batches.append([m.queue_offset for m in msgs])
        return ConsumeOrderlyStatus.SUCCESS

    service = ConsumeService(consumer, listener, orderly=True)
    deliver(service, [10, 11, 12, 13, 14])
    await service.aclose()
    assert batches == [[10, 11], [12, 13], [14]]
    assert await committed(consumer) == 15


async def test_sync_listener_runs_on_the_pool_and_restarts_after_close() -> None:
    consumer = FakeConsumer()
    threads: set[str] = set()

    def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        threads.add(threading.current_thread().name)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    service = ConsumeService(consumer, listener, orderly=False)
    deliver(service, [0])
    await service.aclose()
    service.start()
    deliver(service, [1])
    await service.aclose()
    assert await committed(consumer) == 2
    assert threads and all(name.startswith("rocketq-consume") for name in threads)


async def test_nothing_is_consumed_after_close() -> None:
    consumer = FakeConsumer()
    calls = 0

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        nonlocal calls
        calls += 1
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    service = ConsumeService(consumer, listener, orderly=False)
    await service.aclose()
    deliver(service, [0])
    await asyncio.sleep(0)
    assert calls == 0
    assert await committed(consumer) == -1


async def test_concurrent_batches_run_on_at_most_thread_max_workers() -> None:
    """Batches queue for consume_thread_max (2 here) workers: two listeners wait at once,
    the rest start as they finish, and every batch is acknowledged."""
    consumer = FakeConsumer()
    listener = GatedListener()
    service = ConsumeService(consumer, listener.listen, orderly=False)
    deliver(service, [0, 1, 2, 3, 4])
    for _ in range(5):
        await asyncio.sleep(0)
    assert listener.running == 2
    listener.gate.set()
    await service.aclose()
    assert listener.most == 2
    assert sorted(listener.seen) == [0, 1, 2, 3, 4]
    assert await committed(consumer) == 5


async def test_a_listener_error_does_not_stop_the_batches_behind_it() -> None:
    consumer = FakeConsumer()
    consumer.config.consume_thread_max = 1
    service = ConsumeService(consumer, _fail_on_offset_one, orderly=False)
    deliver(service, [0, 1, 2])
    await service.aclose()
    assert consumer.sent_back == [(1, 0)]
    assert await committed(consumer) == 3


async def _fail_on_offset_one(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
    if msgs[0].queue_offset == 1:
        raise RuntimeError("listener bug")
    return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
