"""FIFO POP (RocketMQ 5's ``ConsumerOrderInfoManager``, pop with ``order=true``): a queue
of a FIFO group has at most one batch in flight. While a message of it is neither acked
nor past its invisible time the queue is blocked; after that time the batch's un-acked
messages are handed out again in place, in order, one delivery attempt higher. The
group's consumer offset moves only over acked messages, so the next message of a message
group (producers route a group to one queue) goes out only after the previous one is acked
or dead-lettered.

No checkpoints are written for FIFO pops (RocketMQ neither): a receipt handle names the
pseudo revive queue 999 (``KeyBuilder.POP_ORDER_REVIVE_QUEUE``). The table is in memory;
the committed offset is what survives a restart (delivery counts start again at 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ORDER_REVIVE_QUEUE", "OrderInfoTable"]

# KeyBuilder.POP_ORDER_REVIVE_QUEUE: the revive queue id in the handles of FIFO pops.
ORDER_REVIVE_QUEUE = 999

_Key = tuple[str, str, int]  # group, topic, queue id


@dataclass(slots=True)
class _Batch:
    """The in-flight batch of one queue: per offset its pop time and visibility."""

    pop_times: dict[int, int] = field(default_factory=dict)
    deadlines: dict[int, int] = field(default_factory=dict)
    acked: set[int] = field(default_factory=set)
    counts: dict[int, int] = field(default_factory=dict)  # deliveries so far

    def open_deadline(self) -> int | None:
        """The latest deadline of an un-acked message (None: nothing in flight)."""
        left = [d for o, d in self.deadlines.items() if o not in self.acked]
        return max(left, default=None)

    def commit_offset(self) -> int:
        """The first un-acked offset, or past the batch when all are acked."""
        offsets = sorted(self.pop_times)
        for offset in offsets:
            if offset not in self.acked:
                return offset
        return offsets[-1] + 1


class OrderInfoTable:
    """In-flight FIFO batches by (group, topic, queue)."""

    def __init__(self) -> None:
        self._batches: dict[_Key, _Batch] = {}

    def blocked(self, group: str, topic: str, queue_id: int, now: int) -> bool:
        """True while a message of the queue's batch is invisible and not acked
        (``checkBlock``)."""
        batch = self._batches.get((group, topic, queue_id))
        if batch is None:
            return False
        deadline = batch.open_deadline()
        return deadline is not None and now < deadline

    def update(
        self,
        group: str,
        topic: str,
        queue_id: int,
        offsets: list[int],
        pop_time: int,
        invisible_ms: int,
    ) -> dict[int, int]:
        """A batch read from the committed offset is handed out: {offset: delivery count}
        of those not acked before (acked ones of the old batch are skipped)."""
        key = (group, topic, queue_id)
        old = self._batches.get(key) or _Batch()
        fresh = [o for o in offsets if o not in old.acked]
        batch = _Batch(
            pop_times={o: pop_time for o in offsets},
            deadlines={o: pop_time + invisible_ms for o in fresh},
            acked={o for o in offsets if o in old.acked},
            counts={o: old.counts.get(o, 0) + 1 for o in fresh},
        )
        self._batches[key] = batch
        return {o: batch.counts[o] for o in fresh}

    def ack(self, group: str, topic: str, queue_id: int, offset: int, pop_time: int) -> int | None:
        """Ack one message of the current delivery; the offset to commit, or None when the
        handle is not the current delivery's."""
        batch = self._batches.get((group, topic, queue_id))
        if batch is None or batch.pop_times.get(offset) != pop_time:
            return None
        batch.acked.add(offset)
        return batch.commit_offset()

    def change(
        self, key: tuple[str, str, int], offset: int, old_pop_time: int, pop_time: int,
        invisible_ms: int,
    ) -> bool:  # fmt: skip
        """Move the deadline of the message at ``offset`` delivered at ``old_pop_time``
        (``key`` = group, topic, queue id)."""
        batch = self._batches.get(key)
        if batch is None or batch.pop_times.get(offset) != old_pop_time:
            return False
        if offset in batch.acked:
            return False
        batch.pop_times[offset] = pop_time
        batch.deadlines[offset] = pop_time + invisible_ms
        return True

    def clear(self, group: str, topic: str, queue_id: int) -> None:
        """Forget the queue's batch (nothing left to read)."""
        batch = self._batches.get((group, topic, queue_id))
        if batch is not None and batch.open_deadline() is None:
            del self._batches[(group, topic, queue_id)]

    def next_unblock(self, group: str, topic: str) -> int | None:
        """The earliest time a blocked queue of the group's topic opens."""
        times = [
            deadline
            for (g, t, _q), batch in self._batches.items()
            if g == group and t == topic
            for deadline in [batch.open_deadline()]
            if deadline is not None
        ]
        return min(times, default=None)
