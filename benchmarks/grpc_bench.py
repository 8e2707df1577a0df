"""gRPC vs remoting send throughput, same broker, same run.

    .venv/bin/python benchmarks/grpc_bench.py [--seconds 10] [--threads 4] [--size 1024]
        [--loop asyncio|uvloop]

A child process runs a NameServer, a broker and its ``GrpcMessagingServer``
(``running_cluster`` + the broker's parts, as the interop tests build it). Then, one after
the other, for the same time and concurrency:

* the official RocketMQ 5.x Python client (``rocketmq-python-client`` 5.1.2 from
  ``.cache/interop/grpc-venv``; ``tests/interop/setup_clients.py --grpc-only`` installs it)
  sends ``--size`` byte messages from ``--threads`` threads (``producer.send``, blocking);
* rocketq's remoting ``AsyncProducer`` sends the same from ``--threads`` concurrent tasks.

Prints one JSON line per client and a summary table. Numbers go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GRPC_PYTHON = ROOT / ".cache" / "interop" / "grpc-venv" / "bin" / "python"
GRPC_DRIVER = ROOT / "tests" / "interop" / "clients" / "grpc_client.py"
TOPIC = "GrpcBench"
QUEUES = 8
# Sends before measuring: connections, routes and the first mapped file.
WARMUP_S = 2.0


async def serve(store: str) -> None:
    """The child: cluster + gRPC server until stdin closes; prints its addresses."""
    from rocketq.broker.grpc import GrpcMessagingServer
    from rocketq.common.topic import TopicConfig
    from rocketq.testing import running_cluster

    async with running_cluster(store) as (namesrv, broker):
        broker.topic_config_manager.update(TopicConfig(TOPIC, QUEUES, QUEUES))
        await broker.register_broker_all()
        server = GrpcMessagingServer(
            broker.config,
            broker.store,
            broker.topic_config_manager,
            broker.subscription_group_manager,
            broker.consumer_offset_manager,
            port=0,
        )
        await server.start()
        print(json.dumps({"namesrv": namesrv.address, "grpc": server.address}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await server.aclose()


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


def main() -> None:
    """Start the broker child, run both clients, print the results."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--size", type=int, default=1024)
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
            addresses = json.loads(child.stdout.readline())
            results = [
                grpc_bench(addresses["grpc"], args.seconds, args.threads, args.size),
                asyncio.run(
                    remoting_bench(addresses["namesrv"], args.seconds, args.threads, args.size)
                ),
            ]
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(30)
    for r in results:
        r["broker_loop"] = args.loop
        print(json.dumps(r, sort_keys=True))
    print(f"\n{'client':45} {'msg/s':>9} {'avg ms':>8} {'max ms':>8} {'failed':>6}")
    for r in results:
        print(
            f"{r['client']:45} {r['tps']:9.1f} {r['avg_rt_ms']:8.2f} {r['max_rt_ms']:8.2f}"
            f" {r['failed']:6d}"
        )


if __name__ == "__main__":
    main()
