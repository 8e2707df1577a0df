"""``ProcessQueue``: the messages a push consumer holds for one assigned queue.

Mirrors Java's ``client/impl/consumer/ProcessQueue``: pulled messages wait in an offset
ordered map until consumed; the offset to commit is always the lowest offset still
waiting, so a crash re-delivers instead of losing (client-behaviour.md §6). Orderly
consumers (§9) take batches into a second "consuming" map and commit or roll back.

Concurrency: every method is called on the consumer's event loop. Listeners that run in
a thread pool hand their results back to the loop (``loop.call_soon_threadsafe`` or an
awaited ``run_in_executor`` future) before anything here is touched, so there are no
locks; Java's read/write lock is replaced by that single-threaded rule.

Timestamps are epoch milliseconds from an injected ``clock`` (wall clock by default, as
Java's ``System.currentTimeMillis``, because they are reported in consumer running info).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rocketq.client.message import MessageExt
from rocketq.common.message import MessageConst

__all__ = [
    "PULL_MAX_IDLE_TIME_MS",
    "REBALANCE_LOCK_INTERVAL_MS",
    "REBALANCE_LOCK_MAX_LIVE_TIME_MS",
    "ProcessQueue",
    "ProcessQueueStats",
]

# A queue not pulled for this long is considered stuck and is dropped by the rebalance
# (Java rocketmq.client.pull.pullMaxIdleTime, default 120 s).
PULL_MAX_IDLE_TIME_MS = 120_000
# The client treats its broker lock as lost this long after the last successful lock,
# well inside the broker's 60 s lease (rocketmq.client.rebalance.lockMaxLiveTime).
REBALANCE_LOCK_MAX_LIVE_TIME_MS = 30_000
# Orderly consumers re-lock their queues this often (rocketmq.client.rebalance.lockInterval).
REBALANCE_LOCK_INTERVAL_MS = 20_000


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _body_len(msg: MessageExt | None) -> int:
    return len(msg.body) if msg is not None else 0


@dataclass(frozen=True, slots=True)
class ProcessQueueStats:
    """A snapshot of a ``ProcessQueue`` (Java ``ProcessQueueInfo``); -1/0 when empty."""

    cached_msg_min_offset: int
    cached_msg_max_offset: int
    cached_msg_count: int
    cached_msg_size_mib: int
    transaction_msg_min_offset: int
    transaction_msg_max_offset: int
    transaction_msg_count: int
    locked: bool
    try_unlock_times: int
    last_lock_timestamp: int
    dropped: bool
    last_pull_timestamp: int
    last_consume_timestamp: int


class ProcessQueue:
    """Pulled but not yet committed messages of one queue, ordered by queue offset."""

    def __init__(
        self,
        *,
        clock: Callable[[], int] = _now_ms,
        pull_max_idle_ms: int = PULL_MAX_IDLE_TIME_MS,
        lock_max_live_ms: int = REBALANCE_LOCK_MAX_LIVE_TIME_MS,
    ) -> None:
        self._clock = clock
        self._pull_max_idle_ms = pull_max_idle_ms
        self._lock_max_live_ms = lock_max_live_ms
        # msgTreeMap as a dict plus its keys kept sorted: lowest/highest are O(1), pulls
        # arrive in offset order so inserts are appends.
        self._msgs: dict[int, MessageExt] = {}
        self._offsets: list[int] = []
        # consumingMsgOrderlyTreeMap: taken by an orderly consumer, not yet committed.
        self._consuming: dict[int, MessageExt] = {}
        self._msg_size = 0
        self._queue_offset_max = 0
        self._consuming_flag = False
        self._try_unlock_times = 0
        #: Messages the broker still has beyond the last pulled one (from MAX_OFFSET).
        self.msg_acc_count = 0
        #: Set when the queue is no longer ours (rebalanced away, expired, shut down).
        self.dropped = False
        #: Orderly: this client holds the broker lock of the queue.
        self.locked = False
        now = clock()
        self.last_pull_timestamp = now
        self.last_consume_timestamp = now
        self.last_lock_timestamp = now

    # -- sizes -------------------------------------------------------------------------

    @property
    def msg_count(self) -> int:
        """Messages held, including those an orderly consumer has taken (flow control)."""
        return len(self._msgs) + len(self._consuming)

    @property
    def msg_size(self) -> int:
        """Body bytes held, including taken ones (flow control)."""
        return self._msg_size

    @property
    def max_span(self) -> int:
        """Highest minus lowest waiting offset; 0 when nothing waits (``getMaxSpan``)."""
        return self._offsets[-1] - self._offsets[0] if self._offsets else 0

    @property
    def min_offset(self) -> int | None:
        """The lowest waiting offset, or None."""
        return self._offsets[0] if self._offsets else None

    @property
    def consuming(self) -> bool:
        """A consume task is scheduled or running for this queue (orderly dispatch)."""
        return self._consuming_flag

    def has_temp_message(self) -> bool:
        """True while messages wait to be consumed (``hasTempMessage``)."""
        return bool(self._msgs)

    def messages(self) -> list[MessageExt]:
        """The waiting messages in offset order (a copy)."""
        return [self._msgs[o] for o in self._offsets]

    # -- concurrent consumption ---------------------------------------------------------

    def put_messages(self, msgs: Sequence[MessageExt], max_offset: int | None = None) -> bool:
        """Add pulled messages; True when a consume task should be dispatched.

        A message whose offset is already held replaces it without being counted again.
        The return value is Java's ``dispatchToConsume``: True once per idle period, until
        ``take_messages`` finds nothing and marks the queue idle again. ``max_offset``: the
        pull response's maxOffset, which the pull path also puts in every message's
        MAX_OFFSET property (given, that text is not parsed again).
        """
        held, offsets = self._msgs, self._offsets
        size, highest = self._msg_size, self._queue_offset_max
        for msg in msgs:  # names bound locally: every pulled message comes through here
            offset = msg.queue_offset
            old = held.get(offset)
            held[offset] = msg
            if old is None:
                if not offsets or offset > offsets[-1]:
                    offsets.append(offset)  # the usual case: pulls come in offset order
                else:
                    bisect.insort(offsets, offset)
                size += len(msg.body)
                if offset > highest:
                    highest = offset
            else:
                size += len(msg.body) - len(old.body)
        self._msg_size, self._queue_offset_max = size, highest
        dispatch = False
        if self._msgs and not self._consuming_flag:
            dispatch = self._consuming_flag = True
        if msgs:
            if max_offset is None:
                self._update_acc_count(msgs[-1])
            elif max_offset - msgs[-1].queue_offset > 0:
                self.msg_acc_count = max_offset - msgs[-1].queue_offset
        return dispatch

    def remove_messages(self, msgs: Iterable[MessageExt]) -> int:
        """Forget consumed messages and return the offset to commit (``removeMessage``).

        That is the lowest offset still waiting, or the highest offset ever held + 1 when
        none waits any more, or -1 when nothing was held before the call.
        """
        self.last_consume_timestamp = self._clock()
        if not self._msgs:
            return -1
        held, offsets = self._msgs, self._offsets
        for msg in msgs:
            offset = msg.queue_offset
            old = held.pop(offset, None)
            if old is not None:
                if offsets[0] == offset:
                    del offsets[0]  # the usual case: the oldest is consumed first
                else:
                    del offsets[bisect.bisect_left(offsets, offset)]
                self._msg_size -= len(old.body)
        return offsets[0] if offsets else self._queue_offset_max + 1

    def head_if_consume_expired(self, consume_timeout_ms: int) -> MessageExt | None:
        """The lowest waiting message if its consumption started over the timeout ago.

        The check of ``cleanExpiredMsg``: the caller sends it back to the broker
        (delay level 3) and then removes it with ``remove_messages``.
        """
        if not self._offsets:
            return None
        head = self._msgs[self._offsets[0]]
        started = head.properties.get(MessageConst.CONSUME_START_TIMESTAMP)
        if not started or not started.lstrip("-").isdigit():
            return None
        return head if self._clock() - int(started) > consume_timeout_ms else None

    # -- orderly consumption ------------------------------------------------------------

    def take_messages(self, batch_size: int) -> list[MessageExt]:
        """Move up to ``batch_size`` lowest messages to the consuming map and return them.

        An empty result marks the queue idle, so the next ``put_messages`` dispatches.
        """
        self.last_consume_timestamp = self._clock()
        taken = self._offsets[: max(batch_size, 0)]
        del self._offsets[: len(taken)]
        result = []
        for offset in taken:
            msg = self._msgs.pop(offset)
            self._consuming[offset] = msg
            result.append(msg)
        if not result:
            self._consuming_flag = False
        return result

    def commit(self) -> int:
        """The taken messages succeeded: forget them; return highest taken + 1, or -1."""
        if not self._consuming:
            return -1
        offset = max(self._consuming)
        self._msg_size -= sum(len(m.body) for m in self._consuming.values())
        self._consuming.clear()
        return offset + 1

    def rollback(self) -> None:
        """Put every taken message back to be consumed again (``rollback``)."""
        self.make_messages_to_consume_again(list(self._consuming.values()))

    def make_messages_to_consume_again(self, msgs: Iterable[MessageExt]) -> None:
        """Put taken messages back, in offset order, for a local retry."""
        for msg in msgs:
            offset = msg.queue_offset
            taken = self._consuming.pop(offset, None)
            waiting = self._msgs.get(offset)
            if waiting is None:
                self._insert_offset(offset)
            self._msg_size += len(msg.body) - _body_len(taken) - _body_len(waiting)
            self._msgs[offset] = msg

    def is_lock_expired(self) -> bool:
        """The broker lock was last confirmed over 30 s ago (``isLockExpired``)."""
        return self._clock() - self.last_lock_timestamp > self._lock_max_live_ms

    def is_pull_expired(self) -> bool:
        """The queue was last pulled over 120 s ago (``isPullExpired``)."""
        return self._clock() - self.last_pull_timestamp > self._pull_max_idle_ms

    @property
    def try_unlock_times(self) -> int:
        """How often an unlock was attempted while a consume was in progress."""
        return self._try_unlock_times

    def inc_try_unlock_times(self) -> None:
        """Count one more deferred unlock attempt."""
        self._try_unlock_times += 1

    # -- housekeeping -------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every message (queue dropped)."""
        self._msgs.clear()
        self._offsets.clear()
        self._consuming.clear()
        self._msg_size = 0
        self._queue_offset_max = 0

    def stats(self) -> ProcessQueueStats:
        """A snapshot for consumer running info (``fillProcessQueueInfo``)."""
        taken = sorted(self._consuming)
        return ProcessQueueStats(
            cached_msg_min_offset=self._offsets[0] if self._offsets else 0,
            cached_msg_max_offset=self._offsets[-1] if self._offsets else 0,
            cached_msg_count=len(self._msgs),
            cached_msg_size_mib=self._msg_size // (1024 * 1024),
            transaction_msg_min_offset=taken[0] if taken else 0,
            transaction_msg_max_offset=taken[-1] if taken else 0,
            transaction_msg_count=len(taken),
            locked=self.locked,
            try_unlock_times=self._try_unlock_times,
            last_lock_timestamp=self.last_lock_timestamp,
            dropped=self.dropped,
            last_pull_timestamp=self.last_pull_timestamp,
            last_consume_timestamp=self.last_consume_timestamp,
        )

    def _insert_offset(self, offset: int) -> None:
        if not self._offsets or offset > self._offsets[-1]:
            self._offsets.append(offset)  # the usual case: pulls come in offset order
        else:
            bisect.insort(self._offsets, offset)

    def _update_acc_count(self, last: MessageExt) -> None:
        # PROPERTY_MAX_OFFSET is set by the pull path to the broker's max offset.
        max_offset = last.properties.get(MessageConst.MAX_OFFSET)
        if max_offset is not None and max_offset.lstrip("-").isdigit():
            acc = int(max_offset) - last.queue_offset
            if acc > 0:
                self.msg_acc_count = acc
