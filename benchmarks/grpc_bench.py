"""gRPC vs remoting send and receive throughput, same broker, same run.

    .venv/bin/python benchmarks/grpc_bench.py [--seconds 10] [--threads 4] [--size 1024]
        [--backlog 10000] [--receive-only] [--loop asyncio|uvloop]

A child process runs a NameServer and a broker serving gRPC itself (``running_cluster``:
the broker's own ``GrpcMessagingServer`` on a free ``grpcServerPort``, as ``rocketq broker``
serves it). Then, one after the other:

Sends, for the same time and concurrency:

* the official RocketMQ 5.x Python client (``rocketmq-python-client`` 5.1.2 from
  ``.cache/interop/grpc-venv``; ``tests/interop/setup_clients.py --grpc-only`` installs it)
  sends ``--size`` byte messages from ``--threads`` threads (``producer.send``, blocking);
* rocketq's remoting ``AsyncProducer`` sends the same from ``--threads`` concurrent tasks.

Receives: a backlog of ``--backlog`` messages (``--size`` bytes, put by the remoting
producer beforehand) is read whole by each of three consumer groups, from the first
receive (or the consumer's start) to the last ack:

* the 5.x Python client's ``SimpleConsumer`` over gRPC, ``--threads`` threads each
  receiving up to 32 and acking each message (blocking calls);
* rocketq's ``AsyncSimpleConsumer`` over remoting POP, ``--threads`` tasks doing the same;
* rocketq's ``AsyncPushConsumer`` (remoting pull, the broker's consumer offsets), from
  ``start()`` until its listener has seen the whole backlog.

Each phase also reports the broker child's CPU over it (``/proc``; the child holds the
NameServer too): a share of one core for the sends, microseconds per message for the
receives. Prints one JSON line per client and a summary table. Numbers go to
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GRPC_PYTHON = ROOT / ".cache" / "interop" / "grpc-venv" / "bin" / "python"
GRPC_DRIVER = ROOT / "tests" / "interop" / "clients" / "grpc_client.py"
TOPIC = "GrpcBench"
RECEIVE_TOPIC = "GrpcReceiveBench"
QUEUES = 8
# Most messages one receive asks for (the SDKs' limit).
RECEIVE_BATCH = 32
# Long enough that no message of the backlog comes back while the run lasts.
INVISIBLE_S = 120
# Concurrent sends filling the receive backlog.
FILL_TASKS = 16
# A receive run that has not seen the whole backlog by then is stuck.
RECEIVE_TIMEOUT_S = 600
# Sends before measuring: connections, routes and the first mapped file.
WARMUP_S = 2.0


async def serve(store: str) -> None:
    """The child: cluster (the broker serving gRPC) until stdin closes; prints addresses."""
    from rocketq.common.topic import TopicConfig
    from rocketq.testing import running_cluster

    async with running_cluster(store) as (namesrv, broker):
        for topic in (TOPIC, RECEIVE_TOPIC):
            broker.topic_config_manager.update(TopicConfig(topic, QUEUES, QUEUES))
        await broker.register_broker_all()
        assert broker.grpc_server is not None
        addresses = {"namesrv": namesrv.address, "grpc": broker.grpc_server.address,
                     "pid": os.getpid()}  # fmt: skip
        print(json.dumps(addresses), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def run_loop(coro: Any, loop: str) -> Any:
    """Run on asyncio's loop or uvloop."""
    if loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    return asyncio.run(coro)


async def remoting_bench(namesrv: str, seconds: float, tasks: int, size: int) -> dict[str, Any]:
    """rocketq's AsyncProducer: ``tasks`` concurrent senders for ``seconds``."""
    from rocketq import AsyncProducer, Message

    body = b"x" * size
    rts: list[float] = []
    failed = 0
    async with AsyncProducer("grpc-bench-remoting", namesrv) as producer:
        start = time.monotonic()
        stop, measure_from = start + WARMUP_S + seconds, start + WARMUP_S

        async def sender() -> None:
            nonlocal failed
            while (now := time.monotonic()) < stop:
                try:
                    await producer.send(Message(TOPIC, body))
                except Exception:
                    failed += 1
                    continue
                if now >= measure_from:
                    rts.append(time.monotonic() - now)

        await asyncio.gather(*(sender() for _ in range(tasks)))
    return {
        "bench": "produce", "client": "rocketq AsyncProducer (remoting)", "sent": len(rts),
        "failed": failed, "tps": round(len(rts) / seconds, 1), "threads": tasks, "size": size,
        "avg_rt_ms": round(1000 * sum(rts) / max(len(rts), 1), 3),
        "max_rt_ms": round(1000 * max(rts, default=0), 3),
    }  # fmt: skip


def grpc_bench(endpoints: str, seconds: float, threads: int, size: int) -> dict[str, Any]:
    """The 5.x Python client's blocking sends from ``threads`` threads."""
    args = [str(GRPC_PYTHON), str(GRPC_DRIVER), "--home", tempfile.mkdtemp(),
            "bench-produce", "--endpoints", endpoints, "--topic", TOPIC, "--seconds",
            str(seconds), "--warmup", str(WARMUP_S), "--threads", str(threads),
            "--size", str(size)]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    if not lines or not lines[-1].get("done"):
        raise SystemExit(f"gRPC bench failed: {lines[-1:]} {proc.stderr[-2000:]}")
    result: dict[str, Any] = lines[-1]
    result.pop("done", None)
    return result


async def fill_backlog(namesrv: str, count: int, size: int) -> None:
    """Put ``count`` messages into the receive topic (remoting, ``FILL_TASKS`` at once)."""
    from rocketq import AsyncProducer, Message

    body = b"r" * size
    left = count
    async with AsyncProducer("grpc-bench-fill", namesrv) as producer:

        async def sender() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await producer.send(Message(RECEIVE_TOPIC, body))

        await asyncio.gather(*(sender() for _ in range(FILL_TASKS)))


def grpc_receive_bench(endpoints: str, count: int, threads: int) -> dict[str, Any]:
    """The 5.x Python client's SimpleConsumer over the backlog."""
    args = [str(GRPC_PYTHON), str(GRPC_DRIVER), "--home", tempfile.mkdtemp(),
            "bench-consume", "--endpoints", endpoints, "--topic", RECEIVE_TOPIC, "--group",
            "bench-grpc-simple", "--count", str(count), "--threads", str(threads),
            "--batch", str(RECEIVE_BATCH), "--invisible", str(INVISIBLE_S),
            "--timeout", str(RECEIVE_TIMEOUT_S)]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    if not lines or not lines[-1].get("done"):
        raise SystemExit(f"gRPC receive bench failed: {lines[-1:]} {proc.stderr[-2000:]}")
    result: dict[str, Any] = lines[-1]
    result.pop("done", None)
    return result


async def simple_receive_bench(namesrv: str, count: int, tasks: int) -> dict[str, Any]:
    """rocketq's AsyncSimpleConsumer (remoting POP) over the backlog."""
    from rocketq import AsyncSimpleConsumer

    acked = failed = 0
    last = 0.0
    subscriptions = {RECEIVE_TOPIC: "*"}
    async with AsyncSimpleConsumer(
        "bench-rocketq-simple", namesrv, subscriptions, await_duration=1
    ) as consumer:
        start = time.monotonic()
        deadline = start + RECEIVE_TIMEOUT_S

        async def receiver() -> None:
            nonlocal acked, failed, last
            while acked < count and time.monotonic() < deadline:
                try:
                    messages = await consumer.receive(RECEIVE_BATCH, INVISIBLE_S)
                except Exception:
                    failed += 1
                    continue
                for msg in messages:
                    try:
                        await consumer.ack(msg)
                    except Exception:
                        failed += 1
                        continue
                    acked += 1
                    last = time.monotonic()

        await asyncio.gather(*(receiver() for _ in range(tasks)))
    return _receive_result("rocketq AsyncSimpleConsumer (remoting POP)", acked, failed, tasks,
                           last - start)  # fmt: skip


async def push_receive_bench(namesrv: str, count: int) -> dict[str, Any]:
    """rocketq's AsyncPushConsumer (remoting pull) over the backlog, from its start."""
    from rocketq import AsyncPushConsumer, ConsumeConcurrentlyStatus, ConsumerConfig

    seen = 0
    all_in = asyncio.Event()
    last = 0.0

    def listener(messages: list[Any], _context: Any) -> ConsumeConcurrentlyStatus:
        nonlocal seen, last
        seen += len(messages)
        last = time.monotonic()
        if seen >= count:
            all_in.set()
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    config = ConsumerConfig(consume_from_where="CONSUME_FROM_FIRST_OFFSET")
    consumer = AsyncPushConsumer("bench-rocketq-push", namesrv, config=config)
    consumer.subscribe(RECEIVE_TOPIC, "*")
    consumer.register_listener(listener)
    start = time.monotonic()
    await consumer.start()
    try:
        await asyncio.wait_for(all_in.wait(), RECEIVE_TIMEOUT_S)
    finally:
        await consumer.aclose()
    return _receive_result("rocketq AsyncPushConsumer (remoting pull)", seen, 0,
                           config.consume_thread_max, last - start)  # fmt: skip


def _receive_result(
    client: str, received: int, failed: int, threads: int, seconds: float
) -> dict[str, Any]:
    seconds = max(seconds, 1e-9)
    return {"bench": "receive", "client": client, "received": received, "failed": failed,
            "threads": threads, "seconds": round(seconds, 3),
            "tps": round(received / seconds, 1)}  # fmt: skip


def broker_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the broker child has used so far (/proc, Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, count: int | None, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run()``'s result with the broker's CPU over it: per message when ``count`` (the
    backlog: every message of the phase is counted), else as a share of one core."""
    cpu, wall = broker_cpu_s(pid), time.monotonic()
    result = run()
    cpu, wall = broker_cpu_s(pid) - cpu, time.monotonic() - wall
    if count:
        result["broker_cpu_us_per_msg"] = round(cpu / count * 1e6, 1)
    else:
        result["broker_cpu_share"] = round(cpu / wall, 2)
    return result


def run_benches(addresses: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Sends, then the receive benches over one backlog, one after the other; each with the
    broker's CPU over it."""
    namesrv, grpc_address, pid = addresses["namesrv"], addresses["grpc"], addresses["pid"]
    n, threads, size = args.backlog, args.threads, args.size
    results = []
    if not args.receive_only:
        results.append(
            measured(pid, None, lambda: grpc_bench(grpc_address, args.seconds, threads, size))
        )
        results.append(
            measured(pid, None, lambda: asyncio.run(
                remoting_bench(namesrv, args.seconds, threads, size)))
        )  # fmt: skip
    if n > 0:
        asyncio.run(fill_backlog(namesrv, n, size))
        results.append(measured(pid, n, lambda: grpc_receive_bench(grpc_address, n, threads)))
        results.append(
            measured(pid, n, lambda: asyncio.run(simple_receive_bench(namesrv, n, threads)))
        )
        results.append(measured(pid, n, lambda: asyncio.run(push_receive_bench(namesrv, n))))
    return results


def print_results(results: list[dict[str, Any]], loop: str) -> None:
    """JSON lines, then a table per bench."""
    for r in results:
        r["broker_loop"] = loop
        print(json.dumps(r, sort_keys=True))
    sends = [r for r in results if r["bench"] == "produce"]
    if sends:
        print(f"\n{'client':45} {'msg/s':>9} {'avg ms':>8} {'max ms':>8} {'failed':>6}"
              f" {'broker CPU':>10}")  # fmt: skip
        for r in sends:
            print(
                f"{r['client']:45} {r['tps']:9.1f} {r['avg_rt_ms']:8.2f} {r['max_rt_ms']:8.2f}"
                f" {r['failed']:6d} {r['broker_cpu_share']:10.2f}"
            )
    receives = [r for r in results if r["bench"] == "receive"]
    if receives:
        print(f"\n{'client':52} {'msg/s':>9} {'seconds':>8} {'received':>8} {'failed':>6}"
              f" {'broker CPU us/msg':>17}")  # fmt: skip
        for r in receives:
            print(
                f"{r['client']:52} {r['tps']:9.1f} {r['seconds']:8.2f} {r['received']:8d}"
                f" {r['failed']:6d} {r['broker_cpu_us_per_msg']:17.1f}"
            )


def main() -> None:
    """Start the broker child, run the clients, print the results."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--backlog", type=int, default=10_000, help="0: no receive benches")
    ap.add_argument("--receive-only", action="store_true", help="no send benches")
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    ap.add_argument("--serve", metavar="STORE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        run_loop(serve(args.serve), args.loop)
        return
    if not GRPC_PYTHON.exists():
        raise SystemExit("run tests/interop/setup_clients.py --grpc-only first")
    with tempfile.TemporaryDirectory() as store:
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", store, "--loop", args.loop],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert child.stdout is not None
            results = run_benches(json.loads(child.stdout.readline()), args)
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(30)
    print_results(results, args.loop)


if __name__ == "__main__":
    main()
