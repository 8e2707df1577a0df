"""Running the user's listener (RocketMQ ``ConsumeMessageConcurrentlyService`` and
``ConsumeMessageOrderlyService``).

Listeners may be ``async def`` (run on the loop) or plain functions (run on a bounded
thread pool of ``consume_thread_max`` threads, so a slow listener never blocks pulls).
Concurrent: batches run in parallel; a failed batch goes back to the broker
(CONSUMER_SEND_MSG_BACK) and comes again from the retry topic. Orderly: one batch at a
time per queue, in queue order; a failed batch is retried locally after a pause.

The service sees its push consumer only through :class:`ConsumerSide`, the few things it
uses, so it can be built and tested alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from rocketq.client.config import ConsumerConfig
from rocketq.client.message import MessageExt, MessageQueue
from rocketq.client.offset_store import OffsetStore
from rocketq.client.process_queue import ProcessQueue
from rocketq.client.running_info import CMResult, ConsumeMessageDirectlyResult
from rocketq.common.message import MessageConst
from rocketq.common.tasks import TaskOwner

if TYPE_CHECKING:
    from rocketq.client.stats import ConsumeCounters, ConsumerStatsManager
    from rocketq.client.trace import TraceContext
    from rocketq.client.trace_dispatcher import TraceDispatcher

__all__ = [
    "ConsumeConcurrentlyContext",
    "ConsumeConcurrentlyStatus",
    "ConsumeOrderlyContext",
    "ConsumeOrderlyStatus",
    "ConsumeService",
    "ConsumerSide",
]

log = logging.getLogger("rocketq.client")

# ConsumeMessageOrderlyService: a queue's turn lasts at most 60 s before others get theirs.
MAX_TIME_CONSUME_CONTINUOUSLY_MS = 60_000
# At close, running listeners get this long to finish before they are cancelled.
CLOSE_GRACE_S = 10.0
# submitConsumeRequestLater: a batch whose send-back failed is consumed again after 5 s.
CONSUME_LATER_DELAY_S = 5.0
# A worker that has run batches for this long without waiting lets the event loop run
# other work (pull responses, timers); it looks at the clock every _YIELD_CHECK_BATCHES.
# Yielding by count alone (every 32) let a fast listener fall behind the pulls of a few
# queues (4 pulls of 32 can arrive per turn): flow control then paused them 50 ms.
_YIELD_AFTER_S = 0.005
_YIELD_CHECK_BATCHES = 32
_CONSUME_START_TIMESTAMP = MessageConst.CONSUME_START_TIMESTAMP


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


# The listener's status -> CMResult (consumeMessageDirectly of both services).
_DIRECT_RESULTS: dict[object, CMResult] = {
    ConsumeConcurrentlyStatus.CONSUME_SUCCESS: CMResult.CR_SUCCESS,
    ConsumeConcurrentlyStatus.RECONSUME_LATER: CMResult.CR_LATER,
    ConsumeOrderlyStatus.SUCCESS: CMResult.CR_SUCCESS,
    ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT: CMResult.CR_LATER,
}


def _simple_desc(exc: BaseException) -> str:
    """``RemotingHelper.exceptionSimpleDesc``: the exception and where it was raised."""
    text = f"{type(exc).__name__}: {exc}"
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        code = tb.tb_frame.f_code
        text += f", {code.co_name}({code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno})"
    return text


class ConsumerSide(Protocol):
    """What :class:`ConsumeService` uses of its push consumer."""

    @property
    def config(self) -> ConsumerConfig:
        """Batch size, thread count, message model, orderly pause."""
        ...

    @property
    def offset_store(self) -> OffsetStore:
        """Where consumed offsets are kept."""
        ...

    def reset_retry_topic(self, msgs: list[MessageExt]) -> None:
        """Show retried messages under their original topic."""

    async def send_message_back(self, msg: MessageExt, delay_level: int, mq: MessageQueue) -> bool:
        """CONSUMER_SEND_MSG_BACK; False when it failed."""
        ...

    async def try_lock_later(self, mq: MessageQueue) -> None:
        """Orderly: the queue's lock is gone; lock it again, then resume."""

    def max_reconsume_times(self) -> int:
        """Deliveries before a message goes to the DLQ."""
        ...


class ConsumeService:
    """Hands pulled messages to the listener and acknowledges them."""

    def __init__(self, consumer: ConsumerSide, listener: Listener, orderly: bool) -> None:
        self.consumer = consumer
        self.listener = listener
        self.orderly = orderly
        self.is_async = inspect.iscoroutinefunction(listener)
        self._threads = max(consumer.config.consume_thread_max, 1)
        self._pool: ThreadPoolExecutor | None = None
        self._slots = asyncio.Semaphore(self._threads)
        self._tasks = TaskOwner(log)
        self._orderly_running: set[MessageQueue] = set()
        # Concurrent consumption: batches wait here in arrival order for one of at most
        # consume_thread_max worker tasks (ConsumeMessageConcurrentlyService's pool and its
        # queue). A worker runs batches one after another while there are any, so a backlog
        # costs no Task per batch; a new worker starts when batches outnumber free workers.
        self._batches: deque[tuple[list[MessageExt], ProcessQueue, MessageQueue]] = deque()
        self._workers = 0
        self._free_workers = 0
        self._grow_pending = False  # a _grow call is scheduled
        # Workers that found no batch wait here (free, as the pool's idle threads) until a
        # pull brings more: a backlog drained pull by pull then costs a wake-up per pull,
        # not a new Task (~3x dearer). Woken last-in first-out; all of them at close.
        self._idle: list[asyncio.Future[None]] = []
        self._closing = False
        # CONSUME_START_TIMESTAMP of the batches of this millisecond, as text.
        self._start_ms, self._start_text = -1, ""
        # Message trace (SubBefore/SubAfter of each batch): set by a consumer that has it.
        self.trace: TraceDispatcher | None = None
        self.trace_group = ""
        # Pull/consume figures (ConsumerStatsManager) under the consumer's wire group name.
        self.stats: ConsumerStatsManager | None = None
        self.stats_group = ""
        self._stats_items: dict[tuple[str, str], ConsumeCounters] = {}
        self._stats_of_items: ConsumerStatsManager | None = None
        self.start()

    def start(self) -> None:
        """Get ready to consume (again, after :meth:`aclose`): tasks and thread pool."""
        if self._tasks.closed:
            self._tasks = TaskOwner(log)
        self._closing = False
        if not self.is_async and self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, "rocketq-consume")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        if self._tasks.closed:  # closing: the queue is dropped, nothing is left to do
            coro.close()
            log.debug("consume service closed: %s not started", name)
            return
        self._tasks.spawn(coro, name)

    async def _call(self, msgs: list[MessageExt], context: object) -> object:
        if self.is_async:
            result: object = await self.listener(msgs, context)
            return result
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.listener, msgs, context)

    async def _traced_call(self, msgs: list[MessageExt], context: object) -> object:
        """The listener's status (None when it raised or returned nothing), with the
        SubBefore/SubAfter trace records around it when tracing."""
        before = self.trace.consume_before(self.trace_group, msgs) if self.trace else None
        started = time.monotonic()
        try:
            status = await self._call(msgs, context)
        except Exception:
            log.exception("listener failed on %d messages of %s", len(msgs), context)
            self._trace_after(before, msgs, None, started, raised=True)
            return None
        self._trace_after(before, msgs, status, started, raised=False)
        return status

    def _trace_after(
        self,
        before: TraceContext | None,
        msgs: list[MessageExt],
        status: object,
        started: float,
        raised: bool,
    ) -> None:
        """``ConsumeReturnType`` as ConsumeMessageConcurrentlyService works it out."""
        if self.trace is None or before is None:
            return
        from rocketq.client.trace import ConsumeReturnType as R

        ok = status in (ConsumeConcurrentlyStatus.CONSUME_SUCCESS, ConsumeOrderlyStatus.SUCCESS)
        kind = R.SUCCESS if ok else R.FAILED
        if raised:
            kind = R.EXCEPTION
        elif status is None:
            kind = R.RETURNNULL
        elif time.monotonic() - started >= self.consumer.config.consume_timeout * 60:
            kind = R.TIME_OUT
        self.trace.consume_after(before, len(msgs), ok, kind)

    async def _timed_call(
        self, msgs: list[MessageExt], context: object, mq: MessageQueue
    ) -> object:
        """:meth:`_traced_call`, its time counted as consume RT (``incConsumeRT``)."""
        started = time.monotonic()
        status = await self._traced_call(msgs, context)
        if self.stats is not None:
            rt = int((time.monotonic() - started) * 1000)
            self._counters(mq.topic).rt.add(rt)  # incConsumeRT
        return status

    def _count(self, mq: MessageQueue, ok: int, failed: int) -> None:
        """``processConsumeResult``'s counts: consumed and failed messages of a batch."""
        if self.stats is not None:
            counters = self._counters(mq.topic)
            counters.ok_tps.add(ok)
            counters.failed_tps.add(failed)

    def _counters(self, topic: str) -> ConsumeCounters:
        """The consume items of ``topic`` in :attr:`stats` (kept: one lookup per topic)."""
        assert self.stats is not None
        key = (self.stats_group, topic)
        counters = self._stats_items.get(key)
        if counters is None or self._stats_of_items is not self.stats:
            if self._stats_of_items is not self.stats:
                self._stats_items.clear()
                self._stats_of_items = self.stats
            counters = self._stats_items[key] = self.stats.consume_counters(*key)
        return counters

    async def consume_directly(
        self, msg: MessageExt, mq: MessageQueue
    ) -> ConsumeMessageDirectlyResult:
        """``consumeMessageDirectly``: ``msg`` through the listener once, outside any
        queue; nothing is acknowledged or sent back, the outcome is only reported."""
        msgs = [msg]
        self.consumer.reset_retry_topic(msgs)
        context: ConsumeConcurrentlyContext | ConsumeOrderlyContext
        context = ConsumeOrderlyContext(mq) if self.orderly else ConsumeConcurrentlyContext(mq)
        started = time.monotonic()
        remark = None
        try:
            status = await self._call(msgs, context)
        except Exception as exc:
            log.warning("consumeMessageDirectly of %s failed", msg.msg_id, exc_info=True)
            result, remark = CMResult.CR_THROW_EXCEPTION, _simple_desc(exc)
        else:
            result = _DIRECT_RESULTS.get(status, CMResult.CR_RETURN_NULL)
        return ConsumeMessageDirectlyResult(
            order=self.orderly,
            auto_commit=getattr(context, "auto_commit", True),
            consume_result=result,
            remark=remark,
            spent_time_mills=int((time.monotonic() - started) * 1000),
        )

    # -- dispatch ---------------------------------------------------------------------------

    def submit(
        self, msgs: list[MessageExt], pq: ProcessQueue, mq: MessageQueue, dispatch: bool
    ) -> None:
        """New messages are in ``pq``: start consuming them."""
        if self.orderly:
            if dispatch and mq not in self._orderly_running:
                self._orderly_running.add(mq)
                self._spawn(self._consume_orderly(pq, mq), f"consume-orderly-{mq}")
            return
        if self._tasks.closed:  # closing: the queue is dropped, nothing is left to do
            log.debug("consume service closed: %d messages of %s not consumed", len(msgs), mq)
            return
        size = max(self.consumer.config.consume_message_batch_max_size, 1)
        if len(msgs) <= size:
            self._batches.append((msgs, pq, mq))
        elif size == 1:  # RocketMQ's default: a batch per message
            self._batches.extend([([m], pq, mq) for m in msgs])
        else:
            self._batches.extend([(msgs[i : i + size], pq, mq) for i in range(0, len(msgs), size)])
        self._add_workers()

    # -- concurrently -----------------------------------------------------------------------

    def _add_workers(self) -> None:
        """Batches are waiting: unless a free worker is about to take them, wake a parked
        worker, else start one. More run only when the workers' listeners actually wait
        (:meth:`_grow`): a listener that returns without waiting lets one worker run the
        whole queue, with no Task per batch."""
        if (
            not self._batches
            or self._free_workers > len(self._idle)  # a free worker is running: it takes them
            or self._closing
        ):
            return
        if self._idle:
            self._idle.pop().set_result(None)
        elif self._workers < self._threads:
            self._workers += 1
            self._free_workers += 1
            self._tasks.spawn(self._work(), "consume-worker")

    def _grow(self) -> None:
        """A worker took a batch with more waiting (called soon after): if every worker
        is still inside a listener, one more runs (one per loop turn, up to
        ``consume_thread_max``)."""
        self._grow_pending = False
        if not self._tasks.closed:
            self._add_workers()

    async def _work(self) -> None:
        """One worker: consume queued batches while there are any, then wait for more."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._run_batches(loop)
                if self._closing or self._tasks.closed:
                    return
                waiter = loop.create_future()
                self._idle.append(waiter)
                try:
                    await waiter  # woken by a submit, or by aclose (then the check above ends it)
                finally:
                    if not waiter.done() or waiter.cancelled():  # cancelled while parked
                        with contextlib.suppress(ValueError):
                            self._idle.remove(waiter)
        finally:
            self._workers -= 1
            self._free_workers -= 1

    async def _run_batches(self, loop: asyncio.AbstractEventLoop) -> None:
        """Consume queued batches one after another until there are none."""
        done = 0
        batches = self._batches
        call_soon = loop.call_soon
        resumed = time.monotonic()
        while batches:
            msgs, pq, mq = batches.popleft()
            self._free_workers -= 1
            # every free worker is parked: one of them (or a new one) may have to help
            if batches and self._free_workers <= len(self._idle) and not self._grow_pending:
                self._grow_pending = True
                call_soon(self._grow)
            try:
                await self._consume_concurrently(msgs, pq, mq)
            except Exception:
                log.exception("consuming %d messages of %s failed", len(msgs), mq)
            finally:
                self._free_workers += 1
            done += 1
            if done % _YIELD_CHECK_BATCHES == 0 and time.monotonic() - resumed > _YIELD_AFTER_S:
                # Listeners that never wait would keep the loop to this worker for the
                # whole backlog: let pull responses and timers in now and then.
                await asyncio.sleep(0)
                resumed = time.monotonic()

    async def _consume_concurrently(
        self, msgs: list[MessageExt], pq: ProcessQueue, mq: MessageQueue
    ) -> None:
        if pq.dropped:
            return
        context = ConsumeConcurrentlyContext(mq)
        self.consumer.reset_retry_topic(msgs)
        now_ms = time.time_ns() // 1_000_000
        if now_ms != self._start_ms:  # the text changes once a millisecond, not per batch
            self._start_ms, self._start_text = now_ms, str(now_ms)
        now = self._start_text
        for m in msgs:
            m.properties[_CONSUME_START_TIMESTAMP] = now
        counters = self._counters(mq.topic) if self.stats is not None else None
        if self.trace is not None or not self.is_async:
            status = await self._timed_call(msgs, context, mq)
        else:  # the usual case, _timed_call written out: this runs once per batch
            started = time.monotonic()
            try:
                status = await self.listener(msgs, context)
            except Exception:
                log.exception("listener failed on %d messages of %s", len(msgs), context)
                status = None
            if counters is not None:
                counters.rt.add(int((time.monotonic() - started) * 1000))  # incConsumeRT
        if (
            status is not ConsumeConcurrentlyStatus.CONSUME_SUCCESS
            or context.ack_index < len(msgs) - 1
        ):
            if status is None:
                status = ConsumeConcurrentlyStatus.RECONSUME_LATER
            await self._ack_concurrently(msgs, pq, mq, status, context)
            return
        # The usual case, _ack_concurrently without a coroutine or anything to send back.
        if counters is not None:
            counters.ok_tps.add(len(msgs))
            counters.failed_tps.add(0)
        offset = pq.remove_messages(msgs)
        if offset >= 0 and not pq.dropped:
            self.consumer.offset_store.update_offset(mq, offset, True)

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
        self._count(mq, ok=ack + 1, failed=len(failed))
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
            self._spawn(self._later(retry_locally, pq, mq), f"consume-later-{mq}")

    async def _later(self, msgs: list[MessageExt], pq: ProcessQueue, mq: MessageQueue) -> None:
        await asyncio.sleep(CONSUME_LATER_DELAY_S)
        if not pq.dropped and not self._tasks.closed:
            self._batches.append((msgs, pq, mq))
            self._add_workers()

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
                self._spawn(self._resume_orderly_soon(pq, mq, 10), f"consume-orderly-{mq}")
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
            status = await self._timed_call(msgs, context, mq)
        if status is None:
            status = ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT
        ok = status == ConsumeOrderlyStatus.SUCCESS
        self._count(mq, ok=len(msgs) if ok else 0, failed=0 if ok else len(msgs))
        if ok:
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
        self._spawn(self._resume_orderly_soon(pq, mq, pause / 1000), f"consume-orderly-{mq}")
        return False

    async def _resume_orderly_soon(self, pq: ProcessQueue, mq: MessageQueue, delay: float) -> None:
        await asyncio.sleep(delay)
        if not pq.dropped and mq not in self._orderly_running:
            self._orderly_running.add(mq)
            await self._consume_orderly(pq, mq)

    # -- lifecycle --------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Let running listeners finish (bounded), then stop the thread pool."""
        self._closing = True  # parked workers end; running ones finish the queued batches
        idle, self._idle = self._idle, []
        for waiter in idle:
            if not waiter.done():
                waiter.set_result(None)
        await self._tasks.aclose(grace=CLOSE_GRACE_S)
        self._batches.clear()  # of dropped queues only: workers ran the rest
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
