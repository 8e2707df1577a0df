"""What Python users' usual alternatives do on the same machine, measured the way
``rocketq bench producer -w 8 -s 1024`` measures rocketq: ``--senders`` concurrent asyncio
senders, each awaiting its acknowledgement before the next send, 1 KiB bodies.

* Redis 7 Streams with redis-py: ``XADD`` (acknowledged when Redis has it in memory;
  Redis' default persistence).
* NATS JetStream with nats-py: ``js.publish`` to a file-backed stream (acknowledged by the
  server after it stored the message).

By hand, not in CI: it needs ``redis-server`` and ``nats-server`` (Debian packages) and
``pip install redis nats-py`` in the interpreter that runs it (not rocketq's dependencies).
Starts both servers on free ports under a temporary directory and stops them.

    python benchmarks/peers_bench.py [--seconds 10] [--senders 8] [--size 1024]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_senders(
    send: Callable[[bytes], Awaitable[object]], seconds: float, senders: int, size: int
) -> float:
    """Acknowledged sends per second of ``senders`` loops over ``seconds`` (after 1 s warm-up)."""
    body = b"x" * size
    for _ in range(200):
        await send(body)
    count = 0
    deadline = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal count
        while time.monotonic() < deadline:
            await send(body)
            count += 1

    started = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(senders)))
    return count / (time.monotonic() - started)


async def redis_rate(port: int, seconds: float, senders: int, size: int) -> float:
    """Redis Streams XADD."""
    import redis.asyncio as redis

    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        return await run_senders(
            lambda body: client.xadd("bench", {"b": body}), seconds, senders, size
        )
    finally:
        await client.aclose()


async def nats_rate(port: int, seconds: float, senders: int, size: int) -> float:
    """NATS JetStream publish with its ack, file storage."""
    import nats

    nc = await nats.connect(f"nats://127.0.0.1:{port}")
    try:
        js = nc.jetstream()
        await js.add_stream(name="BENCH", subjects=["bench"])
        return await run_senders(lambda body: js.publish("bench", body), seconds, senders, size)
    finally:
        await nc.close()


def start(args: list[str]) -> subprocess.Popen[bytes]:
    """A server child, its output discarded."""
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_port(port: int) -> None:
    """Until something listens on ``port`` (10 s)."""
    for _ in range(200):
        try:
            _r, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


async def main() -> None:
    """Run both and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="peers-"))
    rport, nport = free_port(), free_port()
    redis_proc = start(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                        "--dir", str(work), "--save", ""])  # fmt: skip
    nats_proc = start(["nats-server", "-a", "127.0.0.1", "-p", str(nport), "-js",
                       "-sd", str(work / "nats")])  # fmt: skip
    try:
        await wait_port(rport)
        await wait_port(nport)
        r = await redis_rate(rport, args.seconds, args.senders, args.size)
        n = await nats_rate(nport, args.seconds, args.senders, args.size)
    finally:
        for proc in (redis_proc, nats_proc):
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.senders} senders awaiting acks, {args.size} B bodies, {args.seconds:.0f} s:")
    print(f"  Redis Streams XADD (redis-py): {r:,.0f} sends/s")
    print(f"  NATS JetStream publish (nats-py): {n:,.0f} sends/s")


if __name__ == "__main__":
    asyncio.run(main())
