"""POP consumption for ReceiveMessage, kept in memory (this stage's engine).

What a gRPC ``SimpleConsumer`` sees, as RocketMQ 5's ``PopMessageProcessor`` /
``AckMessageProcessor`` / ``ChangeInvisibleTimeProcessor`` give it:

* a receive hands out messages of every queue of the topic on this broker, each with a
  receipt handle, and makes them invisible to the group for the requested time;
* an ack (with the handle of the current delivery) consumes the message for good;
* a message not acked in time is handed out again, ``delivery_attempt`` one higher;
* a change of invisible duration gives a new handle and a new deadline.

Progress is the group's consumer offset (``ConsumerOffsetManager``), shared with remoting
consumers: per queue the committed offset is the lowest message still received-but-not-acked,
else the next one to hand out. The in-flight table itself is in memory only: after a broker
restart the un-acked messages from the committed offset on are delivered again (attempt 1).
RocketMQ 5's persisted checkpoints (``POP_CK``/revive topic) are a later stage.

Long polling: :meth:`PopService.receive` waits until a message arrives on the topic
(:meth:`notify_message_arriving`, fed by the store's dispatch) or an invisible time runs out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from rocketq.broker.consumer_offset import ConsumerOffsetManager
from rocketq.common.record import MessageRecord, decode_record
from rocketq.store.message_store import DefaultMessageStore
from rocketq.store.result import GetMessageStatus, MessageFilter

__all__ = ["PopService", "PoppedMessage", "ReceiptHandle"]

# ExtraInfoUtil's topic types: "0" a normal topic (retry topics are "1"/"2" in RocketMQ 5).
NORMAL_TOPIC_TYPE = "0"
# Fields of a receipt handle (ExtraInfoUtil: startOffset popTime invisibleTime reviveQid
# topicType brokerName queueId queueOffset commitLogOffset).
_HANDLE_FIELDS = 9
# Queue entries read per queue and round at most: a receive asks for at most 32 messages
# (the SDKs' maximum batch size), so this bounds one read.
MAX_READ_PER_QUEUE = 32


def now_ms() -> int:
    """Wall-clock milliseconds (receipt handles carry wall times, as RocketMQ's do)."""
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class ReceiptHandle:
    """What a receipt handle says, in RocketMQ 5's ``ExtraInfoUtil`` layout (space
    separated); ``retrieve_time`` tells one delivery of a message from the next."""

    start_offset: int
    retrieve_time: int
    invisible_ms: int
    revive_queue_id: int
    topic_type: str
    broker_name: str
    queue_id: int
    offset: int
    commit_log_offset: int

    def encode(self) -> str:
        """The handle as sent to the client."""
        return " ".join(
            str(v)
            for v in (
                self.start_offset,
                self.retrieve_time,
                self.invisible_ms,
                self.revive_queue_id,
                self.topic_type,
                self.broker_name,
                self.queue_id,
                self.offset,
                self.commit_log_offset,
            )
        )

    @classmethod
    def decode(cls, text: str) -> ReceiptHandle:
        """Parse a handle; ``ValueError`` when it is not one of ours."""
        parts = text.split(" ")
        if len(parts) != _HANDLE_FIELDS:
            raise ValueError(f"receipt handle has {len(parts)} fields, not {_HANDLE_FIELDS}")
        start, retrieve, invisible, revive = (int(p) for p in parts[:4])
        queue_id, offset, phys = (int(p) for p in parts[6:])
        return cls(start, retrieve, invisible, revive, parts[4], parts[5], queue_id, offset, phys)


@dataclass(frozen=True, slots=True)
class PoppedMessage:
    """One delivery: the stored record, its handle and which delivery it is (1, 2, ...)."""

    record: MessageRecord
    handle: ReceiptHandle
    attempt: int


@dataclass(slots=True)
class _Pending:
    """A message received and not yet acked."""

    commit_log_offset: int
    retrieve_time: int
    deadline: int  # wall ms: visible again from here on
    attempt: int


@dataclass(slots=True)
class _QueueState:
    next_offset: int  # the next queue offset never handed out
    pending: dict[int, _Pending] = field(default_factory=dict)

    def committed(self) -> int:
        return min(self.pending) if self.pending else self.next_offset


class PopService:
    """Receive / ack / change-invisible-time over the store, for every gRPC group."""

    def __init__(
        self,
        store: DefaultMessageStore,
        offsets: ConsumerOffsetManager,
        broker_name: str,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.store = store
        self.offsets = offsets
        self.broker_name = broker_name
        self.clock = clock
        self._queues: dict[tuple[str, str, int], _QueueState] = {}
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._last_retrieve = 0

    # -- state ------------------------------------------------------------------------------

    def _state(self, group: str, topic: str, queue_id: int) -> _QueueState:
        key = (group, topic, queue_id)
        state = self._queues.get(key)
        if state is None:
            state = _QueueState(self._start_offset(group, topic, queue_id))
            self._queues[key] = state
        return state

    def _start_offset(self, group: str, topic: str, queue_id: int) -> int:
        """The committed offset; for a new group the queue's start while it still begins at
        0, else its end (PopMessageProcessor#getInitOffset with initPopOffsetByCheckMsgInMem)."""
        committed = self.offsets.query(group, topic, queue_id)
        store = self.store
        low = store.get_min_offset_in_queue(topic, queue_id)
        if committed >= 0:
            return max(committed, low)
        return 0 if low == 0 else store.get_max_offset_in_queue(topic, queue_id)

    def _commit(self, group: str, topic: str, queue_id: int, state: _QueueState) -> None:
        committed = state.committed()
        if committed > self.offsets.query(group, topic, queue_id):
            self.offsets.commit(group, topic, queue_id, committed)

    def _retrieve_time(self) -> int:
        # Strictly increasing, so two deliveries never share a handle.
        self._last_retrieve = max(self.clock(), self._last_retrieve + 1)
        return self._last_retrieve

    # -- pop --------------------------------------------------------------------------------

    def pop(
        self,
        group: str,
        topic: str,
        queue_ids: Iterable[int],
        batch: int,
        invisible_ms: int,
        message_filter: MessageFilter | None = None,
    ) -> list[PoppedMessage]:
        """Messages due again first (attempt + 1), then new ones; at most ``batch``."""
        out: list[PoppedMessage] = []
        queue_ids = list(queue_ids)
        for queue_id in queue_ids:
            if len(out) >= batch:
                break
            out += self._pop_revived(group, topic, queue_id, batch - len(out), invisible_ms)
        for queue_id in queue_ids:
            if len(out) >= batch:
                break
            out += self._pop_new(
                group, topic, queue_id, batch - len(out), invisible_ms, message_filter
            )
        return out

    def _pop_revived(
        self, group: str, topic: str, queue_id: int, limit: int, invisible_ms: int
    ) -> list[PoppedMessage]:
        state = self._state(group, topic, queue_id)
        now = self.clock()
        due = sorted(o for o, p in state.pending.items() if p.deadline <= now)[:limit]
        out = []
        for offset in due:
            pending = state.pending[offset]
            record = self.store.look_message_by_offset(pending.commit_log_offset)
            if record is None:  # the CommitLog file was deleted: nothing to deliver again
                del state.pending[offset]
                continue
            pending.attempt += 1
            out.append(self._deliver(state, topic, record, pending, invisible_ms))
        if due:
            self._commit(group, topic, queue_id, state)
        return out

    def _pop_new(
        self,
        group: str,
        topic: str,
        queue_id: int,
        limit: int,
        invisible_ms: int,
        message_filter: MessageFilter | None,
    ) -> list[PoppedMessage]:
        state = self._state(group, topic, queue_id)
        n = min(limit, MAX_READ_PER_QUEUE)
        result = self.store.get_message(
            group, topic, queue_id, state.next_offset, n, message_filter
        )
        out = []
        try:
            for view in result.buffers:
                record = decode_record(view)
                pending = _Pending(record.physical_offset, 0, 0, 1)
                state.pending[record.queue_offset] = pending
                out.append(self._deliver(state, topic, record, pending, invisible_ms))
        finally:
            for view in result.buffers:
                view.release()
        if result.status is not GetMessageStatus.OFFSET_OVERFLOW_ONE:
            # Past what was read and what the filter skipped (or corrected when the offset
            # was out of the queue's range).
            state.next_offset = max(state.next_offset, result.next_begin_offset)
        self._commit(group, topic, queue_id, state)
        return out

    def _deliver(
        self,
        state: _QueueState,
        topic: str,
        record: MessageRecord,
        pending: _Pending,
        invisible_ms: int,
    ) -> PoppedMessage:
        pending.retrieve_time = self._retrieve_time()
        pending.deadline = pending.retrieve_time + invisible_ms
        handle = ReceiptHandle(
            start_offset=record.queue_offset,
            retrieve_time=pending.retrieve_time,
            invisible_ms=invisible_ms,
            revive_queue_id=0,
            topic_type=NORMAL_TOPIC_TYPE,
            broker_name=self.broker_name,
            queue_id=record.queue_id,
            offset=record.queue_offset,
            commit_log_offset=record.physical_offset,
        )
        return PoppedMessage(record, handle, pending.attempt)

    # -- ack and change invisible time ------------------------------------------------------

    def _current(
        self, group: str, topic: str, handle: ReceiptHandle
    ) -> tuple[_QueueState, _Pending | None]:
        state = self._state(group, topic, handle.queue_id)
        return state, state.pending.get(handle.offset)

    def ack(self, group: str, topic: str, handle: ReceiptHandle) -> bool:
        """Consume the message for good. True when acked now or already; False when the
        handle is of an older delivery than the current one (it expired and was re-sent)."""
        state, pending = self._current(group, topic, handle)
        if pending is None:
            return handle.offset < state.next_offset  # acked before (or never ours): done
        if pending.retrieve_time != handle.retrieve_time:
            return False
        del state.pending[handle.offset]
        self._commit(group, topic, handle.queue_id, state)
        return True

    def change_invisible(
        self, group: str, topic: str, handle: ReceiptHandle, invisible_ms: int
    ) -> ReceiptHandle | None:
        """Invisible for ``invisible_ms`` from now; the new handle, or None when ``handle``
        is not the current delivery's."""
        _state, pending = self._current(group, topic, handle)
        if pending is None or pending.retrieve_time != handle.retrieve_time:
            return None
        pending.retrieve_time = self._retrieve_time()
        pending.deadline = pending.retrieve_time + invisible_ms
        self._wake(topic)  # a waiting receive may have counted on the old deadline
        return replace(handle, retrieve_time=pending.retrieve_time, invisible_ms=invisible_ms)

    def next_deadline(self, group: str, topic: str) -> int | None:
        """The earliest wall ms at which a received message of the group becomes due."""
        deadlines = [
            p.deadline
            for (g, t, _q), state in self._queues.items()
            if g == group and t == topic
            for p in state.pending.values()
        ]
        return min(deadlines, default=None)

    # -- long polling -----------------------------------------------------------------------

    async def receive(
        self,
        group: str,
        topic: str,
        queue_ids: list[int],
        batch: int,
        invisible_ms: int,
        message_filter: MessageFilter | None,
        timeout_s: float,
    ) -> list[PoppedMessage]:
        """``pop``, waiting up to ``timeout_s`` for a message (new, or due again)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while True:
            found = self.pop(group, topic, queue_ids, batch, invisible_ms, message_filter)
            remaining = end - loop.time()
            if found or remaining <= 0:
                return found
            deadline = self.next_deadline(group, topic)
            if deadline is not None:
                remaining = min(remaining, max(deadline - self.clock(), 0) / 1000)
            await self._wait(topic, remaining)

    async def _wait(self, topic: str, timeout_s: float) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(topic, set())
        waiters.add(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout_s)
        except TimeoutError:
            pass
        finally:
            waiters.discard(waiter)
            if not waiters:
                self._waiters.pop(topic, None)

    def _wake(self, topic: str) -> None:
        for waiter in self._waiters.get(topic, ()):
            if not waiter.done():
                waiter.set_result(None)

    def notify_message_arriving(
        self, topic: str, queue_id: int, max_offset: int, tags_code: int | None = None
    ) -> None:
        """A message reached ``topic``: wake its waiting receives (they re-check)."""
        if topic in self._waiters:
            self._wake(topic)

    def wake_all(self) -> None:
        """Wake every waiting receive (the server is closing)."""
        for topic in list(self._waiters):
            self._wake(topic)
