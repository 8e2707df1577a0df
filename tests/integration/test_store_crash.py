"""kill -9 a process that appends with SYNC_FLUSH from many writers; every acknowledged
message must come back after restart, and no torn record may be exposed."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from rocketq.store.config import StoreConfig
from rocketq.store.message_store import DefaultMessageStore, decode_records

WRITER = Path(__file__).with_name("store_writer.py")


def run_until_acks(root: Path, acks_wanted: int) -> list[tuple[int, int, int, int]]:
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(root)], stdout=subprocess.PIPE, text=True
    )
    acks: list[tuple[int, int, int, int]] = []
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        for line in proc.stdout:
            _, w, s, q, p = line.split()
            acks.append((int(w), int(s), int(q), int(p)))
            if len(acks) >= acks_wanted:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return acks


async def test_kill_9_loses_no_acknowledged_message(tmp_path: Path) -> None:
    root = tmp_path / "store"
    acked = run_until_acks(root, 1500)
    acked += run_until_acks(root, 1000)  # the restarted process appends after recovery too
    config = StoreConfig(
        store_path_root_dir=str(root),
        mapped_file_size_commit_log=64 * 1024,
        mapped_file_size_consume_queue=20 * 256,
    )
    store = DefaultMessageStore(config)
    await store.start()
    try:
        found: dict[tuple[int, int], bytes] = {}
        for qid in range(4):
            offset = 0
            while True:
                r = store.get_message("g", "Crash", qid, offset, 32)
                if r.status.name != "FOUND":
                    break
                for rec in decode_records(b"".join(r.buffers)):  # raises on a torn record
                    assert rec.queue_id == qid
                    props = rec.properties_map()
                    found[(qid, rec.queue_offset)] = rec.body
                    assert rec.body == f"{props['KEYS']}-".encode() * 8
                offset = r.next_begin_offset
                r.release()
        for w, s, q, _p in acked:
            assert found.get((w % 4, q)) == f"w{w}-s{s}-".encode() * 8, (w, s, q)
        # queue offsets are dense: 0..max-1 each present exactly once
        for qid in range(4):
            offsets = sorted(q for (x, q) in found if x == qid)
            assert offsets == list(range(len(offsets)))
    finally:
        await store.aclose()
