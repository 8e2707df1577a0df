"""Message trace records in RocketMQ's text format (``TraceType``, ``TraceBean``,
``TraceContext``, ``TraceDataEncoder``, ``TraceView``) — sans-I/O.

A client with message trace enabled writes what happened to each message to the trace
topic (``RMQ_SYS_TRACE_TOPIC``): ``Pub`` when it was sent, ``SubBefore`` and ``SubAfter``
around each consumption, ``EndTransaction`` for a transaction's end. One trace message
holds many records; each record is its fields joined by 0x01 and ended by 0x02, and the
message's KEYS are the traced msgIds and keys, so ``queryMsgTraceById`` finds them
through the index. The field orders::

    Pub            type ts region group topic msgId tags keys storeHost bodyLength
                   costTime msgType offsetMsgId success
    SubBefore      type ts region group requestId msgId retryTimes keys
    SubAfter       type requestId msgId costTime success keys contextCode ts group
    EndTransaction type ts region group topic msgId tags keys storeHost msgType
                   transactionId transactionState fromTransactionCheck

As Java's ``StringBuilder`` does, a missing text value is written ``null``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum, IntEnum

from rocketq.client.message import MessageExt
from rocketq.common.message import MessageConst

__all__ = [
    "CONTENT_SPLITOR",
    "FIELD_SPLITOR",
    "ConsumeReturnType",
    "MessageType",
    "TraceBean",
    "TraceContext",
    "TraceTransferBean",
    "TraceType",
    "TraceView",
    "decode_trace_data",
    "decode_trace_views",
    "encode_trace_context",
]

log = logging.getLogger("rocketq.client")

# TraceConstants.CONTENT_SPLITOR / FIELD_SPLITOR.
CONTENT_SPLITOR = "\x01"
FIELD_SPLITOR = "\x02"


class TraceType(Enum):
    """What a record describes (``TraceType``)."""

    Pub = "Pub"
    SubBefore = "SubBefore"
    SubAfter = "SubAfter"
    EndTransaction = "EndTransaction"


class MessageType(IntEnum):
    """``MessageType``; its ordinal is written."""

    Normal_Msg = 0
    Trans_Msg_Half = 1
    Trans_msg_Commit = 2
    Delay_Msg = 3


class ConsumeReturnType(IntEnum):
    """How a listener ended (``ConsumeReturnType``); SubAfter's contextCode is the ordinal."""

    SUCCESS = 0
    TIME_OUT = 1
    EXCEPTION = 2
    RETURNNULL = 3
    FAILED = 4


@dataclass(frozen=True, slots=True)
class TraceBean:
    """One message in a record (``TraceBean``)."""

    topic: str | None = ""
    msg_id: str | None = ""
    offset_msg_id: str | None = ""
    tags: str | None = ""
    keys: str | None = ""
    store_host: str | None = ""
    client_host: str | None = ""
    store_time: int = 0
    retry_times: int = 0
    body_length: int = 0
    msg_type: MessageType = MessageType.Normal_Msg
    transaction_state: str | None = None
    transaction_id: str | None = None
    from_transaction_check: bool = False


@dataclass(frozen=True, slots=True)
class TraceContext:
    """A record: its type, when, where, which group, how long, and its messages
    (``TraceContext``)."""

    trace_type: TraceType
    time_stamp: int = 0
    region_id: str | None = ""
    group_name: str | None = ""
    cost_time: int = 0
    success: bool = True
    request_id: str | None = ""
    context_code: int = 0
    trace_beans: tuple[TraceBean, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class TraceTransferBean:
    """Encoded records and the keys that index them (``TraceTransferBean``)."""

    trans_data: str
    trans_keys: frozenset[str]


def _text(value: object) -> str:
    """Java's ``StringBuilder.append``: null as ``null``, booleans in lower case."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _line(*values: object) -> str:
    return CONTENT_SPLITOR.join(_text(v) for v in values) + FIELD_SPLITOR


def _pub(ctx: TraceContext, b: TraceBean) -> str:
    return _line(
        ctx.trace_type.value, ctx.time_stamp, ctx.region_id, ctx.group_name, b.topic,
        b.msg_id, b.tags, b.keys, b.store_host, b.body_length, ctx.cost_time,
        int(b.msg_type), b.offset_msg_id, ctx.success,
    )  # fmt: skip


def _sub_before(ctx: TraceContext, b: TraceBean) -> str:
    return _line(
        ctx.trace_type.value, ctx.time_stamp, ctx.region_id, ctx.group_name,
        ctx.request_id, b.msg_id, b.retry_times, b.keys,
    )  # fmt: skip


def _sub_after(ctx: TraceContext, b: TraceBean) -> str:
    return _line(
        ctx.trace_type.value, ctx.request_id, b.msg_id, ctx.cost_time, ctx.success,
        b.keys, ctx.context_code, ctx.time_stamp, ctx.group_name,
    )  # fmt: skip


def _end_transaction(ctx: TraceContext, b: TraceBean) -> str:
    return _line(
        ctx.trace_type.value, ctx.time_stamp, ctx.region_id, ctx.group_name, b.topic,
        b.msg_id, b.tags, b.keys, b.store_host, int(b.msg_type), b.transaction_id,
        b.transaction_state, b.from_transaction_check,
    )  # fmt: skip


def encode_trace_context(ctx: TraceContext) -> TraceTransferBean:
    """``TraceDataEncoder.encoderFromContextBean``: Pub and EndTransaction write their
    first message, SubBefore and SubAfter one record per message; the keys are every
    message's msgId and KEYS tokens."""
    beans = ctx.trace_beans
    if ctx.trace_type is TraceType.Pub:
        data = _pub(ctx, beans[0]) if beans else ""
    elif ctx.trace_type is TraceType.EndTransaction:
        data = _end_transaction(ctx, beans[0]) if beans else ""
    elif ctx.trace_type is TraceType.SubBefore:
        data = "".join(_sub_before(ctx, b) for b in beans)
    else:
        data = "".join(_sub_after(ctx, b) for b in beans)
    keys: set[str] = set()
    for b in beans:
        keys.add(_text(b.msg_id))
        if b.keys:
            keys.update(k for k in b.keys.split(MessageConst.KEY_SEPARATOR) if k)
    return TraceTransferBean(data, frozenset(keys))


def decode_trace_data(data: str) -> list[TraceContext]:
    """``TraceDataEncoder.decoderFromTraceDataString``: the records of a trace message
    (old layouts included; unknown record types are skipped).

    A record it cannot read is skipped and logged at debug, and the others are kept. Java's
    decoder throws instead, losing the whole trace message: a KEYS or TAGS value holding
    0x01 (which a message may carry) is written unescaped, so the fields after it shift and
    a number field no longer holds a number, or the record runs short.
    """
    out: list[TraceContext] = []
    for record in data.split(FIELD_SPLITOR):
        line = record.split(CONTENT_SPLITOR)
        decode = _DECODERS.get(line[0])
        if decode is None:
            continue
        try:
            out.append(decode(line))
        except (ValueError, IndexError) as exc:
            log.debug("skipped an unreadable %s trace record (%s): %r", line[0], exc, record)
    return out


def _decode_pub(line: list[str]) -> TraceContext:
    offset_msg_id, success, client_host = "", True, ""
    if len(line) == 13:
        success = line[12] == "true"
    elif len(line) >= 14:
        offset_msg_id, success = line[12], line[13] == "true"
        if len(line) >= 15:
            client_host = line[14]
    bean = TraceBean(
        topic=line[4], msg_id=line[5], tags=line[6], keys=line[7], store_host=line[8],
        body_length=int(line[9]), msg_type=MessageType(int(line[11])),
        offset_msg_id=offset_msg_id, client_host=client_host,
    )  # fmt: skip
    return TraceContext(
        TraceType.Pub, time_stamp=int(line[1]), region_id=line[2], group_name=line[3],
        cost_time=int(line[10]), success=success, trace_beans=(bean,),
    )  # fmt: skip


def _decode_sub_before(line: list[str]) -> TraceContext:
    bean = TraceBean(msg_id=line[5], retry_times=int(line[6]), keys=line[7])
    return TraceContext(
        TraceType.SubBefore, time_stamp=int(line[1]), region_id=line[2], group_name=line[3],
        request_id=line[4], trace_beans=(bean,),
    )  # fmt: skip


def _decode_sub_after(line: list[str]) -> TraceContext:
    bean = TraceBean(msg_id=line[2], keys=line[5])
    return TraceContext(
        TraceType.SubAfter,
        request_id=line[1],
        cost_time=int(line[3]),
        success=line[4] == "true",
        context_code=int(line[6]) if len(line) >= 7 else 0,
        time_stamp=int(line[7]) if len(line) >= 9 else 0,
        group_name=line[8] if len(line) >= 9 else "",
        trace_beans=(bean,),
    )


def _decode_end_transaction(line: list[str]) -> TraceContext:
    bean = TraceBean(
        topic=line[4], msg_id=line[5], tags=line[6], keys=line[7], store_host=line[8],
        msg_type=MessageType(int(line[9])), transaction_id=line[10],
        transaction_state=line[11], from_transaction_check=line[12] == "true",
    )  # fmt: skip
    return TraceContext(
        TraceType.EndTransaction, time_stamp=int(line[1]), region_id=line[2],
        group_name=line[3], trace_beans=(bean,),
    )  # fmt: skip


_DECODERS = {
    TraceType.Pub.value: _decode_pub,
    TraceType.SubBefore.value: _decode_sub_before,
    TraceType.SubAfter.value: _decode_sub_after,
    TraceType.EndTransaction.value: _decode_end_transaction,
}


@dataclass(frozen=True, slots=True)
class TraceView:
    """One record about one message, as ``queryMsgTraceById`` shows it (``TraceView``)."""

    msg_id: str | None
    tags: str | None
    keys: str | None
    store_host: str | None
    client_host: str
    cost_time: int
    msg_type: str
    offset_msg_id: str | None
    time_stamp: int
    topic: str | None
    group_name: str | None
    status: str
    # EndTransaction records only (beyond Java's TraceView, which drops them): the
    # transaction's outcome, its id and whether a check-back decided it.
    transaction_state: str | None = None
    transaction_id: str | None = None
    from_transaction_check: bool = False


def decode_trace_views(key: str, trace_msg: MessageExt) -> list[TraceView]:
    """``TraceView.decodeFromTraceTransData``: the records of ``trace_msg`` about the
    message ``key``; the client host is where the trace message was born."""
    views = []
    for ctx in decode_trace_data(trace_msg.body.decode("utf-8", "replace")):
        bean = ctx.trace_beans[0]
        if bean.msg_id != key:
            continue
        views.append(
            TraceView(
                msg_id=bean.msg_id,
                tags=bean.tags,
                keys=bean.keys,
                store_host=bean.store_host,
                client_host=trace_msg.born_host[0],
                cost_time=ctx.cost_time,
                msg_type=ctx.trace_type.value,
                offset_msg_id=bean.offset_msg_id,
                time_stamp=ctx.time_stamp,
                topic=bean.topic,
                group_name=ctx.group_name,
                status="success" if ctx.success else "failed",
                transaction_state=bean.transaction_state,
                transaction_id=bean.transaction_id,
                from_transaction_check=bean.from_transaction_check,
            )
        )
    return views
