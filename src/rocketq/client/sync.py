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

import asyncio
import atexit
import concurrent.futures
import functools
import inspect
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar

from rocketq.client.config import ClientConfig, ConsumerConfig, ProducerConfig
from rocketq.client.consume_service import Listener
from rocketq.client.message import (
    Message,
    MessageExt,
    MessageQueue,
    PullResult,
    SendResult,
    SendStatus,
)
from rocketq.client.producer import AsyncProducer, MessageQueueSelector, SendCallback
from rocketq.client.pull_consumer import (
    AsyncLitePullConsumer,
    AsyncPullConsumer,
    LitePullConsumerConfig,
    PullConsumerConfig,
)
from rocketq.client.push_consumer import AsyncPushConsumer
from rocketq.client.transaction import (
    AsyncTransactionProducer,
    LocalChecker,
    LocalExecutor,
    LocalTransactionState,
    TransactionListener,
    TransactionSendResult,
    local_state,
)
from rocketq.common.errors import ClientError

__all__ = [
    "BackgroundLoop",
    "LitePullConsumer",
    "Producer",
    "PullConsumer",
    "PushConsumer",
    "TransactionProducer",
]

log = logging.getLogger("rocketq.client")

_T = TypeVar("_T")
_P = ParamSpec("_P")
# How long interpreter exit waits for the loop thread to finish its last callbacks.
_STOP_JOIN_TIMEOUT_S = 5.0
# TransactionMQProducer's checkThreadPoolMaxSize: check-backs are answered one at a time.
_CHECK_THREADS = 1


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class BackgroundLoop:
    """An event loop running forever in a daemon thread; blocking code submits to it."""

    _default: BackgroundLoop | None = None
    _default_lock = threading.Lock()

    def __init__(self, name: str = "rocketq-client") -> None:
        self._loop = _new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    @classmethod
    def default(cls) -> BackgroundLoop:
        """The process-wide loop, created on first use and stopped at exit."""
        with cls._default_lock:
            if cls._default is None or not cls._default.running:
                cls._default = cls()
                atexit.register(cls._default.stop)
            return cls._default

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the cores run on."""
        return self._loop

    @property
    def running(self) -> bool:
        """True until ``stop()``."""
        return self._thread.is_alive() and not self._loop.is_closed()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        try:
            self._loop.run_forever()
        finally:
            self._cancel_leftovers()
            self._loop.close()

    def _cancel_leftovers(self) -> None:
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        if tasks:
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))

    def submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        """Schedule ``coro`` on the loop; its result arrives in the returned future."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the loop and wait for its result (Ctrl-C cancels it)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise ClientError(
                "a blocking rocketq call was made on the client's own event loop thread "
                "(from a callback or an async listener); use the async API there"
            )
        if not self.running:
            coro.close()
            raise ClientError("the rocketq client loop has stopped (interpreter exit?)")
        future = self.submit(coro)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def call(self, fn: Callable[[], _T]) -> _T:
        """Run a plain function on the loop thread (to build objects bound to the loop)."""

        async def wrapper() -> _T:
            return fn()

        return self.run(wrapper())

    def stop(self) -> None:
        """Cancel what still runs on the loop and end the thread."""
        if not self.running:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join(_STOP_JOIN_TIMEOUT_S)


class _Facade:
    """Shared plumbing: the loop, ``start``/``shutdown`` and the context manager."""

    _runner: BackgroundLoop
    _core: Any

    def start(self) -> None:
        """Start the client (blocks until started)."""
        self._runner.run(self._core.start())

    def shutdown(self) -> None:
        """Stop the client (blocks until offsets are persisted and brokers told)."""
        self._runner.run(self._core.aclose())

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()


class Producer(_Facade):
    """Blocking ``AsyncProducer``: ``send``, ``send_oneway``, ``send_async``, ``send_batch``."""

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        config: ProducerConfig | None = None,
        client_config: ClientConfig | None = None,
        loop: BackgroundLoop | None = None,
    ) -> None:
        self._runner = loop or BackgroundLoop.default()
        self._core: AsyncProducer = self._runner.call(
            lambda: AsyncProducer(group, namesrv_addr, config=config, client_config=client_config)
        )

    @property
    def core(self) -> AsyncProducer:
        """The asyncio producer underneath (use it from ``async`` code on its loop)."""
        return self._core

    def send(
        self,
        msg: Message,
        *,
        timeout: float | None = None,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
    ) -> SendResult:
        """Send and wait for the broker's answer (see ``AsyncProducer.send``)."""
        return self._runner.run(
            self._core.send(msg, timeout=timeout, queue=queue, selector=selector, arg=arg)
        )

    def send_oneway(self, msg: Message) -> None:
        """Send without waiting for any answer."""
        self._runner.run(self._core.send_oneway(msg))

    def send_async(
        self, msg: Message, callback: SendCallback | None = None, *, timeout: float | None = None
    ) -> concurrent.futures.Future[SendResult]:
        """Send in the background: returns a future; ``callback(result, error)`` runs on
        the client's loop thread when the answer is in (keep it short)."""
        core = self._core

        async def send() -> SendResult:
            return await core.send_async(msg, callback, timeout=timeout)

        return self._runner.submit(send())

    def send_batch(self, msgs: list[Message], *, timeout: float | None = None) -> SendResult:
        """Send messages of one topic as one batch."""
        return self._runner.run(self._core.send_batch(msgs, timeout=timeout))


class TransactionProducer(Producer):
    """Blocking ``AsyncTransactionProducer``: ``send_message_in_transaction`` besides the
    sends of ``Producer``.

    Give ``listener`` or the two hooks; each may be a plain function or ``async def``. A
    plain ``execute_local_transaction`` runs on the thread that called
    ``send_message_in_transaction`` (as in Java); a plain ``check_local_transaction`` runs on
    the producer's check thread. Both may block and use the blocking API.
    """

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        listener: TransactionListener | None = None,
        execute_local_transaction: LocalExecutor | None = None,
        check_local_transaction: LocalChecker | None = None,
        config: ProducerConfig | None = None,
        client_config: ClientConfig | None = None,
        loop: BackgroundLoop | None = None,
    ) -> None:
        self._runner = loop or BackgroundLoop.default()
        self._execute = execute_local_transaction or (
            listener.execute_local_transaction if listener is not None else None
        )
        check = check_local_transaction or (
            listener.check_local_transaction if listener is not None else None
        )
        self._check_pool = concurrent.futures.ThreadPoolExecutor(
            _CHECK_THREADS, thread_name_prefix=f"rocketq-tx-check-{group}"
        )
        self._tx: AsyncTransactionProducer = self._runner.call(
            lambda: AsyncTransactionProducer(
                group,
                namesrv_addr,
                execute_local_transaction=self._execute,
                check_local_transaction=_on_pool(check, self._check_pool),
                config=config,
                client_config=client_config,
            )
        )
        self._core = self._tx

    @property
    def core(self) -> AsyncTransactionProducer:
        """The asyncio transaction producer underneath."""
        return self._tx

    def shutdown(self) -> None:
        """Stop the producer, then its check thread."""
        try:
            super().shutdown()
        finally:
            self._check_pool.shutdown(wait=False, cancel_futures=True)

    def send_message_in_transaction(
        self, msg: Message, arg: object = None, *, timeout: float | None = None
    ) -> TransactionSendResult:
        """Send a half message, run the local transaction, end it on the broker (see
        ``AsyncTransactionProducer.send_message_in_transaction``)."""
        execute = self._execute
        if execute is None or inspect.iscoroutinefunction(execute):
            return self._runner.run(self._tx.send_message_in_transaction(msg, arg, timeout=timeout))
        half, result = self._runner.run(self._tx.send_half_message(msg, timeout=timeout))
        state, remark = LocalTransactionState.ROLLBACK_MESSAGE, None
        if result.status is SendStatus.SEND_OK:
            state, remark = local_state(lambda: execute(half, arg))
        return self._runner.run(self._tx.finish_transaction(result, state, remark))


def _on_pool(
    fn: Callable[_P, object] | None, pool: concurrent.futures.Executor
) -> Callable[_P, Any] | None:
    """A plain hook as a coroutine function that runs it on ``pool`` (off the loop);
    ``async def`` hooks and None as they are."""
    if fn is None or inspect.iscoroutinefunction(fn):
        return fn
    hook = fn

    async def on_pool(*args: _P.args, **kwargs: _P.kwargs) -> object:
        call = functools.partial(hook, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(pool, call)

    return on_pool


class PushConsumer(_Facade):
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


class LitePullConsumer(_Facade):
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


class PullConsumer(_Facade):
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
