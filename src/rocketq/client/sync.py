"""The blocking client: ``Producer``, ``TransactionProducer``, ``PushConsumer``,
``LitePullConsumer``, ``PullConsumer``.

Each is a thin facade over its asyncio core (``AsyncProducer`` …) with the same method
names, but blocking. All of them run their cores on one background event-loop thread
per process (``BackgroundLoop.default()``: started on first use, uvloop when installed,
stopped at interpreter exit), so they can be used from plain threads and scripts::

    with Producer("group", "127.0.0.1:9876") as producer:
        producer.send(Message("TopicTest", b"hello"))

Callbacks (``send_async``) and ``async def`` listeners run on that loop thread and must
not block it; plain-function listeners run on the consumer's thread pool and may call
the blocking API (e.g. send with a ``Producer``). A blocking call made *on* the loop
thread would wait for itself, so it raises ``ClientError`` instead. ``TransactionProducer``
runs a plain local transaction on the thread that sends (as Java does) and a plain checker
on its own check thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rocketq.client.background import BackgroundLoop, Facade
from rocketq.client.config import ClientConfig, ConsumerConfig
from rocketq.client.consume_service import Listener
from rocketq.client.message import MessageExt, MessageQueue, PullResult
from rocketq.client.pull_consumer import (
    AsyncLitePullConsumer,
    AsyncPullConsumer,
    LitePullConsumerConfig,
    PullConsumerConfig,
)
from rocketq.client.push_consumer import AsyncPushConsumer
from rocketq.client.sync_producer import Producer, TransactionProducer

__all__ = [
    "BackgroundLoop",
    "LitePullConsumer",
    "Producer",
    "PullConsumer",
    "PushConsumer",
    "TransactionProducer",
]


class PushConsumer(Facade):
    """Blocking ``AsyncPushConsumer``: subscribe, register a listener, start."""

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        config: ConsumerConfig | None = None,
        client_config: ClientConfig | None = None,
        loop: BackgroundLoop | None = None,
    ) -> None:
        self._runner = loop or BackgroundLoop.default()
        self._core: AsyncPushConsumer = self._runner.call(
            lambda: AsyncPushConsumer(
                group, namesrv_addr, config=config, client_config=client_config
            )
        )

    @property
    def core(self) -> AsyncPushConsumer:
        """The asyncio consumer underneath."""
        return self._core

    def subscribe(self, topic: str, expression: str = "*", expression_type: str = "TAG") -> None:
        """Subscribe to ``topic`` with a tag expression (``"TagA || TagB"``, ``"*"``)."""
        self._runner.call(lambda: self._core.subscribe(topic, expression, expression_type))

    def unsubscribe(self, topic: str) -> None:
        """Stop receiving ``topic``."""
        self._runner.call(lambda: self._core.unsubscribe(topic))

    def register_listener(self, listener: Listener, *, orderly: bool = False) -> None:
        """``listener(msgs, context) -> ConsumeConcurrentlyStatus`` (or the orderly status);
        a plain function runs on the consume thread pool, ``async def`` on the loop."""
        self._runner.call(lambda: self._core.register_listener(listener, orderly=orderly))

    def suspend(self) -> None:
        """Stop pulling until :meth:`resume` (see ``AsyncPushConsumer.suspend``)."""
        self._runner.call(self._core.suspend)

    def resume(self) -> None:
        """Pull again after :meth:`suspend`."""
        self._runner.call(self._core.resume)

    def fetch_subscribe_message_queues(self, topic: str) -> list[MessageQueue]:
        """Every readable queue of ``topic``."""
        return self._runner.run(self._core.fetch_subscribe_message_queues(topic))


class LitePullConsumer(Facade):
    """Blocking ``AsyncLitePullConsumer``: ``subscribe``/``assign``, then ``poll``."""

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        config: LitePullConsumerConfig | None = None,
        client_config: ClientConfig | None = None,
        loop: BackgroundLoop | None = None,
    ) -> None:
        self._runner = loop or BackgroundLoop.default()
        self._core: AsyncLitePullConsumer = self._runner.call(
            lambda: AsyncLitePullConsumer(
                group, namesrv_addr, config=config, client_config=client_config
            )
        )

    @property
    def core(self) -> AsyncLitePullConsumer:
        """The asyncio consumer underneath."""
        return self._core

    def subscribe(self, topic: str, expression: str = "*", expression_type: str = "TAG") -> None:
        """Consume ``topic``, sharing its queues with the group."""
        self._runner.call(lambda: self._core.subscribe(topic, expression, expression_type))

    def unsubscribe(self, topic: str) -> None:
        """Stop consuming ``topic``."""
        self._runner.call(lambda: self._core.unsubscribe(topic))

    def set_sub_expression_for_assign(self, topic: str, expression: str) -> None:
        """The tag expression for assigned queues of ``topic``."""
        self._runner.call(lambda: self._core.set_sub_expression_for_assign(topic, expression))

    def assign(self, mqs: Iterable[MessageQueue]) -> None:
        """Consume exactly these queues."""
        wanted = list(mqs)
        self._runner.call(lambda: self._core.assign(wanted))

    def assignment(self) -> set[MessageQueue]:
        """The queues pulled now."""
        return self._runner.call(self._core.assignment)

    def pause(self, mqs: Iterable[MessageQueue]) -> None:
        """Stop pulling these queues."""
        wanted = list(mqs)
        self._runner.call(lambda: self._core.pause(wanted))

    def resume(self, mqs: Iterable[MessageQueue]) -> None:
        """Pull these queues again."""
        wanted = list(mqs)
        self._runner.call(lambda: self._core.resume(wanted))

    def poll(self, timeout: float | None = None) -> list[MessageExt]:
        """The next batch, or ``[]`` after ``timeout`` seconds."""
        return self._runner.run(self._core.poll(timeout))

    def commit(
        self, offsets: Mapping[MessageQueue, int] | None = None, *, persist: bool = True
    ) -> None:
        """Commit what ``poll`` returned (or ``offsets``); with ``persist`` to the broker now."""
        self._runner.run(self._core.commit(offsets, persist=persist))

    def committed(self, mq: MessageQueue) -> int:
        """The committed offset of ``mq``; -1 when there is none."""
        return self._runner.run(self._core.committed(mq))

    def seek(self, mq: MessageQueue, offset: int) -> None:
        """Continue ``mq`` at ``offset``."""
        self._runner.run(self._core.seek(mq, offset))

    def seek_to_begin(self, mq: MessageQueue) -> None:
        """Continue ``mq`` at its first stored message."""
        self._runner.run(self._core.seek_to_begin(mq))

    def seek_to_end(self, mq: MessageQueue) -> None:
        """Continue ``mq`` after its last message."""
        self._runner.run(self._core.seek_to_end(mq))

    def offset_for_timestamp(self, mq: MessageQueue, timestamp: int) -> int:
        """The first offset of ``mq`` stored at or after ``timestamp`` (epoch ms)."""
        return self._runner.run(self._core.offset_for_timestamp(mq, timestamp))

    def fetch_message_queues(self, topic: str) -> list[MessageQueue]:
        """Every readable queue of ``topic``."""
        return self._runner.run(self._core.fetch_message_queues(topic))


class PullConsumer(Facade):
    """Blocking ``AsyncPullConsumer``: ``pull(mq, expression, offset, max_nums)``."""

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        config: PullConsumerConfig | None = None,
        client_config: ClientConfig | None = None,
        loop: BackgroundLoop | None = None,
    ) -> None:
        self._runner = loop or BackgroundLoop.default()
        self._core: AsyncPullConsumer = self._runner.call(
            lambda: AsyncPullConsumer(
                group, namesrv_addr, config=config, client_config=client_config
            )
        )

    @property
    def core(self) -> AsyncPullConsumer:
        """The asyncio consumer underneath."""
        return self._core

    def pull(
        self,
        mq: MessageQueue,
        expression: str,
        offset: int,
        max_nums: int = 32,
        *,
        timeout: float | None = None,
    ) -> PullResult:
        """Up to ``max_nums`` messages of ``mq`` from ``offset`` on, answered at once."""
        return self._runner.run(self._core.pull(mq, expression, offset, max_nums, timeout=timeout))

    def pull_block_if_not_found(
        self, mq: MessageQueue, expression: str, offset: int, max_nums: int = 32
    ) -> PullResult:
        """Like ``pull``, but the broker waits for a message (up to 20 s)."""
        return self._runner.run(
            self._core.pull_block_if_not_found(mq, expression, offset, max_nums)
        )

    def fetch_subscribe_message_queues(self, topic: str) -> list[MessageQueue]:
        """Every readable queue of ``topic``."""
        return self._runner.run(self._core.fetch_subscribe_message_queues(topic))

    def update_consume_offset(self, mq: MessageQueue, offset: int) -> None:
        """Keep ``offset`` as the group's offset of ``mq``."""
        self._runner.call(lambda: self._core.update_consume_offset(mq, offset))

    def fetch_consume_offset(self, mq: MessageQueue, from_store: bool = False) -> int:
        """The group's offset of ``mq``; -1 when there is none."""
        return self._runner.run(self._core.fetch_consume_offset(mq, from_store))

    def min_offset(self, mq: MessageQueue) -> int:
        """The lowest offset still stored in ``mq``."""
        return self._runner.run(self._core.min_offset(mq))

    def max_offset(self, mq: MessageQueue) -> int:
        """The offset the next message of ``mq`` will get."""
        return self._runner.run(self._core.max_offset(mq))
