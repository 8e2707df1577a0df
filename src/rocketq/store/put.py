"""The put side of the message store: ``putMessage(s)`` and the puts of one socket read
together, with the dispatch of what they appended to the ConsumeQueues, the IndexFile and
the arrival listeners (RocketMQ ``DefaultMessageStore#asyncPutMessage(s)``, ``CommitLog``'s
flush and replica waits, ``ReputMessageService``'s dispatch).

:class:`MessageStorePuts` is a base class of
:class:`~rocketq.store.message_store.DefaultMessageStore`, kept in its own module so that
each stays small (as :mod:`rocketq.store.read` is for the reads); it uses only the parts
annotated on it. A base class, not an object the store calls: the put path keeps its
length (no extra call or attribute hop per send).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from rocketq.common.topic import SCHEDULE_TOPIC
from rocketq.store.commit_log import AppendResult, CommitLog, MessageSizeExceededError
from rocketq.store.config import SLAVE, StoreConfig
from rocketq.store.format import StoredMessage, StoreError, decode_properties, tags_code
from rocketq.store.put_twins import (
    MAX_TOPIC_LENGTH,
    TX_PREPARED_BIT,
    Arrival,
    Indexed,
    IndexKey,
    check_messages,
    checked_batches,
    put_ok,
    put_oks,
    put_runs,
    queue_runs,
    stored_flat,
)
from rocketq.store.result import PutMessageResult, PutMessageStatus

if TYPE_CHECKING:
    from rocketq.store.clean import CleanService
    from rocketq.store.consume_queue import ConsumeQueue
    from rocketq.store.flush import CommitLogFlushService
    from rocketq.store.ha.service import HAService
    from rocketq.store.index_service import IndexService

__all__ = ["MAX_TOPIC_LENGTH", "MessageStorePuts", "put_ok", "queue_runs"]

log = logging.getLogger("rocketq.store")

# What an empty put answers (a batch that decoded to nothing).
_NO_MESSAGE = PutMessageResult(PutMessageStatus.MESSAGE_ILLEGAL, remark="no message")


class MessageStorePuts:
    """Puts into the CommitLog and the dispatch of what they appended."""

    config: StoreConfig
    commit_log: CommitLog
    consume_queues: dict[tuple[str, int], ConsumeQueue]
    index_service: IndexService | None
    flush_service: CommitLogFlushService
    clean_service: CleanService
    ha_service: HAService | None
    delay_levels: list[int]
    message_arriving_listener: Callable[[str, int, int, int], None] | None
    messages_arriving_listener: Callable[[list[tuple[str, int, int, int]]], None] | None
    _running: bool
    _put_count: int
    _sync_master: bool
    _sync_flush: bool
    _last_dispatched_timestamp: int
    _append_marks: deque[tuple[int, int]]
    _held: deque[tuple[Sequence[StoredMessage], Sequence[AppendResult]]] | None

    if TYPE_CHECKING:

        def _new_consume_queue(self, topic: str, queue_id: int) -> ConsumeQueue: ...

        def _release_held(self) -> None: ...

    def _tags_code(self, topic: str, props: Mapping[str, str], store_timestamp: int) -> int:
        if topic == SCHEDULE_TOPIC and "DELAY" in props:
            # Schedule queues keep the delivery time where other queues keep the tag hash.
            level = min(max(int(props["DELAY"]), 1), len(self.delay_levels))
            return store_timestamp + self.delay_levels[level - 1]
        return tags_code(props.get("TAGS"))

    def _check_put(self, msgs: Sequence[StoredMessage]) -> PutMessageResult | None:
        refused = self._refusal()
        if refused is not None:
            return refused
        return self._check_messages(msgs)

    _check_messages = staticmethod(check_messages)

    async def put_message(self, msg: StoredMessage, wait_store: bool = True) -> PutMessageResult:
        """Store one message; with SYNC_FLUSH and ``wait_store`` answer once it is on disk."""
        return await self.put_messages([msg], wait_store)

    async def put_messages(
        self, msgs: Sequence[StoredMessage], wait_store: bool = True
    ) -> PutMessageResult:
        """Store a batch back to back with consecutive queue offsets."""
        result = self.submit_messages(msgs, wait_store)
        if isinstance(result, PutMessageResult):
            return result
        return await result

    def submit_messages(
        self, msgs: Sequence[StoredMessage], wait_store: bool = True
    ) -> PutMessageResult | Awaitable[PutMessageResult]:
        """:meth:`put_messages` without a coroutine when there is nothing to wait for.

        The batch is appended and dispatched now. The result comes back at once unless the
        put must wait (SYNC_FLUSH or SYNC_MASTER with ``wait_store``): then an awaitable of
        it. The send path answers most sends this way in the turn that read them.
        """
        refused = self._check_put(msgs)
        if refused is not None:
            return refused
        if not msgs:
            return _NO_MESSAGE
        try:
            appended = self.commit_log.append_batch(msgs)
        except MessageSizeExceededError as exc:
            return PutMessageResult(PutMessageStatus.MESSAGE_ILLEGAL, remark=str(exc))
        except OSError as exc:
            log.error("append failed: %s", exc)
            return PutMessageResult(PutMessageStatus.CREATE_MAPPED_FILE_FAILED, remark=str(exc))
        if self._held is None:
            self._dispatch_appended(msgs, appended)
        else:  # a controller-mode master holding back what the set does not have yet
            self._held.append((msgs, appended))
            self._release_held()
        self._put_count += len(msgs)
        if self.ha_service is not None:
            self.ha_service.notify_append()
        if self._sync_master and wait_store:
            return self._stored_after(self._wait_flush_and_replica(appended[-1]), appended)
        if not self._sync_flush:
            return put_ok(tuple(appended))
        if not wait_store:
            self.flush_service.wakeup()
            return put_ok(tuple(appended))
        return self._stored_when_flushed(tuple(appended))

    def submit_many(
        self,
        puts: Sequence[tuple[Sequence[StoredMessage], bool]],
        before_dispatch: Callable[[list[PutMessageResult | Awaitable[PutMessageResult]]], None]
        | None = None,
    ) -> list[PutMessageResult | Awaitable[PutMessageResult]]:
        """Several puts at once (the sends of one socket read): what
        ``[self.submit_messages(msgs, wait_store) for msgs, wait_store in puts]`` answers,
        in the same order, with the same offsets, msgIds and statuses.

        The work is done once for all where it can be: the store's state checks, the clock
        read, one write per run of records that share a CommitLog file (a batch still goes
        into one file as a unit), one dispatch pass, one HA notify, one group-commit waiter
        for the SYNC_FLUSH puts. Every record is in the mapped file before this returns.

        ``before_dispatch`` gets the answers once the records are written and before the
        dispatch pass (ConsumeQueue, index, arrivals), which runs after it all the same:
        the broker sends its answers first, as RocketMQ does (its ReputMessageService
        dispatches behind the append). Both happen before this returns, so whatever is
        asked next already finds the messages dispatched.
        """
        refused = self._refusal()
        if refused is not None:
            return [refused for _ in puts]
        answers: list[PutMessageResult | Awaitable[PutMessageResult] | None]
        places: Sequence[int]  # answers index of each batch handed to the CommitLog
        batches = checked_batches(puts)
        if batches is None:  # a put to refuse (or an unusual one): checked one by one
            places, batches, answers = self._checked_puts(puts)
        else:
            places, answers = range(len(puts)), [None] * len(puts)
        outcomes: list[tuple[AppendResult, ...] | StoreError | OSError] = []
        try:
            self.commit_log.append_many(batches, outcomes)
        except BaseException:
            self._stored_many(batches, outcomes)
            raise
        try:
            answered = self._answers_many(puts, places, outcomes, answers)
            if before_dispatch is not None:
                before_dispatch(answered)
        finally:
            self._stored_many(batches, outcomes)
        return answered

    def _checked_puts(
        self, puts: Sequence[tuple[Sequence[StoredMessage], bool]]
    ) -> tuple[
        list[int],
        list[Sequence[StoredMessage]],
        list[PutMessageResult | Awaitable[PutMessageResult] | None],
    ]:
        """The answers index and the messages of each put that passes the checks, and the
        answers with the refusals of the others in their places (the rest None)."""
        answers: list[PutMessageResult | Awaitable[PutMessageResult] | None] = []
        places: list[int] = []
        batches: list[Sequence[StoredMessage]] = []
        for msgs, _ in puts:
            bad = self._check_messages(msgs) if msgs else _NO_MESSAGE
            if bad is None:
                places.append(len(answers))
                batches.append(msgs)
            answers.append(bad)
        return places, batches, answers

    def _answers_many(
        self,
        puts: Sequence[tuple[Sequence[StoredMessage], bool]],
        places: Sequence[int],
        outcomes: Sequence[tuple[AppendResult, ...] | StoreError | OSError],
        answers: list[PutMessageResult | Awaitable[PutMessageResult] | None],
    ) -> list[PutMessageResult | Awaitable[PutMessageResult]]:
        """``answers`` completed with the result of each batch handed to the CommitLog
        (``puts[place]`` the put of each outcome)."""
        if not (self._sync_master or self._sync_flush) and len(outcomes) == len(answers):
            oks = put_oks(outcomes)  # every put checked fine: PUT_OK each if all stored
            if oks is not None:
                return oks
        wake = False
        waiting: list[tuple[int, tuple[AppendResult, ...]]] = []
        for place, outcome in zip(places, outcomes, strict=True):
            wait_store = puts[place][1]
            if not isinstance(outcome, tuple):
                answers[place] = self._append_failed(outcome)
            elif self._sync_master and wait_store:
                wait = self._wait_flush_and_replica(outcome[-1])
                answers[place] = self._stored_after(wait, outcome)
            elif not self._sync_flush:
                answers[place] = put_ok(outcome)
            elif not wait_store:
                answers[place] = put_ok(outcome)
                wake = True  # it does not wait, but is flushed soon all the same
            else:
                waiting.append((place, outcome))
        if wake:
            self.flush_service.wakeup()
        if waiting:
            self._stored_when_flushed_many(waiting, answers)
        return answers  # type: ignore[return-value]  # every None was replaced

    def _refusal(self) -> PutMessageResult | None:
        """The store-wide reasons to refuse any put (``_check_put`` without the messages)."""
        if not self._running:
            return PutMessageResult(
                PutMessageStatus.SERVICE_NOT_AVAILABLE, remark="store is not running"
            )
        if self.clean_service.disk_full:
            return PutMessageResult(
                PutMessageStatus.SERVICE_NOT_AVAILABLE, remark="disk full: store is over 90 %"
            )
        if self.config.broker_role == SLAVE:
            return PutMessageResult(
                PutMessageStatus.SERVICE_NOT_AVAILABLE, remark="a slave takes no writes"
            )
        return None

    @staticmethod
    def _append_failed(error: StoreError | OSError) -> PutMessageResult:
        if isinstance(error, MessageSizeExceededError):
            return PutMessageResult(PutMessageStatus.MESSAGE_ILLEGAL, remark=str(error))
        log.error("append failed: %s", error)
        return PutMessageResult(PutMessageStatus.CREATE_MAPPED_FILE_FAILED, remark=str(error))

    def _stored_many(
        self,
        batches: Sequence[Sequence[StoredMessage]],
        outcomes: Sequence[tuple[AppendResult, ...] | StoreError | OSError],
    ) -> None:
        """Dispatch (or hold) the batches ``append_many`` stored, in one pass."""
        held = self._held
        flat = stored_flat(batches, outcomes) if held is None else None
        if flat is None:  # some not stored (or held back): the stored ones picked out
            flat = self._stored_parts(batches, outcomes)
        flat_msgs, flat_appended = flat
        if not flat_appended:
            return
        if held is None:
            self._dispatch_appended(flat_msgs, flat_appended)
        else:
            self._release_held()
        self._put_count += len(flat_msgs)
        if self.ha_service is not None:
            self.ha_service.notify_append()

    def _stored_parts(
        self,
        batches: Sequence[Sequence[StoredMessage]],
        outcomes: Sequence[tuple[AppendResult, ...] | StoreError | OSError],
    ) -> tuple[list[StoredMessage], list[AppendResult]]:
        """The messages and results of the stored batches back to back, each stored batch
        also queued in ``_held`` when there is one."""
        flat_msgs: list[StoredMessage] = []
        flat_appended: list[AppendResult] = []
        held = self._held
        for msgs, outcome in zip(batches, outcomes, strict=False):
            if isinstance(outcome, tuple):
                if held is not None:
                    held.append((msgs, outcome))
                flat_msgs += msgs
                flat_appended += outcome
        return flat_msgs, flat_appended

    def _stored_when_flushed_many(
        self,
        waiting: Sequence[tuple[int, tuple[AppendResult, ...]]],
        answers: list[PutMessageResult | Awaitable[PutMessageResult] | None],
    ) -> None:
        """SYNC_FLUSH puts of one call: a future each, answered by ONE group-commit waiter
        at the end of the last (the sync that covers it covers them all)."""
        loop = asyncio.get_running_loop()
        futures: list[tuple[asyncio.Future[PutMessageResult], tuple[AppendResult, ...]]] = []
        for place, appended in waiting:
            future: asyncio.Future[PutMessageResult] = loop.create_future()
            answers[place] = future
            futures.append((future, appended))
        queue = self.commit_log.queue

        def flushed(ok: bool) -> None:
            where = queue.flushed_where  # a failed sync may still cover the first ones
            for future, appended in futures:
                if not future.done():
                    end = appended[-1].physical_offset + appended[-1].size
                    on_disk = ok or where >= end
                    status = (
                        PutMessageStatus.PUT_OK if on_disk else PutMessageStatus.FLUSH_DISK_TIMEOUT
                    )
                    future.set_result(PutMessageResult(status, appended))

        last = waiting[-1][1][-1]
        timeout = self.config.sync_flush_timeout / 1000
        self.flush_service.when_flushed(last.physical_offset + last.size, timeout, flushed)

    def _stored_when_flushed(
        self, appended: tuple[AppendResult, ...]
    ) -> asyncio.Future[PutMessageResult]:
        """SYNC_FLUSH: a future answered by the group commit's callback (no coroutine)."""
        future: asyncio.Future[PutMessageResult] = asyncio.get_running_loop().create_future()

        def flushed(ok: bool) -> None:
            if not future.done():
                status = PutMessageStatus.PUT_OK if ok else PutMessageStatus.FLUSH_DISK_TIMEOUT
                future.set_result(PutMessageResult(status, appended))

        last = appended[-1]
        timeout = self.config.sync_flush_timeout / 1000
        self.flush_service.when_flushed(last.physical_offset + last.size, timeout, flushed)
        return future

    @staticmethod
    async def _stored_after(
        wait: Awaitable[PutMessageStatus], appended: Sequence[AppendResult]
    ) -> PutMessageResult:
        return PutMessageResult(await wait, tuple(appended))

    def _dispatch_appended(
        self, msgs: Sequence[StoredMessage], appended: Sequence[AppendResult]
    ) -> None:
        """The ConsumeQueue entries, index keys and arrivals of appended records: each
        queue's entries of the pass written at once (``ReputMessageService#doReput``)."""
        index = self.index_service
        index_keys: list[IndexKey] | None = [] if index is not None else None
        arrivals: list[Arrival] = []
        runs = queue_runs(msgs, appended, self._tags_code, index_keys, arrivals)
        if runs is None:
            self._dispatch_each(msgs, appended)
            return
        queues = self.consume_queues
        for key, first, entries in put_runs(queues, runs):
            cq = queues.get(key) or self._new_consume_queue(*key)
            cq.put_entries(first, bytes(entries))
        listener = self.message_arriving_listener
        if listener is not None:
            for arrival in arrivals:
                listener(*arrival)
        if index_keys and index is not None:
            index.put_pass_keys(index_keys)
        self._dispatched(appended, None, arrivals)

    def _dispatched(
        self,
        appended: Sequence[AppendResult],
        indexed: list[Indexed] | None,
        arrivals: list[Arrival] | None,
    ) -> None:
        """The end of a dispatch pass: the index keys, the marks, the arrivals."""
        last = appended[-1]
        self._last_dispatched_timestamp = last.store_timestamp
        if indexed and self.index_service is not None:
            self.index_service.build_many(indexed)
        self._append_marks.append((last.physical_offset + last.size, last.store_timestamp))
        if arrivals and self.messages_arriving_listener is not None:
            self.messages_arriving_listener(arrivals)

    def _dispatch_each(
        self, msgs: Sequence[StoredMessage], appended: Sequence[AppendResult]
    ) -> None:
        """:meth:`_dispatch_appended` record by record: for the passes ``queue_runs``
        leaves (a re-dispatch, offsets out of order)."""
        queues = self.consume_queues
        index = self.index_service
        listener = self.message_arriving_listener
        arrivals: list[Arrival] | None = None
        if self.messages_arriving_listener is not None:
            arrivals = []
        indexed: list[Indexed] = []
        for msg, result in zip(msgs, appended, strict=True):
            topic, props, sys_flag = msg.topic, msg.props, msg.sys_flag
            if props is None:
                props = decode_properties(msg.properties) if msg.properties else {}
            phys = result.physical_offset
            if index is not None:
                keys, uniq = props.get("KEYS"), props.get("UNIQ_KEY")
                if keys or uniq:
                    indexed.append((topic, keys or "", uniq, phys, result.store_timestamp,
                                    sys_flag))  # fmt: skip
            if sys_flag & TX_PREPARED_BIT:  # PREPARED or ROLLBACK: no queue entry
                continue
            queue_id = msg.queue_id
            cq = queues.get((topic, queue_id)) or self._new_consume_queue(topic, queue_id)
            code = self._tags_code(topic, props, result.store_timestamp)
            queue_offset = result.queue_offset
            cq.put(phys, result.size, code, queue_offset)
            if listener is not None:
                listener(topic, queue_id, queue_offset + 1, code)
            if arrivals is not None:
                arrivals.append((topic, queue_id, queue_offset + 1, code))
        self._dispatched(appended, indexed, arrivals)

    async def _wait_flush(self, last: AppendResult, wait_store: bool) -> PutMessageStatus:
        end = last.physical_offset + last.size
        if not self._sync_flush:  # the mode the store started in (flush.py)
            return PutMessageStatus.PUT_OK
        if not wait_store:
            self.flush_service.wakeup()
            return PutMessageStatus.PUT_OK
        ok = await self.flush_service.wait_flushed(end, self.config.sync_flush_timeout / 1000)
        return PutMessageStatus.PUT_OK if ok else PutMessageStatus.FLUSH_DISK_TIMEOUT

    async def _wait_flush_and_replica(self, last: AppendResult) -> PutMessageStatus:
        """SYNC_MASTER with WAIT=true: flush and slave ack in parallel; a replication
        failure wins over a flush failure (``CommitLog#asyncPutMessage`` thenCombine)."""
        end = last.physical_offset + last.size
        replica: PutMessageStatus | asyncio.Future[bool] = PutMessageStatus.SLAVE_NOT_AVAILABLE
        if self.ha_service is not None:
            replica = self.ha_service.submit_replica_request(end)
        flushed = await self._wait_flush(last, True)
        if not isinstance(replica, PutMessageStatus):
            acked = await replica
            replica = PutMessageStatus.PUT_OK if acked else PutMessageStatus.FLUSH_SLAVE_TIMEOUT
        return replica if replica is not PutMessageStatus.PUT_OK else flushed
