"""IndexService: the ``index/`` directory of IndexFiles, key lookups by topic and key.

Mirrors ``store/index/IndexService.java`` (4.9.4):

* every dispatched record is indexed under ``topic#UNIQ_KEY`` (when it has one) and
  ``topic#k`` for each non-empty token ``k`` of its ``KEYS`` property split on a space;
  rollback transaction records are skipped (prepared ones are indexed, as in RocketMQ), and
  so is a record below the newest file's ``endPhyOffset`` (already indexed: re-dispatch
  after recovery is idempotent);
* when the newest file is full a new one is created, named by the current local time and
  seeded with the full file's end offset/timestamp; the full file is queued for a flush,
  after which ``checkpoint.indexMsgTimestamp`` becomes its ``endTimestamp``;
* queries walk files newest first.

Threading: everything runs on one thread (the store's event loop) and takes no lock, except
:meth:`IndexService.flush_full_files` and :meth:`IndexService.flush`, which may run in one
worker thread (``asyncio.to_thread``) while the loop keeps indexing. Run them from one
worker at a time, and not concurrently with :meth:`delete_expired_files` or :meth:`close`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from rocketq.store.checkpoint import StoreCheckpoint
from rocketq.store.config import StoreConfig
from rocketq.store.index_file import INDEX_FILE_NAME_PATTERN, IndexFile, index_file_name

__all__ = [
    "DEFAULT_MAX_MSGS_NUM_BATCH",
    "KEY_SEPARATOR",
    "TRANSACTION_ROLLBACK_TYPE",
    "IndexService",
    "QueryOffsetResult",
    "build_key",
]

log = logging.getLogger(__name__)

# MessageConst.KEY_SEPARATOR: the KEYS property holds several keys separated by one space.
KEY_SEPARATOR = " "
# MessageSysFlag.TRANSACTION_ROLLBACK_TYPE; also the mask of the two transaction bits.
TRANSACTION_ROLLBACK_TYPE = 0x3 << 2
# MessageStoreConfig.maxMsgsNumBatch: a query returns at most this many offsets.
DEFAULT_MAX_MSGS_NUM_BATCH = 64


class QueryOffsetResult(NamedTuple):
    """``QueryOffsetResult``: matching offsets (newest first) and the index's high-water mark."""

    phy_offsets: list[int]
    index_last_update_timestamp: int
    index_last_update_phyoffset: int


def build_key(topic: str, key: str) -> str:
    """``IndexService#buildKey``: ``topic#key``."""
    return f"{topic}#{key}"


def _now_ms() -> int:
    return int(time.time() * 1000)


class IndexService:
    """A directory of :class:`IndexFile` s, oldest first; the last one takes new keys."""

    def __init__(
        self,
        store_dir: str | Path,
        hash_slot_num: int,
        index_num: int,
        checkpoint: StoreCheckpoint | None = None,
        max_msgs_num_batch: int = DEFAULT_MAX_MSGS_NUM_BATCH,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        """``clock`` returns ms since the epoch; it names new files (a seam for tests)."""
        self.store_dir = Path(store_dir)
        self.hash_slot_num = hash_slot_num
        self.index_num = index_num
        self.checkpoint = checkpoint
        self.max_msgs_num_batch = max_msgs_num_batch
        self._clock = clock
        self.files: list[IndexFile] = []
        # Full files waiting for their flush + checkpoint update (appended on the loop,
        # popped by the flushing worker; deque append/popleft are atomic).
        self._full: deque[IndexFile] = deque()
        self._last_stamp = 0  # ms in the name of the last file created here

    @classmethod
    def from_config(
        cls, config: StoreConfig, checkpoint: StoreCheckpoint | None = None
    ) -> IndexService:
        """A service on ``config.index_dir()`` with the configured geometry."""
        return cls(
            config.index_dir(),
            config.max_hash_slot_num,
            config.max_index_num,
            checkpoint,
            config.max_msgs_num_batch,
        )

    # -- load ---------------------------------------------------------------------------------

    def load(self, last_exit_ok: bool) -> None:
        """Map the existing files in name order (``IndexService#load``).

        After an abnormal exit, files whose ``endTimestamp`` is past the checkpoint's
        ``indexMsgTimestamp`` (0 without a checkpoint) are destroyed: their tail may be
        torn, and recovery re-dispatches the records they covered.
        """
        if not self.store_dir.is_dir():
            return
        safe_until = self.checkpoint.index_msg_timestamp if self.checkpoint else 0
        for path in sorted(self.store_dir.iterdir()):
            if not path.is_file() or not INDEX_FILE_NAME_PATTERN.match(path.name):
                log.warning("ignoring %s: not an index file name", path)
                continue
            index_file = IndexFile(path, self.hash_slot_num, self.index_num)
            index_file.load()
            if not last_exit_ok and index_file.end_timestamp > safe_until:
                log.info("abnormal exit: destroying index file %s", path.name)
                index_file.destroy()
                continue
            self.files.append(index_file)

    # -- build --------------------------------------------------------------------------------

    def build_index(
        self,
        topic: str,
        keys: str | None,
        uniq_key: str | None,
        phy_offset: int,
        store_timestamp: int,
        sys_flag: int = 0,
    ) -> int:
        """Index one dispatched record; return how many keys were written (``buildIndex``)."""
        index_file = self.get_and_create_last_file()
        if phy_offset < index_file.end_phy_offset:
            return 0  # indexed before the restart that is re-dispatching it
        if sys_flag & TRANSACTION_ROLLBACK_TYPE == TRANSACTION_ROLLBACK_TYPE:
            return 0
        prefix = f"{topic}#"  # build_key's, hashed with each key without joining them
        count = 0
        if uniq_key is not None:
            index_file = self._put_key(index_file, prefix, uniq_key, phy_offset, store_timestamp)
            count = 1
        if keys:
            for token in keys.split(KEY_SEPARATOR):
                if token:
                    index_file = self._put_key(index_file, prefix, token, phy_offset,
                                               store_timestamp)  # fmt: skip
                    count += 1
        return count

    def build_many(
        self, records: Sequence[tuple[str, str | None, str | None, int, int, int]]
    ) -> None:
        """:meth:`build_index` of each (topic, keys, uniq key, offset, store time, sys flag)
        in turn, in offset order: the records of one dispatch pass, their keys put with one
        call for all of them (:meth:`IndexFile.put_keys`)."""
        index_file = self.get_and_create_last_file()
        floor = index_file.end_phy_offset  # below it: indexed before a restart re-dispatched it
        keys: list[tuple[str, str, int, int]] = []
        for topic, record_keys, uniq_key, phy_offset, store_timestamp, sys_flag in records:
            if phy_offset < floor:
                continue
            if sys_flag & TRANSACTION_ROLLBACK_TYPE == TRANSACTION_ROLLBACK_TYPE:
                continue
            prefix = f"{topic}#"
            put = len(keys)
            if uniq_key is not None:
                keys.append((prefix, uniq_key, phy_offset, store_timestamp))
            if record_keys:
                for token in record_keys.split(KEY_SEPARATOR):
                    if token:
                        keys.append((prefix, token, phy_offset, store_timestamp))
            if len(keys) > put:
                floor = phy_offset  # the file's end offset once these keys are in
        self._put_all(index_file, keys)

    def _put_all(self, index_file: IndexFile, keys: list[tuple[str, str, int, int]]) -> None:
        """Put ``keys`` in order, going on in a new file whenever one is full."""
        done = 0
        while done < len(keys):
            done = index_file.put_keys(keys, done)
            if done < len(keys):
                log.info("index file %s is full, creating another one", index_file.file_name)
                index_file = self.get_and_create_last_file()

    def put_pass_keys(self, keys: list[tuple[str, str, int, int]]) -> None:
        """The keys :meth:`build_many` makes of a dispatch pass's records, made by the
        caller (``put.queue_runs``), commitlog offsets ascending: put the same way."""
        index_file = self.get_and_create_last_file()
        floor = index_file.end_phy_offset  # below it: indexed before a restart re-dispatched it
        if keys[0][2] < floor:
            keys = [key for key in keys if key[2] >= floor]
        self._put_all(index_file, keys)

    def _put_key(
        self, index_file: IndexFile, prefix: str, key: str, phy_offset: int, ts: int
    ) -> IndexFile:
        while not index_file.put_key(key, phy_offset, ts, prefix):
            log.info("index file %s is full, creating another one", index_file.file_name)
            index_file = self.get_and_create_last_file()
        return index_file

    def get_and_create_last_file(self) -> IndexFile:
        """The file taking new keys; rolls to a new one when the last is full."""
        last = self.files[-1] if self.files else None
        if last is not None and not last.is_write_full:
            return last
        end_phy, end_ts = (last.end_phy_offset, last.end_timestamp) if last else (0, 0)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        created = IndexFile(self._new_file_path(), self.hash_slot_num, self.index_num,
                            end_phy, end_ts)  # fmt: skip
        self.files.append(created)
        if last is not None:
            self._full.append(last)
        return created

    def _new_file_path(self) -> Path:
        # Two files created in the same millisecond would share a name: RocketMQ would reopen
        # the full one; we take the next free millisecond, which keeps names sorted by age.
        stamp = max(self._clock(), self._last_stamp + 1)
        while (path := self.store_dir / index_file_name(stamp)).exists():
            stamp += 1
        self._last_stamp = stamp
        return path

    # -- query --------------------------------------------------------------------------------

    def query_offsets(
        self, topic: str, key: str, max_num: int, begin: int, end: int
    ) -> QueryOffsetResult:
        """Offsets indexed under ``topic#key`` stored in [begin, end] ms (``queryOffset``).

        At most ``min(max_num, maxMsgsNumBatch)`` offsets, newest first. May include
        offsets of other keys with the same hash: re-check the key on the message.
        """
        max_num = min(max_num, self.max_msgs_num_batch)
        found: list[int] = []
        if not self.files:
            return QueryOffsetResult(found, 0, 0)
        newest = self.files[-1]
        full_key = build_key(topic, key)
        for index_file in reversed(self.files):
            if index_file.is_time_matched(begin, end):
                index_file.select_phy_offsets(full_key, max_num, begin, end, found)
            if index_file.begin_timestamp < begin or len(found) >= max_num:
                break
        return QueryOffsetResult(found, newest.end_timestamp, newest.end_phy_offset)

    # -- flush, retention, lifecycle ----------------------------------------------------------

    def flush_full_files(self) -> int:
        """Flush files that filled up, then record each one in the checkpoint.

        ``IndexService#flush(f)``: after a full file is on disk, ``indexMsgTimestamp`` =
        its ``endTimestamp`` and the checkpoint is flushed. May run in a worker thread.
        Returns how many files were flushed.
        """
        count = 0
        while self._full:
            index_file = self._full.popleft()
            index_file.flush()
            count += 1
            if self.checkpoint is not None and index_file.end_timestamp > 0:
                self.checkpoint.index_msg_timestamp = index_file.end_timestamp
                self.checkpoint.flush()
        return count

    def flush(self) -> None:
        """Flush pending full files and then every file (shutdown; 5.x ``IndexFile#shutdown``)."""
        self.flush_full_files()
        for index_file in list(self.files):
            index_file.flush()

    def delete_expired_files(self, min_commit_log_offset: int) -> int:
        """Destroy the oldest files whose ``endPhyOffset`` < offset, never the newest.

        ``IndexService#deleteExpiredFile``: stops at the first file still needed. Returns how
        many files were destroyed.
        """
        count = 0
        for index_file in self.files[:-1]:
            if index_file.end_phy_offset >= min_commit_log_offset:
                break
            index_file.destroy()
            count += 1
        del self.files[:count]
        return count

    def close(self) -> None:
        """Flush everything and unmap every file."""
        self.flush()
        for index_file in self.files:
            index_file.close()
        self.files = []

    def destroy(self) -> None:
        """Delete every index file (``IndexService#destroy``)."""
        self._full.clear()
        for index_file in self.files:
            index_file.destroy()
        self.files = []
