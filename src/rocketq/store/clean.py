"""Retention: delete old CommitLog files, then the ConsumeQueue and IndexFiles they fed.

Mirrors 4.9.4 ``DefaultMessageStore.CleanCommitLogService`` and ``CleanConsumeQueueService``
(both run by ``cleanFilesPeriodically`` every ``cleanResourceInterval`` ms after a 60 s
delay) and the deletion loops of ``MappedFileQueue`` (``deleteExpiredFileByTime``,
``deleteExpiredFileByOffset``) and ``IndexService#deleteExpiredFile``.

CommitLog files are deleted, oldest first and never the newest, when one of these holds:

* it is ``deleteWhen`` o'clock (local hour in the ``;``-separated list) — files untouched for
  ``fileReservedTime`` hours go;
* the commitlog or consumequeue disk is fuller than ``diskMaxUsedSpaceRatio`` % — the same,
  at once; past 85 % (``diskSpaceCleanForciblyRatio``) and with ``cleanFileForciblyEnable``
  even files that have not expired go; past 90 % (``diskSpaceWarningLevelRatio``)
  :attr:`CleanService.disk_full` is set (the store should refuse puts);
* :meth:`CleanService.execute_delete_files_manually` was called in the last 20 runs.

Threading (house rule 4): readers find files through the queues' ``files`` lists on the
event loop, so a file leaves its list **on the loop** (a new list is assigned; nothing is
mutated in place) and only then is unmapped and unlinked in a worker thread. A reader that
still holds a memoryview of it keeps valid bytes: ``MappedFile.close`` leaves the unmapping
to the garbage collector when views are alive. A file whose destroy raised anyway (an
``OSError``) is kept aside and retried every ``redeleteHangedFileInterval`` ms
(``redeleteHangedFile``).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rocketq.common.tasks import TaskOwner
from rocketq.store.format import CQ_STORE_UNIT_SIZE
from rocketq.store.mapped_file import DELETE_FILES_BATCH_MAX, MappedFile, MappedFileQueue

if TYPE_CHECKING:
    from rocketq.store.commit_log import CommitLog
    from rocketq.store.config import StoreConfig
    from rocketq.store.consume_queue import ConsumeQueue
    from rocketq.store.index_service import IndexService

__all__ = [
    "CLEAN_INITIAL_DELAY_MS",
    "DISK_SPACE_CLEAN_FORCIBLY_RATIO",
    "DISK_SPACE_WARNING_LEVEL_RATIO",
    "MAX_MANUAL_DELETE_FILE_TIMES",
    "CleanResult",
    "CleanService",
    "disk_used_ratio",
]

log = logging.getLogger("rocketq.store")

# addScheduleTask: the first clean runs a minute after start, when recovery traffic is over.
CLEAN_INITIAL_DELAY_MS = 60_000
# CleanCommitLogService.MAX_MANUAL_DELETE_FILE_TIMES: a manual trigger covers this many runs.
MAX_MANUAL_DELETE_FILE_TIMES = 20
# System properties rocketmq.broker.diskSpaceWarningLevelRatio / …CleanForciblyRatio (4.9):
# past the first the disk is marked full (puts refused); past the second files are deleted
# whether they expired or not (with cleanFileForciblyEnable).
DISK_SPACE_WARNING_LEVEL_RATIO = 0.90
DISK_SPACE_CLEAN_FORCIBLY_RATIO = 0.85
# MessageStoreConfig#getDiskMaxUsedSpaceRatio clamps the setting to 10..95 %.
_MIN_USED_SPACE_PERCENT = 10
_MAX_USED_SPACE_PERCENT = 95
_HOUR_MS = 3_600_000


class _Destroyable(Protocol):
    path: Path

    def destroy(self) -> None: ...


def disk_used_ratio(path: str) -> float:
    """``UtilAll#getDiskPartitionSpaceUsedPercent``: used / (used + usable), 0..1; -1 unknown.

    A path that does not exist yet is measured at its nearest existing parent (same disk);
    Java answers -1 for it, which would count as "disk full".
    """
    target = Path(path)
    while not target.exists() and target != target.parent:
        target = target.parent
    try:
        usage = shutil.disk_usage(target)
    except OSError as exc:
        log.error("cannot measure disk usage of %s: %s", path, exc)
        return -1.0
    whole = usage.used + usage.free
    return usage.used / whole if whole > 0 else -1.0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_delete_when(when: str) -> frozenset[int]:
    """``deleteWhen`` ("04", "04;16") -> the hours of day it names; bad tokens are skipped."""
    hours = set()
    for token in when.split(";"):
        try:
            hours.add(int(token.strip()))
        except ValueError:
            log.warning("ignoring deleteWhen entry %r: not an hour", token)
    return frozenset(hours)


@dataclass(frozen=True, slots=True)
class CleanResult:
    """What one :meth:`CleanService.run_once` did, and why."""

    time_up: bool
    space_full: bool
    manual: bool
    clean_immediately: bool
    commit_log_files: int
    consume_queue_files: int
    index_files: int
    commit_log_min_offset: int


class CleanService:
    """Deletes expired store files every ``cleanResourceInterval`` ms; ``start``/``aclose``.

    It is given the store's parts it cleans: the CommitLog, the ConsumeQueues (the store's
    own mapping, which grows as queues appear) and the IndexService (``index_service``, set
    by the store once it has loaded one; None: no index). ``clock`` returns ms since the
    epoch (file ages and the ``deleteWhen`` hour, local time); ``disk_usage`` maps a
    directory to its disk's used ratio 0..1. Both are seams for tests.
    """

    def __init__(
        self,
        config: StoreConfig,
        commit_log: CommitLog,
        consume_queues: Mapping[tuple[str, int], ConsumeQueue],
        index_service: IndexService | None = None,
        *,
        clock: Callable[[], int] = _now_ms,
        disk_usage: Callable[[str], float] = disk_used_ratio,
        initial_delay_ms: int = CLEAN_INITIAL_DELAY_MS,
    ) -> None:
        self._config = config
        self._commit_log = commit_log
        self._consume_queues = consume_queues
        self.index_service = index_service
        self._clock = clock
        self._disk_usage = disk_usage
        self._initial_delay_ms = initial_delay_ms
        self._manual_runs_left = 0
        self._last_physical_min_offset = 0
        self._last_redelete = 0
        self._hanged: list[_Destroyable] = []
        self._disk_full = False
        self._run_lock = asyncio.Lock()
        self._tasks = TaskOwner(log)

    @property
    def disk_full(self) -> bool:
        """True while a store disk is fuller than 90 % (``RunningFlags#isDiskFull``)."""
        return self._disk_full

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the periodic loop (the store corrects queue min offsets at recovery)."""
        if len(self._tasks) == 0:
            self._tasks.spawn(self._loop(), "store-clean")

    async def aclose(self) -> None:
        """Stop the loop; a deletion running in a worker thread finishes first."""
        await self._tasks.aclose(grace=None)

    async def _loop(self) -> None:
        delay_ms = self._initial_delay_ms
        while await self._tasks.sleep(delay_ms / 1000):
            try:
                await self.run_once()
            except Exception:
                log.exception("store clean-up failed; retrying in the next round")
            delay_ms = max(self._config.clean_resource_interval, 1)

    def execute_delete_files_manually(self) -> None:
        """Delete expired files in the next 20 runs, whatever the hour or disk usage.

        ``executeDeleteFilesManually`` (admin ``deleteExpiredCommitLog``).
        """
        self._manual_runs_left = MAX_MANUAL_DELETE_FILE_TIMES
        log.info("executeDeleteFilesManually was invoked")

    # -- one round ----------------------------------------------------------------------------

    async def run_once(self) -> CleanResult:
        """One ``cleanFilesPeriodically``: CommitLog files, hanged files, queues, index."""
        async with self._run_lock:
            now = self._clock()
            time_up = self._is_time_to_delete(now)
            space_full, clean_immediately = await asyncio.to_thread(self._check_space)
            manual = self._manual_runs_left > 0
            deleted = 0
            if time_up or space_full or manual:
                if manual:
                    self._manual_runs_left -= 1
                at_once = self._config.clean_file_forcibly_enable and clean_immediately
                deleted = await self._delete_commit_log_files(now, at_once)
                if deleted == 0 and space_full:
                    log.warning("disk space will be full soon, but no file could be deleted")
            await self._redelete_hanged(now)
            cq_files, index_files = await self._clean_consume_queues()
            return CleanResult(
                time_up,
                space_full,
                manual,
                clean_immediately,
                deleted,
                cq_files,
                index_files,
                self._commit_log.min_offset(),
            )

    def _is_time_to_delete(self, now_ms: int) -> bool:
        """``UtilAll#isItTimeToDo(deleteWhen)``, on the local hour of ``now_ms``."""
        hour = time.localtime(now_ms / 1000).tm_hour
        return hour in parse_delete_when(self._config.delete_when)

    def _check_space(self) -> tuple[bool, bool]:
        """``isSpaceToDelete``: (usage over diskMaxUsedSpaceRatio, clean immediately).

        Blocking (statvfs): runs in a worker thread. Updates :attr:`disk_full`.
        """
        config = self._config
        percent = config.disk_max_used_space_ratio
        limit = min(max(percent, _MIN_USED_SPACE_PERCENT), _MAX_USED_SPACE_PERCENT) / 100
        ratios = [
            self._disk_usage(path) for path in (config.commit_log_dir(), config.consume_queue_dir())
        ]
        worst = max(ratios)
        full = worst > DISK_SPACE_WARNING_LEVEL_RATIO
        if full != self._disk_full:
            level = logging.ERROR if full else logging.INFO
            log.log(level, "store disk %s: used %.2f", "maybe full soon" if full else "OK", worst)
        self._disk_full = full
        clean_immediately = worst > DISK_SPACE_CLEAN_FORCIBLY_RATIO
        return any(r < 0 or r > limit for r in ratios), clean_immediately

    # -- commitlog ----------------------------------------------------------------------------

    async def _delete_commit_log_files(self, now_ms: int, clean_at_once: bool) -> int:
        """``deleteExpiredFileByTime``: oldest first, never the newest, stop at a live file."""
        config = self._config
        queue = self._commit_log.queue
        expired_ms = config.file_reserved_time * _HOUR_MS
        count = 0
        while count < DELETE_FILES_BATCH_MAX and not self._tasks.closed:
            if len(queue.files) < 2:
                break
            first = queue.files[0]
            if not clean_at_once:
                modified = await asyncio.to_thread(first.last_modified_ms)
                if now_ms < modified + expired_ms or len(queue.files) < 2:
                    break  # never delete from the middle
            if queue.files[0] is not first:
                break  # only this service drops files; be safe if that ever changes
            _drop_front(queue, 1)
            log.info("deleting expired commitlog file %s", first.file_name)
            await self._destroy([first])
            count += 1
            if len(queue.files) > 1 and count < DELETE_FILES_BATCH_MAX:
                await self._pause(config.delete_commit_log_files_interval)
        return count

    async def _destroy(self, files: Sequence[_Destroyable]) -> None:
        """Unmap and unlink files already out of their lists (worker thread)."""
        failed = await asyncio.to_thread(_destroy_all, files)
        if failed:  # the next try comes after redeleteHangedFileInterval
            self._hanged.extend(failed)
            self._last_redelete = self._clock()

    async def _redelete_hanged(self, now_ms: int) -> None:
        """``redeleteHangedFile``: retry files whose destroy failed, at most every interval."""
        if not self._hanged:
            return
        if now_ms - self._last_redelete <= self._config.redelete_hanged_file_interval:
            return
        self._last_redelete = now_ms
        hanged, self._hanged = self._hanged, []
        await self._destroy(hanged)

    async def _pause(self, interval_ms: int) -> None:
        """Sleep between deletions (spreads the unlink I/O); cut short by :meth:`aclose`."""
        if interval_ms > 0:
            await self._tasks.sleep(interval_ms / 1000)

    # -- consume queues and index -------------------------------------------------------------

    async def _clean_consume_queues(self) -> tuple[int, int]:
        """``CleanConsumeQueueService``: once the commitlog min offset grew, drop what is
        wholly below it from every ConsumeQueue (then ``correctMinOffset``) and the index."""
        min_phy = self._commit_log.min_offset()
        if min_phy <= self._last_physical_min_offset:
            return 0, 0
        self._last_physical_min_offset = min_phy
        interval = self._config.delete_consume_queue_files_interval
        cq_files = 0
        for cq in list(self._consume_queues.values()):
            deleted = await self._delete_consume_queue_files(cq, min_phy)
            # A linear scan of the first file (up to 300,000 entries): off the loop.
            await asyncio.to_thread(cq.correct_min_offset, min_phy)
            cq_files += deleted
            if deleted and not self._tasks.closed:
                await self._pause(interval)
        return cq_files, await self._delete_index_files(min_phy)

    async def _delete_consume_queue_files(self, cq: ConsumeQueue, min_phy: int) -> int:
        """``deleteExpiredFileByOffset``: files (not the last) whose last entry is below."""
        queue = cq.queue
        last_unit = queue.file_size - CQ_STORE_UNIT_SIZE
        count = 0
        for mapped in queue.files[:-1]:
            if _read_long(mapped, last_unit) >= min_phy:
                break
            count += 1
        if count == 0:
            return 0
        doomed = _drop_front(queue, count)
        await self._destroy(doomed)
        return count

    async def _delete_index_files(self, min_phy: int) -> int:
        """``IndexService#deleteExpiredFile``: files (not the newest) ending below min_phy."""
        index_service = self.index_service
        if index_service is None:
            return 0
        files = index_service.files
        count = 0
        for index_file in files[:-1]:
            if index_file.end_phy_offset >= min_phy:
                break
            count += 1
        if count == 0:
            return 0
        index_service.files = files[count:]
        await self._destroy(files[:count])
        return count


def _drop_front(queue: MappedFileQueue, count: int) -> list[MappedFile]:
    """Take the first ``count`` files out of ``queue`` on the loop; return them.

    A new list is assigned rather than the old one mutated, and the flush position is moved
    to the new first file: bytes of a deleted file never need a flush, and a flush position
    below the first file would make ``MappedFileQueue.flush`` find no file ever again.
    """
    dropped = queue.files[:count]
    queue.files = queue.files[count:]
    if queue.files:
        queue.flushed_where = max(queue.flushed_where, queue.files[0].file_from_offset)
    return dropped


def _destroy_all(files: Sequence[_Destroyable]) -> list[_Destroyable]:
    """Destroy each file (blocking); return those that failed, to retry later."""
    failed: list[_Destroyable] = []
    for item in files:
        try:
            item.destroy()
        except (OSError, BufferError) as exc:
            log.warning("could not delete %s, will retry: %s", item.path, exc)
            failed.append(item)
    return failed


def _read_long(mapped: MappedFile, position: int) -> int:
    """The big-endian signed long at ``position`` (a ConsumeQueue entry's commitlog offset)."""
    return int.from_bytes(mapped.buffer()[position : position + 8], "big", signed=True)
