"""CPU per stored message: ``submit_messages`` once per send vs ``submit_many`` over the
sends of one socket read (issue 11).

Messages as a Java producer sends them (1 KiB body, UNIQ_KEY, WAIT and TAGS, properties
already parsed by the broker, eight queues), ASYNC_FLUSH, the index on, a batch arrival
listener as cheap as the broker's when nothing is held. The two ways run alternately (the machine is
shared); each prints the median µs of CPU (``time.process_time``) per message.

    .venv/bin/python benchmarks/store_many_bench.py                 # 7 rounds of 16k each
    .venv/bin/python benchmarks/store_many_bench.py --rounds 3 --group 8 --count 8000
    ROCKETQ_PURE_PYTHON=1 .venv/bin/python benchmarks/store_many_bench.py
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rocketq.common import speedups
from rocketq.store.config import StoreConfig
from rocketq.store.format import StoredMessage, encode_properties, sent_message
from rocketq.store.message_store import DefaultMessageStore

COMMIT_LOG_FILE = 64 * 1024 * 1024
QUEUES = 8


def java_send(i: int, body: bytes) -> StoredMessage:
    """What the SEND processor hands the store for one Java producer send."""
    props = {"UNIQ_KEY": f"7F0000010A2B18B4AAC2{i:012X}", "WAIT": "true", "TAGS": "TagA"}
    return sent_message(
        "BenchTopic", i % QUEUES, body, encode_properties(props), props, 0, 0,
        1_700_000_000_000 + i, ("127.0.0.1", 50000), 0,
    )  # fmt: skip


def make_listener() -> Callable[[list[tuple[str, int, int, int]]], None]:
    """A batch listener as cheap as the broker's when no pull or pop waits."""
    held: dict[tuple[str, int], list[object]] = {}
    waiters: dict[str, list[object]] = {}

    def arriving(arrivals: list[tuple[str, int, int, int]]) -> None:
        for topic, queue_id, _max_offset, _code in arrivals:  # long polling: per arrival
            if held.get((topic, queue_id)):
                return
        if waiters:  # pop: once per pass
            return

    return arriving


def run_one(store: DefaultMessageStore, groups: list[list[StoredMessage]]) -> None:
    submit = store.submit_messages
    for group in groups:
        for msg in group:
            submit([msg], True)


def run_many(store: DefaultMessageStore, groups: list[list[StoredMessage]]) -> None:
    submit = store.submit_many
    for group in groups:
        submit([([msg], True) for msg in group])


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7, help="rounds of each way")
    parser.add_argument("--count", type=int, default=16_000, help="messages per round")
    parser.add_argument("--group", type=int, default=8, help="sends per socket read")
    parser.add_argument("--size", type=int, default=1024, help="body bytes")
    parser.add_argument("--no-index", action="store_true", help="messageIndexEnable=false")
    parser.add_argument("--dir", help="directory for the store files (default: a temp dir)")
    parser.add_argument(
        "--only",
        choices=["submit_messages", "submit_many", "none"],
        help="run one way only (none: the set-up alone), to profile it",
    )
    args = parser.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="rocketq-many-"))
    config = StoreConfig(
        store_path_root_dir=str(root),
        mapped_file_size_commit_log=COMMIT_LOG_FILE,
        message_index_enable=not args.no_index,
    )
    store = DefaultMessageStore(config)
    await store.start()
    store.messages_arriving_listener = make_listener()
    body = b"x" * args.size
    msgs = [java_send(i, body) for i in range(args.count)]
    groups = [msgs[i : i + args.group] for i in range(0, len(msgs), args.group)]
    times: dict[str, list[float]] = {"submit_messages": [], "submit_many": []}
    ways = tuple(
        (name, way)
        for name, way in (("submit_messages", run_one), ("submit_many", run_many))
        if args.only in (None, name)
    )
    run_one(store, groups[:100])  # warm up: files created, caches filled
    try:
        for _ in range(args.rounds):
            for name, way in ways:
                start = time.process_time()
                way(store, groups)
                times[name].append((time.process_time() - start) / len(msgs) * 1e6)
                await asyncio.sleep(0)  # let the flush service run between rounds
    finally:
        await store.aclose()
    print(f"{speedups.describe()}; {args.count} x {args.size} B per round, groups of {args.group}")
    for name, values in times.items():
        if not values:
            continue
        runs = " ".join(f"{v:.2f}" for v in values)
        print(f"{name:<16} median {statistics.median(values):6.2f} us/msg   ({runs})")


if __name__ == "__main__":
    asyncio.run(main())
