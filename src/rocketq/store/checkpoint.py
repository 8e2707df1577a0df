"""The store's ``checkpoint`` file, and the ``abort`` and ``lock`` files beside it.

``checkpoint`` mirrors ``store/StoreCheckpoint.java``: a 4 KiB mapped file of big-endian
longs, read once when opened and rewritten + synced by :meth:`StoreCheckpoint.flush`::

    +--------------------+--------------------+-------------------+
    | physicMsgTimestamp | logicsMsgTimestamp | indexMsgTimestamp |
    |     i64 @0         |      i64 @8        |     i64 @16       |
    +--------------------+--------------------+-------------------+
    | masterFlushedOffset i64 @24 | confirmPhyOffset i64 @32 | zero ... up to 4096 |
    +-----------------------------+--------------------------+---------------------+

The last two longs exist since 5.x (slave-acting-master and controller modes); a 4.9 file
has zeros there and a 4.9 broker ignores them, so writing all five stays compatible.

``abort`` (``DefaultMessageStore#createTempFile``): created when the store starts, deleted
on a clean shutdown; its presence at startup means the last exit was abnormal.

``lock`` (``DefaultMessageStore#start``): held exclusively while a store runs on the
directory, so a second broker on the same ``storePathRootDir`` fails fast.
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import struct
import threading
from pathlib import Path
from types import TracebackType

from rocketq.store.format import StoreError
from rocketq.store.mapped_file import OS_PAGE_SIZE

__all__ = [
    "CHECKPOINT_FILE_SIZE",
    "MIN_TIMESTAMP_MARGIN_MS",
    "StoreCheckpoint",
    "StoreLock",
    "StoreLockedError",
    "abort_file_exists",
    "create_abort_file",
    "delete_abort_file",
    "lock_path",
]

log = logging.getLogger(__name__)

# StoreCheckpoint maps exactly one OS page.
CHECKPOINT_FILE_SIZE = OS_PAGE_SIZE
# StoreCheckpoint#getMinTimestamp: recovery starts 3 s before the older of the CommitLog and
# ConsumeQueue flush times, so records stored just before them are dispatched again.
MIN_TIMESTAMP_MARGIN_MS = 3_000
# physic, logics, index, masterFlushedOffset, confirmPhyOffset at offsets 0, 8, 16, 24, 32.
_LAYOUT = struct.Struct(">qqqqq")
# StorePathConfigHelper#getLockFile: <root>/lock.
_LOCK_FILE_NAME = "lock"
# DefaultMessageStore#start writes these bytes into the lock file once it holds the lock.
_LOCK_CONTENT = b"lock"


class StoreLockedError(StoreError):
    """Another store (in this or another process) already runs on the directory."""


class StoreCheckpoint:
    """The ``checkpoint`` file: flush times of CommitLog, ConsumeQueues and IndexFiles.

    Setters only change memory; :meth:`flush` writes all five values and syncs. ``flush``
    may run in a worker thread; values are plain ints, replaced atomically.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existed = self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size < CHECKPOINT_FILE_SIZE:
                # Java's FileChannel#map(READ_WRITE, 0, 4096) grows a short file the same way.
                os.ftruncate(fd, CHECKPOINT_FILE_SIZE)
            self._mm = mmap.mmap(fd, CHECKPOINT_FILE_SIZE)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._lock = threading.Lock()
        self._closed = False
        values = _LAYOUT.unpack_from(self._mm, 0) if existed else (0, 0, 0, 0, 0)
        self.physic_msg_timestamp: int = values[0]
        self.logics_msg_timestamp: int = values[1]
        self.index_msg_timestamp: int = values[2]
        self.master_flushed_offset: int = values[3]
        self.confirm_phy_offset: int = values[4]
        log.info("checkpoint %s %s: %s", self.path, "loaded" if existed else "created", values)

    def __enter__(self) -> StoreCheckpoint:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def min_timestamp(self) -> int:
        """``getMinTimestamp``: ``max(0, min(physic, logics) - 3 s)``."""
        oldest = min(self.physic_msg_timestamp, self.logics_msg_timestamp)
        return max(0, oldest - MIN_TIMESTAMP_MARGIN_MS)

    def min_timestamp_index(self) -> int:
        """``getMinTimestampIndex``: :meth:`min_timestamp`, or the index time if older."""
        return min(self.min_timestamp(), self.index_msg_timestamp)

    def pack(self) -> bytes:
        """The 40 bytes :meth:`flush` writes at offset 0."""
        return _LAYOUT.pack(
            self.physic_msg_timestamp,
            self.logics_msg_timestamp,
            self.index_msg_timestamp,
            self.master_flushed_offset,
            self.confirm_phy_offset,
        )

    def flush(self) -> None:
        """Write the values into the file and ``fsync`` it (no-op after :meth:`shutdown`)."""
        with self._lock:
            if self._closed:
                return
            self._mm[0 : _LAYOUT.size] = self.pack()
            os.fsync(self._fd)

    def shutdown(self) -> None:
        """Flush, then unmap and close (idempotent), like ``StoreCheckpoint#shutdown``."""
        self.flush()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._mm.close()
            os.close(self._fd)


# ---------------------------------------------------------------------------------------------
# abort file


def create_abort_file(path: str | Path) -> None:
    """Create the ``abort`` marker at store start; writes the PID as 5.x does (4.9: empty)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(str(os.getpid()))


def delete_abort_file(path: str | Path) -> None:
    """Remove the ``abort`` marker on a clean shutdown (missing is fine)."""
    Path(path).unlink(missing_ok=True)


def abort_file_exists(path: str | Path) -> bool:
    """True when the marker is present: the last exit was abnormal (``isTempFileExist``)."""
    return Path(path).exists()


# ---------------------------------------------------------------------------------------------
# lock file


def lock_path(store_root: str | Path) -> Path:
    """``StorePathConfigHelper#getLockFile``: ``<root>/lock``."""
    return Path(store_root) / _LOCK_FILE_NAME


class StoreLock:
    """Exclusive, non-blocking lock on the store's ``lock`` file.

    Two locks are taken on the open file:

    * ``flock`` -- belongs to this open file, so a second store in the *same* process (one
      more :class:`StoreLock` on the path) conflicts too;
    * ``lockf`` on byte 0 -- a POSIX record lock, which is what Java's
      ``FileChannel#tryLock(0, 1, false)`` takes on Linux, so a Java RocketMQ broker on the
      same directory also conflicts.

    POSIX record locks belong to the process: closing *any* descriptor of the file drops
    them, so a failed second attempt in the same process releases the ``lockf`` half (the
    ``flock`` half stays). Between processes both halves hold.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def locked(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`StoreLockedError` at once (never blocks)."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0)
        except BlockingIOError as exc:
            os.close(fd)
            raise StoreLockedError(
                f"store directory {self.path.parent} is already in use: another broker holds "
                f"{self.path} (RocketMQ: 'Lock failed, MQ already started')"
            ) from exc
        except BaseException:
            os.close(fd)
            raise
        os.pwrite(fd, _LOCK_CONTENT, 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (idempotent); the file stays, as in RocketMQ."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing releases both the flock and the lockf lock

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
