"""Message store throughput: appends (ASYNC_FLUSH, SYNC_FLUSH with 1 and 64 writers) and
reads, each beside the raw limit of the same bytes written sequentially with the same
fsync policy in the same run.

    .venv/bin/python benchmarks/store_bench.py            # all cases, ~1 minute
    .venv/bin/python benchmarks/store_bench.py --quick    # fewer messages
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from rocketq.store.config import StoreConfig
from rocketq.store.format import StoredMessage, encode_properties
from rocketq.store.message_store import DefaultMessageStore

COMMIT_LOG_FILE = 256 * 1024 * 1024


def make_store(root: Path, flush: str) -> DefaultMessageStore:
    config = StoreConfig(
        store_path_root_dir=str(root),
        mapped_file_size_commit_log=COMMIT_LOG_FILE,
        flush_disk_type=flush,
    )
    return DefaultMessageStore(config)


def message(size: int, i: int) -> StoredMessage:
    props = encode_properties({"TAGS": "TagA", "KEYS": f"key{i}", "UNIQ_KEY": f"U{i:030d}"})
    return StoredMessage(
        topic="BenchTopic",
        queue_id=i % 8,
        body=b"x" * size,
        properties=props,
        born_host=("127.0.0.1", 50000),
    )


async def bench_append(root: Path, size: int, count: int, flush: str, writers: int) -> float:
    store = make_store(root, flush)
    await store.start()
    msgs = [message(size, i) for i in range(min(count, 4096))]
    per_writer = count // writers

    async def writer(w: int) -> None:
        for i in range(per_writer):
            await store.put_message(msgs[(w * per_writer + i) % len(msgs)])

    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    elapsed = time.perf_counter() - start
    await store.aclose()
    return per_writer * writers / elapsed


def raw_write(path: Path, record: bytes, count: int, fsync_every: int) -> float:
    """Sequential writes of ``record``; fsync after every ``fsync_every`` (0 = never)."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC)
    try:
        start = time.perf_counter()
        for i in range(count):
            os.write(fd, record)
            if fsync_every and (i + 1) % fsync_every == 0:
                os.fdatasync(fd)
        return count / (time.perf_counter() - start)
    finally:
        os.close(fd)


async def bench_read(root: Path, count: int) -> float:
    store = make_store(root, "ASYNC_FLUSH")
    await store.start()
    msg = message(1024, 0)
    for _i in range(count):
        await store.put_message(
            StoredMessage(topic="ReadTopic", queue_id=0, body=msg.body, properties=msg.properties)
        )
    start = time.perf_counter()
    offset = read = 0
    while offset < count:
        r = store.get_message("g", "ReadTopic", 0, offset, 32)
        read += r.message_count
        offset = r.next_begin_offset
        r.release()
    elapsed = time.perf_counter() - start
    await store.aclose()
    return read / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer messages per case")
    parser.add_argument("--dir", help="directory for the store files (default: a temp dir)")
    args = parser.parse_args()
    n = 20_000 if args.quick else 100_000
    base = Path(args.dir or tempfile.mkdtemp(prefix="rocketq-bench-"))
    print(f"{'case':<34}{'msgs/s':>12}{'MB/s':>9}{'raw msgs/s':>13}{'ratio':>7}")
    cases = [
        (128, "ASYNC_FLUSH", 1, 0),
        (1024, "ASYNC_FLUSH", 1, 0),
        (16 * 1024, "ASYNC_FLUSH", 1, 0),
        (1024, "SYNC_FLUSH", 1, 1),
        (1024, "SYNC_FLUSH", 64, 64),
    ]
    for i, (size, flush, writers, fsync_every) in enumerate(cases):
        count = n // 10 if flush == "SYNC_FLUSH" and writers == 1 else n
        if size >= 16 * 1024:
            count = n // 5
        rate = await bench_append(base / f"s{i}", size, count, flush, writers)
        record = message(size, 0)
        raw = raw_write(
            base / f"raw{i}", b"x" * (size + 91 + 10 + len(record.properties)), count, fsync_every
        )
        mb = rate * size / 1e6
        name = f"append {size} B {flush} x{writers}"
        print(f"{name:<34}{rate:>12,.0f}{mb:>9.1f}{raw:>13,.0f}{rate / raw:>7.2f}")
    rate = await bench_read(base / "read", n)
    print(f"{'get_message 1 KiB (page cache)':<34}{rate:>12,.0f}{rate * 1024 / 1e6:>9.1f}")


if __name__ == "__main__":
    asyncio.run(main())
