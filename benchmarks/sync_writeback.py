"""What one ``fdatasync`` of a SYNC_FLUSH CommitLog writes back, with and without read-ahead.

Appends 8 records of ``--record`` bytes into a sparse, memory-mapped file (as the CommitLog
does) and syncs after each 8, for ``--seconds``, once with the mapping's default advice and
once with ``MADV_RANDOM`` (what ``MappedFile(synced_appends=True)`` sets while a file is
appended to). Prints the sync latency (median, p90) and, from the block device's
``/sys/dev/block/<major>:<minor>/stat``, the write requests and KiB written per sync.

On Linux 6.x the page cache holds file pages in large folios where it reads ahead; a write
fault into a hole reads ahead too, so the default mapping dirties (and each sync writes
back) far more than the few KiB appended.

    .venv/bin/python benchmarks/sync_writeback.py --dir /var/tmp --seconds 5

``--dir`` must be on a block device (not a tmpfs, where a sync does nothing).
"""

from __future__ import annotations

import argparse
import mmap
import os
import statistics
import time
from pathlib import Path

FILE_SIZE = 256 << 20
RECORDS_PER_SYNC = 8  # SYNC_FLUSH's group commit with 8 concurrent senders


def _device_stat(path: Path) -> Path | None:
    """The sysfs stat file of the block device holding ``path`` (None when there is none)."""
    dev = os.stat(path).st_dev
    stat = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}/stat")
    if stat.exists():
        return stat
    return None


def _writes(stat: Path | None) -> tuple[int, int]:
    """(write requests, sectors written) so far; zeros without a device."""
    if stat is None:
        return 0, 0
    fields = stat.read_text().split()
    return int(fields[4]), int(fields[6])


def run(directory: Path, advice: str | None, seconds: float, record: int) -> str:
    """One pass: append and sync for ``seconds``; a result line."""
    path = directory / f"sync_writeback_{os.getpid()}"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, FILE_SIZE)
        mapped = mmap.mmap(fd, FILE_SIZE)
        if advice is not None:
            mapped.madvise(getattr(mmap, advice))
        data = b"x" * record
        stat = _device_stat(directory)
        writes0, sectors0 = _writes(stat)
        latencies: list[float] = []
        pos = 0
        stop = time.perf_counter() + seconds
        while time.perf_counter() < stop and pos + RECORDS_PER_SYNC * record < FILE_SIZE:
            for _ in range(RECORDS_PER_SYNC):
                mapped[pos : pos + record] = data
                pos += record
            began = time.perf_counter()
            os.fdatasync(fd)
            latencies.append((time.perf_counter() - began) * 1e6)
        writes1, sectors1 = _writes(stat)
        mapped.close()
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    latencies.sort()
    syncs = len(latencies)
    if not syncs:
        return f"{advice or 'default':12s} no sync ran (raise --seconds)"
    p90 = latencies[int(syncs * 0.9)]
    device = "no block device under --dir"
    if stat is not None:
        device = (f"device writes/sync {(writes1 - writes0) / syncs:5.2f}"
                  f"  KiB/sync {(sectors1 - sectors0) * 512 / 1024 / syncs:7.1f}")  # fmt: skip
    median = statistics.median(latencies)
    return (f"{advice or 'default':12s} {syncs:6d} syncs  median {median:6.0f} µs"
            f"  p90 {p90:6.0f} µs  {device}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default="/var/tmp", help="where the file goes (a disk)")
    parser.add_argument("--seconds", type=float, default=5.0, help="per pass")
    parser.add_argument("--record", type=int, default=1100, help="bytes per record")
    parser.add_argument("--rounds", type=int, default=2, help="alternating passes of each")
    args = parser.parse_args()
    directory = Path(args.dir)
    print(f"{RECORDS_PER_SYNC} records of {args.record} B per fdatasync, in {directory}")
    print("(device figures count every write to that device, other processes' included)")
    for _ in range(args.rounds):
        for advice in (None, "MADV_RANDOM"):
            print(run(directory, advice, args.seconds, args.record))


if __name__ == "__main__":
    main()
