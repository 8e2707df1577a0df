"""The check-back service (RocketMQ ``TransactionalMessageCheckService`` and
``TransactionalMessageServiceImpl#check``, broker-features.md §7.4).

Every ``transactionCheckInterval`` ms, for each half queue: read the op records from the
op queue's progress offset to learn which half offsets are finished, then walk the half
queue from its progress offset. A half message that is finished is passed; one older
than ``transactionTimeOut`` (or its CHECK_IMMUNITY_TIME_IN_SECONDS) is re-appended with
TRANSACTION_CHECK_TIMES + 1 and its producer group is asked CHECK_TRANSACTION_STATE
(one-way) about the copy; after ``transactionCheckMax`` checks it is given up (copied to
TRANS_CHECK_MAX_TIME_TOPIC). The walk stops at the first message that is too new. Both
progress offsets are committed as consumer offsets of ``CID_RMQ_SYS_TRANS``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from rocketq.broker.transaction.bridge import (
    ReadStatus,
    TransactionalMessageBridge,
    check_request_body,
    immunity_half_message,
    parse_op_body,
    renewed_half_message,
)
from rocketq.broker.transaction.state import (
    CHECK_IMMUNITY_TIME_IN_SECONDS,
    REMOVE_TAG,
    TRANS_HALF_TOPIC,
    TRANS_OP_HALF_TOPIC,
    TRANSACTION_CHECK_TIMES,
    TRANSACTION_PREPARED_QUEUE_OFFSET,
)
from rocketq.common.message import MessageConst
from rocketq.common.record import MessageRecord
from rocketq.common.tasks import TaskOwner
from rocketq.remoting.codes import RequestCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers import CheckTransactionStateRequestHeader
from rocketq.store.commit_log import AppendResult

if TYPE_CHECKING:
    from rocketq.broker.client_manager import ProducerManager
    from rocketq.broker.config import BrokerConfig
    from rocketq.store.config import StoreConfig

__all__ = ["CheckStats", "TransactionalMessageCheckService"]

log = logging.getLogger("rocketq.broker.transaction")

# TransactionalMessageServiceImpl.MAX_PROCESS_TIME_LIMIT: one queue is walked for at most
# 60 s per pass, so a huge backlog cannot starve the next pass forever.
MAX_PROCESS_TIME_LIMIT_MS = 60_000
# MAX_RETRY_COUNT_WHEN_HALF_NULL: one unreadable half offset is skipped, a second stops.
MAX_RETRY_COUNT_WHEN_HALF_NULL = 1
# fillOpRemoveMap pulls 32 op records at a time.
OP_PULL_NUMS = 32
# A floor for transactionCheckInterval, so that 0 in broker.conf does not spin the loop.
MIN_CHECK_INTERVAL_MS = 10
# Half offsets examined between two yields to the event loop.
_YIELD_EVERY = 64
_HOUR_MS = 3_600_000


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _int(text: str | None, default: int = -1) -> int:
    """Java's ``getLong``/``getInt`` of the service: -1 for what is not a number."""
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


@runtime_checkable
class TransactionCheckChannel(Protocol):
    """A producer channel that delivers check-backs itself instead of a remoting
    CHECK_TRANSACTION_STATE: a gRPC producer's Telemetry stream (the proxy's
    ``RecoverOrphanedTransactionCommand``)."""

    def check_transaction_state(
        self, half: MessageRecord, props: Mapping[str, str], appended: AppendResult
    ) -> bool:
        """Send the check; False when it could not go (the next pass asks again)."""
        ...


@dataclass(frozen=True, slots=True)
class CheckStats:
    """Counters of the check service since start."""

    passes: int
    checks_sent: int
    checks_without_producer: int
    discarded: int


class _Step(Enum):
    NEXT = "next"  # done with this half offset, go on
    AGAIN = "again"  # more op records were read: look at the same offset again
    STOP = "stop"  # stop walking this queue for this pass


@dataclass(slots=True)
class _OpView:
    """What the op records read so far say (``removeMap`` and ``doneOpOffset``)."""

    min_half_offset: int
    next_offset: int
    remove: dict[int, int] = field(default_factory=dict)  # half offset -> op offset
    remaining: dict[int, int] = field(default_factory=dict)  # op offset -> halves left
    done: list[int] = field(default_factory=list)  # op offsets fully used
    last_born: int | None = None  # born time of the newest op record of the last read

    def add(self, op: MessageRecord) -> None:
        """Record one op message."""
        if op.properties_map().get(MessageConst.TAGS) != REMOVE_TAG:
            log.error("op record with an unknown tag at op offset %d", op.queue_offset)
            self.done.append(op.queue_offset)
            return
        wanted = [h for h in parse_op_body(op.body) if h >= self.min_half_offset]
        for half in wanted:
            self.remove[half] = op.queue_offset
        if wanted:
            self.remaining[op.queue_offset] = len(wanted)
        else:
            self.done.append(op.queue_offset)

    def consume(self, half_offset: int) -> bool:
        """True (and the op record is used) when ``half_offset`` is finished."""
        op = self.remove.pop(half_offset, None)
        if op is None:
            return False
        left = self.remaining.get(op, 1) - 1
        if left > 0:
            self.remaining[op] = left
        else:
            self.remaining.pop(op, None)
            self.done.append(op)
        return True

    def new_op_offset(self, old: int) -> int:
        """``calculateOpOffset``: advance over the contiguous done op offsets."""
        offset = old
        for done in sorted(set(self.done)):
            if done == offset:
                offset += 1
            elif done > offset:
                break
        return offset


class TransactionalMessageCheckService:
    """The periodic check-back; ``start()``/``aclose()``; ``check()`` runs one pass."""

    def __init__(
        self,
        config: BrokerConfig,
        store_config: StoreConfig,
        producer_manager: ProducerManager,
        bridge: TransactionalMessageBridge,
    ) -> None:
        self.config = config
        self.store_config = store_config
        self.producer_manager = producer_manager
        self.bridge = bridge
        self._tasks = TaskOwner(log)
        self._passes = self._checks = self._orphans = self._discarded = 0

    def start(self) -> None:
        """Start the periodic pass (masters only; the controller decides). Does nothing
        while running; after :meth:`aclose` it starts again (a demoted, re-promoted broker)."""
        if self._tasks.closed:
            self._tasks = TaskOwner(log)
        if not len(self._tasks):
            self._tasks.every(self._interval, self.check, "transaction-check")

    async def aclose(self) -> None:
        """Stop; a pass in progress is cancelled (its progress is simply not committed)."""
        await self._tasks.aclose()

    def stats(self) -> CheckStats:
        """Counters for tools and tests."""
        return CheckStats(self._passes, self._checks, self._orphans, self._discarded)

    def _interval(self) -> float:
        """``transactionCheckInterval`` in seconds, read each round (it may be updated)."""
        return max(self.config.transaction_check_interval, MIN_CHECK_INTERVAL_MS) / 1000

    async def check(self) -> None:
        """One pass over every half queue."""
        cfg = self.config
        for queue_id in self.bridge.half_queue_ids():
            await self._check_queue(queue_id, cfg.transaction_time_out, cfg.transaction_check_max)
        self._passes += 1

    # -- one queue --------------------------------------------------------------------------

    async def _check_queue(self, queue_id: int, timeout: int, check_max: int) -> None:
        b = self.bridge
        start = _now_ms()
        half_offset = b.fetch_offset(TRANS_HALF_TOPIC, queue_id)
        op_offset = b.fetch_offset(TRANS_OP_HALF_TOPIC, queue_id)
        view = _OpView(half_offset, op_offset)
        self._fill(view, queue_id)
        i = new_offset = half_offset
        misses = 1
        steps = 0
        while _now_ms() - start <= MAX_PROCESS_TIME_LIMIT_MS:
            steps += 1
            if steps % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
            if view.consume(i):
                i = new_offset = i + 1
                continue
            read = b.read(TRANS_HALF_TOPIC, queue_id, i, 1)
            if not read.records:
                misses += 1
                if misses > MAX_RETRY_COUNT_WHEN_HALF_NULL + 1:
                    break
                if read.status is ReadStatus.NO_NEW_MSG:
                    break
                log.info("half offset %d of queue %d unreadable (%s)", i, queue_id, read.status)
                i = new_offset = read.next_begin_offset
                continue
            step = await self._examine(read.records[0], view, start, timeout, check_max)
            if step is _Step.STOP:
                break
            if step is _Step.NEXT:
                i = new_offset = i + 1
        if new_offset != half_offset:
            b.update_offset(TRANS_HALF_TOPIC, queue_id, new_offset)
        new_op_offset = view.new_op_offset(op_offset)
        if new_op_offset != op_offset:
            b.update_offset(TRANS_OP_HALF_TOPIC, queue_id, new_op_offset)

    def _fill(self, view: _OpView, queue_id: int) -> bool:
        """``fillOpRemoveMap``: read the next op records; False when there were none."""
        read = self.bridge.read(TRANS_OP_HALF_TOPIC, queue_id, view.next_offset, OP_PULL_NUMS)
        view.last_born = None
        if read.status in (ReadStatus.OFFSET_ILLEGAL, ReadStatus.NO_MATCHED_MSG):
            log.warning("op offset %d of queue %d: %s", view.next_offset, queue_id, read.status)
            self.bridge.update_offset(TRANS_OP_HALF_TOPIC, queue_id, read.next_begin_offset)
            moved = read.next_begin_offset != view.next_offset
            view.next_offset = read.next_begin_offset
            return moved
        if read.status is ReadStatus.NO_NEW_MSG:
            return False
        for op in read.records:
            view.add(op)
        view.last_born = read.records[-1].born_timestamp
        view.next_offset = read.next_begin_offset
        return True

    async def _examine(
        self, half: MessageRecord, view: _OpView, start: int, timeout: int, check_max: int
    ) -> _Step:
        """Decide about one unfinished half message (the body of Java's walk loop)."""
        props = half.properties_map()
        bumped = _bump_check_times(props, check_max)
        if bumped is None or self._too_old(half):
            await self._discard(half, props)
            return _Step.NEXT
        if half.store_timestamp >= start:
            return _Step.STOP  # stored during this pass: next time
        age = _now_ms() - half.born_timestamp
        immunity = timeout
        immunity_text = props.get(CHECK_IMMUNITY_TIME_IN_SECONDS)
        if immunity_text is not None:
            immunity = _immunity_ms(immunity_text, timeout)
            if age < immunity and await self._settle_immune(half, props, view):
                return _Step.NEXT
        elif 0 <= age < immunity:
            return _Step.STOP  # too new: so is everything after it
        need_check = (
            (view.last_born is None and age > immunity)
            or (view.last_born is not None and view.last_born - start > timeout)
            or age <= -1
        )
        if not need_check:
            # The op records read so far are older than this message could be finished:
            # read more before deciding (Java loops the same way).
            if not self._fill(view, half.queue_id) and age <= immunity:
                return _Step.STOP
            return _Step.AGAIN
        appended = await self._put_back(half, bumped)
        if appended is None:
            return _Step.STOP
        self._send_check(half, bumped, appended)
        return _Step.NEXT

    def _too_old(self, half: MessageRecord) -> bool:
        """``needSkip``: born longer ago than the commit log keeps files."""
        reserved = self.store_config.file_reserved_time * _HOUR_MS
        return _now_ms() - half.born_timestamp > reserved

    async def _settle_immune(
        self, half: MessageRecord, props: Mapping[str, str], view: _OpView
    ) -> bool:
        """``checkPrepareQueueOffset``: a message still inside its immunity window is
        finished if its original offset is, else re-appended remembering that offset."""
        original = props.get(TRANSACTION_PREPARED_QUEUE_OFFSET)
        if original is not None:
            offset = _int(original)
            if offset == -1:
                return False
            if view.consume(offset):
                return True
        result = await self.bridge.put(immunity_half_message(half, props))
        return result.status.stored

    async def _put_back(self, half: MessageRecord, props: Mapping[str, str]) -> AppendResult | None:
        """``putBackHalfMsgQueue``: append the copy that the check-back is about."""
        result = await self.bridge.put(renewed_half_message(half, props))
        if not result.status.stored or not result.appended:
            log.error("re-appending half message %d failed: %s", half.queue_offset, result.status)
            return None
        return result.appended[0]

    async def _discard(self, half: MessageRecord, props: Mapping[str, str]) -> None:
        """``resolveDiscardMsg``: give up on a half message."""
        self._discarded += 1
        log.warning(
            "half message %s (topic %s, group %s) checked %s times: discarded to "
            "TRANS_CHECK_MAX_TIME_TOPIC",
            props.get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX),
            props.get(MessageConst.REAL_TOPIC),
            props.get(MessageConst.PRODUCER_GROUP),
            props.get(TRANSACTION_CHECK_TIMES, 0),
        )
        if not await self.bridge.put_discarded(half, props):
            log.error("could not copy half message %d to the check-max topic", half.queue_offset)

    def _send_check(
        self, half: MessageRecord, props: Mapping[str, str], appended: AppendResult
    ) -> None:
        """``sendCheckMessage``: CHECK_TRANSACTION_STATE, one-way, to one producer of the
        group (``Broker2Client#checkProducerTransactionState``)."""
        group = props.get(MessageConst.PRODUCER_GROUP, "")
        uniq = props.get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
        info = self.producer_manager.available_channel(group) if group else None
        conn = info.connection if info is not None else None
        if isinstance(conn, TransactionCheckChannel):  # a gRPC producer: over Telemetry
            if conn.check_transaction_state(half, props, appended):
                self._checks += 1
            return
        if not isinstance(conn, Connection):
            self._orphans += 1
            log.warning("check of transaction %s skipped: no producer of group %r", uniq, group)
            return
        header = CheckTransactionStateRequestHeader(
            tran_state_table_offset=appended.queue_offset,
            commit_log_offset=appended.physical_offset,
            msg_id=uniq,
            transaction_id=uniq,
            offset_msg_id=appended.msg_id,
            topic=props.get(MessageConst.REAL_TOPIC),
            broker_name=self.config.broker_name,
        )
        body = check_request_body(half, props, appended, self.bridge.store_host)
        cmd = RemotingCommand.request(RequestCode.CHECK_TRANSACTION_STATE, header.to_ext(), body)
        try:
            conn.send_oneway(cmd)
        except Exception as exc:  # the producer just went away: the next pass asks another
            log.warning("check of transaction %s to %s failed: %s", uniq, conn.peer, exc)
            return
        self._checks += 1


def _bump_check_times(props: Mapping[str, str], check_max: int) -> dict[str, str] | None:
    """``needDiscard``: None when the message was checked ``check_max`` times, else its
    properties with TRANSACTION_CHECK_TIMES set to 1 (first check) or incremented."""
    text = props.get(TRANSACTION_CHECK_TIMES)
    times = 1
    if text is not None:
        times = _int(text)
        if times >= check_max:
            return None
        times += 1
    bumped = dict(props)
    bumped[TRANSACTION_CHECK_TIMES] = str(times)
    return bumped


def _immunity_ms(text: str, timeout: int) -> int:
    """``getImmunityTime``: seconds -> ms; unparsable -> the timeout; never below the
    timeout (5.x)."""
    seconds = _int(text)
    return timeout if seconds == -1 else max(seconds * 1000, timeout)
