"""SendMessage and EndTransaction (the Java proxy's ``SendMessageActivity``,
``ProducerProcessor`` and ``EndTransactionActivity``) over the broker's own send paths.

* NORMAL and FIFO messages go through the store's put path; a FIFO message's group
  (``__SHARDINGKEY``) picks its queue with Guava's ``consistentHash`` of the group's Java
  ``hashCode``, as the proxy's ``SendMessageQueueSelector`` does, so one group is one queue.
* DELAY messages carry ``TIMER_DELIVER_MS`` and are parked by the 5.x timer, through the
  same ``to_timer`` diversion remoting sends take.
* TRANSACTION messages are stored as half messages by the broker's
  ``TransactionalMessageService`` (``PGROUP`` = the topic, as the proxy sends it); the
  transaction id handed back is the half's offset msgId, so EndTransaction finds the half
  again from the id alone, across a restart, and goes through the remoting
  ``EndTransactionProcessor``.
* The topic's ``message.type`` attribute is checked as the proxy's
  ``DefaultTopicMessageTypeValidator`` does (retry and DLQ topics are not checked).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from rocketq.broker.config import BrokerConfig
from rocketq.broker.grpc.convert import (
    BadMessage,
    duration_ms,
    message_type_of,
    ok,
    parse_peer,
    status,
    stored_from_pb,
)
from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.grpc.v2 import service_pb2 as svc
from rocketq.broker.timer.transform import to_timer
from rocketq.broker.topic_config import TopicConfigManager
from rocketq.common.errors import BrokerError
from rocketq.common.message import MessageConst, SysFlag, encode_properties
from rocketq.common.record import (
    RecordFormatError,
    StoredMessage,
    create_offset_msg_id,
    decode_offset_msg_id,
)
from rocketq.common.topic import (
    DLQ_GROUP_TOPIC_PREFIX,
    NOT_ALLOWED_SEND_TOPICS,
    PERM_WRITE,
    RETRY_GROUP_TOPIC_PREFIX,
    TopicConfig,
)
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers import EndTransactionRequestHeader
from rocketq.store.message_store import DefaultMessageStore
from rocketq.store.result import PutMessageResult, PutMessageStatus

if TYPE_CHECKING:
    from rocketq.broker.transaction import TransactionalMessageService

__all__ = [
    "MESSAGE_TYPE_ATTRIBUTE",
    "ProducerActivity",
    "accepted_message_types",
    "topic_message_type",
]

log = logging.getLogger("rocketq.broker.grpc")

Context = grpc.aio.ServicerContext[Any, Any]
# TopicAttributes.TOPIC_MESSAGE_TYPE_ATTRIBUTE: its values are TopicMessageType's names;
# a topic without it is NORMAL.
MESSAGE_TYPE_ATTRIBUTE = "message.type"
MESSAGE_TYPES = ("UNSPECIFIED", "NORMAL", "FIFO", "DELAY", "TRANSACTION", "MIXED")
_MIXED_ACCEPTS = (pb.MessageType.NORMAL, pb.MessageType.FIFO, pb.MessageType.DELAY,
                  pb.MessageType.TRANSACTION)  # fmt: skip
# What a failed put answers (the proxy's ResponseCode -> Code mapping).
_PUT_CODES = {
    PutMessageStatus.PUT_OK: pb.Code.OK,
    PutMessageStatus.FLUSH_DISK_TIMEOUT: pb.Code.MASTER_PERSISTENCE_TIMEOUT,
    PutMessageStatus.FLUSH_SLAVE_TIMEOUT: pb.Code.SLAVE_PERSISTENCE_TIMEOUT,
    PutMessageStatus.SLAVE_NOT_AVAILABLE: pb.Code.HA_NOT_AVAILABLE,
    PutMessageStatus.MESSAGE_ILLEGAL: pb.Code.BAD_REQUEST,
    PutMessageStatus.PROPERTIES_SIZE_EXCEEDED: pb.Code.MESSAGE_PROPERTIES_TOO_LARGE,
}
# TransactionResolution -> MessageSysFlag's commit/rollback type for END_TRANSACTION.
_RESOLUTIONS = {
    pb.TransactionResolution.COMMIT: SysFlag.TRANSACTION_COMMIT_TYPE,
    pb.TransactionResolution.ROLLBACK: SysFlag.TRANSACTION_ROLLBACK_TYPE,
}
# google.protobuf.Timestamp's range ends at 9999-12-31T23:59:59Z.
MAX_TIMESTAMP_SECONDS = 253_402_300_799
_INT32 = 1 << 32
_LCG_MULTIPLIER = 2862933555777941757  # Guava LinearCongruentialGenerator
_U64 = (1 << 64) - 1


def topic_message_type(config: TopicConfig) -> str:
    """``TopicConfig#getTopicMessageType``: the attribute's value, NORMAL without one."""
    return config.attributes.get(MESSAGE_TYPE_ATTRIBUTE, "NORMAL")


def accepted_message_types(config: TopicConfig) -> list[int]:
    """The v2 message types a route offers for the topic (``RouteActivity``)."""
    kind = topic_message_type(config)
    if kind == "MIXED":
        return list(_MIXED_ACCEPTS)
    if kind in MESSAGE_TYPES[1:]:
        return [pb.MessageType.Value(kind)]
    return [pb.MessageType.MESSAGE_TYPE_UNSPECIFIED]


def delivery_ms(ts: Timestamp) -> int:
    """A delivery timestamp in epoch ms. ``seconds`` past the largest valid Timestamp (year
    9999) is read as milliseconds: rocketmq-python-client 5.1.2 copies its
    ``delivery_timestamp`` (ms, as it documents) into ``seconds`` unchanged, which Apache's
    proxy refuses as too far away."""
    if ts.seconds > MAX_TIMESTAMP_SECONDS:
        return ts.seconds
    return ts.seconds * 1000 + ts.nanos // 1_000_000


def java_string_hash(text: str) -> int:
    """``String#hashCode`` (over UTF-16 code units, 32-bit)."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + int.from_bytes(data[i : i + 2], "big")) % _INT32
    return h - _INT32 if h >= 1 << 31 else h


def consistent_hash(value: int, buckets: int) -> int:
    """Guava ``Hashing.consistentHash(long, int)`` (Lamping-Veach jump hash with its LCG)."""
    state = value & _U64
    candidate = 0
    while True:
        state = (_LCG_MULTIPLIER * state + 1) & _U64
        gap = ((state >> 33) + 1) / 2**31
        following = int((candidate + 1) / gap)
        if 0 <= following < buckets:
            candidate = following
        else:
            return candidate


class _Peer:
    """The one thing ``EndTransactionProcessor`` reads of a connection: who sent it."""

    def __init__(self, peer: str) -> None:
        self.peer = peer


class ProducerActivity:
    """SendMessage and EndTransaction of the gRPC front end."""

    def __init__(
        self,
        config: BrokerConfig,
        store: DefaultMessageStore,
        topic_config_manager: TopicConfigManager,
        transactions: TransactionalMessageService | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.topics = topic_config_manager
        self.transactions = transactions
        self._queue_counter = itertools.count()

    # -- send -------------------------------------------------------------------------------

    async def send_message(
        self, request: svc.SendMessageRequest, context: Context
    ) -> svc.SendMessageResponse:
        """Store each message; one result entry per message."""
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
            stored = self._build(msg, born_host)
        except BadMessage as exc:
            return svc.SendResultEntry(status=status(exc.code, str(exc)), message_id=message_id)
        transaction = msg.system_properties.message_type == pb.MessageType.TRANSACTION
        if transaction and self.transactions is not None:
            result = await self.transactions.prepare_message(stored, True)
        else:
            result = await self.store.put_messages([stored], wait_store=True)
        code = _PUT_CODES.get(result.status, pb.Code.INTERNAL_SERVER_ERROR)
        if code != pb.Code.OK:
            text = f"{result.status.name} {result.remark}".strip()
            return svc.SendResultEntry(status=status(code, text), message_id=message_id)
        return svc.SendResultEntry(
            status=ok(),
            message_id=message_id,
            offset=result.appended[0].queue_offset,
            transaction_id=self._transaction_id(result) if transaction else "",
        )

    def _transaction_id(self, result: PutMessageResult) -> str:
        return create_offset_msg_id(self.store.store_host, result.appended[0].physical_offset)

    def _build(self, msg: pb.Message, born_host: tuple[str, int]) -> StoredMessage:
        topic = msg.topic.name
        config = self._writable_topic(topic)
        stored = stored_from_pb(msg, self._queue_for(msg, config), born_host,
                                self.config.broker_cluster_name,
                                self.store.config.max_message_size)  # fmt: skip
        props = dict(stored.props or {})
        sys_flag = self._type_properties(msg, props)
        self._check_type(config, props)
        queue_id = stored.queue_id
        if not sys_flag & SysFlag.TRANSACTION_PREPARED_TYPE:
            try:  # the 5.x timer parks a delayed message (SendMessageProcessor's path)
                now = int(time.time() * 1000)
                topic, queue_id = to_timer(props, topic, queue_id, self.store.config, now)
            except BrokerError as exc:
                raise BadMessage(pb.Code.ILLEGAL_DELIVERY_TIME, exc.remark) from exc
        return replace(stored, topic=topic, queue_id=queue_id, sys_flag=sys_flag,
                       properties=encode_properties(props), props=props)  # fmt: skip

    def _type_properties(self, msg: pb.Message, props: dict[str, str]) -> int:
        """Properties of the message's type (``buildMessageProperty``); its sys flag."""
        sp = msg.system_properties
        sys_flag = 0
        if sp.message_type == pb.MessageType.TRANSACTION:
            if self.transactions is None or self.config.reject_transaction_message:
                raise BadMessage(pb.Code.FORBIDDEN, "transaction messages are refused here")
            props[MessageConst.TRANSACTION_PREPARED] = "true"
            props[MessageConst.PRODUCER_GROUP] = msg.topic.name
            sys_flag |= SysFlag.TRANSACTION_PREPARED_TYPE
            if sp.HasField("orphaned_transaction_recovery_duration"):
                seconds = duration_ms(sp.orphaned_transaction_recovery_duration) // 1000
                props[MessageConst.CHECK_IMMUNITY_TIME_IN_SECONDS] = str(seconds)
        if sp.HasField("delivery_timestamp"):
            props[MessageConst.TIMER_DELIVER_MS] = str(delivery_ms(sp.delivery_timestamp))
        return sys_flag

    @staticmethod
    def _check_type(config: TopicConfig, props: Mapping[str, str]) -> None:
        """``DefaultTopicMessageTypeValidator`` (retry and DLQ topics are not checked)."""
        if config.topic_name.startswith((RETRY_GROUP_TOPIC_PREFIX, DLQ_GROUP_TOPIC_PREFIX)):
            return
        expected, actual = topic_message_type(config), message_type_of(props)
        if expected != "MIXED" and actual != expected:
            raise BadMessage(
                pb.Code.MESSAGE_PROPERTY_CONFLICT_WITH_TYPE,
                f"TopicMessageType validate failed, the expected type is {expected}, "
                f"but actual type is {actual}",
            )

    def _queue_for(self, msg: pb.Message, config: TopicConfig) -> int:
        queues = max(config.write_queue_nums, 1)
        group = msg.system_properties.message_group
        if group:  # SendMessageQueueSelector: one message group, one queue
            return consistent_hash(java_string_hash(group), queues)
        return next(self._queue_counter) % queues

    def _writable_topic(self, topic: str) -> TopicConfig:
        config = self.topics.select(topic)
        if config is None:
            raise BadMessage(pb.Code.TOPIC_NOT_FOUND, f"topic {topic} not found")
        if topic in NOT_ALLOWED_SEND_TOPICS:
            raise BadMessage(pb.Code.FORBIDDEN, f"sending to topic {topic} is forbidden")
        if not config.perm & self.config.broker_permission & PERM_WRITE:
            raise BadMessage(pb.Code.FORBIDDEN, f"topic {topic} is not writable on this broker")
        return config

    # -- end transaction --------------------------------------------------------------------

    async def end_transaction(
        self, request: svc.EndTransactionRequest, context: Context
    ) -> svc.EndTransactionResponse:
        """Commit or roll back the half message the transaction id names."""
        if self.transactions is None:
            return svc.EndTransactionResponse(
                status=status(pb.Code.NOT_IMPLEMENTED, "transactions are not served here")
            )
        try:
            _host, offset = decode_offset_msg_id(request.transaction_id)
        except (RecordFormatError, ValueError):
            return svc.EndTransactionResponse(
                status=status(pb.Code.INVALID_TRANSACTION_ID, "unknown transaction id")
            )
        half = self.store.look_message_by_offset(offset)
        header = EndTransactionRequestHeader(
            producer_group=request.topic.name,
            tran_state_table_offset=half.queue_offset if half is not None else -1,
            commit_log_offset=offset,
            commit_or_rollback=_RESOLUTIONS.get(request.resolution, SysFlag.TRANSACTION_NOT_TYPE),
            from_transaction_check=request.source == pb.TransactionSource.SOURCE_SERVER_CHECK,
            msg_id=request.message_id,
            transaction_id=request.transaction_id,
        )
        command = RemotingCommand.request(RequestCode.END_TRANSACTION, header.to_ext())
        peer = cast(Connection, _Peer(context.peer()))
        answer = await self.transactions.end_transaction.process(peer, command)
        if answer is not None and answer.code != ResponseCode.SUCCESS:
            code = pb.Code.INVALID_TRANSACTION_ID
            return svc.EndTransactionResponse(status=status(code, answer.remark or "refused"))
        return svc.EndTransactionResponse(status=ok())
