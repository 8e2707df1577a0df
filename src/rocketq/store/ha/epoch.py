"""The epoch file of controller mode (RocketMQ 5 ``EpochFileCache`` over ``CheckpointFile``).

Each time a broker becomes master it appends ``(masterEpoch, CommitLog max offset)``: the
bytes from that offset on were written in that epoch. A slave compares its list with the
master's to find the last offset both logs agree on, and truncates after it.

File ``<storePathRootDir>/epochFileCheckpoint`` (and ``.bak``), text, as Java writes it::

    <entry count>\\n
    <CRC32 of the entry lines, masked with 0x7fffffff (UtilAll.crc32)>\\n
    <epoch>-<startOffset>\\n        one line per entry, epochs ascending

An entry ends where the next one starts; the last one ends at the CommitLog end (unbounded
unless told).
"""

from __future__ import annotations

import contextlib
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EpochEntry", "EpochFileCache", "find_consistent_point"]

log = logging.getLogger("rocketq.store.ha")

# UtilAll.crc32 masks the sign bit (the value is written as a Java int).
_CRC_MASK = 0x7FFFFFFF
# CheckpointFile.NOT_CHECK_CRC_MAGIC_CODE: a hand-edited file may say "do not check".
_NOT_CHECK_CRC = 0


@dataclass(frozen=True, slots=True)
class EpochEntry:
    """``EpochEntry``: bytes from ``start_offset`` up to ``end_offset`` (None: the end of
    the log) were written while ``epoch`` was the master epoch."""

    epoch: int
    start_offset: int
    end_offset: int | None = None

    def contains(self, offset: int) -> bool:
        """``start <= offset < end``."""
        return self.start_offset <= offset and (self.end_offset is None or offset < self.end_offset)


def _encode(entries: list[tuple[int, int]]) -> str:
    body = "".join(f"{epoch}-{start}\n" for epoch, start in entries)
    crc = zlib.crc32(body.encode()) & _CRC_MASK
    return f"{len(entries)}\n{crc}\n{body}"


def _decode(text: str) -> list[tuple[int, int]]:
    lines = text.splitlines()
    if len(lines) < 2:
        raise ValueError("epoch file without its count and CRC lines")
    count, crc, body = int(lines[0]), int(lines[1]), lines[2:]
    entries = []
    for line in body:
        epoch, _, start = line.partition("-")
        entries.append((int(epoch), int(start)))
    if len(entries) != count:
        raise ValueError(f"epoch file says {count} entries, holds {len(entries)}")
    real = zlib.crc32("".join(f"{line}\n" for line in body).encode()) & _CRC_MASK
    if crc not in (_NOT_CHECK_CRC, real):
        raise ValueError(f"epoch file CRC {crc} != {real}")
    return entries


class EpochFileCache:
    """The epoch list in memory, persisted on every change (``path`` None: memory only)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._entries: list[tuple[int, int]] = []  # (epoch, start), ascending
        self.last_end_offset: int | None = None  # end of the last entry, when known

    # -- file -------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the file (the ``.bak`` copy when the file is missing, empty or damaged)."""
        if self.path is None:
            return
        for candidate in (self.path, self._bak):
            try:
                entries = _decode(candidate.read_text())
            except FileNotFoundError:
                continue
            except ValueError as exc:
                log.warning("epoch file %s unreadable: %s", candidate, exc)
                continue
            if entries:
                self._entries = sorted(entries)
                return

    @property
    def _bak(self) -> Path:
        assert self.path is not None
        return self.path.with_name(self.path.name + ".bak")

    def _persist(self) -> None:
        """``MixAll.string2File``: write a temp file, keep the previous one as ``.bak``."""
        if self.path is None or not self._entries:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(_encode(self._entries))
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.path, self._bak)
        os.replace(tmp, self.path)

    # -- reads ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[EpochEntry]:
        """Every entry with its end offset."""
        out = []
        for i, (epoch, start) in enumerate(self._entries):
            last = i + 1 == len(self._entries)
            end = self.last_end_offset if last else self._entries[i + 1][1]
            out.append(EpochEntry(epoch, start, end))
        return out

    def last_epoch(self) -> int:
        """The newest epoch, -1 when there is none."""
        return self._entries[-1][0] if self._entries else -1

    def last_entry(self) -> EpochEntry | None:
        """The newest entry."""
        return self.entries()[-1] if self._entries else None

    def first_entry(self) -> EpochEntry | None:
        """The oldest entry."""
        return self.entries()[0] if self._entries else None

    def get_entry(self, epoch: int) -> EpochEntry | None:
        """The entry of ``epoch``."""
        return next((e for e in self.entries() if e.epoch == epoch), None)

    def next_entry(self, epoch: int) -> EpochEntry | None:
        """The first entry after ``epoch``."""
        return next((e for e in self.entries() if e.epoch > epoch), None)

    def find_by_offset(self, offset: int) -> EpochEntry | None:
        """The entry whose range holds ``offset`` (``findEpochEntryByOffset``)."""
        return next((e for e in self.entries() if e.contains(offset)), None)

    # -- writes -----------------------------------------------------------------------------

    def append(self, epoch: int, start_offset: int) -> bool:
        """Add ``(epoch, start)``: the epoch must grow, the start may stay (False when
        refused; the same entry again is True). Java's ``appendEntry`` also refuses an equal
        start; kept here so that an epoch in which a master wrote nothing still marks where
        the next one begins - else a newer master's bytes would count as the older epoch's
        and a slave holding that epoch's unreplicated tail would not be truncated."""
        if self._entries:
            last_epoch, last_start = self._entries[-1]
            if epoch <= last_epoch or start_offset < last_start:
                return epoch == last_epoch and start_offset == last_start
        self._entries.append((epoch, start_offset))
        self._persist()
        return True

    def truncate_suffix_by_offset(self, offset: int) -> None:
        """Drop entries starting at or after ``offset``."""
        self._truncate([e for e in self._entries if e[1] < offset])

    def truncate_suffix_by_epoch(self, epoch: int) -> None:
        """Drop entries of ``epoch`` and later."""
        self._truncate([e for e in self._entries if e[0] < epoch])

    def truncate_prefix_by_offset(self, offset: int) -> None:
        """CommitLog files below ``offset`` were deleted: drop the entries that end at or
        before it (``truncatePrefixByOffset``). The first kept entry keeps its start: a
        consistent point needs the same start as the master's entry of that epoch."""
        kept = [e for e in self.entries() if e.end_offset is None or e.end_offset > offset]
        self._truncate([(e.epoch, e.start_offset) for e in kept])

    def _truncate(self, kept: list[tuple[int, int]]) -> None:
        if kept != self._entries:
            self._entries = kept
            if kept:
                self._persist()
            elif self.path is not None:
                for p in (self.path, self._bak):
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()


def find_consistent_point(
    local: list[EpochEntry], local_end: int, master: list[EpochEntry], master_end: int
) -> int:
    """The offset up to which a slave's log (``local`` epochs, ending at ``local_end``)
    equals the master's: the newest epoch both have with the same start gives
    ``min(local end, master end)`` of that epoch; -1 when there is none
    (``EpochFileCache#findConsistentPoint``)."""
    by_epoch = {e.epoch: e for e in master}
    for i in range(len(local) - 1, -1, -1):
        mine = local[i]
        theirs = by_epoch.get(mine.epoch)
        if theirs is None or theirs.start_offset != mine.start_offset:
            continue
        my_end = local_end if i + 1 == len(local) else local[i + 1].start_offset
        j = master.index(theirs)
        their_end = master_end if j + 1 == len(master) else master[j + 1].start_offset
        return min(my_end, their_end)
    return -1
