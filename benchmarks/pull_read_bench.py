"""The broker's read for PULL_MESSAGE alone (issue 11): ``get_message`` of 32 records and
the response body made of them, on a real store (no sockets, no request handling).

A store in a temporary directory gets ``--queues`` x ``--messages`` records of 1 KiB with
Java-like properties (the queues' records interleave in the CommitLog, as a producer's
round robin leaves them); then every queue is read from its first offset in pulls of 32,
round after round. Two ways, each timed with ``process_time`` (median of ``--rounds``):

* ``views``: ``get_message`` (a view per record) then ``b"".join`` of the views, what the
  pull processor did before;
* ``joined``: ``get_message(..., joined=True)``, the body gathered in one pass
  (``record.gather_records``, compiled unless ``ROCKETQ_PURE_PYTHON=1``).

    .venv/bin/python benchmarks/pull_read_bench.py
    ROCKETQ_PURE_PYTHON=1 .venv/bin/python benchmarks/pull_read_bench.py
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from rocketq.common import speedups
from rocketq.common.message import encode_properties
from rocketq.store.config import StoreConfig
from rocketq.store.format import StoredMessage
from rocketq.store.message_store import DefaultMessageStore
from rocketq.store.read import JoinedGetMessageResult

_PULL = 32  # maxMsgNums of a push consumer's pull (and maxTransferCountOnMessageInMemory)
_BODY = b"x" * 1024
_PROPS = encode_properties(
    {"UNIQ_KEY": "FD000000000000000000000000000002629F30946E091CAD97440003", "TAGS": "fill"}
)


async def _filled(root: Path, queues: int, messages: int) -> DefaultMessageStore:
    store = DefaultMessageStore(
        StoreConfig(store_path_root_dir=str(root), mapped_file_size_commit_log=1 << 30)
    )
    await store.start()
    batch = [
        StoredMessage(topic="PullRead", queue_id=i % queues, body=_BODY, properties=_PROPS)
        for i in range(256)
    ]
    for _ in range(queues * messages // len(batch)):
        await store.put_messages(batch, wait_store=False)
    return store


def _drain(store: DefaultMessageStore, queues: int, messages: int, joined: bool) -> float:
    """Read every queue to its end in pulls of 32: CPU microseconds per pull."""
    offsets = [0] * queues
    pulls = 0
    began = time.process_time()
    while min(offsets) < messages:
        for queue_id in range(queues):
            result = store.get_message("g", "PullRead", queue_id, offsets[queue_id], _PULL,
                                       joined=joined)  # fmt: skip
            if isinstance(result, JoinedGetMessageResult):
                body = result.body
            else:
                body = b"".join(result.buffers)
            result.release()
            assert len(body) >= _PULL * len(_BODY)
            offsets[queue_id] = result.next_begin_offset
            pulls += 1
    return (time.process_time() - began) / pulls * 1e6


async def main() -> None:
    """Fill a store, then time both ways alternately."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queues", type=int, default=4)
    parser.add_argument("--messages", type=int, default=16_384, help="per queue")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = await _filled(Path(tmp), args.queues, args.messages)
        try:
            times: dict[str, list[float]] = {"views": [], "joined": []}
            for _ in range(args.rounds):
                for way in times:
                    times[way].append(_drain(store, args.queues, args.messages, way == "joined"))
        finally:
            await store.aclose()
    print(speedups.describe())
    for way, values in times.items():
        print(f"{way:>6}: {statistics.median(values):6.2f} us per pull of {_PULL} "
              f"(min {min(values):.2f}, {args.rounds} rounds)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
