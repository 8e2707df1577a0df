"""``AsyncLitePullConsumer`` (RocketMQ ``DefaultLitePullConsumer``).

The lite pull consumer is poll based: ``subscribe`` a topic (its queues are rebalanced
across the group like a push consumer's) or ``assign`` queues yourself, then call
``poll()``. One background pull task per assigned queue long-polls the broker and fills
an internal buffer; ``poll`` hands out one pulled batch at a time. Offsets advance to
just after what ``poll`` returned and are committed with ``commit()``, or, with
``auto_commit`` (the default), at the next ``poll`` after ``auto_commit_interval_millis``
and at ``aclose()`` — so a crash re-delivers what was polled but not yet committed.

::

    async with AsyncLitePullConsumer("group", "127.0.0.1:9876") as consumer:
        consumer.subscribe("TopicTest", "*")      # may come before or after start
        while True:
            for msg in await consumer.poll(timeout=1.0):
                ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rocketq.client.config import ClientConfig, LitePullConsumerConfig
from rocketq.client.instance import MQClientInstance, member_instance
from rocketq.client.message import MessageExt, MessageQueue, PullStatus
from rocketq.client.namespace import (
    queue_with_namespace,
    queue_without_namespace,
    with_namespace,
    without_namespace,
)
from rocketq.client.offset_store import ReadOffsetType
from rocketq.client.process_queue import ProcessQueue
from rocketq.client.pull_wrapper import OffsetQueries, PullAPIWrapper, make_offset_store
from rocketq.client.rebalance import ALLOCATE_STRATEGIES
from rocketq.common.errors import BrokerError, ClientError, RemotingError
from rocketq.common.lifecycle import AsyncLifecycle
from rocketq.common.tasks import TaskOwner
from rocketq.common.topic import RETRY_GROUP_TOPIC_PREFIX
from rocketq.remoting.heartbeat import ConsumerData, SubscriptionData, build_subscription

__all__ = ["AsyncLitePullConsumer", "LitePullConsumerConfig"]

log = logging.getLogger("rocketq.client")

# DefaultLitePullConsumerImpl.PULL_TIME_DELAY_MILLS_WHEN_FLOW_CONTROL / _WHEN_PAUSE.
_FLOW_CONTROL_PAUSE_S = 0.05
_PAUSED_PAUSE_S = 0.2
# DefaultLitePullConsumer.MIN_AUTOCOMMIT_INTERVAL_MILLIS: auto-commit at most once a second.
MIN_AUTOCOMMIT_INTERVAL_MILLIS = 1_000
_SUBSCRIBE, _ASSIGN = "SUBSCRIBE", "ASSIGN"


@dataclass(slots=True, eq=False)
class _ConsumeRequest:
    """One pulled batch waiting in the buffer."""

    messages: list[MessageExt]
    mq: MessageQueue
    pq: ProcessQueue


@dataclass(slots=True, eq=False)
class _AssignedQueue:
    """``AssignedMessageQueue``'s record of one queue: offsets are -1 while unknown."""

    pq: ProcessQueue = field(default_factory=ProcessQueue)
    pull_offset: int = -1
    consume_offset: int = -1
    seek_offset: int = -1
    paused: bool = False
    task: asyncio.Task[None] | None = None


class AsyncLitePullConsumer(OffsetQueries, AsyncLifecycle):
    """A consumer group read with ``poll()``; see the module docstring.

    With ``ClientConfig.namespace`` set, the group, topics and queues live in that
    namespace on the wire (kept so inside); the API takes and returns plain names."""

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        config: LitePullConsumerConfig | None = None,
        client_config: ClientConfig | None = None,
        instance: MQClientInstance | None = None,
    ) -> None:
        self.config = config or LitePullConsumerConfig()
        self.instance, self._own_instance = member_instance(namesrv_addr, client_config, instance)
        self.namespace = self.instance.config.namespace
        self.group = with_namespace(self.namespace, group)
        factory = ALLOCATE_STRATEGIES.get(self.config.allocate_strategy)
        if factory is None:
            raise ClientError(
                f"unknown allocate strategy {self.config.allocate_strategy!r}; "
                f"use one of {', '.join(ALLOCATE_STRATEGIES)}"
            )
        self.strategy = factory()
        self.offset_store = make_offset_store(
            self.config.message_model, self.instance, self.group, self.config.offset_store_dir
        )
        self.pull_api = PullAPIWrapper(self.instance, self.group)
        self.subscriptions: dict[str, SubscriptionData] = {}
        self.subscribe_info: dict[str, set[MessageQueue]] = {}
        self._mode: str | None = None
        self._assigned: set[MessageQueue] = set()
        self._assign_expressions: dict[str, str] = {}
        self._queues: dict[MessageQueue, _AssignedQueue] = {}
        self._buffer: deque[_ConsumeRequest] = deque()
        self._arrived = asyncio.Event()
        self._rebalance_lock = asyncio.Lock()
        # Pull tasks and work started by subscribe()/assign(); None before start(),
        # closed by aclose().
        self._tasks: TaskOwner | None = None
        self.start_timestamp = 0  # consumerStartTimestamp, epoch ms
        self._next_auto_commit = 0.0

    @property
    def _started(self) -> bool:
        return self._tasks is not None and not self._tasks.closed

    # -- configuration ----------------------------------------------------------------------

    def subscribe(self, topic: str, expression: str = "*", expression_type: str = "TAG") -> None:
        """Consume ``topic`` (tags ``"A || B"`` or ``"*"``), sharing its queues with the group."""
        if self._mode == _ASSIGN:
            raise ClientError("Subscribe and assign are mutually exclusive.")
        self._mode = _SUBSCRIBE
        topic = with_namespace(self.namespace, topic)
        self.subscriptions[topic] = build_subscription(topic, expression, expression_type)
        if self._started:
            self._spawn(self._after_subscribe(topic), f"subscribe-{self.group}-{topic}")

    async def _after_subscribe(self, topic: str) -> None:
        await self.instance.update_topic_route(topic)
        await self.instance.send_heartbeat_to_all_brokers()
        self.instance.rebalance_immediately()

    def unsubscribe(self, topic: str) -> None:
        """Stop consuming ``topic`` (its queues are released at the next rebalance)."""
        self.subscriptions.pop(with_namespace(self.namespace, topic), None)
        if self._started:
            self.instance.rebalance_immediately()

    def set_sub_expression_for_assign(self, topic: str, expression: str) -> None:
        """The tag expression for queues of ``topic`` taken with ``assign`` (default ``*``)."""
        self._assign_expressions[with_namespace(self.namespace, topic)] = expression

    def assign(self, mqs: Iterable[MessageQueue]) -> None:
        """Consume exactly these queues, outside of any rebalance (replaces the last set)."""
        if self._mode == _SUBSCRIBE:
            raise ClientError("Subscribe and assign are mutually exclusive.")
        wanted = {queue_with_namespace(self.namespace, mq) for mq in mqs}
        if not wanted:
            raise ClientError("Message queues can not be null or empty.")
        self._mode = _ASSIGN
        self._assigned = wanted
        self.subscriptions = {
            t: self.subscriptions.get(t) or build_subscription(t, self._assign_expressions.get(t))
            for t in sorted({mq.topic for mq in wanted})
        }
        if self._started:
            self._apply_assignment()

    def assignment(self) -> set[MessageQueue]:
        """The queues this consumer pulls now."""
        return {queue_without_namespace(self.namespace, mq) for mq in self._queues}

    def pause(self, mqs: Iterable[MessageQueue]) -> None:
        """Stop pulling these queues (what is buffered can still be polled)."""
        for mq in self._wire(mqs):
            if mq in self._queues:
                self._queues[mq].paused = True

    def resume(self, mqs: Iterable[MessageQueue]) -> None:
        """Pull these queues again."""
        for mq in self._wire(mqs):
            if mq in self._queues:
                self._queues[mq].paused = False

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the group; with ``subscribe`` the first rebalance runs before this returns."""
        if self._started:
            return
        await self.offset_store.load()
        self.start_timestamp = int(time.time() * 1000)  # running info
        self.instance.register_consumer(self)
        await self.instance.start()
        self._tasks = TaskOwner(log)
        self._next_auto_commit = time.monotonic() + self._auto_commit_interval()
        for topic in list(self.subscriptions):
            await self.instance.update_topic_route(topic)
        await self.instance.send_heartbeat_to_all_brokers()
        if self._mode == _ASSIGN:
            self._apply_assignment()
        elif self._mode == _SUBSCRIBE:
            await self.do_rebalance()
            self.instance.rebalance_immediately()

    async def aclose(self) -> None:
        """Stop pulling, commit (with auto-commit) and persist offsets, leave the group."""
        tasks = self._tasks
        if tasks is None or tasks.closed:
            return
        await tasks.aclose()  # pull tasks and subscribe/assign work
        async with self._rebalance_lock:  # a rebalance in flight must not add queues back
            for mq in list(self._queues):
                await self._retire(mq, self._detach(mq), persist=False)
        await self.offset_store.persist_all(set(self.offset_store.clone_offset_table()))
        self._buffer.clear()
        await self.instance.unregister(consumer_group=self.group)
        if self._own_instance:
            await self.instance.aclose()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None] | None:
        """Start ``coro`` as one of this consumer's tasks; None once it is closing."""
        if self._tasks is None or self._tasks.closed:
            coro.close()
            log.debug("%s is not running: %s not started", self.group, name)
            return None
        return self._tasks.spawn(coro, name)

    def _check_started(self) -> None:
        if not self._started:
            raise ClientError("the consumer is not started: call start() or use 'async with'")

    def _wire(self, mqs: Iterable[MessageQueue]) -> list[MessageQueue]:
        """The queues as named on the wire (in this consumer's namespace)."""
        return [queue_with_namespace(self.namespace, mq) for mq in mqs]

    def _auto_commit_interval(self) -> float:
        return max(self.config.auto_commit_interval_millis, MIN_AUTOCOMMIT_INTERVAL_MILLIS) / 1000

    # -- polling and offsets ----------------------------------------------------------------

    async def poll(self, timeout: float | None = None) -> list[MessageExt]:
        """The next pulled batch (one queue, in offset order), or ``[]`` after ``timeout``
        seconds (default ``poll_timeout_millis``)."""
        self._check_started()
        if timeout is None:
            timeout = self.config.poll_timeout_millis / 1000
        if timeout < 0:
            raise ClientError("Timeout must not be negative")
        if self.config.auto_commit and time.monotonic() >= self._next_auto_commit:
            await self.commit(persist=False)
            self._next_auto_commit = time.monotonic() + self._auto_commit_interval()
        deadline = time.monotonic() + timeout
        while True:
            while self._buffer:
                request = self._buffer.popleft()
                if not request.pq.dropped:
                    return self._hand_out(request)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    def _hand_out(self, request: _ConsumeRequest) -> list[MessageExt]:
        offset = request.pq.remove_messages(request.messages)
        state = self._queues.get(request.mq)
        if state is not None and state.pq is request.pq and offset >= 0:
            state.consume_offset = offset
        if self.namespace:  # poll() hands out plain topics
            for msg in request.messages:
                msg.topic = without_namespace(self.namespace, msg.topic)
        return request.messages

    async def commit(
        self, offsets: Mapping[MessageQueue, int] | None = None, *, persist: bool = True
    ) -> None:
        """Commit the offsets after what ``poll`` returned (or the given ``offsets``) and,
        with ``persist``, write them to the broker before returning (``commitSync``)."""
        self._check_started()
        if offsets is None:
            offsets = {mq: s.consume_offset for mq, s in self._queues.items()}
        else:
            offsets = {queue_with_namespace(self.namespace, q): o for q, o in offsets.items()}
        done: set[MessageQueue] = set()
        for mq, offset in offsets.items():
            if offset >= 0 and mq in self._queues:
                self.offset_store.update_offset(mq, offset, False)
                done.add(mq)
        if persist:
            for mq in done:
                await self.offset_store.persist(mq)

    async def committed(self, mq: MessageQueue) -> int:
        """The committed offset of ``mq`` (here, else the broker's); -1 when there is none."""
        self._check_started()
        mq = queue_with_namespace(self.namespace, mq)
        offset = await self.offset_store.read_offset(mq, ReadOffsetType.MEMORY_FIRST_THEN_STORE)
        if offset == -2:
            raise ClientError(f"Fetch consume offset of {mq} from broker failed")
        return offset

    async def seek(self, mq: MessageQueue, offset: int) -> None:
        """Continue ``mq`` at ``offset`` (within its min..max); buffered messages are dropped."""
        self._check_started()
        mq = queue_with_namespace(self.namespace, mq)
        state = self._queues.get(mq)
        if state is None:
            raise ClientError(f"The message queue is not in assigned list, message queue: {mq}")
        low, high = await self.min_offset(mq), await self.max_offset(mq)
        if not low <= offset <= high:
            raise ClientError(
                f"Seek offset illegal, seek offset = {offset}, min offset = {low}, "
                f"max offset = {high}"
            )
        if self._queues.get(mq) is not state:
            raise ClientError(f"{mq} was rebalanced away during seek")
        await self._restart_at(mq, state, offset)

    async def seek_to_begin(self, mq: MessageQueue) -> None:
        """Continue ``mq`` at its lowest stored offset."""
        await self.seek(mq, await self.min_offset(mq))

    async def seek_to_end(self, mq: MessageQueue) -> None:
        """Continue ``mq`` after its last message (only new messages will come)."""
        await self.seek(mq, await self.max_offset(mq))

    async def _restart_at(self, mq: MessageQueue, state: _AssignedQueue, offset: int) -> None:
        state.pq.dropped = True  # its buffered batches are skipped by poll()
        if state.task is not None:
            state.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await state.task
        state.pq = ProcessQueue()
        state.seek_offset = offset
        state.task = self._start_pull(mq, state)

    # -- instance member --------------------------------------------------------------------

    def subscribed_topics(self) -> set[str]:
        """Topics whose routes the instance keeps fresh."""
        return set(self.subscriptions)

    def consumer_data(self) -> ConsumerData:
        """This group in a heartbeat: a pull (CONSUME_ACTIVELY) consumer."""
        return ConsumerData(
            group_name=self.group,
            consume_type="CONSUME_ACTIVELY",
            message_model=self.config.message_model,
            consume_from_where=self.config.consume_from_where,
            subscription_data_set=list(self.subscriptions.values()),
        )

    def update_subscribe_info(self, topic: str, mqs: set[MessageQueue]) -> None:
        """A fresh route: the queues ``topic`` has now."""
        if topic in self.subscriptions:
            self.subscribe_info[topic] = mqs

    async def persist_offsets(self) -> None:
        """Write the committed offsets of the assigned queues (every 5 s)."""
        if self._queues:
            await self.offset_store.persist_all(set(self._queues))

    async def reset_offset(self, topic: str, offsets: dict[MessageQueue, int]) -> None:
        """The broker asked to move this group's offsets (admin resetOffsetByTime)."""
        for mq, offset in offsets.items():
            state = self._queues.get(mq)
            if mq.topic != topic or state is None:
                continue
            self.offset_store.update_offset(mq, offset, False)
            await self.offset_store.persist(mq)
            await self._restart_at(mq, state, offset)

    async def do_rebalance(self) -> None:
        """Subscribe mode: work out this consumer's queues of every topic."""
        if not self._started or self._mode != _SUBSCRIBE:
            return
        async with self._rebalance_lock:
            for topic in list(self.subscriptions):
                try:
                    await self._rebalance_topic(topic)
                except (RemotingError, BrokerError) as exc:
                    log.warning("rebalance of %s/%s: %s", self.group, topic, exc)
            for mq in [m for m in self._queues if m.topic not in self.subscriptions]:
                await self._retire(mq, self._detach(mq))

    async def _rebalance_topic(self, topic: str) -> None:
        mine = await self.instance.allocate_queues(
            self.group, topic, self.strategy, self.config.message_model, self.subscribe_info
        )
        if mine is None:
            return
        wanted = set(mine) if self._started else set()
        for mq in [m for m in self._queues if m.topic == topic and m not in wanted]:
            await self._retire(mq, self._detach(mq))
        for mq in sorted(wanted - set(self._queues)):
            self._add(mq)

    # -- pull tasks -------------------------------------------------------------------------

    def _apply_assignment(self) -> None:
        for mq in [m for m in self._queues if m not in self._assigned]:
            self._spawn(self._retire(mq, self._detach(mq)), f"lite-release-{mq}")
        for mq in sorted(self._assigned - set(self._queues)):
            self._add(mq)

    def _add(self, mq: MessageQueue) -> None:
        state = _AssignedQueue()
        self._queues[mq] = state
        state.task = self._start_pull(mq, state)
        log.info("%s: pulling %s", self.group, mq)

    def _start_pull(self, mq: MessageQueue, state: _AssignedQueue) -> asyncio.Task[None] | None:
        return self._spawn(self._pull_loop(mq, state, state.pq), f"lite-pull-{mq}")

    def _detach(self, mq: MessageQueue) -> _AssignedQueue:
        state = self._queues.pop(mq)
        state.pq.dropped = True
        if state.task is not None:
            state.task.cancel()
        return state

    async def _retire(self, mq: MessageQueue, state: _AssignedQueue, persist: bool = True) -> None:
        """A queue left us: wait for its task, keep (auto-commit) and persist its offset."""
        if state.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await state.task
        if self.config.auto_commit and state.consume_offset >= 0:
            self.offset_store.update_offset(mq, state.consume_offset, False)
        if persist:
            await self.offset_store.persist(mq)
            self.offset_store.remove_offset(mq)
        log.info("%s: released %s", self.group, mq)

    async def _pull_loop(self, mq: MessageQueue, state: _AssignedQueue, pq: ProcessQueue) -> None:
        delay = self.config.pull_time_delay_mills_when_exception / 1000
        while not pq.dropped:
            if state.paused:
                await asyncio.sleep(_PAUSED_PAUSE_S)
                continue
            if self._flow_controlled(pq):
                await asyncio.sleep(_FLOW_CONTROL_PAUSE_S)
                continue
            try:
                if not await self._pull_once(mq, state, pq):
                    await asyncio.sleep(delay)
            except (RemotingError, BrokerError, ClientError) as exc:
                log.debug("pull %s failed: %s", mq, exc)
                await asyncio.sleep(delay)
            except Exception:
                log.exception("pull task of %s failed", mq)
                await asyncio.sleep(delay)

    def _flow_controlled(self, pq: ProcessQueue) -> bool:
        c = self.config
        total = sum(s.pq.msg_count for s in self._queues.values())
        return (
            total > c.pull_threshold_for_all
            or pq.msg_count > c.pull_threshold_for_queue
            or pq.msg_size > c.pull_threshold_size_for_queue * 1024 * 1024
            or pq.max_span > c.consume_max_span
        )

    async def _pull_once(self, mq: MessageQueue, state: _AssignedQueue, pq: ProcessQueue) -> bool:
        """One pull into the buffer; False when there was nothing to pull from."""
        sub = self.subscriptions.get(mq.topic)
        offset = await self._next_pull_offset(mq, state)
        if sub is None or offset < 0:
            return False
        c = self.config
        result = await self.pull_api.pull_kernel(
            mq,
            sub,
            offset,
            c.pull_batch_size,
            suspend_ms=c.broker_suspend_max_time_millis,
            timeout=c.consumer_timeout_millis_when_suspend / 1000,
            lite=True,
        )
        if pq.dropped:
            return True
        pq.last_pull_timestamp = int(time.time() * 1000)
        if result.status is PullStatus.FOUND and result.messages:
            pq.put_messages(result.messages)
            self._buffer.append(_ConsumeRequest(result.messages, mq, pq))
            self._arrived.set()
        elif pq.msg_count == 0 and result.next_begin_offset > state.consume_offset >= 0:
            # everything polled and the rest filtered out: let the offset move past it
            state.consume_offset = result.next_begin_offset
        elif result.status is PullStatus.OFFSET_ILLEGAL:
            log.warning(
                "%s: offset %d of %s is illegal, moving to %d",
                self.group,
                offset,
                mq,
                result.next_begin_offset,
            )
        state.pull_offset = result.next_begin_offset
        return True

    async def _next_pull_offset(self, mq: MessageQueue, state: _AssignedQueue) -> int:
        """``nextPullOffset``: a seek, else where the last pull ended, else the store."""
        if state.seek_offset >= 0:
            state.pull_offset = state.consume_offset = state.seek_offset
            state.seek_offset = -1
        if state.pull_offset < 0:
            state.pull_offset = await self._compute_pull_from_where(mq)
        return state.pull_offset

    async def _compute_pull_from_where(self, mq: MessageQueue) -> int:
        """``RebalanceLitePullImpl#computePullFromWhere``: the committed offset, else per
        ``consume_from_where``; -1 when the store could not be asked."""
        last = await self.offset_store.read_offset(mq, ReadOffsetType.MEMORY_FIRST_THEN_STORE)
        if last >= 0:
            return last
        if last != -1:  # -2: the broker could not be asked; try again later
            return -1
        where = self.config.consume_from_where
        if where == "CONSUME_FROM_FIRST_OFFSET":
            return 0
        if mq.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            return 0 if where == "CONSUME_FROM_LAST_OFFSET" else await self.max_offset(mq)
        if where == "CONSUME_FROM_TIMESTAMP":
            stamp = self.config.consume_timestamp
            when = (
                time.mktime(time.strptime(stamp, "%Y%m%d%H%M%S"))
                if stamp
                else time.time() - 1800  # half an hour ago, as Java defaults
            )
            return await self.offset_for_timestamp(mq, int(when * 1000))
        return await self.max_offset(mq)
