"""Running the user's listener (RocketMQ ``ConsumeMessageConcurrentlyService`` and
``ConsumeMessageOrderlyService``).

Listeners may be ``async def`` (run on the loop) or plain functions (run on a bounded
thread pool of ``consume_thread_max`` threads, so a slow listener never blocks pulls).
Concurrent: batches run in parallel; a failed batch goes back to the broker
(CONSUMER_SEND_MSG_BACK) and comes again from the retry topic. Orderly: one batch at a
time per queue, in queue order; a failed batch is retried locally after a pause.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from rocketq.client.message import MessageExt, MessageQueue
from rocketq.client.process_queue import ProcessQueue
from rocketq.common.message import MessageConst

if TYPE_CHECKING:
    from rocketq.client.push_consumer import AsyncPushConsumer

__all__ = [
    "ConsumeConcurrentlyContext",
    "ConsumeConcurrentlyStatus",
    "ConsumeOrderlyContext",
    "ConsumeOrderlyStatus",
    "ConsumeService",
]

log = logging.getLogger("rocketq.client")

# ConsumeMessageOrderlyService: a queue's turn lasts at most 60 s before others get theirs.
MAX_TIME_CONSUME_CONTINUOUSLY_MS = 60_000


class ConsumeConcurrentlyStatus(Enum):
    """What a concurrent listener returns."""

    CONSUME_SUCCESS = "CONSUME_SUCCESS"
    RECONSUME_LATER = "RECONSUME_LATER"


class ConsumeOrderlyStatus(Enum):
    """What an orderly listener returns."""

    SUCCESS = "SUCCESS"
    SUSPEND_CURRENT_QUEUE_A_MOMENT = "SUSPEND_CURRENT_QUEUE_A_MOMENT"


@dataclass(slots=True)
class ConsumeConcurrentlyContext:
    """Passed to concurrent listeners; set ``delay_level_when_next_consume`` to choose the
    retry delay level (0 = the broker's 3 + reconsume times; -1 = straight to DLQ)."""

    message_queue: MessageQueue
    delay_level_when_next_consume: int = 0
    ack_index: int = 2**31 - 1


@dataclass(slots=True)
class ConsumeOrderlyContext:
    """Passed to orderly listeners."""

    message_queue: MessageQueue
    auto_commit: bool = True
    suspend_current_queue_time_millis: int = -1


Listener = Callable[[list[MessageExt], Any], Any]


class ConsumeService:
    """Hands pulled messages to the listener and acknowledges them."""

    def __init__(self, consumer: AsyncPushConsumer, listener: Listener, orderly: bool) -> None:
        self.consumer = consumer
        self.listener = listener
        self.orderly = orderly
        self.is_async = inspect.iscoroutinefunction(listener)
        threads = max(consumer.config.consume_thread_max, 1)
        self._pool = None if self.is_async else ThreadPoolExecutor(threads, "rocketq-consume")
        self._slots = asyncio.Semaphore(threads)
        self._tasks: set[asyncio.Task[None]] = set()
        self._orderly_running: set[MessageQueue] = set()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, msgs: list[MessageExt], context: object) -> object:
        if self.is_async:
            result: object = await self.listener(msgs, context)
            return result
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.listener, msgs, context)

    # -- dispatch ---------------------------------------------------------------------------

    def submit(
        self, msgs: list[MessageExt], pq: ProcessQueue, mq: MessageQueue, dispatch: bool
    ) -> None:
        """New messages are in ``pq``: start consuming them."""
        if self.orderly:
            if dispatch and mq not in self._orderly_running:
                self._orderly_running.add(mq)
                self._spawn(self._consume_orderly(pq, mq))
            return
        size = max(self.consumer.config.consume_message_batch_max_size, 1)
        for i in range(0, len(msgs), size):
            self._spawn(self._consume_concurrently(msgs[i : i + size], pq, mq))

    # -- concurrently -----------------------------------------------------------------------

    async def _consume_concurrently(
        self, msgs: list[MessageExt], pq: ProcessQueue, mq: MessageQueue
    ) -> None:
        async with self._slots:
            if pq.dropped:
                return
            context = ConsumeConcurrentlyContext(mq)
            self.consumer.reset_retry_topic(msgs)
            now = int(time.time() * 1000)
            for m in msgs:
                m.properties[MessageConst.CONSUME_START_TIMESTAMP] = str(now)
            try:
                status = await self._call(msgs, context)
            except Exception:
                log.exception("listener failed on %d messages of %s", len(msgs), mq)
                status = ConsumeConcurrentlyStatus.RECONSUME_LATER
        if status is None:
            status = ConsumeConcurrentlyStatus.RECONSUME_LATER
        await self._ack_concurrently(msgs, pq, mq, status, context)

    async def _ack_concurrently(
        self,
        msgs: list[MessageExt],
        pq: ProcessQueue,
        mq: MessageQueue,
        status: object,
        context: ConsumeConcurrentlyContext,
    ) -> None:
        ok = status == ConsumeConcurrentlyStatus.CONSUME_SUCCESS
        ack = min(context.ack_index, len(msgs) - 1) if ok else -1
        failed = msgs[ack + 1 :]
        retry_locally: list[MessageExt] = []
        if failed and self.consumer.config.message_model == "CLUSTERING":
            for msg in failed:
                if not await self.consumer.send_message_back(
                    msg, context.delay_level_when_next_consume, mq
                ):
                    msg.reconsume_times += 1
                    retry_locally.append(msg)
        elif failed:
            log.warning("broadcasting: dropping %d messages the listener failed", len(failed))
        done = [m for m in msgs if m not in retry_locally]
        offset = pq.remove_messages(done)
        if offset >= 0 and not pq.dropped:
            self.consumer.offset_store.update_offset(mq, offset, True)
        if retry_locally:
            self._spawn(self._later(retry_locally, pq, mq))

    async def _later(self, msgs: list[MessageExt], pq: ProcessQueue, mq: MessageQueue) -> None:
        await asyncio.sleep(5)  # submitConsumeRequestLater: 5 s
        if not pq.dropped:
            await self._consume_concurrently(msgs, pq, mq)

    # -- orderly ----------------------------------------------------------------------------

    async def _consume_orderly(self, pq: ProcessQueue, mq: MessageQueue) -> None:
        try:
            await self._orderly_loop(pq, mq)
        finally:
            self._orderly_running.discard(mq)

    async def _orderly_loop(self, pq: ProcessQueue, mq: MessageQueue) -> None:
        clustering = self.consumer.config.message_model == "CLUSTERING"
        started = time.monotonic()
        while not pq.dropped:
            if clustering and (not pq.locked or pq.is_lock_expired()):
                await self.consumer.try_lock_later(mq)
                return
            if (time.monotonic() - started) * 1000 > MAX_TIME_CONSUME_CONTINUOUSLY_MS:
                self._spawn(self._resume_orderly_soon(pq, mq, 10))
                return
            msgs = pq.take_messages(max(self.consumer.config.consume_message_batch_max_size, 1))
            if not msgs:
                return
            if not await self._consume_one_orderly(msgs, pq, mq):
                return

    async def _consume_one_orderly(
        self, msgs: list[MessageExt], pq: ProcessQueue, mq: MessageQueue
    ) -> bool:
        context = ConsumeOrderlyContext(mq)
        self.consumer.reset_retry_topic(msgs)
        async with self._slots:
            try:
                status = await self._call(msgs, context)
            except Exception:
                log.exception("orderly listener failed on %s", mq)
                status = ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT
        if status == ConsumeOrderlyStatus.SUCCESS:
            offset = pq.commit()
            if offset >= 0 and not pq.dropped:
                self.consumer.offset_store.update_offset(mq, offset, False)
            return True
        return await self._orderly_failed(msgs, pq, mq, context)

    async def _orderly_failed(
        self,
        msgs: list[MessageExt],
        pq: ProcessQueue,
        mq: MessageQueue,
        context: ConsumeOrderlyContext,
    ) -> bool:
        max_times = self.consumer.max_reconsume_times()
        over = [m for m in msgs if m.reconsume_times >= max_times]
        if over and len(over) == len(msgs):
            for msg in msgs:  # give up on them: to the DLQ through the broker
                await self.consumer.send_message_back(msg, -1, mq)
            offset = pq.commit()
            if offset >= 0:
                self.consumer.offset_store.update_offset(mq, offset, False)
            return True
        for msg in msgs:
            msg.reconsume_times += 1
        pq.make_messages_to_consume_again(msgs)
        pause = context.suspend_current_queue_time_millis
        if pause < 0:
            pause = self.consumer.config.suspend_current_queue_time_millis
        self._spawn(self._resume_orderly_soon(pq, mq, pause / 1000))
        return False

    async def _resume_orderly_soon(self, pq: ProcessQueue, mq: MessageQueue, delay: float) -> None:
        await asyncio.sleep(delay)
        if not pq.dropped and mq not in self._orderly_running:
            self._orderly_running.add(mq)
            await self._consume_orderly(pq, mq)

    # -- lifecycle --------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Let running listeners finish (bounded), then stop the thread pool."""
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=10)
            for task in pending:
                task.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
