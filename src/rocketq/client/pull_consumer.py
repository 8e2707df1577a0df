"""Pull consumers: ``AsyncPullConsumer`` (RocketMQ ``DefaultMQPullConsumer``) here, and
``AsyncLitePullConsumer`` (``DefaultLitePullConsumer``, re-exported from
:mod:`rocketq.client.lite_pull_consumer`).

The plain pull consumer leaves queue, offset and offset storage to the caller:
``pull(mq, "*", offset, 32)`` returns a ``PullResult`` at once (NO_NEW_MSG when there is
nothing), ``pull_block_if_not_found`` lets the broker hold the request until a message
arrives (up to 20 s).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection

from rocketq.client.config import ClientConfig, LitePullConsumerConfig, PullConsumerConfig
from rocketq.client.instance import MQClientInstance, member_instance
from rocketq.client.lite_pull_consumer import (
    MIN_AUTOCOMMIT_INTERVAL_MILLIS as MIN_AUTOCOMMIT_INTERVAL_MILLIS,
)
from rocketq.client.lite_pull_consumer import AsyncLitePullConsumer
from rocketq.client.message import MessageQueue, PullResult
from rocketq.client.namespace import queue_with_namespace, with_namespace, without_namespace
from rocketq.client.offset_store import ReadOffsetType
from rocketq.client.pull_wrapper import OffsetQueries, PullAPIWrapper, make_offset_store
from rocketq.common.errors import ClientError
from rocketq.common.lifecycle import AsyncLifecycle
from rocketq.common.tasks import TaskOwner
from rocketq.remoting.heartbeat import ConsumerData, build_subscription

__all__ = [
    "AsyncLitePullConsumer",
    "AsyncPullConsumer",
    "LitePullConsumerConfig",
    "PullConsumerConfig",
]

log = logging.getLogger("rocketq.client")


class AsyncPullConsumer(OffsetQueries, AsyncLifecycle):
    """``DefaultMQPullConsumer``: the caller chooses queue and offset for every pull and
    may keep offsets in the group's store with ``update_consume_offset``.

    With ``ClientConfig.namespace`` set, the group, topics and queues live in that
    namespace on the wire; the API takes and returns plain names."""

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        config: PullConsumerConfig | None = None,
        client_config: ClientConfig | None = None,
        instance: MQClientInstance | None = None,
        register_topics: Collection[str] = (),
    ) -> None:
        self.config = config or PullConsumerConfig()
        self.instance, self._own_instance = member_instance(namesrv_addr, client_config, instance)
        self.namespace = self.instance.config.namespace
        self.group = with_namespace(self.namespace, group)
        self.offset_store = make_offset_store(
            self.config.message_model, self.instance, self.group, self.config.offset_store_dir
        )
        self.pull_api = PullAPIWrapper(self.instance, self.group)
        #: Topics announced in heartbeats (Java ``registerTopics``) plus every topic pulled,
        #: as named on the wire.
        self.topics: set[str] = {with_namespace(self.namespace, t) for t in register_topics}
        # This consumer runs no task of its own; the owner marks it started (not None)
        # and closed, as for the other members.
        self._tasks: TaskOwner | None = None
        self.start_timestamp = 0  # consumerStartTimestamp, epoch ms

    @property
    def _started(self) -> bool:
        return self._tasks is not None and not self._tasks.closed

    async def start(self) -> None:
        """Register the group with the client instance and the brokers."""
        if self._started:
            return
        await self.offset_store.load()
        self.start_timestamp = int(time.time() * 1000)  # running info
        self.instance.register_consumer(self)
        await self.instance.start()
        self._tasks = TaskOwner(log)
        for topic in sorted(self.topics):
            await self.instance.update_topic_route(topic)
        await self.instance.send_heartbeat_to_all_brokers()

    async def aclose(self) -> None:
        """Persist the stored offsets and leave the group."""
        tasks = self._tasks
        if tasks is None or tasks.closed:
            return
        await tasks.aclose()
        await self.persist_offsets()
        await self.instance.unregister(consumer_group=self.group)
        if self._own_instance:
            await self.instance.aclose()

    async def pull(
        self,
        mq: MessageQueue,
        expression: str,
        offset: int,
        max_nums: int = 32,
        *,
        timeout: float | None = None,
    ) -> PullResult:
        """Up to ``max_nums`` messages of ``mq`` from ``offset`` on, answered at once."""
        return await self._pull(mq, expression, offset, max_nums, 0, timeout)

    async def pull_block_if_not_found(
        self, mq: MessageQueue, expression: str, offset: int, max_nums: int = 32
    ) -> PullResult:
        """Like ``pull``, but the broker holds the request (up to
        ``broker_suspend_max_time_millis``) until a message arrives."""
        c = self.config
        timeout = c.consumer_timeout_millis_when_suspend / 1000
        return await self._pull(
            mq, expression, offset, max_nums, c.broker_suspend_max_time_millis, timeout
        )

    async def _pull(
        self,
        mq: MessageQueue,
        expression: str,
        offset: int,
        max_nums: int,
        suspend_ms: int,
        timeout: float | None,
    ) -> PullResult:
        if not self._started:
            raise ClientError("the consumer is not started: call start() or use 'async with'")
        mq = queue_with_namespace(self.namespace, mq)
        self.topics.add(mq.topic)
        sub = build_subscription(mq.topic, expression)
        t = timeout if timeout is not None else self.config.consumer_pull_timeout_millis / 1000
        result = await self.pull_api.pull_kernel(
            mq, sub, offset, max_nums, suspend_ms=suspend_ms, timeout=t
        )
        if self.namespace:  # resetTopic: callers see plain topics
            for msg in result.messages:
                msg.topic = without_namespace(self.namespace, msg.topic)
        return result

    async def fetch_subscribe_message_queues(self, topic: str) -> list[MessageQueue]:
        """Every readable queue of ``topic`` (``fetchSubscribeMessageQueues``)."""
        return await self.fetch_message_queues(topic)

    def update_consume_offset(self, mq: MessageQueue, offset: int) -> None:
        """Keep ``offset`` as the group's offset of ``mq`` (persisted every 5 s and at close)."""
        self.offset_store.update_offset(queue_with_namespace(self.namespace, mq), offset, False)

    async def fetch_consume_offset(self, mq: MessageQueue, from_store: bool = False) -> int:
        """The group's offset of ``mq``: memory first, or the broker with ``from_store``;
        -1 when there is none."""
        kind = (
            ReadOffsetType.READ_FROM_STORE if from_store else ReadOffsetType.MEMORY_FIRST_THEN_STORE
        )
        offset = await self.offset_store.read_offset(queue_with_namespace(self.namespace, mq), kind)
        if offset == -2:
            raise ClientError(f"Fetch consume offset of {mq} from broker failed")
        return offset

    # -- instance member --------------------------------------------------------------------

    def subscribed_topics(self) -> set[str]:
        """Topics whose routes the instance keeps fresh."""
        return set(self.topics)

    def consumer_data(self) -> ConsumerData:
        """This group in a heartbeat (CONSUME_ACTIVELY, ``*`` for every topic)."""
        return ConsumerData(
            group_name=self.group,
            consume_type="CONSUME_ACTIVELY",
            message_model=self.config.message_model,
            consume_from_where="CONSUME_FROM_LAST_OFFSET",
            subscription_data_set=[build_subscription(t, "*") for t in sorted(self.topics)],
        )

    def update_subscribe_info(self, topic: str, mqs: set[MessageQueue]) -> None:
        """Routes are asked for when needed; nothing is kept."""

    async def do_rebalance(self) -> None:
        """The caller chooses queues: nothing to rebalance."""

    async def persist_offsets(self) -> None:
        """Write every offset kept with ``update_consume_offset``."""
        table = self.offset_store.clone_offset_table()
        if table:
            await self.offset_store.persist_all(set(table))

    async def reset_offset(self, topic: str, offsets: dict[MessageQueue, int]) -> None:
        """The broker asked to move this group's offsets: keep and persist them."""
        for mq, offset in offsets.items():
            if mq.topic == topic:
                self.offset_store.update_offset(mq, offset, False)
                await self.offset_store.persist(mq)
