"""The broker's send path under load: CPU per message, sends/s, fdatasyncs, a py-spy budget.

Starts ``rocketq dev`` (NameServer + broker in one process, free ports, a fresh store in a
temporary directory) from one or more source trees, drives it with ``-w`` concurrent
senders each awaiting its ack (rocketq's AsyncProducer in this process, as
``rocketq bench producer -w 8 -s 1024`` does, or RocketMQ 4.9.4's Java benchmark Producer
with ``--load java``), and measures over a window after a warm-up:

* sends/s, and the broker's CPU time per message (``/proc/<pid>/stat`` utime + stime);
* with ``--perf``: system calls per message (``perf stat`` tracepoints), among them the
  messages per ``fdatasync`` of SYNC_FLUSH's group commit;
* with ``--profile``: a py-spy sample of the broker, folded into the stages of the send
  path (see ``STAGES``) as µs of CPU per message.

Before/after on a shared, noisy machine: give several trees (``--src old=/tmp/old/src
--src new=src``); rounds alternate between them and medians are reported.

    .venv/bin/python benchmarks/send_path.py --seconds 10 --rounds 3
    .venv/bin/python benchmarks/send_path.py --flush SYNC_FLUSH --perf
    .venv/bin/python benchmarks/send_path.py --profile --seconds 15
    .venv/bin/python benchmarks/send_path.py --src old=/tmp/rq-old/src --src new=src --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
WARMUP = 3.0
TOPIC = "SendPathBench"
# Innermost match wins: (stage, substrings of a py-spy frame "function (file:line)").
STAGES: list[tuple[str, tuple[str, ...]]] = [
    (
        "decode frame",
        (
            "feed (rocketq/remoting/codec",
            "decode_frame (",
            "feed (rocketq/broker/plain_send",
            "data_received (rocketq/remoting/connection",
        ),
    ),
    ("header from_ext", ("from_ext (",)),
    (
        "checks + build",
        (
            "_check (rocketq/broker/processor/send",
            "_check_put (",
            "_plain (rocketq/broker/processor/send",
            "handle_many (rocketq/broker/processor/send",
        ),
    ),
    ("properties", ("_build (rocketq/broker/processor/send", "decode_properties", "encode_prop")),
    ("record encode", ("record_parts (", "_sized (", "checked_record_length")),
    (
        "append",
        (
            "append (rocketq/store/mapped_file",
            "append_batch (",
            "append_many (",
            "create_offset_msg_id",
        ),
    ),
    (
        "ConsumeQueue dispatch",
        (
            "rocketq/store/consume_queue",
            "_dispatch_appended (",
            "_stored_many (",
            "_dispatched (",
            "_dispatch_each (",
        ),
    ),
    ("index put", ("rocketq/store/index_", "_index (rocketq/store/message_store")),
    (
        "long-poll notify",
        ("notify_message_arriving", "_on_message_arriving", "_on_messages_arriving"),
    ),
    ("flush wait", ("rocketq/store/flush", "_wait_flush")),
    (
        "response encode",
        (
            "_answer (",
            "to_ext (",
            "encode_parts (",
            "write (rocketq/remoting",
            "_answered_ok (",
            "_answered (",
            "answer_frame (",
            "answer (rocketq/broker/processor/send",
        ),
    ),
    (
        "write (syscall)",
        ("_flush (rocketq/remoting/connection", "flush (rocketq/remoting/connection"),
    ),
    (
        "request dispatch",
        (
            "_on_request (",
            "_finish (",
            "_reply (",
            "process (rocketq/broker",
            "handle (rocketq/broker/processor/send",
            "answer (rocketq/remoting",
            "_on_commands (",
            "_on_run (",
        ),
    ),
    (
        "store put (rest)",
        (
            "put_messages (",
            "submit_messages (",
            "_stored_when_flushed",
            "submit_many (",
            "_answers_many (",
        ),
    ),
]


@dataclass
class Run:
    """One measured window against one tree."""

    label: str
    sends: int = 0
    seconds: float = 0.0
    cpu: float = 0.0  # broker CPU seconds in the window
    syscalls: dict[str, int] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)  # share of samples

    @property
    def rate(self) -> float:
        """Acknowledged sends per second."""
        return self.sends / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        """Broker CPU µs per message."""
        return self.cpu * 1e6 / self.sends if self.sends else 0.0


def free_port() -> int:
    """A port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Broker:
    """``rocketq dev`` from a source tree, in a child process."""

    def __init__(self, src: str, flush: str, env: dict[str, str]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="rq-sendpath-"))
        self.namesrv_port, self.broker_port = free_port(), free_port()
        conf = self.dir / "broker.conf"
        conf.write_text(f"flushDiskType={flush}\nbrokerIP1=127.0.0.1\n")
        self.log = (self.dir / "dev.log").open("w+")
        cmd = [sys.executable, "-m", "rocketq", "dev", "--log-level", "WARNING"]
        cmd += ["--namesrv-port", str(self.namesrv_port), "--broker-port", str(self.broker_port)]
        cmd += ["--store", str(self.dir / "store"), "-c", str(conf)]
        child_env = {**os.environ, **env, "PYTHONPATH": str(Path(src).resolve())}
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=child_env)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.log.seek(0)
            if "ready" in self.log.read():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.log.seek(0)
        raise RuntimeError(f"broker did not start:\n{self.log.read()}")

    @property
    def namesrv(self) -> str:
        """NameServer address."""
        return f"127.0.0.1:{self.namesrv_port}"

    def stop(self) -> None:
        """Stop the child and remove its store."""
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


async def rocketq_load(namesrv: str, senders: int, size: int, windows: list[float]) -> list[int]:
    """Sends acknowledged by the end of each window (absolute monotonic times)."""
    from rocketq.client.config import ClientConfig
    from rocketq.client.message import Message
    from rocketq.client.producer import AsyncProducer

    body = b"x" * size
    done = [0]
    stop = windows[-1]
    marks: list[int] = []
    config = ClientConfig(namesrv_addr=namesrv)
    async with AsyncProducer("send_path_bench", client_config=config) as producer:
        await producer.send(Message(TOPIC, body))  # route and auto-create before timing

        async def sender() -> None:
            while time.monotonic() < stop:
                await producer.send(Message(TOPIC, body))
                done[0] += 1

        async def marker() -> None:
            for at in windows:
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                marks.append(done[0])

        await asyncio.gather(marker(), *(sender() for _ in range(senders)))
    return marks


def java_load(namesrv: str, senders: int, size: int, seconds: float) -> subprocess.Popen[str]:
    """RocketMQ 4.9.4's benchmark Producer (needs the anchor kit, /tmp/anchors)."""
    env_sh = "/tmp/anchors/run/env.sh"
    cmd = (
        f". {env_sh} && cd /tmp && exec timeout {seconds} sh $ROCKETMQ_HOME/bin/tools.sh "
        f"org.apache.rocketmq.example.benchmark.Producer -t {TOPIC} -w {senders} -s {size} "
        f"-n {namesrv}"
    )
    return subprocess.Popen(
        ["bash", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )


_PERF_EVENTS = ("fdatasync", "writev", "write", "sendmsg", "sendto", "recvfrom", "read",
                "epoll_wait")  # fmt: skip


def start_perf(pid: int, seconds: float) -> subprocess.Popen[str]:
    """Count the broker's system calls for ``seconds``."""
    events = ",".join(f"syscalls:sys_enter_{e}" for e in _PERF_EVENTS)
    cmd = ["perf", "stat", "-x", ",", "-e", events, "-p", str(pid), "--", "sleep", str(seconds)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def read_perf(proc: subprocess.Popen[str]) -> dict[str, int]:
    """The counts ``start_perf`` printed."""
    _, err = proc.communicate()
    out = {}
    for line in err.splitlines():
        parts = line.split(",")
        if len(parts) > 2 and parts[0].isdigit():
            out[parts[2].rsplit("sys_enter_", 1)[-1]] = int(parts[0])
    return out


def start_pyspy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Sample the broker at 250 Hz into folded stacks."""
    spy = Path(sys.executable).with_name("py-spy")
    cmd = [str(spy), "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "250", "-f", "raw",
           "-o", str(out), "--nonblocking"]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fold_stages(folded: Path) -> dict[str, float]:
    """Share of the broker's samples per stage (innermost matching frame decides)."""
    counts: Counter[str] = Counter()
    for line in folded.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        counts[classify(stack.split(";"))] += int(n)
    total = sum(counts.values()) or 1
    return {stage: n / total for stage, n in counts.items()}


def classify(frames: list[str]) -> str:
    """The stage of one sampled stack."""
    for frame in reversed(frames):
        frame = frame.replace("\\", "/")
        for stage, markers in STAGES:
            if any(m in frame for m in markers):
                return stage
    return "event loop + other"


def measure(label: str, src: str, args: argparse.Namespace, round_no: int) -> Run:
    """One broker, warm-up, one measured window."""
    env = {"ROCKETQ_PURE_PYTHON": "1"} if args.pure else {}  # rocketq.common.speedups.ENV_VAR
    broker = Broker(src, args.flush, env)
    run = Run(label)
    try:
        pid = broker.proc.pid
        spy_out = Path(broker.dir) / "stacks.txt"
        if args.load == "java":
            load = java_load(broker.namesrv, args.senders, args.size, WARMUP + args.seconds + 8)
            time.sleep(5 + WARMUP)  # JVM start + warm-up
            cpu0, t0 = cpu_seconds(pid), time.monotonic()
            tools = _start_tools(pid, args, spy_out)
            time.sleep(args.seconds)
            cpu1, t1 = cpu_seconds(pid), time.monotonic()
            text = load.communicate()[0]
            run.sends = _java_sends(text, args.seconds)
        else:
            begin = time.monotonic() + WARMUP
            windows = [begin, begin + args.seconds]
            tools_box: list[object] = []
            cpu_box: list[tuple[float, float]] = []

            async def drive() -> list[int]:
                async def at_begin() -> None:
                    await asyncio.sleep(max(0.0, begin - time.monotonic()))
                    cpu_box.append((cpu_seconds(pid), time.monotonic()))
                    tools_box.append(_start_tools(pid, args, spy_out))
                    await asyncio.sleep(max(0.0, windows[1] - time.monotonic()))
                    cpu_box.append((cpu_seconds(pid), time.monotonic()))

                marks, _ = await asyncio.gather(
                    rocketq_load(broker.namesrv, args.senders, args.size, windows), at_begin()
                )
                return marks

            marks = _run_loop(drive())
            (cpu0, t0), (cpu1, t1) = cpu_box
            tools = tools_box[0]  # type: ignore[assignment]
            run.sends = marks[1] - marks[0]
        run.seconds, run.cpu = t1 - t0, cpu1 - cpu0
        perf, spy = tools  # type: ignore[misc]
        if perf is not None:
            run.syscalls = read_perf(perf)
        if spy is not None:
            spy.wait()
            run.stages = fold_stages(spy_out)
            if args.keep_stacks:
                shutil.copy(spy_out, f"{args.keep_stacks}.{label}.{round_no}.txt")
    finally:
        broker.stop()
    return run


def _start_tools(pid: int, args: argparse.Namespace, spy_out: Path) -> tuple[object, object]:
    perf = start_perf(pid, args.seconds) if args.perf else None
    spy = start_pyspy(pid, args.seconds, spy_out) if args.profile else None
    return perf, spy


def _java_sends(text: str, seconds: float) -> int:
    tps = [int(m) for m in re.findall(r"Send TPS: (\d+)", text)]
    return int(statistics.median(tps[1:] or tps or [0]) * seconds)


def _run_loop(coro: object) -> list[int]:
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type,no-any-return]
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]


def report(runs: list[Run], args: argparse.Namespace) -> None:
    """Print each run and the medians per tree."""
    for r in runs:
        extra = ""
        if r.syscalls:
            per = {k: v / r.sends for k, v in r.syscalls.items() if v}
            extra = " syscalls/msg " + " ".join(f"{k}={v:.2f}" for k, v in sorted(per.items()))
            if r.syscalls.get("fdatasync"):
                extra += f" msgs/fdatasync={r.sends / r.syscalls['fdatasync']:.1f}"
        print(f"{r.label:>8}: {r.rate:9,.0f} sends/s  broker CPU {r.cpu_us:6.1f} µs/msg{extra}")
    labels = list(dict.fromkeys(r.label for r in runs))
    print(f"\nmedians ({args.flush}, load {args.load}, -w {args.senders} -s {args.size}, "
          f"{args.seconds:.0f} s windows)")  # fmt: skip
    for label in labels:
        mine = [r for r in runs if r.label == label]
        rate = statistics.median(r.rate for r in mine)
        cpu = statistics.median(r.cpu_us for r in mine)
        print(f"{label:>8}: {rate:9,.0f} sends/s  broker CPU {cpu:6.1f} µs/msg  ({len(mine)} runs)")
        if any(r.stages for r in mine):
            _print_stages(mine, cpu)


def _print_stages(runs: list[Run], cpu_us: float) -> None:
    names = [s for s, _ in STAGES] + ["event loop + other"]
    print("          | stage | share | µs/msg |")
    for name in names:
        share = statistics.median(r.stages.get(name, 0.0) for r in runs if r.stages)
        print(f"          | {name} | {share * 100:.1f} % | {share * cpu_us:.1f} |")


def main() -> None:
    """Parse the options, alternate the trees, report."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--src", action="append", help="label=path of a source tree (default: src)")
    p.add_argument("--flush", default="ASYNC_FLUSH", choices=["ASYNC_FLUSH", "SYNC_FLUSH"])
    p.add_argument("--load", default="rocketq", choices=["rocketq", "java"])
    p.add_argument("-w", "--senders", type=int, default=8)
    p.add_argument("-s", "--size", type=int, default=1024)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--perf", action="store_true", help="count syscalls with perf stat")
    p.add_argument("--profile", action="store_true", help="py-spy the broker")
    p.add_argument("--keep-stacks", help="prefix to keep the folded py-spy stacks under")
    p.add_argument("--pure", action="store_true", help="set ROCKETQ_PURE_PYTHON=1 in the broker")
    args = p.parse_args()
    trees = [s.split("=", 1) for s in (args.src or [f"cur={ROOT / 'src'}"])]
    runs = []
    for n in range(args.rounds):
        for label, path in trees:
            runs.append(measure(label, path, args, n))
            print(f"round {n + 1} {label}: {runs[-1].rate:,.0f}/s {runs[-1].cpu_us:.1f} µs/msg",
                  flush=True)  # fmt: skip
    report(runs, args)


if __name__ == "__main__":
    main()
