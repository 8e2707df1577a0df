"""Request-reply on the client side (RocketMQ 4.6+ ``RequestResponseFuture``,
``RequestFutureHolder``, ``ClientRemotingProcessor#receiveReplyMessage``,
``MessageUtil.createReplyMessage``).

A request is a message sent with three more properties: CORRELATION_ID (a fresh UUID),
REPLY_TO_CLIENT (the requester's client id) and TTL (its timeout, ms). The consumer that
receives it answers with :func:`create_reply_message` sent by any producer; the broker
pushes that reply to the requester's connection (PUSH_REPLY_MESSAGE_TO_CLIENT), where
:class:`RequestFutureTable` hands it to the waiting request by its correlation id.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import zlib
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from rocketq.client.message import Message, MessageExt, MessageQueue, SendResult
from rocketq.common.errors import BrokerError, ClientError, RemotingError, RemotingTimeoutError
from rocketq.common.message import MessageConst, SysFlag, decode_properties
from rocketq.common.topic import reply_topic
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers.reply import ReplyMessageRequestHeader

if TYPE_CHECKING:
    from rocketq.client.config import ProducerConfig
    from rocketq.client.instance import MQClientInstance, TopicPublishInfo
    from rocketq.client.selectors import MessageQueueSelector

__all__ = [
    "REPLY_MESSAGE_FLAG",
    "RequestCallback",
    "RequestFutureTable",
    "RequestReplyMixin",
    "RequestTimeoutError",
    "create_reply_message",
    "get_reply_to_client",
    "reply_from_push",
]

log = logging.getLogger("rocketq.client")

# MixAll.REPLY_MESSAGE_FLAG: the MSG_TYPE property of a reply.
REPLY_MESSAGE_FLAG = "reply"

RequestCallback = Callable[[MessageExt | None, BaseException | None], object]


class RequestTimeoutError(RemotingTimeoutError):
    """The request was sent, but no reply came within its timeout
    (``RequestTimeoutException``)."""


def create_reply_message(request: MessageExt | Message, body: bytes) -> Message:
    """The reply to a received request (``MessageUtil.createReplyMessage``): topic
    ``<cluster>_REPLY_TOPIC`` of the cluster that stored the request, its CORRELATION_ID,
    REPLY_TO_CLIENT and TTL, MSG_TYPE=reply. Send it with any producer."""
    props = request.properties
    cluster = props.get(MessageConst.CLUSTER)
    if not cluster:
        raise ClientError(
            f"create reply message fail, requestMessage error, property[{MessageConst.CLUSTER}] "
            "is null (was it received from a broker?)"
        )
    copied = {
        key: props[key]
        for key in (
            MessageConst.CORRELATION_ID,
            MessageConst.MESSAGE_REPLY_TO_CLIENT,
            MessageConst.MESSAGE_TTL,
        )
        if props.get(key) is not None
    }
    copied[MessageConst.MESSAGE_TYPE] = REPLY_MESSAGE_FLAG
    return Message(reply_topic(cluster), body, properties=copied)


def get_reply_to_client(msg: MessageExt | Message) -> str | None:
    """The client id a request's reply goes to (``MessageUtil.getReplyToClient``)."""
    return msg.properties.get(MessageConst.MESSAGE_REPLY_TO_CLIENT)


def prepare_request(msg: Message, client_id: str, timeout: float) -> str:
    """``prepareSendRequest``: mark ``msg`` as a request; returns its correlation id."""
    correlation_id = str(uuid.uuid4())  # CorrelationIdUtil: a random UUID
    msg.properties[MessageConst.CORRELATION_ID] = correlation_id
    msg.properties[MessageConst.MESSAGE_REPLY_TO_CLIENT] = client_id
    msg.properties[MessageConst.MESSAGE_TTL] = str(int(timeout * 1000))
    return correlation_id


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port) if port.isdigit() else 0


def reply_from_push(req: RemotingCommand, received_ms: int) -> MessageExt:
    """The reply of a PUSH_REPLY_MESSAGE_TO_CLIENT as a MessageExt, ARRIVE_TIME added."""
    h = ReplyMessageRequestHeader.from_ext(req.ext_fields)
    body = req.body or b""
    if h.sys_flag & SysFlag.COMPRESSED:
        body = zlib.decompress(body)
    props = decode_properties(h.properties or "")
    props[MessageConst.REPLY_MESSAGE_ARRIVE_TIME] = str(received_ms)
    return MessageExt(
        topic=h.topic,
        body=body,
        properties=props,
        msg_id=props.get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX, ""),
        offset_msg_id="",
        queue_id=h.queue_id,
        queue_offset=0,
        commit_log_offset=0,
        born_timestamp=h.born_timestamp,
        born_host=_address(h.born_host),
        store_timestamp=h.store_timestamp,
        store_host=_address(h.store_host),
        reconsume_times=h.reconsume_times or 0,
        sys_flag=h.sys_flag,
        flag=h.flag,
        body_crc=0,
    )


class RequestFutureTable:
    """The requests of one client instance waiting for replies, by correlation id
    (``RequestFutureHolder``); answers PUSH_REPLY_MESSAGE_TO_CLIENT."""

    def __init__(self) -> None:
        self._futures: dict[str, asyncio.Future[MessageExt]] = {}

    def __len__(self) -> int:
        return len(self._futures)

    def add(self, correlation_id: str) -> asyncio.Future[MessageExt]:
        """A new request: the future its reply will settle."""
        future: asyncio.Future[MessageExt] = asyncio.get_running_loop().create_future()
        self._futures[correlation_id] = future
        return future

    def discard(self, correlation_id: str) -> None:
        """The request ended (answered, failed or timed out)."""
        self._futures.pop(correlation_id, None)

    def on_push(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """PUSH_REPLY_MESSAGE_TO_CLIENT from a broker (``receiveReplyMessage``)."""
        try:
            reply = reply_from_push(req, int(time.time() * 1000))
        except Exception as exc:
            log.warning("bad reply message from %s: %s", conn.peer, exc)
            return req.make_response(ResponseCode.SYSTEM_ERROR, "process reply message fail")
        correlation_id = reply.properties.get(MessageConst.CORRELATION_ID, "")
        future = self._futures.pop(correlation_id, None)
        if future is None:
            log.warning(
                "receive reply message, but not matched any request, CorrelationId: %s, "
                "reply from host: %s",
                correlation_id,
                reply.born_host[0],
            )
        elif not future.done():
            future.set_result(reply)
        return req.make_response()

    async def wait(
        self, correlation_id: str, future: asyncio.Future[MessageExt], timeout: float, topic: str
    ) -> MessageExt:
        """The reply, or RequestTimeoutError after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(timeout, 0))
        except TimeoutError as exc:
            raise RequestTimeoutError(
                f"send request message to <{topic}> OK, but wait reply message timeout, "
                f"{int(timeout * 1000)} ms."
            ) from exc
        finally:
            self.discard(correlation_id)


class RequestReplyMixin:
    """``request`` and ``request_async`` of :class:`~rocketq.client.producer.AsyncProducer`
    (``DefaultMQProducerImpl#request*``). Unlike the Java 4.9.4 client, whose plain
    ``request(msg, timeout)`` returns the request itself once it is sent
    (apache/rocketmq#6166), every form here waits for the reply."""

    if TYPE_CHECKING:  # provided by AsyncProducer
        config: ProducerConfig
        instance: MQClientInstance

        def _check_started(self) -> None: ...

        def _wrap(self, msg: Message) -> Message: ...

        async def _publish_info(self, topic: str) -> TopicPublishInfo: ...

        async def send(
            self,
            msg: Message,
            *,
            timeout: float | None = None,
            queue: MessageQueue | None = None,
            selector: MessageQueueSelector | None = None,
            arg: object = None,
        ) -> SendResult: ...

        def _in_background(
            self,
            work: Coroutine[Any, Any, MessageExt],
            callback: RequestCallback | None,
            name: str,
        ) -> asyncio.Future[MessageExt]: ...

    async def request(
        self,
        msg: Message,
        *,
        timeout: float | None = None,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
    ) -> MessageExt:
        """Send ``msg`` as a request and wait for its reply (RocketMQ 4.6+ request-reply):
        a consumer answers with :func:`~rocketq.client.request.create_reply_message`.
        Raises RequestTimeoutError when no reply came within ``timeout`` (default
        ``send_msg_timeout``), ClientError when the request could not be sent."""
        self._check_started()
        timeout = timeout if timeout is not None else self.config.send_msg_timeout / 1000
        deadline = time.monotonic() + timeout
        self._wrap(msg)
        correlation_id = prepare_request(msg, self.instance.client_id, timeout)
        table = self.instance.request_futures
        future = table.add(correlation_id)
        try:
            await self._prepare_route(msg.topic)
            remaining = deadline - time.monotonic()
            await self.send(msg, timeout=remaining, queue=queue, selector=selector, arg=arg)
        except (RemotingError, BrokerError, ClientError) as exc:
            table.discard(correlation_id)
            raise ClientError(f"send request message to <{msg.topic}> fail: {exc}") from exc
        except BaseException:
            table.discard(correlation_id)
            raise
        return await table.wait(correlation_id, future, deadline - time.monotonic(), msg.topic)

    async def _prepare_route(self, topic: str) -> None:
        """``prepareSendRequest``: a topic not routed yet is looked up and every broker
        hears from this client, so a reply finds its connection."""
        if topic not in self.instance.route_table:
            await self._publish_info(topic)
            await self.instance.send_heartbeat_to_all_brokers()

    def request_async(
        self,
        msg: Message,
        callback: RequestCallback | None = None,
        *,
        timeout: float | None = None,
        queue: MessageQueue | None = None,
        selector: MessageQueueSelector | None = None,
        arg: object = None,
    ) -> asyncio.Future[MessageExt]:
        """:meth:`request` without waiting: a future, and ``callback(reply, error)`` when
        the reply came or the request failed or timed out (``RequestCallback``)."""
        work = self.request(msg, timeout=timeout, queue=queue, selector=selector, arg=arg)
        return self._in_background(work, callback, f"request-{msg.topic}")
