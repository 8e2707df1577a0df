"""Classic master-slave replication in one process: put rate on the master's store path
(no network front end) for ASYNC_MASTER and SYNC_MASTER with 8 and 64 concurrent writers,
beside a master without a slave, and the replication lag of every put: the time from the
put returning on the master to the slave having dispatched (ConsumeQueue + index) the
put's last byte. Master and slave share one event loop and talk over 127.0.0.1.

    .venv/bin/python benchmarks/ha_bench.py            # 100,000 messages per case
    .venv/bin/python benchmarks/ha_bench.py --quick    # 20,000

Every writer yields to the loop after each put, as puts arriving from the network would;
otherwise an ASYNC_MASTER writer would never let the HA link run until it finished.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rocketq.store.config import ASYNC_MASTER, SLAVE, SYNC_MASTER, StoreConfig
from rocketq.store.format import StoredMessage, encode_properties
from rocketq.store.message_store import DefaultMessageStore
from rocketq.store.result import PutMessageStatus

COMMIT_LOG_FILE = 64 * 1024 * 1024
BODY = 1024


def store_config(root: Path, role: str) -> StoreConfig:
    return StoreConfig(
        store_path_root_dir=str(root),
        mapped_file_size_commit_log=COMMIT_LOG_FILE,
        broker_role=role,
    )


def message(i: int) -> StoredMessage:
    props = encode_properties({"TAGS": "TagA", "KEYS": f"key{i}", "UNIQ_KEY": f"U{i:030d}"})
    return StoredMessage(
        topic="BenchTopic",
        queue_id=i % 8,
        body=b"x" * BODY,
        properties=props,
        born_host=("127.0.0.1", 50000),
    )


class DispatchLog:
    """Wraps the slave's ``append_to_commit_log``: (time, dispatched end) after each chunk."""

    def __init__(self, slave: DefaultMessageStore) -> None:
        self.times: list[float] = []
        self.ends: list[int] = []
        inner = slave.append_to_commit_log

        def append(offset: int, data: bytes | memoryview) -> bool:
            ok = inner(offset, data)
            self.times.append(time.perf_counter())
            self.ends.append(slave._reput_offset or 0)
            return ok

        slave.append_to_commit_log = append  # type: ignore[method-assign]

    def dispatched_at(self, end: int) -> float:
        return self.times[bisect.bisect_left(self.ends, end)]


async def wait_for(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.005)


async def run_case(
    root: Path, role: str, writers: int, count: int, slave: bool
) -> dict[str, float]:
    master = DefaultMessageStore(store_config(root / "m", role), ha_listen=("127.0.0.1", 0))
    await master.start()
    follower = None
    if slave:
        follower = DefaultMessageStore(store_config(root / "s", SLAVE))
        await follower.start()
        assert master.ha_service is not None
        follower.update_master_address(f"127.0.0.1:{master.ha_service.port}")
        await wait_for(
            lambda: master.ha_service is not None and master.ha_service.connection_count > 0
        )
        dispatch = DispatchLog(follower)
    msgs = [message(i) for i in range(4096)]
    per_writer = count // writers
    returned: list[tuple[float, int]] = []
    bad = 0

    async def writer(w: int) -> None:
        nonlocal bad
        for i in range(per_writer):
            result = await master.put_message(msgs[(w * per_writer + i) % len(msgs)])
            last = result.appended[-1]
            returned.append((time.perf_counter(), last.physical_offset + last.size))
            bad += result.status is not PutMessageStatus.PUT_OK
            await asyncio.sleep(0)

    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    elapsed = time.perf_counter() - start
    row = {"rate": per_writer * writers / elapsed, "bad": float(bad)}
    if follower is not None:
        await wait_for(lambda: follower._reput_offset == master.max_phy_offset())
        lags = sorted(dispatch.dispatched_at(end) - t for t, end in returned)
        for name, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
            row[name] = max(0.0, lags[min(len(lags) - 1, int(q * len(lags)))]) * 1000
        await follower.aclose()
    await master.aclose()
    return row


async def main(count: int) -> None:
    cases = [
        ("ASYNC_MASTER, no slave", ASYNC_MASTER, False),
        ("ASYNC_MASTER + slave", ASYNC_MASTER, True),
        ("SYNC_MASTER + slave", SYNC_MASTER, True),
    ]
    print(f"{count:,} puts of {BODY} B per case, ASYNC_FLUSH, one event loop")
    print(
        f"{'case':<26}{'writers':>8}{'puts/s':>10}{'not OK':>8}{'lag p50':>10}{'p99':>9}{'max':>9}"
    )
    for label, role, slave in cases:
        for writers in (8, 64):
            with tempfile.TemporaryDirectory(prefix="rocketq-ha-bench-") as tmp:
                row = await run_case(Path(tmp), role, writers, count, slave)
            lag = (
                f"{row['p50']:>8.2f}ms{row['p99']:>7.2f}ms{row['max']:>7.1f}ms"
                if slave
                else f"{'-':>10}{'-':>9}{'-':>9}"
            )
            print(f"{label:<26}{writers:>8}{row['rate']:>10,.0f}{row['bad']:>8.0f}{lag}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 messages per case")
    args = parser.parse_args()
    asyncio.run(main(20_000 if args.quick else 100_000))
