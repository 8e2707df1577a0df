"""Remoting transport benchmark: round trips per second through a RemotingServer on loopback.

One RemotingClient keeps ``--inflight`` SEND_MESSAGE_V2 requests (V2 header, ``--body``
bytes of body) in flight for ``--seconds`` against a RemotingServer whose processor parses
the typed header and answers with a SEND response header, as a broker would minus the
store. Each round trip is two frames (request + response). uvloop is used when importable
(``--no-uvloop`` to compare). By default client and server share one event loop (one
core); ``--server-process`` runs the server in a child process with its own loop.

    .venv/bin/python benchmarks/server_bench.py [--seconds S] [--inflight N] [--body BYTES]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import platform
import statistics
import time
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection as Pipe
from typing import Any

from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import RequestCode, SerializeType
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection, ProcessorTable
from rocketq.remoting.headers import SendMessageRequestHeaderV2, SendMessageResponseHeader
from rocketq.remoting.server import RemotingServer

# Time to let connections and allocators settle before counting.
WARMUP_SECONDS = 0.5

PROPERTIES = (
    "KEYS\x01order-000123\x02UNIQ_KEY\x01AC11000100002A9F0000000000000001\x02"
    "WAIT\x01true\x02TAGS\x01TagA\x02"
)


def send_processor(_conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
    """Parse the V2 header and answer like SendMessageProcessor (no store)."""
    header = SendMessageRequestHeaderV2.from_ext(cmd.ext_fields)
    answer = SendMessageResponseHeader(
        msg_id="AC11000100002A9F00000000000A1B2C",
        queue_id=header.queue_id,
        queue_offset=header.born_timestamp & 0xFFFF,
    )
    return cmd.make_response(ext_fields=answer.to_ext())


def make_server() -> RemotingServer:
    table = ProcessorTable()
    table.register(RequestCode.SEND_MESSAGE_V2, send_processor)
    return RemotingServer(table, host="127.0.0.1", port=0)


def pick_runner(use_uvloop: bool) -> tuple[str, Callable[[Coroutine[Any, Any, Any]], Any]]:
    """``asyncio.run`` on uvloop when asked for and importable."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:

            def run(coro: Coroutine[Any, Any, Any]) -> Any:
                with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                    return runner.run(coro)

            return f"uvloop {uvloop.__version__}", run
    return "asyncio", asyncio.run


async def serve(pipe: Pipe) -> None:
    server = make_server()
    await server.start()
    pipe.send(server.port)
    await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # until told to stop
    await server.aclose()


def serve_in_child(pipe: Pipe, use_uvloop: bool) -> None:
    _name, run = pick_runner(use_uvloop)
    run(serve(pipe))


async def load(addr: str, args: argparse.Namespace) -> dict[str, float]:
    header = SendMessageRequestHeaderV2(
        producer_group="please_rename_unique_group_name",
        topic="TopicTest",
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=3,
        sys_flag=0,
        born_timestamp=1795262554349,
        flag=0,
        properties=PROPERTIES,
        reconsume_times=0,
        unit_mode=False,
    )
    ext = header.to_ext()
    body = b"x" * args.body
    stype = SerializeType[args.serialize.upper()]
    client = RemotingClient()
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    counting = False
    stop = False

    async def worker() -> None:
        while not stop:
            cmd = RemotingCommand(
                code=RequestCode.SEND_MESSAGE_V2,
                ext_fields=dict(ext),
                body=body,
                serialize_type=stype,
            )
            start = time.perf_counter()
            response = await client.invoke(addr, cmd, timeout=10)
            if response.code != 0:
                raise RuntimeError(f"unexpected response {response}")
            if counting:
                latencies.append(time.perf_counter() - start)

    try:
        await client.connection(addr)
        workers = [loop.create_task(worker()) for _ in range(args.inflight)]
        await asyncio.sleep(WARMUP_SECONDS)
        counting = True
        started = time.perf_counter()
        cpu_started = time.process_time()
        await asyncio.sleep(args.seconds)
        counting = False
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        stop = True
        await asyncio.gather(*workers)
    finally:
        await client.aclose()
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "elapsed": elapsed,
        "rps": n / elapsed,
        # CPU of this process per round trip: steadier than wall time on a shared machine
        "cpu_us": cpu / n * 1e6,
        "p50_ms": statistics.median(latencies) * 1e3,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1e3,
    }


async def in_process(args: argparse.Namespace) -> dict[str, float]:
    server = make_server()
    await server.start()
    try:
        return await load(f"127.0.0.1:{server.port}", args)
    finally:
        await server.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured duration")
    parser.add_argument("--inflight", type=int, default=64, help="requests kept in flight")
    parser.add_argument("--body", type=int, default=1024, help="message body bytes")
    parser.add_argument("--serialize", choices=["json", "rocketmq"], default="json")
    parser.add_argument("--no-uvloop", action="store_true", help="plain asyncio event loop")
    parser.add_argument(
        "--server-process", action="store_true", help="run the server in a child process"
    )
    args = parser.parse_args(argv)
    loop_name, run = pick_runner(not args.no_uvloop)

    child = None
    if args.server_process:
        ours, theirs = multiprocessing.Pipe()
        child = multiprocessing.get_context("spawn").Process(
            target=serve_in_child, args=(theirs, not args.no_uvloop), daemon=True
        )
        child.start()
        addr = f"127.0.0.1:{ours.recv()}"
        try:
            result = run(load(addr, args))
        finally:
            ours.send("stop")
            child.join(5)
    else:
        result = run(in_process(args))

    where = "server in a child process" if child else "client and server on one loop"
    print(
        f"# python {platform.python_version()}, {loop_name}, {where}, "
        f"{args.serialize.upper()} headers, inflight {args.inflight}, body {args.body} B"
    )
    print(
        f"round trips/s {result['rps']:,.0f}  frames/s {2 * result['rps']:,.0f}  "
        f"({int(result['requests']):,} in {result['elapsed']:.1f} s)  "
        f"latency p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms  "
        f"{'client ' if child else ''}CPU {result['cpu_us']:.1f} µs/round trip"
    )


if __name__ == "__main__":
    main()
