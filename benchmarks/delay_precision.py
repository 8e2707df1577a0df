"""How late delayed messages (delay levels, RocketMQ 4) and timer messages (RocketMQ 5
TIMER_DELIVER_MS) reach a push consumer. The tests only check that none comes early and
that the order holds; how close to its time each one comes is measured here.

    .venv/bin/python benchmarks/delay_precision.py               # in-process cluster
    .venv/bin/python benchmarks/delay_precision.py --processes   # NameServer + broker processes
    .venv/bin/python benchmarks/delay_precision.py --count 500

``--count`` delay-level messages (levels 1-3: 1, 2, 3 s) and ``--count`` timer messages
(due spread over the next 1-3 s) are sent; lateness = arrival at the listener - due time,
where due = send time + delay for a delay level and the requested time for a timer
message. Prints percentiles in milliseconds per kind; a negative minimum would mean a
message came early (the tests forbid that).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from rocketq.client.config import ClientConfig, ConsumerConfig
from rocketq.client.consume_service import ConsumeConcurrentlyStatus
from rocketq.client.message import Message, MessageExt
from rocketq.client.producer import AsyncProducer
from rocketq.client.push_consumer import AsyncPushConsumer
from rocketq.testing import BrokerProcess, NamesrvProcess, async_wait_until, running_cluster

LEVELS = "1s 2s 3s " + " ".join(["1s"] * 15)
BROKER_CONFIG = {"messageDelayLevel": LEVELS, "timerMaxDelaySec": "3600"}
TOPIC = "DelayPrecision"
# Sends in flight at once: enough to load the broker a little, like a real producer pool.
IN_FLIGHT = 16


@contextlib.asynccontextmanager
async def cluster(root: Path, processes: bool) -> AsyncIterator[str]:
    """The NameServer address of an in-process cluster or of NameServer + broker processes."""
    if not processes:
        async with running_cluster(root / "store", BROKER_CONFIG) as (namesrv, _broker):
            yield namesrv.address
        return
    with NamesrvProcess(root / "ns") as ns, BrokerProcess(root / "b", ns.addr, BROKER_CONFIG):
        yield ns.addr


async def run(count: int, processes: bool, root: Path) -> dict[str, list[float]]:
    """Send, receive, and return the lateness (ms) of each message per kind."""
    due: dict[bytes, float] = {}
    arrived: dict[bytes, float] = {}

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        now = time.time()
        for m in msgs:
            arrived.setdefault(m.body, now)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    async with cluster(root, processes) as addr:
        client = ClientConfig(namesrv_addr=addr, poll_name_server_interval=500)
        config = ConsumerConfig(
            consume_from_where="CONSUME_FROM_FIRST_OFFSET", offset_store_dir=str(root / "offs")
        )
        consumer = AsyncPushConsumer("precision-cg", config=config, client_config=client)
        consumer.subscribe(TOPIC, "*")
        consumer.register_listener(listener)
        async with AsyncProducer("precision-pg", client_config=client) as producer:
            await producer.send(Message(TOPIC, b"warm-up"))
            async with consumer:
                await async_wait_until(lambda: b"warm-up" in arrived, timeout=60)
                await send_all(producer, count, due)
                await async_wait_until(lambda: len(arrived) > len(due), timeout=120)
    out: dict[str, list[float]] = {"delay level": [], "timer": []}
    for body, at in due.items():
        kind = "delay level" if body.startswith(b"d") else "timer"
        out[kind].append((arrived[body] - at) * 1000)
    return out


async def send_all(producer: AsyncProducer, count: int, due: dict[bytes, float]) -> None:
    """``count`` delay-level and ``count`` timer messages, interleaved, IN_FLIGHT at a time."""
    rng = random.Random(7)
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def delayed(i: int) -> None:
        level = 1 + i % 3
        body = f"d{i}".encode()
        async with sem:
            due[body] = time.time() + level
            await producer.send(Message(TOPIC, body, delay_time_level=level))

    async def timed(i: int) -> None:
        at_ms = int((time.time() + rng.uniform(1.0, 3.0)) * 1000)
        body = f"t{i}".encode()
        due[body] = at_ms / 1000
        async with sem:
            await producer.send(Message(TOPIC, body, deliver_time_ms=at_ms))

    await asyncio.gather(*(f(i) for i in range(count) for f in (delayed, timed)))


def report(lateness: dict[str, list[float]]) -> None:
    """One line of percentiles (ms) per kind."""
    print(f"{'kind':<12} {'n':>5} {'min':>8} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}  (ms)")
    for kind, values in lateness.items():
        if not values:
            continue
        q = statistics.quantiles(values, n=100, method="inclusive")
        row = [min(values), q[49], q[89], q[98], max(values)]
        print(f"{kind:<12} {len(values):>5} " + " ".join(f"{v:>8.1f}" for v in row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="messages of each kind")
    parser.add_argument("--processes", action="store_true", help="real server processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rocketq-delay-") as tmp:
        lateness = asyncio.run(run(args.count, args.processes, Path(tmp)))
    where = "NameServer + broker processes" if args.processes else "in-process cluster"
    print(f"{args.count} delay-level + {args.count} timer messages, {where}")
    report(lateness)


if __name__ == "__main__":
    main()
