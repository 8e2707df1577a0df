"""ReceiveMessage, AckMessage, ChangeInvisibleDuration and ForwardMessageToDeadLetterQueue
(the Java proxy's ``ReceiveMessageActivity``, ``AckMessageActivity``,
``ChangeInvisibleDurationActivity`` and ``ForwardMessageToDLQActivity``) over the POP
engine (:mod:`rocketq.broker.pop`); sends are in :mod:`.producer`.

A group with ``consumeMessageOrderly`` is a FIFO group: its receives are FIFO pops. A
message received more often than the group allows (``retryMaxTimes + 1`` deliveries) goes
to ``%DLQ%<group>`` instead of to the client (``PopMessageResultFilterImpl``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from rocketq.broker.config import BrokerConfig
from rocketq.broker.filter import ExpressionMessageFilter, Sql92ParseError, compile_sql92
from rocketq.broker.grpc.convert import (
    BadMessage,
    duration_ms,
    message_to_pb,
    ok,
    status,
)
from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.grpc.v2 import service_pb2 as svc
from rocketq.broker.pop import PoppedMessage, PopService, ReceiptHandle
from rocketq.broker.subscription_group import SubscriptionGroupManager
from rocketq.broker.topic_config import TopicConfigManager
from rocketq.common.topic import PERM_READ
from rocketq.remoting.heartbeat import EXPRESSION_SQL92, EXPRESSION_TAG, build_subscription
from rocketq.store.message_store import DefaultMessageStore

__all__ = ["MessageActivity"]

log = logging.getLogger("rocketq.broker.grpc")

Context = grpc.aio.ServicerContext[Any, Any]
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


@dataclass(frozen=True, slots=True)
class _Receive:
    """A checked ReceiveMessage request."""

    group: str
    topic: str
    queue_ids: list[int]
    batch: int
    invisible_ms: int
    message_filter: ExpressionMessageFilter
    timeout_s: float
    orderly: bool  # a FIFO group (consumeMessageOrderly)
    max_attempts: int  # deliveries before the DLQ (retryMaxTimes + 1)


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
        found = await self._receive(args)
        if not found:
            yield svc.ReceiveMessageResponse(
                status=status(pb.Code.MESSAGE_NOT_FOUND, "no new message")
            )
            return
        yield svc.ReceiveMessageResponse(status=ok())
        # When the messages left the server: the push consumers measure delivery latency
        # from it (their metrics subtract it unchecked, so a missing one fails the receive).
        now = Timestamp()
        now.GetCurrentTime()
        yield svc.ReceiveMessageResponse(delivery_timestamp=now)
        for popped in found:
            message = message_to_pb(
                popped.record, popped.handle.encode(), args.invisible_ms, popped.attempt,
                args.topic,
            )  # fmt: skip
            yield svc.ReceiveMessageResponse(message=message)

    async def _receive(self, args: _Receive) -> list[PoppedMessage]:
        """Pop; messages past the group's delivery limit go to its DLQ, not to the client
        (then pop again while time is left)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + args.timeout_s
        while True:
            found = await self.pop.receive(
                args.group, args.topic, args.queue_ids, args.batch, args.invisible_ms,
                args.message_filter, max(end - loop.time(), 0), args.orderly,
            )  # fmt: skip
            out = []
            for popped in found:
                if popped.attempt <= args.max_attempts:
                    out.append(popped)
                elif not await self.pop.forward_to_dlq(args.group, popped, args.topic):
                    log.error("message %s of %s not moved to the DLQ", popped.handle, args.group)
            if out or not found or loop.time() >= end:
                return out

    def _receive_args(self, request: svc.ReceiveMessageRequest, context: Context) -> _Receive:
        topic = request.message_queue.topic.name
        config = self.topics.select(topic)
        if config is None:
            raise BadMessage(pb.Code.TOPIC_NOT_FOUND, f"topic {topic} not found")
        if not config.perm & self.config.broker_permission & PERM_READ:
            raise BadMessage(pb.Code.FORBIDDEN, f"topic {topic} is not readable on this broker")
        group = request.group.name
        group_config = self.groups.find(group) if group else None
        if group_config is None:
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
        return _Receive(
            group, topic, queue_ids, request.batch_size, invisible_ms, message_filter, timeout_s,
            group_config.consume_message_orderly, group_config.retry_max_times + 1,
        )  # fmt: skip

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

    # -- dead letters -----------------------------------------------------------------------

    async def forward_message_to_dead_letter_queue(
        self, request: svc.ForwardMessageToDeadLetterQueueRequest, _context: Context
    ) -> svc.ForwardMessageToDeadLetterQueueResponse:
        """Move a received message to ``%DLQ%<group>`` and ack it (a push consumer gives
        up on it after its last attempt)."""
        try:
            handle = ReceiptHandle.decode(request.receipt_handle)
        except ValueError as exc:
            return svc.ForwardMessageToDeadLetterQueueResponse(
                status=status(pb.Code.INVALID_RECEIPT_HANDLE, f"bad receipt handle: {exc}")
            )
        record = self.store.look_message_by_offset(handle.commit_log_offset)
        if record is None or record.queue_offset != handle.offset:
            return svc.ForwardMessageToDeadLetterQueueResponse(
                status=status(pb.Code.INVALID_RECEIPT_HANDLE, "the message is gone")
            )
        popped = PoppedMessage(record, handle, max(request.delivery_attempt, 1))
        if not await self.pop.forward_to_dlq(request.group.name, popped, request.topic.name):
            return svc.ForwardMessageToDeadLetterQueueResponse(
                status=status(pb.Code.INVALID_RECEIPT_HANDLE, "receipt handle expired")
            )
        return svc.ForwardMessageToDeadLetterQueueResponse(status=ok())


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
