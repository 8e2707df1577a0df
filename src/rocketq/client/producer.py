"""``AsyncProducer``: sync, async and one-way sends, queue selection, batches, retries,
request-reply and message lookups (RocketMQ ``DefaultMQProducer`` /
``DefaultMQProducerImpl``)."""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from rocketq.client.api import process_send_response
from rocketq.client.config import ClientConfig, ProducerConfig
from rocketq.client.fault import LatencyFaultTolerance
from rocketq.client.instance import MQClientInstance, TopicPublishInfo, member_instance
from rocketq.client.message import Message, MessageExt, MessageQueue, SendResult, SendStatus
from rocketq.client.mq_admin import LONG_MAX, MQAdminImpl
from rocketq.client.namespace import (
    queue_with_namespace,
    queue_without_namespace,
    with_namespace,
    without_namespace,
)
from rocketq.client.request import REPLY_MESSAGE_FLAG, RequestReplyMixin
from rocketq.client.selectors import MessageQueueSelector, SelectMessageQueueByHash
from rocketq.common.errors import BrokerError, ClientError, RemotingError
from rocketq.common.lifecycle import AsyncLifecycle
from rocketq.common.message import (
    BatchEntry,
    MessageConst,
    SysFlag,
    encode_batch,
    encode_properties,
)
from rocketq.common.tasks import TaskOwner
from rocketq.common.topic import RETRY_GROUP_TOPIC_PREFIX
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.send_codec import send_v2_command

if TYPE_CHECKING:
    from rocketq.client.trace_dispatcher import TraceDispatcher

__all__ = ["AsyncProducer", "MessageQueueSelector", "SelectMessageQueueByHash"]

log = logging.getLogger("rocketq.client")

SendCallback = Callable[[SendResult | None, BaseException | None], object]
_R = TypeVar("_R")


def _check_message(msg: Message, max_size: int) -> None:
    topic, body = msg.topic, msg.body
    if not topic.strip() or len(topic) > 127 or not body or len(body) > max_size:
        _bad_message(topic, body, max_size)  # one test for a good message, every send


def _bad_message(topic: str, body: bytes, max_size: int) -> None:
    if not topic or not topic.strip():
        raise ClientError("the message's topic is blank")
    if len(topic) > 127:
        raise ClientError("the message's topic is longer than 127 characters")
    if not body:
        raise ClientError("the message's body is empty")
    raise ClientError(f"the message body is {len(body)} bytes, over the {max_size} limit")


class AsyncProducer(RequestReplyMixin, AsyncLifecycle):
    """A producer group. ``async with AsyncProducer("group", "127.0.0.1:9876") as p``.

    With ``ClientConfig.namespace`` set, topics and the group are used in that namespace
    (``ns%topic`` on the wire) while this API takes and returns plain names.
    """

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        config: ProducerConfig | None = None,
        client_config: ClientConfig | None = None,
        instance: MQClientInstance | None = None,
    ) -> None:
        self.config = config or ProducerConfig()
        self.instance, self._own_instance = member_instance(namesrv_addr, client_config, instance)
        self.namespace = self.instance.config.namespace
        self.group = with_namespace(self.namespace, group)
        self.publish_info: dict[str, TopicPublishInfo] = {}
        self.fault = LatencyFaultTolerance()
        self.admin = MQAdminImpl(self.instance)
        # Message trace (enable_msg_trace): built at start, closed after the last send.
        self.trace: TraceDispatcher | None = None
        # The async sends in flight; None before start(), closed by aclose().
        self._tasks: TaskOwner | None = None

    @property
    def _started(self) -> bool:
        return self._tasks is not None and not self._tasks.closed

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Register with the client instance and start it."""
        self.instance.register_producer(self)
        self.publish_info.setdefault(self.config.create_topic_key, TopicPublishInfo())
        await self.instance.start()
        if self.config.enable_msg_trace and self.trace is None:
            from rocketq.client.trace_dispatcher import TraceDispatcher

            self.trace = TraceDispatcher.for_member(
                self.instance, self.group, "PRODUCER", self.config.customized_trace_topic
            )
            await self.trace.start()
        self._tasks = TaskOwner(log)

    async def aclose(self) -> None:
        """Wait for async sends, unregister, stop the instance if it is ours."""
        tasks = self._tasks
        if tasks is None or tasks.closed:
            return
        await tasks.aclose(grace=None)  # every async send gets its answer
        if self.trace is not None:
            await self.trace.aclose()  # the last traces are sent before the instance stops
            self.trace = None
        await self.instance.unregister(producer_group=self.group)
        if self._own_instance:
            await self.instance.aclose()

    # -- instance callbacks -----------------------------------------------------------------

    def published_topics(self) -> set[str]:
        """Topics this producer sends to (their routes are refreshed)."""
        return set(self.publish_info)

    def update_publish_info(self, topic: str, info: TopicPublishInfo) -> None:
        """A fresh route arrived."""
        if topic in self.publish_info:
            info.send_which_queue = self.publish_info[topic].send_which_queue
            self.publish_info[topic] = info

    async def _publish_info(self, topic: str) -> TopicPublishInfo:
        """``tryToFindTopicPublishInfo``: cached route, the NameServer, else TBW102's route."""
        info = self.publish_info.get(topic)
        if info is None or not info.ok:
            self.publish_info.setdefault(topic, TopicPublishInfo())
            await self.instance.update_topic_route(topic)
            info = self.publish_info[topic]
        if not info.ok:
            await self.instance.update_topic_route(
                self.config.create_topic_key, default_route_for=topic
            )
            info = self.publish_info[topic]
        if not info.ok:
            raise BrokerError(
                ResponseCode.TOPIC_NOT_EXIST,
                f"No route info of this topic: {topic}; create it, or enable "
                "autoCreateTopicEnable on a broker",
            )
        return info

    # -- namespace --------------------------------------------------------------------------

    def _wrap(self, msg: Message) -> Message:
        """Put ``msg`` in this producer's namespace (Java sets the topic on the message)."""
        msg.topic = with_namespace(self.namespace, msg.topic)
        return msg

    def _unwrap(self, result: SendResult) -> SendResult:
        """The result with the plain topic (``sendResult.setMessageQueue(withoutNamespace)``)."""
        if not self.namespace:
            return result
        import dataclasses

        mq = queue_without_namespace(self.namespace, result.message_queue)
        return dataclasses.replace(result, message_queue=mq)

    async def _chosen_queue(
        self,
        msg: Message,
        queue: MessageQueue | None,
        selector: MessageQueueSelector | None,
        arg: object,
    ) -> MessageQueue | None:
        """The queue the caller chose (given, or by ``selector`` over the topic's queues with
        plain topic names); None when the producer should choose."""
        if queue is not None:
            return queue_with_namespace(self.namespace, queue)
        if selector is None:
            return None
        info = await self._publish_info(msg.topic)
        plain = [queue_without_namespace(self.namespace, mq) for mq in info.message_queues]
        chosen = selector(plain, msg, arg)
        if chosen is None:
            raise ClientError("select message queue return null.")
        return queue_with_namespace(self.namespace, chosen)

    # -- sending ----------------------------------------------------------------------------

    async def send(
        self,
        msg: Message,
        *,
        timeout: float | None = None,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
    ) -> SendResult:
        """Send and wait for the broker's answer; retries on another broker on failure
        (not when the queue is given or selected)."""
        deadline, info = self._begin_send(msg, timeout)
        if info is None:  # not cached: ask the NameServer
            info = await self._publish_info(msg.topic)
        if queue is not None or selector is not None:
            mq = await self._chosen_queue(msg, queue, selector, arg)
            if mq is not None:
                return self._unwrap(await self._send_to(mq, msg, deadline))
        # sendDefaultImpl's retry loop, here rather than in a coroutine of its own: every
        # send awaits through it (a coroutine layer costs ~0.3 µs a send).
        last_broker: str | None = None
        error: BaseException | None = None
        instance = self.instance
        for _ in range(1 + self.config.retry_times_when_send_failed):
            started = time.monotonic()
            if started >= deadline:
                break
            mq = self._select_queue(info, last_broker)
            last_broker = mq.broker_name
            addr = instance.find_broker_addr_master(last_broker)
            try:
                if addr is None or self.trace is not None:
                    result = await self._send_to(mq, msg, deadline)
                else:  # _send_to written out, the response awaited without a coroutine
                    cmd, uniq = self._request(mq, msg)
                    remaining = max(deadline - started, 0.001)
                    remoting = instance.remoting
                    future = remoting.request_now(addr, cmd, remaining)
                    if future is None:  # not connected yet
                        resp = await remoting.invoke(addr, cmd, remaining)
                    else:
                        resp = await future
                    result = process_send_response(resp, mq, uniq)
            except (RemotingError, BrokerError) as exc:
                self._failed(mq, started, exc)  # raises what is not worth a retry
                error = exc
                continue
            if self.config.send_latency_fault_enable:
                self._record(mq, started, isolation=False)
            if result.status is not _SEND_OK and self.config.retry_another_broker_when_not_store_ok:
                continue
            return self._unwrap(result) if self.namespace else result
        if error is not None:
            raise error
        raise RemotingError(f"send to {msg.topic} timed out before any attempt")

    def _begin_send(
        self, msg: Message, timeout: float | None
    ) -> tuple[float, TopicPublishInfo | None]:
        """A send's checks (started, message), the namespace, its deadline and the cached
        route of its topic (None when there is none yet)."""
        tasks, config = self._tasks, self.config
        if tasks is None or tasks.closed:
            raise ClientError(_NOT_STARTED)
        if self.namespace:
            self._wrap(msg)
        topic, body, max_size = msg.topic, msg.body, config.max_message_size
        if not topic.strip() or len(topic) > 127 or not body or len(body) > max_size:
            _bad_message(topic, body, max_size)
        timeout = timeout if timeout is not None else config.send_msg_timeout / 1000
        info = self.publish_info.get(topic)
        if info is not None and not info.message_queues:
            info = None
        return time.monotonic() + timeout, info

    def _failed(self, mq: MessageQueue, started: float, exc: RemotingError | BrokerError) -> None:
        """An attempt failed: the broker is avoided for a while (when enabled); a transport
        error asks for the route again soon; a broker error not worth a retry is raised."""
        self._record(mq, started, isolation=True)
        if isinstance(exc, RemotingError):
            # The route may still list a master that died: fetch it again soon.
            self.instance.note_broker_failure(mq.topic, exc)
        elif not exc.retriable:
            raise exc

    def _record(self, mq: MessageQueue, started: float, isolation: bool) -> None:
        if self.config.send_latency_fault_enable:
            self.fault.update(mq.broker_name, (time.monotonic() - started) * 1000, isolation)

    def _select_queue(self, info: TopicPublishInfo, last_broker: str | None) -> MessageQueue:
        """Round robin, skipping the broker that just failed (and slow ones when enabled)."""
        mqs = info.message_queues
        if last_broker is None and not self.config.send_latency_fault_enable:
            # The first attempt without latency fault tolerance: the next queue, as the
            # loop below would pick it (nothing to skip).
            info.send_which_queue = which = info.send_which_queue + 1
            return mqs[which % len(mqs)]
        for _ in range(len(mqs)):
            info.send_which_queue += 1
            mq = mqs[info.send_which_queue % len(mqs)]
            if mq.broker_name == last_broker and len(mqs) > 1:
                continue
            if self.config.send_latency_fault_enable and not self.fault.is_available(
                mq.broker_name
            ):
                continue
            return mq
        info.send_which_queue += 1
        return mqs[info.send_which_queue % len(mqs)]

    async def _send_to(self, mq: MessageQueue, msg: Message, deadline: float) -> SendResult:
        """``sendKernelImpl``: one attempt to one queue."""
        addr = self.instance.find_broker_addr_master(mq.broker_name)
        if addr is None:
            await self.instance.update_topic_route(mq.topic)
            addr = self.instance.find_broker_addr_master(mq.broker_name)
        if addr is None:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, f"The broker[{mq.broker_name}] not exist")
        cmd, uniq = self._request(mq, msg)
        remaining = max(deadline - time.monotonic(), 0.001)
        if self.trace is None:  # MQClientAPI.send_message, one coroutine less per send
            resp = await self.instance.remoting.invoke(addr, cmd, remaining)
            return process_send_response(resp, mq, uniq)
        begin = int(time.time() * 1000)  # SendMessageTraceHookImpl: before the send
        result = await self.instance.api.send_message(addr, cmd, mq, uniq, remaining)
        self.trace.on_sent(self.group, msg, addr, begin, result)
        return result

    def _request(self, mq: MessageQueue, msg: Message) -> tuple[RemotingCommand, str]:
        props = msg.all_properties()
        now_ms = time.time_ns() // 1_000_000  # the UNIQ_KEY's and bornTimestamp's clock
        uniq = props.get(_UNIQ_KEY)
        if uniq is None:  # MessageClientIDSetter.setUniqID: on the message, so a retry keeps it
            uniq = self.instance.uniq_ids.next_id(now_ms)
            props[_UNIQ_KEY] = msg.properties[_UNIQ_KEY] = uniq
        body, sys_flag = msg.body, 0
        if len(body) > self.config.compress_msg_body_over_howmuch:
            body, sys_flag = zlib.compress(body, 5), SysFlag.COMPRESSED
        prepared = props.get(_PREPARED)
        if prepared is not None and prepared.lower() == "true":
            sys_flag |= SysFlag.TRANSACTION_PREPARED_TYPE
        code = _SEND_MESSAGE_V2
        if props.get(_MESSAGE_TYPE) == REPLY_MESSAGE_FLAG:
            code = RequestCode.SEND_REPLY_MESSAGE_V2  # a reply: pushed to its requester
        config = self.config
        cmd = send_v2_command(
            code,
            self.group,
            mq.topic,
            config.create_topic_key,  # defaultTopic
            config.default_topic_queue_nums,
            mq.queue_id,
            sys_flag,
            now_ms,  # bornTimestamp
            msg.flag,
            encode_properties(props),
            False,  # batch
            body,
        )
        return cmd, uniq

    def _send_ext(
        self,
        mq: MessageQueue,
        flag: int,
        sys_flag: int,
        properties: str,
        born_ms: int | None = None,
    ) -> dict[str, str]:
        """The extFields of ``SendMessageRequestHeaderV2`` for one send (what
        :func:`send_v2_command` writes; a test keeps them the same as the header object's
        ``to_ext``). ``born_ms``: bornTimestamp, now unless given."""
        if born_ms is None:
            born_ms = time.time_ns() // 1_000_000
        config = self.config
        cmd = send_v2_command(
            _SEND_MESSAGE_V2,
            self.group,
            mq.topic,
            config.create_topic_key,
            config.default_topic_queue_nums,
            mq.queue_id,
            sys_flag,
            born_ms,
            flag,
            properties,
            False,
            None,
        )
        assert cmd.ext_fields is not None
        return cmd.ext_fields

    def send_async(
        self,
        msg: Message,
        callback: SendCallback | None = None,
        *,
        timeout: float | None = None,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
    ) -> asyncio.Future[SendResult]:
        """Send without waiting: returns a future (await it, or pass ``callback``); to a
        given or selected queue as :meth:`send` does."""
        send = self.send(msg, timeout=timeout, queue=queue, selector=selector, arg=arg)
        return self._in_background(send, callback, f"send-async-{msg.topic}")

    def _in_background(
        self,
        work: Coroutine[Any, Any, _R],
        callback: Callable[[_R | None, BaseException | None], object] | None,
        name: str,
    ) -> asyncio.Future[_R]:
        """Run ``work`` as an async send: its future settles with the outcome, then the
        callback runs; a producer not started fails it on the next loop turn."""
        future: asyncio.Future[_R] = asyncio.get_running_loop().create_future()
        if self._tasks is None or self._tasks.closed:
            work.close()  # settled on the next loop turn, as a started send's error would be
            loop = asyncio.get_running_loop()
            loop.call_soon(_complete, future, callback, None, ClientError(_NOT_STARTED))
            return future
        task = self._tasks.spawn(_settle(work, future, callback), name)
        future.add_done_callback(lambda f: task.cancel() if f.cancelled() else None)
        return future

    async def send_oneway(
        self,
        msg: Message,
        *,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
    ) -> None:
        """Send without any answer (fastest, no guarantee); to a given or selected queue."""
        self._check_started()
        _check_message(self._wrap(msg), self.config.max_message_size)
        info = await self._publish_info(msg.topic)
        mq = await self._chosen_queue(msg, queue, selector, arg) or self._select_queue(info, None)
        addr = self.instance.find_broker_addr_master(mq.broker_name)
        if addr is None:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, f"The broker[{mq.broker_name}] not exist")
        cmd, _ = self._request(mq, msg)
        await self.instance.remoting.invoke_oneway(addr, cmd)

    async def send_batch(
        self,
        msgs: list[Message],
        *,
        timeout: float | None = None,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
    ) -> SendResult:
        """Send messages of one topic as one SEND_BATCH_MESSAGE (consecutive offsets), to
        the next queue or a given or selected one (the selector sees the first message)."""
        self._check_started()
        body, ids = self._batch_body(msgs)
        info = await self._publish_info(msgs[0].topic)
        mq = await self._chosen_queue(msgs[0], queue, selector, arg) or self._select_queue(
            info, None
        )
        addr = self.instance.find_broker_addr_master(mq.broker_name)
        if addr is None:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, f"The broker[{mq.broker_name}] not exist")
        ext = self._send_ext(mq, 0, 0, "")
        ext["m"] = "true"
        cmd = RemotingCommand.request(RequestCode.SEND_BATCH_MESSAGE, ext, body)
        t = timeout if timeout is not None else self.config.send_msg_timeout / 1000
        begin = int(time.time() * 1000)
        result = await self.instance.api.send_message(addr, cmd, mq, ",".join(ids), t)
        if self.trace is not None:
            self.trace.on_batch_sent(self.group, msgs, addr, begin, result)
        return self._unwrap(result)

    def _batch_body(self, msgs: list[Message]) -> tuple[bytes, list[str]]:
        """``batch()``: checks, UNIQ_KEYs, the encoded body."""
        if not msgs:
            raise ClientError("the batch is empty")
        for m in msgs:
            self._wrap(m)
        topic = msgs[0].topic
        if any(m.topic != topic for m in msgs):
            raise ClientError("every message of a batch must have the same topic")
        if any(m.delay_time_level > 0 for m in msgs) or topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            raise ClientError("batches support neither delay levels nor retry topics")
        entries, ids = [], []
        for m in msgs:
            uniq = m.properties.setdefault(
                MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX, self.instance.uniq_ids.next_id()
            )
            ids.append(uniq)
            entries.append(BatchEntry(m.flag, m.body, encode_properties(m.all_properties())))
        body = encode_batch(entries)
        if len(body) > self.config.max_message_size:
            raise ClientError(
                f"the batch is {len(body)} bytes, over the {self.config.max_message_size} limit"
            )
        return body, ids

    def send_batch_async(
        self,
        msgs: list[Message],
        callback: SendCallback | None = None,
        *,
        timeout: float | None = None,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
    ) -> asyncio.Future[SendResult]:
        """:meth:`send_batch` without waiting: a future, and ``callback(result, error)``."""
        send = self.send_batch(msgs, timeout=timeout, queue=queue, selector=selector, arg=arg)
        return self._in_background(send, callback, "send-batch-async")

    # -- lookups (MQAdminImpl) --------------------------------------------------------------

    async def view_message(self, msg_id: str, topic: str | None = None) -> MessageExt:
        """The message of an offset msgId, or (with ``topic``) of a UNIQ_KEY msgId."""
        topic = with_namespace(self.namespace, topic) if topic else None
        return await self.admin.view_message(msg_id, topic)

    async def query_message(
        self, topic: str, key: str, max_num: int = 64, begin: int = 0, end: int = LONG_MAX
    ) -> list[MessageExt]:
        """Messages of ``topic`` carrying ``key`` in KEYS, stored within [begin, end] ms."""
        found = await self.admin.query_message(
            with_namespace(self.namespace, topic), key, max_num, begin, end
        )
        for m in found:
            m.topic = without_namespace(self.namespace, m.topic)
        return found

    async def search_offset(self, mq: MessageQueue, timestamp: int) -> int:
        """The first offset of ``mq`` stored at/after ``timestamp`` ms."""
        return await self.admin.search_offset(queue_with_namespace(self.namespace, mq), timestamp)

    async def max_offset(self, mq: MessageQueue) -> int:
        """The offset the next message of ``mq`` will get."""
        return await self.admin.max_offset(queue_with_namespace(self.namespace, mq))

    async def min_offset(self, mq: MessageQueue) -> int:
        """The lowest offset ``mq`` still holds."""
        return await self.admin.min_offset(queue_with_namespace(self.namespace, mq))

    def _check_started(self) -> None:
        if not self._started:
            raise ClientError(_NOT_STARTED)


_NOT_STARTED = "the producer is not started: call start() or use 'async with'"
_UNIQ_KEY = MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX
_PREPARED = MessageConst.TRANSACTION_PREPARED
_MESSAGE_TYPE = MessageConst.MESSAGE_TYPE
_SEND_MESSAGE_V2 = RequestCode.SEND_MESSAGE_V2
_SEND_OK = SendStatus.SEND_OK


async def _settle(
    work: Coroutine[Any, Any, _R],
    future: asyncio.Future[_R],
    callback: Callable[[_R | None, BaseException | None], object] | None,
) -> None:
    """Run an async send and settle its future with the outcome."""
    try:
        result = await work
    except asyncio.CancelledError:
        future.cancel()
        raise
    except Exception as exc:
        _complete(future, callback, None, exc)
    else:
        _complete(future, callback, result, None)


def _complete(
    future: asyncio.Future[_R],
    callback: Callable[[_R | None, BaseException | None], object] | None,
    result: _R | None,
    error: Exception | None,
) -> None:
    """Settle an async send's future, then run its callback (its errors are logged)."""
    if not future.done():
        if error is None and result is not None:
            future.set_result(result)
        elif error is not None:
            future.set_exception(error)
            future.exception()  # seen: a caller with only a callback is not warned at GC
    if callback is not None:
        try:
            callback(result, error)
        except Exception:
            log.exception("send callback failed (result %s, error %r)", result, error)
