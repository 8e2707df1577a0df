"""The blocking producers: ``Producer`` and ``TransactionProducer`` (see
:mod:`rocketq.client.sync` for how the blocking client runs its asyncio cores)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec

from rocketq.client.background import BackgroundLoop, Facade
from rocketq.client.config import ClientConfig, ProducerConfig
from rocketq.client.message import Message, MessageExt, MessageQueue, SendResult, SendStatus
from rocketq.client.mq_admin import LONG_MAX
from rocketq.client.producer import AsyncProducer, MessageQueueSelector, SendCallback
from rocketq.client.request import RequestCallback
from rocketq.client.transaction import (
    AsyncTransactionProducer,
    LocalChecker,
    LocalExecutor,
    LocalTransactionState,
    TransactionListener,
    TransactionSendResult,
    local_state,
)

__all__ = ["Producer", "TransactionProducer"]

_P = ParamSpec("_P")
# TransactionMQProducer's checkThreadPoolMaxSize: check-backs are answered one at a time.
_CHECK_THREADS = 1


class Producer(Facade):
    """Blocking ``AsyncProducer``: ``send``, ``send_oneway``, ``send_async``, ``send_batch``,
    ``send_batch_async``, ``request``, ``request_async`` and the message lookups."""

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

    def send_oneway(
        self,
        msg: Message,
        *,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
    ) -> None:
        """Send without waiting for any answer."""
        self._runner.run(self._core.send_oneway(msg, queue=queue, selector=selector, arg=arg))

    def send_async(
        self,
        msg: Message,
        callback: SendCallback | None = None,
        *,
        timeout: float | None = None,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
    ) -> concurrent.futures.Future[SendResult]:
        """Send in the background: returns a future; ``callback(result, error)`` runs on
        the client's loop thread when the answer is in (keep it short)."""
        core = self._core

        async def send() -> SendResult:
            return await core.send_async(
                msg, callback, timeout=timeout, queue=queue, selector=selector, arg=arg
            )

        return self._runner.submit(send())

    def send_batch(
        self,
        msgs: list[Message],
        *,
        timeout: float | None = None,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
    ) -> SendResult:
        """Send messages of one topic as one batch."""
        return self._runner.run(
            self._core.send_batch(msgs, timeout=timeout, queue=queue, selector=selector, arg=arg)
        )

    def send_batch_async(
        self,
        msgs: list[Message],
        callback: SendCallback | None = None,
        *,
        timeout: float | None = None,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
    ) -> concurrent.futures.Future[SendResult]:
        """:meth:`send_batch` in the background (a future, and the callback)."""
        core = self._core

        async def send() -> SendResult:
            return await core.send_batch_async(
                msgs, callback, timeout=timeout, queue=queue, selector=selector, arg=arg
            )

        return self._runner.submit(send())

    def request(
        self,
        msg: Message,
        *,
        timeout: float | None = None,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
    ) -> MessageExt:
        """Send a request and wait for its reply (see ``AsyncProducer.request``)."""
        return self._runner.run(
            self._core.request(msg, timeout=timeout, queue=queue, selector=selector, arg=arg)
        )

    def request_async(
        self,
        msg: Message,
        callback: RequestCallback | None = None,
        *,
        timeout: float | None = None,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
    ) -> concurrent.futures.Future[MessageExt]:
        """A request in the background: a future of the reply; ``callback(reply, error)``
        runs on the client's loop thread."""
        core = self._core

        async def request() -> MessageExt:
            return await core.request_async(
                msg, callback, timeout=timeout, queue=queue, selector=selector, arg=arg
            )

        return self._runner.submit(request())

    def view_message(self, msg_id: str, topic: str | None = None) -> MessageExt:
        """The message of an offset msgId (or, with ``topic``, of a UNIQ_KEY msgId)."""
        return self._runner.run(self._core.view_message(msg_id, topic))

    def query_message(
        self, topic: str, key: str, max_num: int = 64, begin: int = 0, end: int = LONG_MAX
    ) -> list[MessageExt]:
        """Messages of ``topic`` carrying ``key`` in KEYS, stored within [begin, end] ms."""
        return self._runner.run(self._core.query_message(topic, key, max_num, begin, end))

    def search_offset(self, mq: MessageQueue, timestamp: int) -> int:
        """The first offset of ``mq`` stored at/after ``timestamp`` ms."""
        return self._runner.run(self._core.search_offset(mq, timestamp))


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
        return self._runner.run(self._tx.finish_transaction(result, state, remark, msg=half))


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
