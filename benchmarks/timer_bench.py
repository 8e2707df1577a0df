"""Timer messages at scale: N messages due over the next hour, put through the broker's
store path (the same ``to_timer`` diversion SEND_MESSAGE uses, then
``DefaultMessageStore.put_messages``) on a running in-process broker whose timer service
enqueues them into the wheel concurrently. Compared with plain puts in the same run.

    .venv/bin/python benchmarks/timer_bench.py                  # 1,000,000 timer messages
    .venv/bin/python benchmarks/timer_bench.py --count 100000   # quicker
    .venv/bin/python benchmarks/timer_bench.py --control        # same, no timers at all
    .venv/bin/python benchmarks/timer_bench.py --loopback 80000 # real processes, producer

Phases: plain puts (N/2); timer puts (N) while the wheel fills; wait until the wheel holds
all N; plain puts again (N/2) with N timers pending. The send-path rate counts the time in
the puts; the time the loop spends on the timer service (enqueue, deliveries) between them
is reported apart. RSS and anonymous RSS (heap, not the mapped CommitLog pages) are
sampled throughout.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from rocketq.broker.config import BrokerConfig
from rocketq.broker.controller import BrokerController
from rocketq.broker.timer import to_timer
from rocketq.client.config import ClientConfig
from rocketq.client.message import Message
from rocketq.client.producer import AsyncProducer
from rocketq.common.message import encode_properties
from rocketq.common.record import StoredMessage
from rocketq.store.config import StoreConfig
from rocketq.testing import BrokerProcess, NamesrvProcess

BODY = b"x" * 100
HOUR_MS = 3_600_000


def rss_mib() -> tuple[float, float]:
    """(VmRSS, RssAnon) of this process in MiB."""
    values: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["RssAnon"]


def message(ctl: BrokerController, i: int, deliver_ms: int | None) -> StoredMessage:
    props = {"TAGS": "TagA", "UNIQ_KEY": f"U{i:030d}", "WAIT": "true"}
    topic, queue_id = "BenchTimer", i % 8
    if deliver_ms is not None:
        props["TIMER_DELIVER_MS"] = str(deliver_ms)
        now = int(time.time() * 1000)
        topic, queue_id = to_timer(props, topic, queue_id, ctl.store_config, now)
    return StoredMessage(
        topic=topic,
        queue_id=queue_id,
        body=BODY,
        properties=encode_properties(props),
        props=props,
        born_host=("127.0.0.1", 50000),
    )


async def put_phase(
    ctl: BrokerController, label: str, count: int, timer: bool, samples: list[str]
) -> float:
    """Put ``count`` messages; return the send-path rate (time in the store puts only).

    Every 1,000 puts the loop is yielded so the timer service enqueues and delivers, as
    it would between requests in a broker; that time is reported apart.
    """
    rnd = random.Random(7)
    start = time.perf_counter()
    background = 0.0
    for i in range(count):
        # due 5 s .. 1 h 5 s after its put, so every one waits in the wheel
        deliver = int(time.time() * 1000) + 5000 + rnd.randrange(HOUR_MS) if timer else None
        result = await ctl.store.put_messages([message(ctl, i, deliver)], wait_store=False)
        assert result.status.stored, result.status
        if i % 1000 == 999:
            t0 = time.perf_counter()
            await asyncio.sleep(0)
            background += time.perf_counter() - t0
        if i % (count // 4) == count // 4 - 1:
            rss, anon = rss_mib()
            samples.append(f"{label} {i + 1:>9,}: RSS {rss:7.1f} MiB, anon {anon:6.1f} MiB")
    total = time.perf_counter() - start
    rate = count / (total - background)
    enqueued = ctl.timer_service.stats().enqueued
    print(
        f"{label}: {count:,} puts, send path {rate:,.0f} msgs/s, with the timer service's "
        f"work {count / total:,.0f} msgs/s ({enqueued:,} in the wheel)",
        flush=True,
    )
    return rate


async def wait_enqueued(ctl: BrokerController, count: int) -> None:
    start = time.perf_counter()
    left = count - ctl.timer_service.stats().enqueued
    if left <= 0:
        return
    while ctl.timer_service.stats().enqueued < count:
        await asyncio.sleep(0.1)
    drain = time.perf_counter() - start
    print(f"enqueue backlog {left:,} drained in {drain:.1f} s, {left / drain:,.0f} msgs/s")


async def run(count: int, root: Path, control: bool) -> None:
    store_config = StoreConfig(store_path_root_dir=str(root))
    config = BrokerConfig(listen_port=0, namesrv_addr="", broker_ip1="127.0.0.1")
    ctl = BrokerController(config, store_config)
    await ctl.start()
    samples: list[str] = []
    rss, anon = rss_mib()
    samples.append(f"started          : RSS {rss:7.1f} MiB, anon {anon:6.1f} MiB")
    plain1 = await put_phase(ctl, "plain (empty wheel)", count // 2, False, samples)
    label = "plain instead of timer (control)" if control else "timer"
    timer = await put_phase(ctl, label, count, not control, samples)
    await wait_enqueued(ctl, 0 if control else count)
    rss, anon = rss_mib()
    samples.append(f"all in the wheel : RSS {rss:7.1f} MiB, anon {anon:6.1f} MiB")
    plain2 = await put_phase(ctl, f"plain ({count:,} pending)", count // 2, False, samples)
    stats = ctl.timer_service.stats()
    print(stats)
    print(f"send path, timer/plain: {timer / plain1:.2f}; plain full/empty: {plain2 / plain1:.2f}")
    wheel = root / "timerwheel"
    print(
        f"timerlog {stats.timer_log_bytes / 2**20:.1f} MiB, wheel file apparent "
        f"{wheel.stat().st_size / 2**20:.0f} MiB, allocated "
        f"{wheel.stat().st_blocks * 512 / 2**20:.1f} MiB"
    )
    print("\n".join(samples))
    await ctl.aclose()


async def loopback(count: int, root: Path) -> None:
    """Real broker and NameServer processes, the Python producer with 64 sends in flight:
    alternating blocks of plain and timer sends (due over the next hour)."""
    with (
        NamesrvProcess(root / "ns") as ns,
        BrokerProcess(root / "b", ns.addr),
    ):
        cfg = ClientConfig(namesrv_addr=ns.addr)
        async with AsyncProducer("timer-bench-pg", client_config=cfg) as producer:
            await producer.send(Message("BenchLoop", b"warm-up"))
            sem = asyncio.Semaphore(64)
            rnd = random.Random(7)

            async def one(timer: bool) -> None:
                at = int(time.time() * 1000) + 5000 + rnd.randrange(HOUR_MS) if timer else None
                async with sem:
                    await producer.send(Message("BenchLoop", BODY, deliver_time_ms=at))

            spent = {False: 0.0, True: 0.0}
            block = count // 8
            for i in range(8):
                timer = i % 2 == 1
                start = time.perf_counter()
                await asyncio.gather(*(one(timer) for _ in range(block)))
                spent[timer] += time.perf_counter() - start
    plain, timer = 4 * block / spent[False], 4 * block / spent[True]
    print(f"loopback, {4 * block:,} each: plain {plain:,.0f} sends/s, timer {timer:,.0f} sends/s")
    print(f"timer/plain: {timer / plain:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--dir", default=None, help="store directory (default: a temp dir)")
    parser.add_argument(
        "--loopback", type=int, default=0, help="instead: N sends through real processes"
    )
    parser.add_argument(
        "--control", action="store_true", help="put plain messages in the timer phase too"
    )
    args = parser.parse_args()
    if args.loopback:
        with tempfile.TemporaryDirectory(prefix="timer-bench-") as tmp:
            asyncio.run(loopback(args.loopback, Path(tmp)))
        return
    if args.dir:
        asyncio.run(run(args.count, Path(args.dir), args.control))
        return
    with tempfile.TemporaryDirectory(prefix="timer-bench-") as tmp:
        asyncio.run(run(args.count, Path(tmp), args.control))


if __name__ == "__main__":
    main()
