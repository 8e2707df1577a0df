"""The pending checkpoints of one broker: every ``ck`` record of the revive topic whose
messages are not all acked (or revived) yet, with the acks that matched it so far — what
RocketMQ 5's ``PopReviveService`` rebuilds from the revive queue on each scan.

rocketq keeps this table in memory and feeds it both from its own writes and, at start,
from a scan of the revive queues (``PopService.start``); the revive offset of a queue is
the lowest revive-queue offset of a checkpoint still pending there, so a restart scans
from it and finds every pending checkpoint together with every ack written after it.
Pure data; the store I/O is the service's.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass

from rocketq.broker.pop.records import AckRecord, CheckPoint, CkKey

__all__ = ["AckOutcome", "CheckpointTable", "PendingCheckpoint"]

# Resolved checkpoints with stale handles remembered (to answer a late ack "invalid"):
# bounded, as the answer only matters while a client still holds such a handle (minutes).
STALE_MEMORY = 65_536


class AckOutcome(enum.Enum):
    """What an ack of one message finds."""

    PENDING = "pending"  # its checkpoint waits and the message is not acked yet
    DONE = "done"  # acked before: nothing to do
    MOVED = "moved"  # its invisible time was changed: a newer handle replaced this one
    EXPIRED = "expired"  # revived: it was (or will be) delivered again
    UNKNOWN = "unknown"  # no such checkpoint (resolved before a restart, or foreign)


@dataclass(slots=True)
class PendingCheckpoint:
    """One pending ``ck``: where its record is and which of its messages are done."""

    ck: CheckPoint
    revive_queue_id: int
    revive_offset: int
    acked: int = 0  # bit i: message i acked (or moved by a change of invisible time)
    moved: int = 0  # bit i: message i moved to a new checkpoint

    def all_done(self) -> bool:
        """Every message acked or moved."""
        return self.acked == (1 << len(self.ck.diffs)) - 1

    def unacked_offsets(self) -> list[int]:
        """Queue offsets still to revive."""
        return [o for i, o in enumerate(self.ck.offsets()) if not self.acked >> i & 1]


class CheckpointTable:
    """Pending checkpoints by merge key, and by revive queue for the revive offsets."""

    def __init__(self, revive_queue_nums: int) -> None:
        self.pending: dict[CkKey, PendingCheckpoint] = {}
        # revive queue id -> {revive offset: key} of the pending ones in that queue
        self._by_queue: list[dict[int, CkKey]] = [{} for _ in range(revive_queue_nums)]
        # next revive-queue offset not yet seen (written or scanned), per queue
        self.scanned = [0] * revive_queue_nums
        # resolved checkpoints: offsets whose handles went stale (moved or revived)
        self._gone: OrderedDict[CkKey, dict[int, AckOutcome]] = OrderedDict()

    def add(self, ck: CheckPoint, revive_queue_id: int, revive_offset: int) -> PendingCheckpoint:
        """A ``ck`` record at ``revive_offset`` of its revive queue."""
        entry = PendingCheckpoint(ck, revive_queue_id, revive_offset)
        self.pending[ck.key] = entry
        self._by_queue[revive_queue_id][revive_offset] = ck.key
        self._seen(revive_queue_id, revive_offset)
        return entry

    def _seen(self, revive_queue_id: int, revive_offset: int) -> None:
        queue = self.scanned
        queue[revive_queue_id] = max(queue[revive_queue_id], revive_offset + 1)

    def outcome(self, key: CkKey, offset: int) -> AckOutcome:
        """What an ack of ``offset`` under checkpoint ``key`` finds."""
        entry = self.pending.get(key)
        if entry is None:
            gone = self._gone.get(key)
            return AckOutcome.UNKNOWN if gone is None else gone.get(offset, AckOutcome.DONE)
        index = entry.ck.index_of(offset)
        if index < 0:
            return AckOutcome.UNKNOWN
        if entry.moved >> index & 1:
            return AckOutcome.MOVED
        return AckOutcome.DONE if entry.acked >> index & 1 else AckOutcome.PENDING

    def apply_ack(self, ack: AckRecord, moved: bool = False) -> bool:
        """Mark the ack's offsets done; True when that resolved the checkpoint (it is
        dropped from the table)."""
        entry = self.pending.get(ack.key)
        if entry is None:
            return False  # its checkpoint was resolved before (PopReviveService skips it)
        for offset in ack.offsets:
            index = entry.ck.index_of(offset)
            if index >= 0:
                entry.acked |= 1 << index
                if moved:
                    entry.moved |= 1 << index
        if entry.all_done():
            self.remove(entry)
            return True
        return False

    def unmark(self, key: CkKey, offsets: tuple[int, ...]) -> None:
        """Undo :meth:`apply_ack` marks whose record could not be written."""
        entry = self.pending.get(key)
        if entry is None:
            return
        for offset in offsets:
            index = entry.ck.index_of(offset)
            if index >= 0:
                entry.acked &= ~(1 << index)
                entry.moved &= ~(1 << index)

    def remove(self, entry: PendingCheckpoint, revived: bool = False) -> None:
        """Forget a resolved checkpoint, remembering which of its handles went stale: the
        moved ones, and with ``revived`` the re-sent ones."""
        key = entry.ck.key
        self.pending.pop(key, None)
        self._by_queue[entry.revive_queue_id].pop(entry.revive_offset, None)
        stale: dict[int, AckOutcome] = {}
        for index, offset in enumerate(entry.ck.offsets()):
            if entry.moved >> index & 1:
                stale[offset] = AckOutcome.MOVED
            elif revived and not entry.acked >> index & 1:
                stale[offset] = AckOutcome.EXPIRED
        if stale:
            self._gone[key] = stale
            while len(self._gone) > STALE_MEMORY:
                self._gone.popitem(last=False)

    def due(self, now: int) -> list[PendingCheckpoint]:
        """Checkpoints whose revive time has come, in revive-queue order."""
        found = [e for e in self.pending.values() if e.ck.revive_time <= now]
        found.sort(key=lambda e: (e.revive_queue_id, e.revive_offset))
        return found

    def next_revive_time(self) -> int | None:
        """The earliest revive time of a pending checkpoint."""
        return min((e.ck.revive_time for e in self.pending.values()), default=None)

    def revive_offset(self, revive_queue_id: int) -> int:
        """The last revive-queue offset with nothing pending at or before it (what is
        committed for ``REVIVE_GROUP``, PopReviveService's meaning: -1 = none)."""
        queue = self._by_queue[revive_queue_id]
        first_pending = min(queue) if queue else self.scanned[revive_queue_id]
        return first_pending - 1
