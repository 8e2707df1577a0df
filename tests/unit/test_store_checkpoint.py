"""StoreCheckpoint byte layout and round trip; abort marker; store lock contention."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from rocketq.store.checkpoint import (
    CHECKPOINT_FILE_SIZE,
    StoreCheckpoint,
    StoreLock,
    StoreLockedError,
    abort_file_exists,
    create_abort_file,
    delete_abort_file,
    lock_path,
)


def test_new_checkpoint_is_zero_and_page_sized(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "checkpoint"
    with StoreCheckpoint(path) as cp:
        assert (cp.physic_msg_timestamp, cp.logics_msg_timestamp, cp.index_msg_timestamp) == (
            0,
            0,
            0,
        )
        assert (cp.master_flushed_offset, cp.confirm_phy_offset) == (0, 0)
    assert CHECKPOINT_FILE_SIZE == 4096
    assert path.read_bytes() == bytes(4096)


def test_round_trip_and_byte_layout(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint"
    cp = StoreCheckpoint(path)
    cp.physic_msg_timestamp = 1_700_000_000_111
    cp.logics_msg_timestamp = 1_700_000_000_222
    cp.index_msg_timestamp = 1_700_000_000_333
    cp.master_flushed_offset = 4096
    cp.confirm_phy_offset = -1
    cp.flush()
    raw = path.read_bytes()
    assert len(raw) == 4096
    assert raw[:8] == (1_700_000_000_111).to_bytes(8, "big")
    assert raw[8:16] == (1_700_000_000_222).to_bytes(8, "big")
    assert raw[16:24] == (1_700_000_000_333).to_bytes(8, "big")
    assert raw[24:32] == (4096).to_bytes(8, "big")
    assert raw[32:40] == b"\xff" * 8
    assert raw[40:] == bytes(4096 - 40)
    cp.shutdown()
    cp.shutdown()  # idempotent
    again = StoreCheckpoint(path)
    assert again.pack() == raw[:40]
    again.shutdown()


def test_setters_reach_disk_only_on_flush(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint"
    cp = StoreCheckpoint(path)
    cp.index_msg_timestamp = 5
    assert path.read_bytes()[16:24] == bytes(8)
    cp.shutdown()  # flushes, like StoreCheckpoint#shutdown
    assert path.read_bytes()[16:24] == (5).to_bytes(8, "big")


def test_reads_a_49_file_and_grows_a_short_one(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint"
    path.write_bytes(struct.pack(">qqq", 10, 20, 30))  # 4.9 fields only, short file
    cp = StoreCheckpoint(path)
    assert (cp.physic_msg_timestamp, cp.logics_msg_timestamp, cp.index_msg_timestamp) == (
        10,
        20,
        30,
    )
    assert (cp.master_flushed_offset, cp.confirm_phy_offset) == (0, 0)
    cp.shutdown()
    assert path.stat().st_size == 4096


def test_min_timestamps(tmp_path: Path) -> None:
    cp = StoreCheckpoint(tmp_path / "checkpoint")
    cp.physic_msg_timestamp, cp.logics_msg_timestamp = 20_000, 10_000
    cp.index_msg_timestamp = 9_000
    assert cp.min_timestamp() == 7_000  # min(physic, logics) - 3 s
    assert cp.min_timestamp_index() == 7_000
    cp.index_msg_timestamp = 5_000
    assert cp.min_timestamp_index() == 5_000
    cp.logics_msg_timestamp = 2_000
    assert cp.min_timestamp() == 0  # clamped at 0
    cp.shutdown()


def test_abort_file(tmp_path: Path) -> None:
    abort = tmp_path / "root" / "abort"
    assert not abort_file_exists(abort)
    create_abort_file(abort)
    assert abort_file_exists(abort)
    assert abort.read_text() == str(os.getpid())
    delete_abort_file(abort)
    delete_abort_file(abort)
    assert not abort_file_exists(abort)


def test_lock_contention_in_one_process(tmp_path: Path) -> None:
    path = lock_path(tmp_path)
    assert path == tmp_path / "lock"
    first = StoreLock(path)
    first.acquire()
    assert first.locked and path.read_bytes() == b"lock"
    with pytest.raises(StoreLockedError, match="already in use"):
        StoreLock(path).acquire()
    first.release()
    first.release()
    with StoreLock(path) as again:
        assert again.locked
    assert not again.locked


_CHILD = """
import sys
from rocketq.store.checkpoint import StoreLock, StoreLockedError
try:
    StoreLock(sys.argv[1]).acquire()
except StoreLockedError:
    sys.exit(3)
sys.exit(0)
"""


def test_lock_contention_across_processes(tmp_path: Path) -> None:
    path = lock_path(tmp_path)

    def child() -> int:
        cmd = [sys.executable, "-c", _CHILD, str(path)]
        return subprocess.run(cmd, check=False, timeout=60).returncode

    with StoreLock(path):
        assert child() == 3
    assert child() == 0
