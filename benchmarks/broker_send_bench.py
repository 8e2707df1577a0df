"""CPU per message of the broker's send path in Python, without sockets: steady where the
live figures (``send_path.py``) are noisy.

A real :class:`BrokerController` (its store in a temporary directory, ASYNC_FLUSH unless
``--flush SYNC_FLUSH``; no NameServer) serves one :class:`Connection` whose transport
throws the answers away. Each "read" hands the connection ``--depth`` SEND_MESSAGE_V2
frames at once, as 8 concurrent senders do (1 KiB body, the properties a Java producer
sends: UNIQ_KEY, WAIT, TAGS), and then runs the loop until every answer was written.
Reported: process CPU µs per message (``time.process_time``), the median and the best of
``--repeat`` runs. ``--profile`` runs cProfile over one run and folds it into the stages of
the send path (µs per message, cumulative time of the stage's entry function).

    .venv/bin/python benchmarks/broker_send_bench.py                 # depth 8, 20 x 2000
    .venv/bin/python benchmarks/broker_send_bench.py --profile
    .venv/bin/python benchmarks/broker_send_bench.py --src base=/tmp/rq-base/src --src new=src
    .venv/bin/python benchmarks/broker_send_bench.py --core both   # pure vs compiled core
    .venv/bin/python benchmarks/broker_send_bench.py --instructions --serialize rocketmq --depth 4

With several ``--src`` trees the runs alternate between child processes of each tree;
``--core both`` runs each tree twice, with ``ROCKETQ_PURE_PYTHON=1`` ("/pure") and without
("/compiled"), alternately.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from operator import call as _call_hook
from pathlib import Path
from typing import Any

# rocketq.common.speedups.ENV_VAR: selects the pure-Python reference over the compiled core.
PURE_ENV = "ROCKETQ_PURE_PYTHON"

# (stage, function entries whose cumulative time is the stage), outermost first; a stage's
# own figure excludes the stages nested in it only where noted in the output.
STAGE_FUNCTIONS: list[tuple[str, tuple[str, str]]] = [
    ("decode frame", ("codec.py", "feed")),
    ("header from_ext", ("base.py", "from_ext")),
    ("checks", ("send.py", "_check")),
    ("properties + StoredMessage", ("send.py", "_build")),
    ("store put (all)", ("message_store.py", "submit_messages")),
    ("  CommitLog append (all)", ("commit_log.py", "append_batch")),
    ("    record encode", ("record.py", "record_parts")),
    ("    sizes + checks", ("commit_log.py", "_sized")),
    ("    mmap write", ("mapped_file.py", "append")),
    ("  dispatch (all)", ("message_store.py", "_dispatch_appended")),
    ("    ConsumeQueue put", ("consume_queue.py", "put")),
    ("    index put", ("index_service.py", "build_index")),
    ("    long-poll notify", ("pull_hold.py", "notify_message_arriving")),
    ("response header", ("send.py", "_answer")),
    ("response encode", ("codec.py", "encode_parts")),
    ("write (flush to transport)", ("connection.py", "_flush")),
]


class NullTransport(asyncio.Transport):
    """Counts what a Connection writes and drops it."""

    def __init__(self) -> None:
        super().__init__()
        self.frames = 0
        self.target = 0
        self.reached = asyncio.Event()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name in ("peername", "sockname") else default

    def write(self, data: Any) -> None:
        self.frames += 1

    def writelines(self, list_of_data: Any) -> None:
        for _ in list_of_data:
            self.frames += 1
        if self.frames >= self.target:
            self.reached.set()

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


def send_frames(count: int, size: int, serialize: str) -> list[bytes]:
    """``count`` encoded SEND_MESSAGE_V2 requests like a Java producer's."""
    from rocketq.remoting.codec import encode
    from rocketq.remoting.codes import RequestCode, SerializeType
    from rocketq.remoting.command import RemotingCommand
    from rocketq.remoting.headers import SendMessageRequestHeaderV2

    body = b"x" * size
    out = []
    for i in range(count):
        uniq = uuid.uuid4().hex.upper()
        header = SendMessageRequestHeaderV2(
            producer_group="benchmark_producer", topic="BenchmarkTest", default_topic="TBW102",
            default_topic_queue_nums=4, queue_id=i % 4, sys_flag=0,
            born_timestamp=int(time.time() * 1000), flag=0,
            properties=f"UNIQ_KEY\x01{uniq}\x02WAIT\x01true\x02TAGS\x01TagA\x02",
            reconsume_times=0, unit_mode=False, batch=False,
        )  # fmt: skip
        cmd = RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header.to_ext(), body)
        cmd.opaque = i + 1
        cmd.language = "JAVA"
        if serialize == "rocketmq":
            cmd.serialize_type = SerializeType.ROCKETMQ
        out.append(encode(cmd))
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start a broker, push the frames through, return the figures."""
    from rocketq.broker.config import BrokerConfig
    from rocketq.broker.controller import BrokerController
    from rocketq.remoting.connection import Connection
    from rocketq.store.config import StoreConfig

    root = tempfile.mkdtemp(prefix="rq-sendbench-")
    store_config = StoreConfig(store_path_root_dir=root, flush_disk_type=args.flush)
    store_config.ha_listen_port = 0  # any free port: 10912 may be taken
    config = BrokerConfig(broker_name="broker-a", listen_port=0, namesrv_addr="")
    controller = BrokerController(config, store_config)
    await controller.start()
    try:
        conn = Connection(controller.server.processors)
        transport = NullTransport()
        conn.connection_made(transport)
        frames = send_frames(args.messages, args.size, args.serialize)
        reads = [b"".join(frames[i : i + args.depth]) for i in range(0, len(frames), args.depth)]
        await _drive(conn, transport, reads[:2], args.depth)  # auto-create the topic, warm caches
        times = []
        profiler = cProfile.Profile() if args.profile else None
        for n in range(args.repeat):
            transport.frames = 0
            if profiler is not None and n == args.repeat - 1:
                profiler.enable()
            start = time.process_time()
            await _drive(conn, transport, reads, args.depth)
            times.append((time.process_time() - start) * 1e6 / len(frames))
            if profiler is not None and n == args.repeat - 1:
                profiler.disable()
        out: dict[str, Any] = {"times": times}
        if profiler is not None:
            out["stages"] = fold(profiler, len(frames))
        return out
    finally:
        await controller.aclose()
        shutil.rmtree(root, ignore_errors=True)


async def _drive(conn: Any, transport: NullTransport, reads: list[bytes], depth: int) -> None:
    for data in reads:
        transport.target = transport.frames + depth
        transport.reached.clear()
        # through operator.call: the C function ``--instructions`` counts inside
        _call_hook(conn.data_received, data)
        await transport.reached.wait()  # every answer of this read written (SYNC: on disk)


def fold(profiler: cProfile.Profile, messages: int) -> dict[str, float]:
    """µs per message of each stage's entry function (cumulative)."""
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, str], float] = {}
    for (file, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        key = (Path(file).name, name)
        raw[key] = raw.get(key, 0.0) + ct
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in stats.stats.values())  # type: ignore[attr-defined]
    out = {"total (profiled)": total * 1e6 / messages}
    for stage, key in STAGE_FUNCTIONS:
        out[stage] = raw.get(key, 0.0) * 1e6 / messages
    return out


def child(args: argparse.Namespace) -> None:
    """One tree's runs, as JSON on stdout."""
    try:
        import uvloop

        result = uvloop.run(run(args))
    except ImportError:
        result = asyncio.run(run(args))
    from rocketq.common import speedups

    result["core"] = speedups.describe()
    print(json.dumps(result))


def parent(args: argparse.Namespace) -> None:
    """Alternate child processes of each tree; print medians."""
    trees = _variants(args)
    results: dict[str, list[float]] = {label: [] for label, _, _ in trees}
    stages: dict[str, dict[str, float]] = {}
    for _ in range(args.rounds):
        for label, path, pure in trees:
            env = {**os.environ, "PYTHONPATH": str(Path(path).resolve())}
            env.pop(PURE_ENV, None)
            if pure:
                env[PURE_ENV] = "1"
            cmd = [sys.executable, __file__, "--child", *_child_args(args)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            data = json.loads(out.stdout.strip().splitlines()[-1])
            results[label].extend(data["times"])
            stages.setdefault(label, data.get("stages", {}))
    print(f"broker send path, {args.flush}, depth {args.depth}, {args.size} B bodies, "
          f"{args.serialize} headers: CPU µs per message")  # fmt: skip
    for label, times in results.items():
        print(f"  {label:>13}: median {statistics.median(times):6.1f}  best {min(times):6.1f}"
              f"  ({len(times)} runs of {args.messages})")  # fmt: skip
    if any(stages.values()):
        labels = list(stages)
        print("\n| stage (cProfile, cumulative) | " + " | ".join(labels) + " |")
        print("|---|" + "---:|" * len(labels))
        for stage in stages[labels[0]]:
            cells = " | ".join(f"{stages[lb].get(stage, 0.0):.1f}" for lb in labels)
            print(f"| {stage} | {cells} |")


def instructions(args: argparse.Namespace) -> None:
    """CPU instructions per message inside ``Connection.data_received`` (decode, checks,
    store, answers, dispatch; not the harness), counted by callgrind: (4 runs - 1 run) / 3
    runs of ``--messages``, so start-up costs cancel out. Deterministic, unlike CPU time."""
    for label, path, pure in _variants(args):
        env = {**os.environ, "PYTHONPATH": str(Path(path).resolve()), "PYTHONHASHSEED": "0"}
        env.pop(PURE_ENV, None)
        if pure:
            env[PURE_ENV] = "1"
        counts = []
        for repeat in (1, 4):
            child_args = [*_child_args(args)]
            child_args[child_args.index("--repeat") + 1] = str(repeat)
            cmd = ["valgrind", "--tool=callgrind", "--toggle-collect=_operator_call",
                   "--callgrind-out-file=/dev/null", sys.executable, __file__, "--child",
                   *child_args]  # fmt: skip
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            counts.append(int(out.stderr.rsplit("Collected :", 1)[1].split()[0]))
        per = (counts[1] - counts[0]) / (3 * args.messages)
        print(f"  {label:>13}: {per:,.0f} instructions per message inside data_received")


def _variants(args: argparse.Namespace) -> list[tuple[str, str, bool]]:
    """(label, source tree, pure Python?) of every child to run, in turn."""
    trees = [s.split("=", 1) for s in args.src]
    if args.core == "as-is":
        return [(label, path, bool(os.environ.get(PURE_ENV))) for label, path in trees]
    return [
        (f"{label}/{kind}", path, kind == "pure")
        for label, path in trees
        for kind in ("pure", "compiled")
    ]


def _child_args(args: argparse.Namespace) -> list[str]:
    out = ["--flush", args.flush, "--depth", str(args.depth), "--size", str(args.size)]
    out += ["--messages", str(args.messages), "--repeat", str(args.repeat)]
    out += ["--serialize", args.serialize]
    return out + (["--profile"] if args.profile else [])


def main() -> None:
    """Options; the parent or one child."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--src", action="append", help="label=path of a source tree")
    p.add_argument("--flush", default="ASYNC_FLUSH", choices=["ASYNC_FLUSH", "SYNC_FLUSH"])
    p.add_argument("--depth", type=int, default=8, help="frames per read")
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--serialize", default="json", choices=["json", "rocketmq"])
    p.add_argument("--profile", action="store_true")
    p.add_argument(
        "--core", default="as-is", choices=["as-is", "both"],
        help="both: each tree with ROCKETQ_PURE_PYTHON=1 and without, alternately",
    )  # fmt: skip
    p.add_argument(
        "--instructions", action="store_true",
        help="count instructions per message with valgrind's callgrind instead of timing",
    )  # fmt: skip
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    args.src = args.src or [f"cur={Path(__file__).resolve().parent.parent / 'src'}"]
    if args.instructions:
        instructions(args)
        return
    parent(args)


if __name__ == "__main__":
    main()
