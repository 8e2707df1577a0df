"""SendMessage, ReceiveMessage, AckMessage and ChangeInvisibleDuration (the Java proxy's
``SendMessageActivity``, ``ReceiveMessageActivity``, ``AckMessageActivity`` and
``ChangeInvisibleDurationActivity``), over the broker's store and the POP engine.

Sends go through the store's put path, the one remoting sends take, so remoting consumers
see gRPC messages and the other way round. This stage sends NORMAL messages; FIFO, DELAY
and TRANSACTION messages are answered ``NOT_IMPLEMENTED``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc

from rocketq.broker.config import BrokerConfig
from rocketq.broker.filter import ExpressionMessageFilter, Sql92ParseError, compile_sql92
from rocketq.broker.grpc.convert import (
    BadMessage,
    duration_ms,
    message_to_pb,
    ok,
    parse_peer,
    status,
    stored_from_pb,
)
from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.grpc.v2 import service_pb2 as svc
from rocketq.broker.pop import PopService, ReceiptHandle
from rocketq.broker.subscription_group import SubscriptionGroupManager
from rocketq.broker.topic_config import TopicConfigManager
from rocketq.common.topic import NOT_ALLOWED_SEND_TOPICS, PERM_READ, PERM_WRITE, TopicConfig
from rocketq.remoting.heartbeat import EXPRESSION_SQL92, EXPRESSION_TAG, build_subscription
from rocketq.store.message_store import DefaultMessageStore
from rocketq.store.result import PutMessageStatus

__all__ = ["MessageActivity"]

log = logging.getLogger("rocketq.broker.grpc")

Context = grpc.aio.ServicerContext[Any, Any]
# What a failed put answers (the proxy's ResponseCode -> Code mapping).
_PUT_CODES = {
    PutMessageStatus.PUT_OK: pb.Code.OK,
    PutMessageStatus.FLUSH_DISK_TIMEOUT: pb.Code.MASTER_PERSISTENCE_TIMEOUT,
    PutMessageStatus.FLUSH_SLAVE_TIMEOUT: pb.Code.SLAVE_PERSISTENCE_TIMEOUT,
    PutMessageStatus.SLAVE_NOT_AVAILABLE: pb.Code.HA_NOT_AVAILABLE,
    PutMessageStatus.MESSAGE_ILLEGAL: pb.Code.BAD_REQUEST,
    PutMessageStatus.PROPERTIES_SIZE_EXCEEDED: pb.Code.MESSAGE_PROPERTIES_TOO_LARGE,
}
# The SDKs receive at most 32 messages per call.
MAX_BATCH_SIZE = 32
# Invisible durations accepted by ReceiveMessage / ChangeInvisibleDuration. The Java proxy
# refuses less than 10 s (minInvisibleTimeMillsForRecv) and more than 12 h; rocketq allows
# 1 s so that tests see redelivery quickly.
MIN_INVISIBLE_MS = 1_000
MAX_INVISIBLE_MS = 12 * 3600 * 1000
# Used when a receive names no invisible duration (the SDKs always do).
DEFAULT_INVISIBLE_MS = 30_000
# A receive without a long-polling timeout waits this long (the SimpleConsumer's default).
DEFAULT_LONG_POLLING_MS = 20_000
# Answer a long poll this much before the client's deadline, so the answer arrives in time
# (ProxyConfig.longPollingReserveTimeInMillis).
LONG_POLLING_RESERVE_S = 0.1
_FILTER_TYPES = {pb.FilterType.TAG: EXPRESSION_TAG, pb.FilterType.SQL: EXPRESSION_SQL92}


class MessageActivity:
    """The message RPCs of the gRPC front end."""

    def __init__(
        self,
        config: BrokerConfig,
        store: DefaultMessageStore,
        topic_config_manager: TopicConfigManager,
        subscription_group_manager: SubscriptionGroupManager,
        pop_service: PopService,
    ) -> None:
        self.config = config
        self.store = store
        self.topics = topic_config_manager
        self.groups = subscription_group_manager
        self.pop = pop_service
        self._queue_counter = itertools.count()

    # -- send -------------------------------------------------------------------------------

    async def send_message(
        self, request: svc.SendMessageRequest, context: Context
    ) -> svc.SendMessageResponse:
        """Store each message (NORMAL); one result entry per message."""
        if not request.messages:
            return svc.SendMessageResponse(status=status(pb.Code.BAD_REQUEST, "no messages"))
        born_host = parse_peer(context.peer())
        entries = [await self._send_one(msg, born_host) for msg in request.messages]
        codes = {e.status.code for e in entries}
        if len(codes) == 1:
            overall = entries[0].status
        else:
            overall = status(pb.Code.MULTIPLE_RESULTS, "messages had different results")
        return svc.SendMessageResponse(status=overall, entries=entries)

    async def _send_one(self, msg: pb.Message, born_host: tuple[str, int]) -> svc.SendResultEntry:
        message_id = msg.system_properties.message_id
        try:
            config = self._writable_topic(msg.topic.name)
            self._check_type(msg)
            queue_id = next(self._queue_counter) % max(config.write_queue_nums, 1)
            stored = stored_from_pb(
                msg,
                queue_id,
                born_host,
                self.config.broker_cluster_name,
                self.store.config.max_message_size,
            )
        except BadMessage as exc:
            return svc.SendResultEntry(status=status(exc.code, str(exc)), message_id=message_id)
        result = await self.store.put_messages([stored], wait_store=True)
        code = _PUT_CODES.get(result.status, pb.Code.INTERNAL_SERVER_ERROR)
        if code != pb.Code.OK:
            text = f"{result.status.name} {result.remark}".strip()
            return svc.SendResultEntry(status=status(code, text), message_id=message_id)
        return svc.SendResultEntry(
            status=ok(), message_id=message_id, offset=result.appended[0].queue_offset
        )

    def _writable_topic(self, topic: str) -> TopicConfig:
        config = self.topics.select(topic)
        if config is None:
            raise BadMessage(pb.Code.TOPIC_NOT_FOUND, f"topic {topic} not found")
        if topic in NOT_ALLOWED_SEND_TOPICS:
            raise BadMessage(pb.Code.FORBIDDEN, f"sending to topic {topic} is forbidden")
        if not config.perm & self.config.broker_permission & PERM_WRITE:
            raise BadMessage(pb.Code.FORBIDDEN, f"topic {topic} is not writable on this broker")
        return config

    @staticmethod
    def _check_type(msg: pb.Message) -> None:
        kind = msg.system_properties.message_type
        if kind not in (pb.MessageType.NORMAL, pb.MessageType.MESSAGE_TYPE_UNSPECIFIED):
            name = pb.MessageType.Name(kind)
            raise BadMessage(
                pb.Code.NOT_IMPLEMENTED, f"{name} messages are not implemented by rocketq yet"
            )

    # -- receive ----------------------------------------------------------------------------

    async def receive_message(
        self, request: svc.ReceiveMessageRequest, context: Context
    ) -> AsyncIterator[svc.ReceiveMessageResponse]:
        """Pop up to ``batch_size`` messages, long polling until the request's timeout."""
        try:
            args = self._receive_args(request, context)
        except BadMessage as exc:
            yield svc.ReceiveMessageResponse(status=status(exc.code, str(exc)))
            return
        group, topic, queue_ids, batch, invisible_ms, message_filter, timeout_s = args
        found = await self.pop.receive(
            group, topic, queue_ids, batch, invisible_ms, message_filter, timeout_s
        )
        if not found:
            yield svc.ReceiveMessageResponse(
                status=status(pb.Code.MESSAGE_NOT_FOUND, "no new message")
            )
            return
        yield svc.ReceiveMessageResponse(status=ok())
        for popped in found:
            message = message_to_pb(
                popped.record, popped.handle.encode(), invisible_ms, popped.attempt, topic
            )
            yield svc.ReceiveMessageResponse(message=message)

    def _receive_args(
        self, request: svc.ReceiveMessageRequest, context: Context
    ) -> tuple[str, str, list[int], int, int, ExpressionMessageFilter, float]:
        topic = request.message_queue.topic.name
        config = self.topics.select(topic)
        if config is None:
            raise BadMessage(pb.Code.TOPIC_NOT_FOUND, f"topic {topic} not found")
        if not config.perm & self.config.broker_permission & PERM_READ:
            raise BadMessage(pb.Code.FORBIDDEN, f"topic {topic} is not readable on this broker")
        group = request.group.name
        if not group or self.groups.find(group) is None:
            raise BadMessage(pb.Code.CONSUMER_GROUP_NOT_FOUND, f"group {group!r} not found")
        if not 0 < request.batch_size <= MAX_BATCH_SIZE:
            size = request.batch_size
            raise BadMessage(
                pb.Code.BAD_REQUEST, f"batch_size must be 1..{MAX_BATCH_SIZE}, not {size}"
            )
        invisible_ms = DEFAULT_INVISIBLE_MS
        if request.HasField("invisible_duration"):
            invisible_ms = _checked_invisible(duration_ms(request.invisible_duration))
        polling_ms = DEFAULT_LONG_POLLING_MS
        if request.HasField("long_polling_timeout"):
            polling_ms = duration_ms(request.long_polling_timeout)
        timeout_s = polling_ms / 1000
        remaining = context.time_remaining()
        if remaining is not None:
            timeout_s = min(timeout_s, remaining - LONG_POLLING_RESERVE_S)
        message_filter = _filter(topic, request.filter_expression)
        queue_ids = list(range(config.read_queue_nums))
        return group, topic, queue_ids, request.batch_size, invisible_ms, message_filter, timeout_s

    # -- ack and change invisible duration --------------------------------------------------

    async def ack_message(
        self, request: svc.AckMessageRequest, _context: Context
    ) -> svc.AckMessageResponse:
        """Ack each entry; INVALID_RECEIPT_HANDLE for a stale or foreign handle."""
        entries = []
        for entry in request.entries:
            result = await self._ack_one(
                request.group.name, request.topic.name, entry.receipt_handle
            )
            entries.append(
                svc.AckMessageResultEntry(
                    message_id=entry.message_id, receipt_handle=entry.receipt_handle, status=result
                )
            )
        codes = {e.status.code for e in entries}
        if not entries:
            overall = status(pb.Code.BAD_REQUEST, "no entries")
        elif len(codes) == 1:
            overall = entries[0].status
        else:
            overall = status(pb.Code.MULTIPLE_RESULTS, "entries had different results")
        return svc.AckMessageResponse(status=overall, entries=entries)

    async def _ack_one(self, group: str, topic: str, text: str) -> pb.Status:
        try:
            handle = ReceiptHandle.decode(text)
        except ValueError as exc:
            return status(pb.Code.INVALID_RECEIPT_HANDLE, f"bad receipt handle: {exc}")
        if await self.pop.ack(group, topic, handle):
            return ok()
        return status(pb.Code.INVALID_RECEIPT_HANDLE, "receipt handle expired: delivered again")

    async def change_invisible_duration(
        self, request: svc.ChangeInvisibleDurationRequest, _context: Context
    ) -> svc.ChangeInvisibleDurationResponse:
        """Make the message invisible for the new duration from now; a new handle."""
        try:
            handle = ReceiptHandle.decode(request.receipt_handle)
            invisible_ms = _checked_invisible(duration_ms(request.invisible_duration))
        except ValueError as exc:
            return svc.ChangeInvisibleDurationResponse(
                status=status(pb.Code.INVALID_RECEIPT_HANDLE, f"bad receipt handle: {exc}")
            )
        except BadMessage as exc:
            return svc.ChangeInvisibleDurationResponse(status=status(exc.code, str(exc)))
        new = await self.pop.change_invisible(
            request.group.name, request.topic.name, handle, invisible_ms
        )
        if new is None:
            return svc.ChangeInvisibleDurationResponse(
                status=status(pb.Code.INVALID_RECEIPT_HANDLE, "receipt handle expired")
            )
        return svc.ChangeInvisibleDurationResponse(status=ok(), receipt_handle=new.encode())


def _checked_invisible(ms: int) -> int:
    if not MIN_INVISIBLE_MS <= ms <= MAX_INVISIBLE_MS:
        raise BadMessage(
            pb.Code.ILLEGAL_INVISIBLE_TIME,
            f"invisible duration must be {MIN_INVISIBLE_MS} ms..{MAX_INVISIBLE_MS} ms, not {ms}",
        )
    return ms


def _filter(topic: str, expression: pb.FilterExpression) -> ExpressionMessageFilter:
    kind = _FILTER_TYPES.get(expression.type, EXPRESSION_TAG)
    subscription = build_subscription(topic, expression.expression, kind)
    if kind == EXPRESSION_TAG:
        return ExpressionMessageFilter(subscription)
    try:
        return ExpressionMessageFilter(subscription, compile_sql92(expression.expression))
    except (Sql92ParseError, ValueError) as exc:
        raise BadMessage(pb.Code.ILLEGAL_FILTER_EXPRESSION, f"bad SQL92 filter: {exc}") from exc
