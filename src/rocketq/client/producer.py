"""``AsyncProducer``: sync, async and one-way sends, queue selection, batches, retries
(RocketMQ ``DefaultMQProducer`` / ``DefaultMQProducerImpl``)."""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Callable
from types import TracebackType

from rocketq.client.config import ClientConfig, ProducerConfig
from rocketq.client.fault import LatencyFaultTolerance
from rocketq.client.instance import MQClientInstance, TopicPublishInfo, member_instance
from rocketq.client.message import Message, MessageQueue, SendResult, SendStatus
from rocketq.common.errors import BrokerError, ClientError, RemotingError
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
from rocketq.remoting.headers import SendMessageRequestHeaderV2

__all__ = ["AsyncProducer", "MessageQueueSelector", "SelectMessageQueueByHash"]

log = logging.getLogger("rocketq.client")

MessageQueueSelector = Callable[[list[MessageQueue], Message, object], MessageQueue]
SendCallback = Callable[[SendResult | None, BaseException | None], object]


def SelectMessageQueueByHash(mqs: list[MessageQueue], msg: Message, arg: object) -> MessageQueue:
    """RocketMQ's ``SelectMessageQueueByHash``: ``abs(hash(arg)) % len(mqs)`` with Java's
    String hash, so messages with one key (e.g. an order id) keep one queue."""
    from rocketq.common.hashing import java_string_hash

    h = java_string_hash(str(arg)) if not isinstance(arg, int) else arg
    return mqs[abs(h) % len(mqs)]


def _check_message(msg: Message, max_size: int) -> None:
    if not msg.topic or not msg.topic.strip():
        raise ClientError("the message's topic is blank")
    if len(msg.topic) > 127:
        raise ClientError("the message's topic is longer than 127 characters")
    if not msg.body:
        raise ClientError("the message's body is empty")
    if len(msg.body) > max_size:
        raise ClientError(f"the message body is {len(msg.body)} bytes, over the {max_size} limit")


class AsyncProducer:
    """A producer group. ``async with AsyncProducer("group", "127.0.0.1:9876") as p``."""

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        config: ProducerConfig | None = None,
        client_config: ClientConfig | None = None,
        instance: MQClientInstance | None = None,
    ) -> None:
        self.group = group
        self.config = config or ProducerConfig()
        self.instance, self._own_instance = member_instance(namesrv_addr, client_config, instance)
        self.publish_info: dict[str, TopicPublishInfo] = {}
        self.fault = LatencyFaultTolerance()
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
        self._tasks = TaskOwner(log)

    async def aclose(self) -> None:
        """Wait for async sends, unregister, stop the instance if it is ours."""
        tasks = self._tasks
        if tasks is None or tasks.closed:
            return
        await tasks.aclose(grace=None)  # every async send gets its answer
        await self.instance.unregister(producer_group=self.group)
        if self._own_instance:
            await self.instance.aclose()

    async def __aenter__(self) -> AsyncProducer:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

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
        """Send and wait for the broker's answer; retries on another broker on failure."""
        self._check_started()
        _check_message(msg, self.config.max_message_size)
        timeout = timeout if timeout is not None else self.config.send_msg_timeout / 1000
        deadline = time.monotonic() + timeout
        info = await self._publish_info(msg.topic)
        if queue is not None or selector is not None:
            mq = queue or selector(list(info.message_queues), msg, arg)  # type: ignore[misc]
            return await self._send_to(mq, msg, deadline)
        return await self._send_with_retries(
            info, msg, deadline, 1 + self.config.retry_times_when_send_failed
        )

    async def _send_with_retries(
        self, info: TopicPublishInfo, msg: Message, deadline: float, times: int
    ) -> SendResult:
        last_broker: str | None = None
        error: BaseException | None = None
        for _ in range(times):
            if time.monotonic() >= deadline:
                break
            mq = self._select_queue(info, last_broker)
            last_broker = mq.broker_name
            started = time.monotonic()
            try:
                result = await self._send_to(mq, msg, deadline)
            except RemotingError as exc:
                self._record(mq, started, isolation=True)
                # The route may still list a master that died: fetch it again soon.
                self.instance.note_broker_failure(mq.topic, exc)
                error = exc
                continue
            except BrokerError as exc:
                self._record(mq, started, isolation=True)
                if not exc.retriable:
                    raise
                error = exc
                continue
            self._record(mq, started, isolation=False)
            if (
                result.status is not SendStatus.SEND_OK
                and self.config.retry_another_broker_when_not_store_ok
            ):
                continue
            return result
        if error is not None:
            raise error
        raise RemotingError(f"send to {msg.topic} timed out before any attempt")

    def _record(self, mq: MessageQueue, started: float, isolation: bool) -> None:
        if self.config.send_latency_fault_enable:
            self.fault.update(mq.broker_name, (time.monotonic() - started) * 1000, isolation)

    def _select_queue(self, info: TopicPublishInfo, last_broker: str | None) -> MessageQueue:
        """Round robin, skipping the broker that just failed (and slow ones when enabled)."""
        mqs = info.message_queues
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
        return await self.instance.api.send_message(addr, cmd, mq, uniq, remaining)

    def _request(self, mq: MessageQueue, msg: Message) -> tuple[RemotingCommand, str]:
        props = msg.all_properties()
        uniq = props.setdefault(
            MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX, self.instance.uniq_ids.next_id()
        )
        body, sys_flag = msg.body, 0
        if len(body) > self.config.compress_msg_body_over_howmuch:
            body, sys_flag = zlib.compress(body, 5), SysFlag.COMPRESSED
        if props.get(MessageConst.TRANSACTION_PREPARED, "").lower() == "true":
            sys_flag |= SysFlag.TRANSACTION_PREPARED_TYPE
        header = self._header(mq, msg.flag, sys_flag, encode_properties(props))
        return RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header.to_ext(), body), uniq

    def _header(
        self, mq: MessageQueue, flag: int, sys_flag: int, properties: str
    ) -> SendMessageRequestHeaderV2:
        reconsume = None
        if mq.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            reconsume = 0
        return SendMessageRequestHeaderV2(
            producer_group=self.group,
            topic=mq.topic,
            default_topic=self.config.create_topic_key,
            default_topic_queue_nums=self.config.default_topic_queue_nums,
            queue_id=mq.queue_id,
            sys_flag=sys_flag,
            born_timestamp=int(time.time() * 1000),
            flag=flag,
            properties=properties,
            reconsume_times=reconsume,
            unit_mode=False,
            batch=False,
        )

    def send_async(
        self, msg: Message, callback: SendCallback | None = None, *, timeout: float | None = None
    ) -> asyncio.Future[SendResult]:
        """Send without waiting: returns a future (await it, or pass ``callback``)."""
        future: asyncio.Future[SendResult] = asyncio.get_running_loop().create_future()
        send = self._send_async(msg, timeout, future, callback)
        if self._tasks is None or self._tasks.closed:
            send.close()  # settled on the next loop turn, as a started send's error would be
            loop = asyncio.get_running_loop()
            loop.call_soon(_complete, future, callback, None, ClientError(_NOT_STARTED))
            return future
        task = self._tasks.spawn(send, f"send-async-{msg.topic}")
        future.add_done_callback(lambda f: task.cancel() if f.cancelled() else None)
        return future

    async def _send_async(
        self,
        msg: Message,
        timeout: float | None,
        future: asyncio.Future[SendResult],
        callback: SendCallback | None,
    ) -> None:
        try:
            result = await self.send(msg, timeout=timeout)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            _complete(future, callback, None, exc)
        else:
            _complete(future, callback, result, None)

    async def send_oneway(self, msg: Message) -> None:
        """Send without any answer (fastest, no guarantee)."""
        self._check_started()
        _check_message(msg, self.config.max_message_size)
        info = await self._publish_info(msg.topic)
        mq = self._select_queue(info, None)
        addr = self.instance.find_broker_addr_master(mq.broker_name)
        if addr is None:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, f"The broker[{mq.broker_name}] not exist")
        cmd, _ = self._request(mq, msg)
        await self.instance.remoting.invoke_oneway(addr, cmd)

    async def send_batch(self, msgs: list[Message], *, timeout: float | None = None) -> SendResult:
        """Send messages of one topic as one SEND_BATCH_MESSAGE (consecutive offsets)."""
        self._check_started()
        if not msgs:
            raise ClientError("the batch is empty")
        topic = msgs[0].topic
        if any(m.topic != topic for m in msgs):
            raise ClientError("every message of a batch must have the same topic")
        if any(m.delay_time_level > 0 for m in msgs) or topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            raise ClientError("batches support neither delay levels nor retry topics")
        entries, ids = [], []
        for m in msgs:
            props = m.all_properties()
            ids.append(
                props.setdefault(
                    MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX, self.instance.uniq_ids.next_id()
                )
            )
            entries.append(BatchEntry(m.flag, m.body, encode_properties(props)))
        body = encode_batch(entries)
        if len(body) > self.config.max_message_size:
            raise ClientError(
                f"the batch is {len(body)} bytes, over the {self.config.max_message_size} limit"
            )
        info = await self._publish_info(topic)
        mq = self._select_queue(info, None)
        addr = self.instance.find_broker_addr_master(mq.broker_name)
        if addr is None:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, f"The broker[{mq.broker_name}] not exist")
        header = self._header(mq, 0, 0, "")
        ext = header.to_ext()
        ext["m"] = "true"
        cmd = RemotingCommand.request(RequestCode.SEND_BATCH_MESSAGE, ext, body)
        t = timeout if timeout is not None else self.config.send_msg_timeout / 1000
        return await self.instance.api.send_message(addr, cmd, mq, ",".join(ids), t)

    def _check_started(self) -> None:
        if not self._started:
            raise ClientError(_NOT_STARTED)


_NOT_STARTED = "the producer is not started: call start() or use 'async with'"


def _complete(
    future: asyncio.Future[SendResult],
    callback: SendCallback | None,
    result: SendResult | None,
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
