"""POP_MESSAGE (200050), ACK_MESSAGE (200051), BATCH_ACK_MESSAGE (200151) and
CHANGE_MESSAGE_INVISIBLETIME (200053): RocketMQ 5's ``PopMessageProcessor``,
``AckMessageProcessor`` and ``ChangeInvisibleTimeProcessor`` for Java 5 clients in pop
mode, over the broker's one
:class:`~rocketq.broker.pop.PopService` (the engine under gRPC's ReceiveMessage).

A pop answers the stored records, each with its ``POP_CK`` property set to the
``ExtraInfoUtil`` handle (8 fields), and the response header's ``startOffsetInfo`` /
``msgOffsetInfo`` from which the Java client builds the same handle itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from rocketq.broker.filter import ExpressionMessageFilter, Sql92ParseError, compile_sql92
from rocketq.broker.pop import PoppedMessage, PopService, ReceiptHandle
from rocketq.common.errors import BrokerError, ProtocolError
from rocketq.common.record import copy_message, encode_record
from rocketq.common.topic import PERM_READ, RETRY_GROUP_TOPIC_PREFIX
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers.pop import (
    AckMessageRequestHeader,
    ChangeInvisibleTimeRequestHeader,
    ChangeInvisibleTimeResponseHeader,
    PopMessageRequestHeader,
    PopMessageResponseHeader,
)
from rocketq.remoting.heartbeat import EXPRESSION_TAG, build_subscription
from rocketq.remoting.pop_body import BatchAck, BatchAckMessageRequestBody

if TYPE_CHECKING:
    from rocketq.broker.config import BrokerConfig
    from rocketq.broker.subscription_group import SubscriptionGroupManager
    from rocketq.broker.topic_config import TopicConfigManager

__all__ = ["POP_CK", "PopMessageProcessor", "extra_info", "parse_extra_info"]

# MessageConst.PROPERTY_POP_CK: the handle an ack or a change of invisible time quotes.
POP_CK = "POP_CK"
# ExtraInfoUtil: fields of a handle (the 5.x form with the message's queue offset).
_EXTRA_INFO_FIELDS = 8
# ExtraInfoUtil.QUEUE_OFFSET: orderCountInfo keys name "qo<queueId>%<offset>".
_QUEUE_OFFSET_KEY = "qo"
# The SDKs pop at most 32 at a time (PopMessageProcessor refuses more than that).
MAX_POP_NUMS = 32
# ExtraInfoUtil's topic types: normal, pop retry (V1 name), pop retry (V2 name).
_TOPIC_TYPES = frozenset({"0", "1", "2"})
# KeyBuilder: the separator of a pop retry topic name by the handle's topic type (V1, V2).
_RETRY_SEPARATORS = {"1": "_", "2": "+"}
# The shortest invisible time accepted; RocketMQ's proxy floor (ProxyConfig minInvisibleTime).
MIN_INVISIBLE_MS = 1000


def extra_info(handle: ReceiptHandle) -> str:
    """``ExtraInfoUtil.buildExtraInfo`` with the message's queue offset (8 fields)."""
    return " ".join(
        str(v)
        for v in (
            handle.start_offset, handle.retrieve_time, handle.invisible_ms,
            handle.revive_queue_id, handle.topic_type, handle.broker_name, handle.queue_id,
            handle.offset,
        )
    )  # fmt: skip


def parse_extra_info(text: str, queue_id: int, offset: int) -> ReceiptHandle:
    """The handle an ack quotes; ``queue_id``/``offset`` are the request header's (the
    7-field form has no offset). ``ValueError`` when it is not a handle."""
    parts = text.split(" ")
    if len(parts) < _EXTRA_INFO_FIELDS - 1:
        raise ValueError(f"extraInfo has {len(parts)} fields: {text!r}")
    start, pop_time, invisible, revive = (int(p) for p in parts[:4])
    return ReceiptHandle(start, pop_time, invisible, revive, parts[4], parts[5], queue_id,
                         offset, 0)  # fmt: skip


def _bad(code: int, remark: str) -> BrokerError:
    return BrokerError(code, remark)


class PopMessageProcessor:
    """Pop, ack and change invisible time for remoting clients. ``pop_service`` gives the
    broker's POP engine (shared with gRPC), None while it is not running."""

    def __init__(
        self,
        config: BrokerConfig,
        topic_config_manager: TopicConfigManager,
        subscription_group_manager: SubscriptionGroupManager,
        pop_service: Callable[[], PopService | None],
    ) -> None:
        self.config = config
        self.topics = topic_config_manager
        self.groups = subscription_group_manager
        self._pop_service = pop_service

    def _service(self) -> PopService:
        service = self._pop_service()
        if service is None:
            raise _bad(ResponseCode.SERVICE_NOT_AVAILABLE, "POP is not served by this broker")
        return service

    # -- POP_MESSAGE ------------------------------------------------------------------------

    async def pop(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Pop up to ``maxMsgNums``, long polling ``pollTime`` ms when none is there."""
        h = PopMessageRequestHeader.from_ext(req.ext_fields)
        service = self._service()
        queue_ids = self._queue_ids(h)
        if not 0 < h.max_msg_nums <= MAX_POP_NUMS:
            raise _bad(ResponseCode.INVALID_PARAMETER,
                       f"maxMsgNums must be 1..{MAX_POP_NUMS}, not {h.max_msg_nums}")  # fmt: skip
        invisible_ms = max(h.invisible_time, MIN_INVISIBLE_MS)
        found = await service.receive(
            h.consumer_group, h.topic, queue_ids, h.max_msg_nums, invisible_ms,
            _filter(h), max(h.poll_time, 0) / 1000, h.order, h.init_mode,
        )  # fmt: skip
        rest = _rest_num(service, h.consumer_group, h.topic, queue_ids)
        if not found:
            ext = PopMessageResponseHeader(0, invisible_ms, 0, rest).to_ext()
            return req.make_response(ResponseCode.POLLING_TIMEOUT, "no new message", ext)
        return req.make_response(
            ext_fields=_response_header(found, invisible_ms, rest, h.order).to_ext(),
            body=b"".join(_wire_record(p) for p in found),
        )

    def _queue_ids(self, h: PopMessageRequestHeader) -> list[int]:
        config = self.topics.select(h.topic)
        if config is None:
            raise _bad(ResponseCode.TOPIC_NOT_EXIST, f"topic[{h.topic}] not exist")
        if not config.perm & self.config.broker_permission & PERM_READ:
            raise _bad(ResponseCode.NO_PERMISSION, f"the topic[{h.topic}] peeking forbidden")
        if self.groups.find(h.consumer_group) is None:
            raise _bad(ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                       f"subscription group [{h.consumer_group}] does not exist")  # fmt: skip
        if h.queue_id < 0:  # -1: any queue
            return list(range(config.read_queue_nums))
        if h.queue_id >= config.read_queue_nums:
            raise _bad(ResponseCode.SYSTEM_ERROR, f"queueId[{h.queue_id}] is illegal")
        return [h.queue_id]

    # -- ACK_MESSAGE and CHANGE_MESSAGE_INVISIBLETIME ---------------------------------------

    async def ack(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Consume one message for good. A stale handle (revived or moved) is answered
        SUCCESS as RocketMQ does (its ack record matches nothing)."""
        h = AckMessageRequestHeader.from_ext(req.ext_fields)
        handle = self._handle(h.topic, h.extra_info, h.queue_id, h.offset)
        topic = _original_topic(h.topic, h.consumer_group, handle.topic_type)
        service = self._service()
        self._check_ack_position(service, handle.real_topic(topic, h.consumer_group), h)
        acked = await service.ack(h.consumer_group, topic, handle)
        return req.make_response(remark=None if acked else "stale handle: nothing to ack")

    def _check_ack_position(
        self, service: PopService, real_topic: str, h: AckMessageRequestHeader
    ) -> None:
        """``AckMessageProcessor``'s checks: the queue exists (else MESSAGE_ILLEGAL) and the
        offset is within it (else NO_MESSAGE)."""
        config = self.topics.select(real_topic)
        nums = 0 if config is None else config.read_queue_nums
        if not 0 <= h.queue_id < nums:
            raise _bad(ResponseCode.MESSAGE_ILLEGAL, f"queueId[{h.queue_id}] is illegal, "
                       f"topic:[{real_topic}] topicConfig.readQueueNums:[{nums}]")  # fmt: skip
        low = service.store.get_min_offset_in_queue(real_topic, h.queue_id)
        high = service.store.get_max_offset_in_queue(real_topic, h.queue_id)
        if not low <= h.offset <= high:
            raise _bad(ResponseCode.NO_MESSAGE, f"offset is illegal, key:{real_topic}@"
                       f"{h.queue_id}, commit:{h.offset}, store:{low}~{high}")  # fmt: skip

    async def change_invisible_time(
        self, conn: Connection, req: RemotingCommand
    ) -> RemotingCommand:
        """Invisible for ``invisibleTime`` ms from now: a new checkpoint for the message."""
        h = ChangeInvisibleTimeRequestHeader.from_ext(req.ext_fields)
        handle = self._handle(h.topic, h.extra_info, h.queue_id, h.offset)
        topic = _original_topic(h.topic, h.consumer_group, handle.topic_type)
        invisible_ms = max(h.invisible_time, MIN_INVISIBLE_MS)
        new = await self._service().change_invisible(h.consumer_group, topic, handle, invisible_ms)
        if new is None:
            return req.make_response(ResponseCode.NO_MESSAGE, "handle expired: delivered again")
        ext = ChangeInvisibleTimeResponseHeader(
            new.retrieve_time, new.invisible_ms, new.revive_queue_id
        ).to_ext()
        return req.make_response(ext_fields=ext)

    # -- BATCH_ACK_MESSAGE ------------------------------------------------------------------

    async def batch_ack(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """``AckMessageProcessor`` for a ``BatchAckMessageRequestBody``: each ``BatchAck``
        acks the offsets its bits name (those outside the queue's range are skipped); no
        acks at all is NO_MESSAGE, anything else SUCCESS, as RocketMQ answers."""
        try:
            body = BatchAckMessageRequestBody.decode(req.body) if req.body else None
        except ProtocolError as exc:
            raise _bad(ResponseCode.SYSTEM_ERROR, str(exc)) from exc
        if body is None or not body.acks:
            return req.make_response(ResponseCode.NO_MESSAGE)
        service = self._service()
        for ack in body.acks:
            await self._batch_ack_one(service, ack, body.broker_name or service.broker_name)
        return req.make_response()

    async def _batch_ack_one(self, service: PopService, ack: BatchAck, broker: str) -> None:
        if ack.retry not in _TOPIC_TYPES:
            raise _bad(ResponseCode.SYSTEM_ERROR, f"getRetry fail, format is wrong: {ack.retry!r}")
        handle = ReceiptHandle(ack.start_offset, ack.pop_time, ack.invisible_time,
                               ack.revive_queue_id, ack.retry, broker, ack.queue_id,
                               ack.start_offset, 0)  # fmt: skip
        real = handle.real_topic(ack.topic, ack.consumer_group)
        if self.topics.select(real) is None:
            return  # RocketMQ: an unknown topic or queue is logged and skipped
        store = service.store
        low = store.get_min_offset_in_queue(real, ack.queue_id)
        high = store.get_max_offset_in_queue(real, ack.queue_id)
        offsets = [o for o in ack.offsets() if low <= o <= high]
        if offsets:
            await service.ack_offsets(ack.consumer_group, ack.topic, handle, offsets)

    def _handle(self, topic: str, text: str, queue_id: int, offset: int) -> ReceiptHandle:
        if self.topics.select(topic) is None:
            raise _bad(ResponseCode.TOPIC_NOT_EXIST, f"topic[{topic}] not exist")
        try:
            return parse_extra_info(text, queue_id, offset)
        except ValueError as exc:
            raise _bad(ResponseCode.INVALID_PARAMETER, f"bad extraInfo: {exc}") from exc


def _original_topic(topic: str, group: str, topic_type: str) -> str:
    """The topic a handle's message was popped for. Java clients and the proxy name the
    real topic in an ack (``ExtraInfoUtil.getRealTopic``: the group's pop retry topic for a
    revived message), rocketq's gRPC front end the original one: accept both."""
    separator = _RETRY_SEPARATORS.get(topic_type)
    prefix = f"{RETRY_GROUP_TOPIC_PREFIX}{group}{separator}"
    if separator is not None and topic.startswith(prefix):
        return topic[len(prefix) :]
    return topic


def _filter(h: PopMessageRequestHeader) -> ExpressionMessageFilter:
    kind = h.exp_type or EXPRESSION_TAG
    subscription = build_subscription(h.topic, h.exp, kind)
    if kind == EXPRESSION_TAG:
        return ExpressionMessageFilter(subscription)
    try:
        return ExpressionMessageFilter(subscription, compile_sql92(h.exp or ""))
    except (Sql92ParseError, ValueError) as exc:
        raise _bad(ResponseCode.SUBSCRIPTION_PARSE_FAILED, f"bad SQL92 filter: {exc}") from exc


def _rest_num(service: PopService, group: str, topic: str, queue_ids: list[int]) -> int:
    """Messages left after the pop (``restNum``), by committed pop offsets."""
    store, offsets = service.store, service.offsets
    rest = 0
    for queue_id in queue_ids:
        committed = max(offsets.query(group, topic, queue_id), 0)
        rest += max(store.get_max_offset_in_queue(topic, queue_id) - committed, 0)
    return rest


def _response_header(
    found: list[PoppedMessage], invisible_ms: int, rest: int, order: bool
) -> PopMessageResponseHeader:
    """Per (topic type, queue): its checkpoint's start offset and the offsets handed out;
    for FIFO pops the earlier deliveries of each message."""
    starts: dict[tuple[str, int], int] = {}
    offsets: dict[tuple[str, int], list[int]] = {}
    counts: list[str] = []
    for popped in found:
        handle = popped.handle
        key = (handle.topic_type, handle.queue_id)
        starts.setdefault(key, handle.start_offset)
        offsets.setdefault(key, []).append(handle.offset)
        if order:
            earlier = popped.attempt - 1 - popped.record.reconsume_times
            counts.append(f"{handle.topic_type} {_QUEUE_OFFSET_KEY}{handle.queue_id}%"
                          f"{handle.offset} {earlier}")  # fmt: skip
    first = found[0].handle
    return PopMessageResponseHeader(
        pop_time=first.retrieve_time,
        invisible_time=invisible_ms,
        revive_qid=first.revive_queue_id,
        rest_num=rest,
        start_offset_info=";".join(f"{t} {q} {s}" for (t, q), s in starts.items()),
        msg_offset_info=";".join(
            f"{t} {q} {','.join(map(str, o))}" for (t, q), o in offsets.items()
        ),
        order_count_info=";".join(counts) if order else None,
    )


def _wire_record(popped: PoppedMessage) -> bytes:
    """The stored record as the client decodes it, with ``POP_CK`` added."""
    record = popped.record
    props = record.properties_map()
    props[POP_CK] = extra_info(popped.handle)
    msg = copy_message(record, record.topic, record.queue_id, props)
    msg = dataclasses.replace(
        msg,
        queue_offset=record.queue_offset,
        physical_offset=record.physical_offset,
        store_timestamp=record.store_timestamp,
        store_host=record.store_host,
    )
    return encode_record(msg)
