"""The pure functions of the store's put path that have compiled twins
(``rocketq/store/_kernels.pyx``, DESIGN principle 19): the per-message work of a socket
read's puts as data in, data out, for :class:`~rocketq.store.put.MessageStorePuts` to call
once per read: the checks (:func:`checked_batches`), the PUT_OK answers (:func:`put_ok`,
:func:`put_oks`), the stored records back to back (:func:`stored_flat`) and the dispatch
pass's ConsumeQueue entries, index keys and arrivals (:func:`queue_runs`), written into
their queues (:func:`put_runs`).
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from rocketq.common import speedups
from rocketq.common.topic import SCHEDULE_TOPIC
from rocketq.store.commit_log import AppendResult
from rocketq.store.format import (
    CQ_STORE_UNIT_SIZE,
    MAX_PROPERTIES_LENGTH,
    StoredMessage,
    StoreError,
    decode_properties,
    tags_code,
)
from rocketq.store.result import PutMessageResult, PutMessageStatus

if TYPE_CHECKING:
    from rocketq.store.consume_queue import ConsumeQueue

__all__ = [
    "MAX_TOPIC_LENGTH",
    "TX_PREPARED_BIT",
    "Arrival",
    "IndexKey",
    "Indexed",
    "check_messages",
    "checked_batches",
    "put_ok",
    "put_oks",
    "put_runs",
    "queue_runs",
    "stored_flat",
]

# Topic length is one signed byte in the V1 record (MessageVersion.MESSAGE_VERSION_V1).
MAX_TOPIC_LENGTH = 127
# Transaction type bits of sysFlag: PREPARED (0x4) and ROLLBACK (0xC) records get no queue
# entry; this is the bit both of them have and COMMIT (0x8) and NOT_TYPE (0) do not.
TX_PREPARED_BIT = 0x4
# MessageConst.KEY_SEPARATOR (index_service.KEY_SEPARATOR): between the keys of KEYS.
_KEY_SEPARATOR = " "
# sysFlag's transaction bits of a ROLLBACK record: its keys are not indexed.
_TX_ROLLBACK = 0xC

_SET_STATUS, _SET_APPENDED, _SET_REMARK = (
    PutMessageResult.__dict__[name].__set__ for name in PutMessageResult.__slots__
)


@speedups.twin
def put_ok(appended: tuple[AppendResult, ...]) -> PutMessageResult:
    """``PutMessageResult(PUT_OK, appended)`` through the slot descriptors (the frozen
    dataclass ``__init__`` pays an ``object.__setattr__`` per field): most puts end here.
    Has a compiled twin."""
    result: PutMessageResult = object.__new__(PutMessageResult)
    _SET_STATUS(result, PutMessageStatus.PUT_OK)
    _SET_APPENDED(result, appended)
    _SET_REMARK(result, "")
    return result


# A ConsumeQueue entry: commitlog offset i64, size i32, tags code i64 (store/format.py).
_CQ_ENTRY = struct.Struct(">qiq")
# One arrival: (topic, queue id, the queue's next offset, tags code).
Arrival = tuple[str, int, int, int]
# One record for the IndexFile: (topic, keys, uniq key, offset, store time, sys flag).
Indexed = tuple[str, str, str | None, int, int, int]
# One IndexFile key: (topic + "#", key, offset, store time).
IndexKey = tuple[str, str, int, int]
# queue_runs leaves larger queue offsets to the record-by-record dispatch (the byte
# position, offset * 20, stays far inside an int64).
_MAX_QUEUE_OFFSET = 1 << 58


@speedups.twin
def queue_runs(
    msgs: Sequence[StoredMessage],
    appended: Sequence[AppendResult],
    scheduled_code: Callable[[str, Mapping[str, str], int], int],
    index_keys: list[IndexKey] | None,
    arrivals: list[Arrival],
) -> dict[tuple[str, int], tuple[int, bytearray]] | None:
    """The per-record work of a dispatch pass over freshly appended records, as data.

    Answers the ConsumeQueue entries of the pass per queue: (topic, queue id) ->
    (queue offset of the first, the 20-byte entries back to back). Appends to
    ``index_keys`` (when not None) the IndexFile keys of the records, as
    ``IndexService.build_many`` makes them: (``topic#``, key, offset, store time) of the
    UNIQ_KEY, then of each KEYS token, none for a ROLLBACK record. Appends to ``arrivals``
    each record given an entry (PREPARED and ROLLBACK records get none), in record order.
    The tags code is ``scheduled_code(topic, props, store time)`` for SCHEDULE_TOPIC
    records.

    None (the lists then hold a part: throw them away) when the pass is not the usual
    one, for the caller to dispatch record by record: a queue's offsets not consecutive,
    the commitlog offsets not ascending, a value the entry layout cannot hold. Has a
    compiled twin."""
    runs: dict[tuple[str, int], tuple[int, bytearray]] = {}
    last_phys = -1
    for msg, result in zip(msgs, appended, strict=True):
        topic, props, sys_flag = msg.topic, msg.props, msg.sys_flag
        if props is None:
            props = decode_properties(msg.properties) if msg.properties else {}
        phys, stamp = result.physical_offset, result.store_timestamp
        if phys <= last_phys:
            return None
        last_phys = phys
        if index_keys is not None:
            keys, uniq = props.get("KEYS"), props.get("UNIQ_KEY")
            if (keys or uniq) and sys_flag & _TX_ROLLBACK != _TX_ROLLBACK:
                if uniq is not None:
                    index_keys.append((f"{topic}#", uniq, phys, stamp))
                if keys:
                    for token in keys.split(_KEY_SEPARATOR):
                        if token:
                            index_keys.append((f"{topic}#", token, phys, stamp))
        if sys_flag & TX_PREPARED_BIT:  # PREPARED or ROLLBACK: no queue entry
            continue
        queue_id, queue_offset = msg.queue_id, result.queue_offset
        if not 0 <= queue_offset < _MAX_QUEUE_OFFSET:
            return None
        if topic == SCHEDULE_TOPIC:
            code = scheduled_code(topic, props, stamp)
        else:
            code = tags_code(props.get("TAGS"))
        run = runs.get((topic, queue_id))
        if run is None:
            run = runs[(topic, queue_id)] = (queue_offset, bytearray())
        elif queue_offset != run[0] + len(run[1]) // CQ_STORE_UNIT_SIZE:
            return None
        try:
            run[1].extend(_CQ_ENTRY.pack(phys, result.size, code))
        except struct.error:
            return None
        arrivals.append((topic, queue_id, queue_offset + 1, code))
    return runs


# One run of queue_runs left to the caller: (topic, queue id), first queue offset, entries.
LeftRun = tuple[tuple[str, int], int, bytearray]


@speedups.twin
def put_runs(
    queues: Mapping[tuple[str, int], ConsumeQueue],
    runs: dict[tuple[str, int], tuple[int, bytearray]],
) -> list[LeftRun]:
    """Write the runs of :func:`queue_runs` whose ConsumeQueue exists and takes them the
    usual way (``ConsumeQueue.append_run``: at once, after its last entry), in run order
    up to the first that does not; answer that one and all after it, in run order, for
    ``put_entries`` (a queue to create, a file to roll or to pre-blank, entries already
    there), so that the queues are written in run order even when one of those fails. Has
    a compiled twin, which writes into the tail file itself."""
    left: list[LeftRun] = []
    for key, (first, entries) in runs.items():
        cq = queues.get(key) if not left else None
        if cq is None or not cq.append_run(first, entries):
            left.append((key, first, entries))
    return left


def check_messages(msgs: Sequence[StoredMessage]) -> PutMessageResult | None:
    """The per-message reasons to refuse a put (topic and properties lengths)."""
    for msg in msgs:
        # UTF-8 is never shorter than the text and as long when it is ASCII: most texts
        # are decided without encoding them.
        topic, props = msg.topic, msg.properties
        if not (len(topic) <= MAX_TOPIC_LENGTH and topic.isascii()) and (
            len(topic.encode()) > MAX_TOPIC_LENGTH
        ):
            return PutMessageResult(
                PutMessageStatus.MESSAGE_ILLEGAL,
                remark=f"topic longer than {MAX_TOPIC_LENGTH} bytes",
            )
        if not (len(props) <= MAX_PROPERTIES_LENGTH and props.isascii()) and (
            len(props.encode()) > MAX_PROPERTIES_LENGTH
        ):
            return PutMessageResult(
                PutMessageStatus.PROPERTIES_SIZE_EXCEEDED,
                remark="msg properties length limit 32KB",
            )
    return None


@speedups.twin
def checked_batches(
    puts: Sequence[tuple[Sequence[StoredMessage], bool]],
) -> list[Sequence[StoredMessage]] | None:
    """The batches of ``puts`` when each has messages and none of them is refused by
    :func:`check_messages` (the usual read); None otherwise, for the caller
    to check put by put. Has a compiled twin."""
    batches: list[Sequence[StoredMessage]] = []
    for msgs, _ in puts:
        if not msgs or check_messages(msgs) is not None:
            return None
        batches.append(msgs)
    return batches


@speedups.twin
def put_oks(
    outcomes: Sequence[tuple[AppendResult, ...] | StoreError | OSError],
) -> list[PutMessageResult | Awaitable[PutMessageResult]] | None:
    """:func:`put_ok` of each outcome of ``append_many`` when every one is its batch's
    results (all stored), else None. Has a compiled twin."""
    answers: list[PutMessageResult | Awaitable[PutMessageResult]] = []
    for outcome in outcomes:
        if type(outcome) is not tuple:
            return None
        answers.append(put_ok(outcome))
    return answers


@speedups.twin
def stored_flat(
    batches: Sequence[Sequence[StoredMessage]],
    outcomes: Sequence[tuple[AppendResult, ...] | StoreError | OSError],
) -> tuple[list[StoredMessage], list[AppendResult]] | None:
    """The messages of ``batches`` and their results back to back, when ``append_many``
    stored every batch (``outcomes`` holds a tuple for each); else None. Has a compiled
    twin."""
    if len(outcomes) != len(batches):
        return None
    msgs: list[StoredMessage] = []
    appended: list[AppendResult] = []
    for batch, outcome in zip(batches, outcomes, strict=True):
        if type(outcome) is not tuple:
            return None
        msgs += batch
        appended += outcome
    return msgs, appended
