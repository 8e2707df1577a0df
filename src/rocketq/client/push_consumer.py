"""``AsyncPushConsumer``: subscribe, rebalance, long-poll pull loops, listeners, offsets
(RocketMQ ``DefaultMQPushConsumer``, ``RebalancePushImpl``, ``PullAPIWrapper``).

Every queue assigned to this consumer gets one pull loop: pull up to 32 messages
(the broker holds the pull until a message arrives), filter by tag, hand them to the
consume service, repeat; flow control pauses the loop while too many messages wait.
Offsets are committed at the lowest unconsumed message of each queue, so a crash
re-delivers but never skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from rocketq.client.config import ClientConfig, ConsumerConfig
from rocketq.client.consume_service import ConsumeService, Listener
from rocketq.client.instance import MQClientInstance, member_instance
from rocketq.client.message import MessageExt, MessageQueue, PullStatus
from rocketq.client.mq_admin import MQAdminImpl
from rocketq.client.namespace import queue_without_namespace, with_namespace, without_namespace
from rocketq.client.offset_store import OffsetStore, ReadOffsetType
from rocketq.client.process_queue import ProcessQueue
from rocketq.client.pull_wrapper import PullAPIWrapper, make_offset_store
from rocketq.client.rebalance import ALLOCATE_STRATEGIES
from rocketq.client.running_info import (
    CMResult,
    ConsumeMessageDirectlyResult,
    ConsumerRunningInfo,
    push_running_info,
)
from rocketq.common.errors import BrokerError, ClientError, RemotingError
from rocketq.common.lifecycle import AsyncLifecycle
from rocketq.common.message import MessageConst
from rocketq.common.tasks import TaskOwner
from rocketq.common.topic import RETRY_GROUP_TOPIC_PREFIX, retry_topic
from rocketq.remoting.heartbeat import ConsumerData, SubscriptionData, build_subscription

if TYPE_CHECKING:
    from rocketq.client.trace_dispatcher import TraceDispatcher

__all__ = ["AsyncPushConsumer"]

log = logging.getLogger("rocketq.client")

# DefaultMQPushConsumerImpl: flow-control and retry pauses.
_FLOW_CONTROL_PAUSE_S = 0.05
_ORDERLY_LOCK_RETRY_S = 3.0
# cleanExpiredMsg handles at most 16 messages of a queue per round.
_CLEAN_EXPIRED_MAX = 16
# ConsumeMessageOrderlyService.lockMQPeriodically: every 20 s.
_LOCK_RENEW_INTERVAL_S = 20.0


class AsyncPushConsumer(AsyncLifecycle):
    """A consumer group that receives messages through a listener.

    With ``ClientConfig.namespace`` set, the group and the subscribed topics live in that
    namespace on the wire; listeners see plain topic names.
    """

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        config: ConsumerConfig | None = None,
        client_config: ClientConfig | None = None,
        instance: MQClientInstance | None = None,
    ) -> None:
        self.config = config or ConsumerConfig()
        self.instance, self._own_instance = member_instance(namesrv_addr, client_config, instance)
        self.namespace = self.instance.config.namespace
        self.group = with_namespace(self.namespace, group)
        self._retry_topic = retry_topic(self.group)
        # suspend()/resume(): pull loops wait while this is clear (set = running).
        self._running = asyncio.Event()
        self._running.set()
        self._parked = 0  # pull loops waiting for resume()
        self.trace: TraceDispatcher | None = None
        self.subscriptions: dict[str, SubscriptionData] = {}
        self.subscribe_info: dict[str, set[MessageQueue]] = {}
        self.process_queues: dict[MessageQueue, ProcessQueue] = {}
        self._pull_tasks: dict[MessageQueue, asyncio.Task[None]] = {}
        self.offset_store: OffsetStore
        self.pull_api = PullAPIWrapper(self.instance, group)
        factory = ALLOCATE_STRATEGIES.get(self.config.allocate_strategy)
        if factory is None:
            raise ClientError(
                f"unknown allocate strategy {self.config.allocate_strategy!r}; "
                f"use one of {', '.join(ALLOCATE_STRATEGIES)}"
            )
        self.strategy = factory()
        self._service: ConsumeService | None = None
        self.start_timestamp = 0  # consumerStartTimestamp, epoch ms (running info)
        self._rebalance_lock = asyncio.Lock()
        # Pull loops, lock renewal, expired-message clean-up, work after subscribe();
        # None before start(), closed by aclose().
        self._tasks: TaskOwner | None = None

    @property
    def _started(self) -> bool:
        return self._tasks is not None and not self._tasks.closed

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        if self._tasks is None:
            coro.close()
            raise ClientError("the consumer is not started")
        return self._tasks.spawn(coro, name)

    # -- configuration ----------------------------------------------------------------------

    def subscribe(self, topic: str, expression: str = "*", expression_type: str = "TAG") -> None:
        """Subscribe to ``topic`` with a tag expression (``"TagA || TagB"``, ``"*"``) or SQL92."""
        topic = with_namespace(self.namespace, topic)
        self.subscriptions[topic] = build_subscription(topic, expression, expression_type)
        if self._started:
            self._spawn(self._after_subscribe(topic), f"subscribe-{self.group}-{topic}")

    async def _after_subscribe(self, topic: str) -> None:
        await self.instance.update_topic_route(topic)
        await self.instance.send_heartbeat_to_all_brokers()
        self.instance.rebalance_immediately()

    def unsubscribe(self, topic: str) -> None:
        """Stop receiving ``topic``."""
        self.subscriptions.pop(with_namespace(self.namespace, topic), None)

    def register_listener(self, listener: Listener, *, orderly: bool = False) -> None:
        """The function that consumes: ``(msgs, context) -> status``; ``async def`` or plain."""
        if self._started:
            raise ClientError("register the listener before start()")
        self._service = ConsumeService(self, listener, orderly)

    @property
    def orderly(self) -> bool:
        """True with an orderly listener."""
        return self._service is not None and self._service.orderly

    def max_reconsume_times(self) -> int:
        """Deliveries before a message goes to the DLQ (16 when unset)."""
        return 16 if self.config.max_reconsume_times < 0 else self.config.max_reconsume_times

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the group: routes, heartbeat, first rebalance."""
        if self._service is None:
            raise ClientError("register a listener before start()")
        if self.config.message_model == "CLUSTERING":
            retry = retry_topic(self.group)
            self.subscriptions.setdefault(retry, build_subscription(retry, "*"))
        # Commits are one-way, as Java's persistAll sends them.
        self.offset_store = make_offset_store(
            self.config.message_model,
            self.instance,
            self.group,
            self.config.offset_store_dir,
            oneway=True,
        )
        await self.offset_store.load()
        await self._start_trace()
        self._service.start()
        self._service.stats, self._service.stats_group = self.instance.consumer_stats, self.group
        self.start_timestamp = int(time.time() * 1000)
        self.instance.register_consumer(self)
        await self.instance.start()
        tasks = self._tasks = TaskOwner(log)
        for topic in list(self.subscriptions):
            await self.instance.update_topic_route(topic)
        await self.instance.send_heartbeat_to_all_brokers()
        for topic in list(self.subscriptions):  # e.g. %RETRY%group, created by that heartbeat
            if not self.subscribe_info.get(topic):
                await self.instance.update_topic_route(topic)
        await self.do_rebalance()
        self.instance.rebalance_immediately()
        if self.orderly and self.config.message_model == "CLUSTERING":
            tasks.every(_LOCK_RENEW_INTERVAL_S, self._renew_locks, f"locks-{self.group}")
        elif not self.orderly:
            tasks.every(
                lambda: max(self.config.consume_timeout * 60, 0.05),
                self._clean_expired,
                f"clean-{self.group}",
            )

    async def _clean_expired(self) -> None:
        """``cleanExpiredMsg``: a message whose listener has run for longer than
        ``consume_timeout`` is sent back (delay level 3) and dropped from its queue, so the
        queue's committed offset moves on; the listener's late result is then ignored."""
        timeout_ms = int(self.config.consume_timeout * 60_000)
        for mq, pq in list(self.process_queues.items()):
            for _ in range(_CLEAN_EXPIRED_MAX):
                msg = pq.head_if_consume_expired(timeout_ms)
                if msg is None or pq.dropped:
                    break
                log.warning(
                    "%s: message %s consumed for over %s min; sending it back",
                    self.group,
                    msg.msg_id,
                    self.config.consume_timeout,
                )
                if not await self.send_message_back(msg, 3, mq):
                    break
                offset = pq.remove_messages([msg])
                if offset >= 0:
                    self.offset_store.update_offset(mq, offset, True)

    async def _renew_locks(self) -> None:
        """``lockMQPeriodically``: renew the broker locks of every owned queue every 20 s
        (the broker's lease is 60 s, the client trusts a lock for 30 s)."""
        by_broker: dict[str, list[MessageQueue]] = {}
        for mq in self.process_queues:
            by_broker.setdefault(mq.broker_name, []).append(mq)
        for broker, mqs in by_broker.items():
            addr = self.instance.find_broker_addr_master(broker)
            if addr is None:
                continue
            try:
                locked = await self.instance.api.lock_batch_mq(
                    addr, self.group, self.instance.client_id, mqs
                )
            except (RemotingError, BrokerError) as exc:
                log.warning("renewing locks on %s failed: %s", broker, exc)
                continue
            now = int(time.time() * 1000)
            for mq in mqs:
                pq = self.process_queues.get(mq)
                if pq is not None:
                    pq.locked = mq in locked
                    if pq.locked:
                        pq.last_lock_timestamp = now

    async def aclose(self) -> None:
        """Leave the group: stop pulls, finish listeners, persist offsets, unregister."""
        tasks = self._tasks
        if tasks is None or tasks.closed:
            return
        async with self._rebalance_lock:  # a rebalance in flight must not start new pulls
            for pq in self.process_queues.values():
                pq.dropped = True
            await tasks.aclose()  # pull loops, lock renewal, clean-up, after-subscribe work
            self._pull_tasks.clear()
        if self._service is not None:
            await self._service.aclose()
        if self.trace is not None:
            await self.trace.aclose()
            self.trace = None
        await self.offset_store.persist_all(set(self.process_queues))
        if self.orderly:
            await self._unlock_all(list(self.process_queues))
        self.process_queues.clear()
        await self.instance.unregister(consumer_group=self.group)
        if self._own_instance:
            await self.instance.aclose()

    async def _start_trace(self) -> None:
        if not self.config.enable_msg_trace or self.trace is not None or self._service is None:
            return
        from rocketq.client.trace_dispatcher import TraceDispatcher

        self.trace = TraceDispatcher.for_member(
            self.instance, self.group, "CONSUMER", self.config.customized_trace_topic
        )
        await self.trace.start()
        self._service.trace, self._service.trace_group = self.trace, self.group

    def suspend(self) -> None:
        """Stop pulling (``suspend``): messages already pulled are still consumed; the
        queues stay this consumer's."""
        self._running.clear()

    def resume(self) -> None:
        """Pull again after :meth:`suspend` (``resume``), and rebalance at once."""
        self._running.set()
        if self._started:
            self.instance.rebalance_immediately()

    @property
    def suspended(self) -> bool:
        """True between :meth:`suspend` and :meth:`resume`."""
        return not self._running.is_set()

    @property
    def parked_pull_loops(self) -> int:
        """Pull loops waiting for :meth:`resume` (none of them has a pull in flight)."""
        return self._parked

    async def fetch_subscribe_message_queues(self, topic: str) -> list[MessageQueue]:
        """Every readable queue of ``topic`` (``fetchSubscribeMessageQueues``)."""
        mqs = await MQAdminImpl(self.instance).fetch_subscribe_message_queues(
            with_namespace(self.namespace, topic)
        )
        return [queue_without_namespace(self.namespace, mq) for mq in mqs]

    # -- instance member --------------------------------------------------------------------

    def subscribed_topics(self) -> set[str]:
        """Topics whose routes the instance keeps fresh."""
        return set(self.subscriptions)

    def consumer_data(self) -> ConsumerData:
        """This group in a heartbeat."""
        return ConsumerData(
            group_name=self.group,
            consume_type="CONSUME_PASSIVELY",
            message_model=self.config.message_model,
            consume_from_where=self.config.consume_from_where,
            subscription_data_set=list(self.subscriptions.values()),
        )

    def update_subscribe_info(self, topic: str, mqs: set[MessageQueue]) -> None:
        """A fresh route: the queues this topic has now."""
        if topic in self.subscriptions:
            self.subscribe_info[topic] = mqs

    async def persist_offsets(self) -> None:
        """Commit every owned queue's offset to the broker (or the local file)."""
        if self._started:
            await self.offset_store.persist_all(set(self.process_queues))

    async def reset_offset(self, topic: str, offsets: dict[MessageQueue, int]) -> None:
        """The broker asked to move this group's offsets (admin resetOffsetByTime)."""
        for mq, offset in offsets.items():
            if mq.topic != topic:
                continue
            self.offset_store.update_offset(mq, offset, False)
            await self.offset_store.persist(mq)
            await self._drop(mq)
        await self.do_rebalance()

    # -- rebalance --------------------------------------------------------------------------

    async def do_rebalance(self) -> None:
        """Work out this consumer's queues for every topic and start/stop pull loops."""
        async with self._rebalance_lock:
            if not self._started:  # not yet, or closed while this waited for the lock
                return
            for topic in list(self.subscriptions):
                try:
                    await self._rebalance_topic(topic)
                except (RemotingError, BrokerError) as exc:
                    log.warning("rebalance of %s/%s: %s", self.group, topic, exc)

    async def _rebalance_topic(self, topic: str) -> None:
        mine = await self.instance.allocate_queues(
            self.group, topic, self.strategy, self.config.message_model, self.subscribe_info
        )
        if mine is not None:
            await self._update_queues(topic, mine)

    async def _update_queues(self, topic: str, mine: list[MessageQueue]) -> None:
        """``updateProcessQueueTableInRebalance``."""
        wanted = set(mine)
        for mq in [m for m in self.process_queues if m.topic == topic and m not in wanted]:
            await self.offset_store.persist(mq)
            self.offset_store.remove_offset(mq)
            await self._drop(mq)
            if self.orderly:
                await self._unlock_all([mq])
        for mq in mine:
            if mq in self.process_queues:
                continue
            if (
                self.orderly
                and self.config.message_model == "CLUSTERING"
                and not await self._lock(mq)
            ):
                continue
            offset = await self._compute_pull_from_where(mq)
            if offset >= 0:
                self._start_pull(mq, offset)

    def _start_pull(self, mq: MessageQueue, offset: int) -> None:
        pq = ProcessQueue()
        pq.locked = self.orderly
        self.process_queues[mq] = pq
        self._pull_tasks[mq] = self._spawn(self._pull_loop(mq, pq, offset), f"pull-{mq}")
        log.info("%s: consuming %s from offset %d", self.group, mq, offset)

    async def _drop(self, mq: MessageQueue) -> None:
        pq = self.process_queues.pop(mq, None)
        if pq is not None:
            pq.dropped = True
        task = self._pull_tasks.pop(mq, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _compute_pull_from_where(self, mq: MessageQueue) -> int:
        """``computePullFromWhere``: the committed offset, else per consumeFromWhere."""
        last = await self.offset_store.read_offset(mq, ReadOffsetType.READ_FROM_STORE)
        if last >= 0:
            return last
        if last != -1:
            return -1
        where = self.config.consume_from_where
        if mq.topic.startswith(RETRY_GROUP_TOPIC_PREFIX) or where == "CONSUME_FROM_FIRST_OFFSET":
            return 0 if where != "CONSUME_FROM_TIMESTAMP" else await self._max_offset(mq)
        if where == "CONSUME_FROM_TIMESTAMP":
            return await self._search_offset(mq)
        return await self._max_offset(mq)

    async def _max_offset(self, mq: MessageQueue) -> int:
        addr = self.instance.find_broker_addr_master(mq.broker_name)
        return await self.instance.api.get_max_offset(addr, mq) if addr else -1

    async def _search_offset(self, mq: MessageQueue) -> int:
        stamp = self.config.consume_timestamp
        if stamp:
            when = time.mktime(time.strptime(stamp, "%Y%m%d%H%M%S")) * 1000
        else:
            when = (time.time() - 1800) * 1000  # half an hour ago, as Java defaults
        addr = self.instance.find_broker_addr_master(mq.broker_name)
        return await self.instance.api.search_offset(addr, mq, int(when)) if addr else -1

    # -- orderly locks ----------------------------------------------------------------------

    async def _lock(self, mq: MessageQueue) -> bool:
        addr = self.instance.find_broker_addr_master(mq.broker_name)
        if addr is None:
            return False
        try:
            locked = await self.instance.api.lock_batch_mq(
                addr, self.group, self.instance.client_id, [mq]
            )
        except (RemotingError, BrokerError) as exc:
            log.warning("lock %s failed: %s", mq, exc)
            return False
        pq = self.process_queues.get(mq)
        if pq is not None and mq in locked:
            pq.locked = True
            pq.last_lock_timestamp = int(time.time() * 1000)
        return mq in locked

    async def try_lock_later(self, mq: MessageQueue) -> None:
        """Orderly consume found the queue unlocked: lock it again shortly."""
        await asyncio.sleep(_ORDERLY_LOCK_RETRY_S / 30)
        pq = self.process_queues.get(mq)
        if pq is not None and not pq.dropped and await self._lock(mq) and self._service is not None:
            self._service.submit([], pq, mq, True)

    async def _unlock_all(self, mqs: list[MessageQueue]) -> None:
        by_broker: dict[str, list[MessageQueue]] = {}
        for mq in mqs:
            by_broker.setdefault(mq.broker_name, []).append(mq)
        for broker, group_mqs in by_broker.items():
            addr = self.instance.find_broker_addr_master(broker)
            if addr is None:
                continue
            with contextlib.suppress(RemotingError, BrokerError):
                await self.instance.api.unlock_batch_mq(
                    addr, self.group, self.instance.client_id, group_mqs
                )

    # -- pulling ----------------------------------------------------------------------------

    async def _pull_loop(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        while not pq.dropped:
            if not self._running.is_set():  # suspend(): no new pull until resume()
                self._parked += 1
                try:
                    await self._running.wait()
                finally:
                    self._parked -= 1
                continue
            if self._flow_controlled(pq):
                await asyncio.sleep(_FLOW_CONTROL_PAUSE_S)
                continue
            try:
                offset = await self._pull_once(mq, pq, offset)
            except (RemotingError, BrokerError) as exc:
                log.debug("pull %s failed: %s", mq, exc)
                await asyncio.sleep(self.config.pull_time_delay_mills_when_exception / 1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pull loop of %s failed", mq)
                await asyncio.sleep(self.config.pull_time_delay_mills_when_exception / 1000)
            if self.config.pull_interval > 0:
                await asyncio.sleep(self.config.pull_interval / 1000)

    def _flow_controlled(self, pq: ProcessQueue) -> bool:
        c = self.config
        if pq.msg_count > c.pull_threshold_for_queue:
            return True
        if pq.msg_size > c.pull_threshold_size_for_queue * 1024 * 1024:
            return True
        return not self.orderly and pq.max_span > c.consume_concurrently_max_span

    async def _pull_once(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> int:
        sub = self.subscriptions.get(mq.topic)
        if sub is None:
            await asyncio.sleep(self.config.pull_time_delay_mills_when_exception / 1000)
            return offset
        commit = self.offset_store.memory_offset(mq)  # READ_FROM_MEMORY
        began = time.monotonic()
        result = await self.pull_api.pull_kernel(
            mq,
            sub,
            offset,
            self.config.pull_batch_size,
            suspend_ms=self.config.broker_suspend_max_time_millis,
            timeout=self.config.consumer_pull_timeout_millis / 1000,
            commit_offset=commit,
        )
        pq.last_pull_timestamp = int(time.time() * 1000)
        if result.status is PullStatus.FOUND:
            msgs = result.messages
            self._count_pull(mq, int((time.monotonic() - began) * 1000), len(msgs))
            if msgs and not pq.dropped and self._service is not None:
                dispatch = pq.put_messages(msgs, result.max_offset)
                self._service.submit(msgs, pq, mq, dispatch)
            elif not msgs and pq.msg_count == 0:
                self.offset_store.update_offset(mq, result.next_begin_offset, True)
            return result.next_begin_offset
        if result.status is PullStatus.OFFSET_ILLEGAL:
            log.warning(
                "%s: offset %d of %s is illegal, moving to %d",
                self.group,
                offset,
                mq,
                result.next_begin_offset,
            )
            self.offset_store.update_offset(mq, result.next_begin_offset, False)
            await self.offset_store.persist(mq)
        elif pq.msg_count == 0:  # nothing new: keep the committed offset moving
            self.offset_store.update_offset(mq, result.next_begin_offset, True)
        return result.next_begin_offset

    def _count_pull(self, mq: MessageQueue, rt_ms: int, found: int) -> None:
        """``incPullRT`` for every pull that found messages, ``incPullTPS`` by how many."""
        stats = self.instance.consumer_stats
        stats.inc_pull_rt(self.group, mq.topic, rt_ms)
        if found:
            stats.inc_pull_tps(self.group, mq.topic, found)

    # -- admin: running info, consume directly ----------------------------------------------

    async def consumer_running_info(self) -> ConsumerRunningInfo:
        """``DefaultMQPushConsumerImpl#consumerRunningInfo``: settings, subscriptions, each
        owned queue's ProcessQueueInfo and committed offset, each topic's ConsumeStatus."""
        return await push_running_info(self)

    async def consume_message_directly(
        self, msg: MessageExt, broker_name: str
    ) -> ConsumeMessageDirectlyResult:
        """CONSUME_MESSAGE_DIRECTLY: ``msg`` through the listener once (nothing acked)."""
        if self._service is None:
            return ConsumeMessageDirectlyResult(
                consume_result=CMResult.CR_THROW_EXCEPTION, remark="no listener registered"
            )
        mq = MessageQueue(msg.topic, broker_name, msg.queue_id)
        return await self._service.consume_directly(msg, mq)

    # -- failures ---------------------------------------------------------------------------

    def reset_retry_topic(self, msgs: list[MessageExt]) -> None:
        """Messages from ``%RETRY%group`` show their original topic (``resetRetryAndNamespace``)."""
        retry = self._retry_topic
        namespace = self.namespace
        for msg in msgs:
            if msg.topic == retry:
                original = msg.properties.get(MessageConst.RETRY_TOPIC)
                if original:
                    msg.topic = original
            if namespace:  # resetRetryAndNamespace: listeners see plain topics
                msg.topic = without_namespace(namespace, msg.topic)

    async def send_message_back(self, msg: MessageExt, delay_level: int, mq: MessageQueue) -> bool:
        """CONSUMER_SEND_MSG_BACK to the message's broker; False when it failed."""
        addr = self.instance.find_broker_addr_master(mq.broker_name) or _store_addr(msg)
        msg.topic = with_namespace(self.namespace, msg.topic)  # the listener saw it plain
        try:
            await self.instance.api.send_message_back(
                addr, msg, self.group, delay_level, self.max_reconsume_times()
            )
            return True
        except (RemotingError, BrokerError) as exc:
            log.warning("send back of %s failed: %s", msg.msg_id, exc)
            return False


def _store_addr(msg: MessageExt) -> str:
    return f"{msg.store_host[0]}:{msg.store_host[1]}"
