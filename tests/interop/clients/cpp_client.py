"""Driver for the Apache RocketMQ C++ client (PyPI ``rocketmq==0.4.4``, librocketmq 1.2.3).

Runs ONLY under ``.cache/interop/cpp-venv/bin/python`` (see ``tests/interop/setup_clients.py``):
the wheel's import name ``rocketmq`` must never be imported by the project's own interpreter.

Output protocol: one JSON object per line on stdout (flushed at once); everything else -
including anything librocketmq itself writes to fd 1 - goes to stderr.  The last line of a
successful run always has ``"done": true``.  Exit status: 0 = the run did what was asked,
1 = a send failed / client error, 2 = usage error (argparse), 3 = consume timed out before
``--expect`` messages arrived.

Subcommands (``--help`` on each for details)::

    produce        --namesrv A --topic T --group G --count N [--tag TagA] [--keys-prefix k]
                   [--prop name=value ...] [--oneway M] [--batch [--batch-size B]] [--shard-by S]
    consume        --namesrv A --topic T --group G [--expression "TagA || TagB"] [--expect N]
                   [--timeout S] [--idle S] [--orderly] [--fail-times K] [--broadcast]
    bench-produce  --namesrv A --topic T --group G --threads W --size 1024 --seconds S
    bench-consume  --namesrv A --topic T --group G --seconds S [--expect N]

Message bodies written by ``produce`` are JSON: ``{"i": 7, "src": "cpp", "props": {...}}``
(``props`` repeats the user properties so a consumer can check them; the C++ API cannot list
a message's properties, only look one up by name).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import Any

# --- stdout discipline: JSON lines go to a private dup of fd 1; fd 1 itself -> stderr -------
_OUT = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr
_OUT_LOCK = threading.Lock()


def emit(obj: dict[str, Any]) -> None:
    line = json.dumps(obj, ensure_ascii=False, sort_keys=False)
    with _OUT_LOCK:
        _OUT.write(line + "\n")
        _OUT.flush()


def log(msg: str) -> None:
    sys.stderr.write(f"[cpp_client {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


DEFAULT_HOME = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
    ".cache",
    "interop",
    "cpp-home",
)


def _sandbox_home() -> str:
    """librocketmq writes $HOME/logs/rocketmq-cpp/<pid>_rocketmq-cpp.log.N (SetXxxLogPath is
    ignored by 1.2.3) and, for broadcasting consumers, $HOME/.rocketmq_offsets/...; it reads
    HOME when the library is loaded, so point HOME at a sandbox before importing it."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--home", default=None)
    known, _ = pre.parse_known_args()
    home = known.home or os.environ.get("ROCKETQ_INTEROP_CPP_HOME") or DEFAULT_HOME
    os.makedirs(home, exist_ok=True)
    os.environ["HOME"] = os.path.abspath(home)
    return os.environ["HOME"]


CPP_HOME = _sandbox_home()

try:
    from rocketmq.client import Message, Producer, PushConsumer, RecvMessage, SendStatus
    from rocketmq.exceptions import ffi_check
    from rocketmq.ffi import MessageModel, _CConsumeStatus, dll
except ImportError as exc:  # pragma: no cover - depends on the venv
    log(
        f"cannot import the C++ client: {exc}; run tests/interop/setup_clients.py and use "
        ".cache/interop/cpp-venv/bin/python"
    )
    sys.exit(1)

CONSUME_SUCCESS = _CConsumeStatus.CONSUME_SUCCESS.value
RECONSUME_LATER = _CConsumeStatus.RECONSUME_LATER.value

# Property names RocketMQ itself uses (MessageConst); everything else is a user property.
SYSTEM_PROPERTIES = (
    "KEYS",
    "TAGS",
    "WAIT",
    "DELAY",
    "RETRY_TOPIC",
    "REAL_TOPIC",
    "REAL_QID",
    "TRAN_MSG",
    "PGROUP",
    "MIN_OFFSET",
    "MAX_OFFSET",
    "BUYER_ID",
    "ORIGIN_MESSAGE_ID",
    "TRANSFER_FLAG",
    "CORRECTION_FLAG",
    "MQ2_FLAG",
    "RECONSUME_TIME",
    "MSG_REGION",
    "TRACE_ON",
    "UNIQ_KEY",
    "MAX_RECONSUME_TIMES",
    "CONSUME_START_TIME",
    "CLUSTER",
    "TRANSACTION_CHECK_TIMES",
    "CHECK_IMMUNITY_TIME_IN_SECONDS",
    "INSTANCE_ID",
    "SHARDING_KEY",
    "__STARTDELIVERTIME",
)

# Log levels of librocketmq (CLogLevel): FATAL=1 ERROR=2 WARN=3 INFO=4 DEBUG=5 TRACE=6
LOG_LEVELS = {"fatal": 1, "error": 2, "warn": 3, "info": 4, "debug": 5, "trace": 6}


def _b(s: str) -> bytes:
    return s.encode("utf-8")


def _s(v: bytes | str | None) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    return v


def setup_native_log(kind: str, handle: Any, args: argparse.Namespace) -> None:
    """librocketmq log level (its files go to $HOME/logs/rocketmq-cpp, see _sandbox_home)."""
    level = LOG_LEVELS[args.log_level]
    if kind == "producer":
        dll.SetProducerLogLevel(handle, level)
    else:
        dll.SetPushConsumerLogLevel(handle, level)


def parse_props(items: list[str]) -> dict[str, str]:
    props: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--prop wants name=value, got {item!r}")
        props[name] = value
    return props


# ---------------------------------------------------------------------------------------------
# produce


def make_producer(args: argparse.Namespace) -> Producer:
    producer = Producer(args.group)
    producer.set_namesrv_addr(args.namesrv)
    if getattr(args, "send_timeout", None):
        producer.set_timeout(args.send_timeout)
    setup_native_log("producer", producer._handle, args)
    producer.start()
    return producer


def close_producer(producer: Producer) -> None:
    # Producer.__del__ would shut down (again) and destroy; do both once, explicitly.
    handle = producer._handle
    producer.shutdown()
    ffi_check(dll.DestroyProducer(handle))
    producer._handle = None


def build_message(args: argparse.Namespace, i: int, props: dict[str, str]) -> Message:
    msg = Message(args.topic)
    if args.keys_prefix:
        msg.set_keys(f"{args.keys_prefix}{i}")
    if args.tag:  # "TagA" or "TagA,TagB,TagC" (cycled by i)
        tags = args.tag.split(",")
        msg.set_tags(tags[i % len(tags)])
    for name, value in props.items():
        msg.set_property(name, value)
    body: dict[str, Any] = {"i": i, "src": "cpp"}
    if props:
        body["props"] = props
    msg.set_body(json.dumps(body, separators=(",", ":")))
    return msg


def cmd_produce(args: argparse.Namespace) -> int:
    props = parse_props(args.prop)
    producer = make_producer(args)
    emit({"event": "started", "group": args.group, "topic": args.topic})
    t0 = time.monotonic()
    sent = failed = 0
    try:
        if args.batch:
            i = 0
            while i < args.count:
                n = min(args.batch_size, args.count - i)
                msgs = [build_message(args, j, props) for j in range(i, i + n)]
                try:
                    res = producer.send_batch(msgs)
                    ok = res.status == SendStatus.OK
                    emit(
                        {
                            "batch": True,
                            "first_i": i,
                            "count": n,
                            "status": res.status.name,
                            "msg_id": res.msg_id,
                            "queue_offset": res.offset,
                        }
                    )
                    sent += n if ok else 0
                    failed += 0 if ok else n
                except Exception as exc:
                    failed += n
                    emit({"batch": True, "first_i": i, "count": n, "error": str(exc)})
                i += n
        else:
            for i in range(args.count):
                msg = build_message(args, i, props)
                try:
                    if args.shard_by:
                        res = producer.send_orderly(msg, i % args.shard_by)
                    else:
                        res = producer.send_sync(msg)
                    ok = res.status == SendStatus.OK
                    sent += ok
                    failed += not ok
                    # offset_msg_id: the 0.4.4 C API (CSendResult) only exposes msgId (=UNIQ_KEY)
                    # and the queue offset, not SendResult.offsetMsgId.
                    emit(
                        {
                            "i": i,
                            "status": res.status.name,
                            "msg_id": res.msg_id,
                            "offset_msg_id": None,
                            "queue_offset": res.offset,
                        }
                    )
                except Exception as exc:
                    failed += 1
                    emit({"i": i, "error": f"{type(exc).__name__}: {exc}"})
        oneway_sent = 0
        for k in range(args.oneway):
            i = args.count + k
            msg = build_message(args, i, props)
            try:
                producer.send_oneway(msg)
                oneway_sent += 1
                emit({"i": i, "oneway": True})
            except Exception as exc:
                failed += 1
                emit({"i": i, "oneway": True, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        close_producer(producer)
    emit(
        {
            "done": True,
            "sent": sent,
            "oneway": oneway_sent,
            "failed": failed,
            "seconds": round(time.monotonic() - t0, 3),
        }
    )
    return 0 if failed == 0 else 1


# ---------------------------------------------------------------------------------------------
# consume


class ConsumeState:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.lock = threading.Lock()
        self.attempts: dict[str, int] = {}  # identity -> deliveries seen (success or not)
        self.successes: dict[str, int] = {}  # identity -> deliveries acknowledged
        self.deliveries = 0
        self.last_message = 0.0
        self.done = threading.Event()
        self.extra_prop_names = [n for n in (args.prop_names or "").split(",") if n]

    @property
    def unique(self) -> int:
        return len(self.successes)


def message_record(msg: Any, state: ConsumeState) -> tuple[str, dict[str, Any]]:
    raw_body = msg.body or b""
    body = _s(raw_body) or ""
    names = list(state.extra_prop_names)
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict) and isinstance(parsed.get("props"), dict):
            names.extend(n for n in parsed["props"] if n not in names)
    except ValueError:
        pass
    user_props = {}
    for name in names:
        value = _s(msg.get_property(name))
        if value:  # the C API returns "" for a missing property
            user_props[name] = value
    sys_props = {}
    for name in SYSTEM_PROPERTIES:
        value = _s(msg.get_property(name))
        if value:
            sys_props[name] = value
    msg_id = _s(msg.id)
    identity = sys_props.get("UNIQ_KEY") or sys_props.get("ORIGIN_MESSAGE_ID") or msg_id or ""
    rec = {
        "msg_id": msg_id,
        "topic": _s(msg.topic),
        "tags": _s(msg.tags),
        "keys": _s(msg.keys),
        "body": body,
        "properties": user_props,
        "sys_properties": sys_props,
        "reconsume_times": msg.reconsume_times,
        "queue_id": msg.queue_id,
        "queue_offset": msg.queue_offset,
        "commit_log_offset": msg.commit_log_offset,
        "born_timestamp": msg.born_timestamp,
        "store_timestamp": msg.store_timestamp,
    }
    return identity, rec


def on_message(state: ConsumeState, msg: Any) -> int:
    args = state.args
    identity, rec = message_record(msg, state)
    with state.lock:
        attempt = state.attempts.get(identity, 0) + 1
        state.attempts[identity] = attempt
        state.deliveries += 1
        state.last_message = time.monotonic()
        fail = attempt <= args.fail_times
        if not fail:
            state.successes[identity] = state.successes.get(identity, 0) + 1
        rec["attempt"] = attempt
        rec["status"] = "RECONSUME_LATER" if fail else "CONSUME_SUCCESS"
        rec["duplicate"] = (not fail) and state.successes[identity] > 1
        emit(rec)
        if args.expect and state.unique >= args.expect:
            state.done.set()
    return RECONSUME_LATER if fail else CONSUME_SUCCESS


def make_consumer(args: argparse.Namespace, callback: Any) -> PushConsumer:
    model = MessageModel.BROADCASTING if args.broadcast else MessageModel.CLUSTERING
    consumer = PushConsumer(args.group, orderly=args.orderly, message_model=model)
    consumer.set_namesrv_addr(args.namesrv)
    if args.threads:
        consumer.set_thread_count(args.threads)
    setup_native_log("consumer", consumer._handle, args)

    def raw(_consumer: Any, cmsg: Any) -> int:
        # Our own ctypes callback instead of PushConsumer.subscribe's wrapper: the wrapper can
        # only signal RECONSUME_LATER by raising, which ctypes swallows (returns 0 = SUCCESS).
        try:
            return int(callback(RecvMessage(cmsg)))
        except Exception as exc:
            log(f"consume callback error: {type(exc).__name__}: {exc}")
            return RECONSUME_LATER

    ffi_check(dll.Subscribe(consumer._handle, _b(args.topic), _b(args.expression)))
    consumer._register_callback(raw)
    return consumer


def close_consumer(consumer: PushConsumer) -> None:
    handle = consumer._handle
    consumer.shutdown()
    ffi_check(dll.DestroyPushConsumer(handle))
    consumer._handle = None


def wait_loop(state: ConsumeState, args: argparse.Namespace) -> bool:
    """Wait for --expect / --timeout / --idle. Returns True if timed out short of --expect."""
    deadline = time.monotonic() + args.timeout
    while not state.done.is_set():
        now = time.monotonic()
        if now >= deadline:
            return bool(args.expect)
        if args.idle and state.last_message and now - state.last_message >= args.idle:
            return bool(args.expect) and state.unique < args.expect
        state.done.wait(0.1)
    return False


def cmd_consume(args: argparse.Namespace) -> int:
    state = ConsumeState(args)
    consumer = make_consumer(args, lambda m: on_message(state, m))
    consumer.start()
    emit(
        {
            "event": "started",
            "group": args.group,
            "topic": args.topic,
            "expression": args.expression,
        }
    )
    t0 = time.monotonic()
    timed_out = False
    try:
        timed_out = wait_loop(state, args)
        if not timed_out and args.expect and args.linger > 0:
            time.sleep(args.linger)  # let duplicates (if any) show up
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        close_consumer(consumer)
    with state.lock:
        dups = {k: v - 1 for k, v in state.successes.items() if v > 1}
        emit(
            {
                "done": True,
                "received": state.unique,
                "deliveries": state.deliveries,
                "duplicates": sum(dups.values()),
                "duplicate_ids": sorted(dups)[:50],
                "expected": args.expect,
                "timed_out": timed_out,
                "seconds": round(time.monotonic() - t0, 3),
            }
        )
    return 3 if timed_out else 0


# ---------------------------------------------------------------------------------------------
# benchmarks


def rt_summary(rts: list[float]) -> dict[str, float]:
    if not rts:
        return {"avg_rt_ms": 0.0, "max_rt_ms": 0.0}
    return {"avg_rt_ms": round(sum(rts) / len(rts), 3), "max_rt_ms": round(max(rts), 3)}


def cmd_bench_produce(args: argparse.Namespace) -> int:
    producer = make_producer(args)
    body = "x" * args.size
    stop = threading.Event()
    lock = threading.Lock()
    rts: list[float] = []
    failures = [0, 0]  # [measured window, warm-up]
    window: list[float] = []  # [start, end] of the measured window (perf_counter)

    def worker() -> None:
        local: list[float] = []
        fails = warm_fails = 0
        while not stop.is_set():
            msg = Message(args.topic)
            msg.set_body(body)
            t = time.perf_counter()
            measured = bool(window) and t >= window[0]
            try:
                res = producer.send_sync(msg)
                ok = res.status == SendStatus.OK
            except Exception as exc:
                ok = False
                if fails + warm_fails < 5:
                    log(f"send failed: {exc}")
            if not measured:
                warm_fails += not ok
                continue
            if not ok:
                fails += 1
                continue
            local.append((time.perf_counter() - t) * 1000.0)
        with lock:
            rts.extend(local)
            failures[0] += fails
            failures[1] += warm_fails

    # Warm-up (not measured): route lookup, connections, and librocketmq's first route-refresh
    # timer (3 s after start), during which concurrent sends can fail with "No route info of
    # this topic" (a 1.2.3 client race, seen against the Java broker too).
    warm = Message(args.topic)
    warm.set_body(body)
    producer.send_sync(warm)
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.threads)]
    for th in threads:
        th.start()
    time.sleep(args.warmup)
    window.append(time.perf_counter())
    emit({"event": "started", "threads": args.threads, "size": args.size})
    time.sleep(args.seconds)
    stop.set()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - window[0]
    close_producer(producer)
    emit(
        {
            "done": True,
            "bench": "produce",
            "client": "cpp",
            "threads": args.threads,
            "size": args.size,
            "seconds": round(elapsed, 3),
            "sent": len(rts),
            "failed": failures[0],
            "warmup_failed": failures[1],
            "tps": round(len(rts) / elapsed, 1),
            **rt_summary(rts),
        }
    )
    return 0 if rts else 1


def cmd_bench_consume(args: argparse.Namespace) -> int:
    lock = threading.Lock()
    lat: list[float] = []
    first = [0.0]
    last = [0.0]
    done = threading.Event()

    def cb(msg: Any) -> int:
        now_ms = time.time() * 1000.0
        born = msg.born_timestamp
        with lock:
            t = time.perf_counter()
            if not first[0]:
                first[0] = t
            last[0] = t
            lat.append(max(0.0, now_ms - born))
            if args.expect and len(lat) >= args.expect:
                done.set()
        return CONSUME_SUCCESS

    consumer = make_consumer(args, cb)
    consumer.start()
    emit({"event": "started", "group": args.group, "topic": args.topic})
    t0 = time.perf_counter()
    done.wait(args.seconds)
    elapsed = time.perf_counter() - t0
    close_consumer(consumer)
    with lock:
        n = len(lat)
        window = (last[0] - first[0]) if n > 1 else 0.0
        emit(
            {
                "done": True,
                "bench": "consume",
                "client": "cpp",
                "seconds": round(elapsed, 3),
                "received": n,
                "tps": round(n / window, 1) if window > 0 else float(n),
                "tps_wall": round(n / elapsed, 1),
                "active_seconds": round(window, 3),
                # RT for a consumer = born (producer clock) -> delivered to the callback
                **rt_summary(lat),
            }
        )
    return 0


# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description="RocketMQ C++ client (rocketmq==0.4.4) driver")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p: argparse.ArgumentParser, group_default: str) -> None:
        p.add_argument("--namesrv", default="127.0.0.1:9876", help="host:port[;host:port]")
        p.add_argument("--topic", required=True)
        p.add_argument("--group", default=group_default)
        p.add_argument(
            "--home",
            default=None,
            help="HOME for librocketmq: its logs and broadcast offsets go under it (default "
            "$ROCKETQ_INTEROP_CPP_HOME or <repo>/.cache/interop/cpp-home)",
        )
        p.add_argument("--log-level", choices=sorted(LOG_LEVELS), default="warn")

    p = sub.add_parser("produce", help="N sync sends, then M one-way sends")
    common(p, "cpp_producer_group")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--tag", default=None, help="TagA, or TagA,TagB,... cycled by i")
    p.add_argument("--keys-prefix", default="k", help="keys = <prefix><i>; '' for no keys")
    p.add_argument(
        "--prop",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="user property (repeatable)",
    )
    p.add_argument("--oneway", type=int, default=0, metavar="M")
    p.add_argument("--batch", action="store_true", help="send the N messages as batches")
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument(
        "--shard-by",
        type=int,
        default=0,
        metavar="S",
        help="send_orderly with arg i %% S (hashing selector: queue = arg %% nqueues)",
    )
    p.add_argument("--send-timeout", type=int, default=0, help="ms (client default 3000)")
    p.set_defaults(func=cmd_produce)

    def consume_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("--expression", default="*", help='tag expression, e.g. "TagA || TagB"')
        p.add_argument("--orderly", action="store_true")
        p.add_argument("--broadcast", action="store_true")
        p.add_argument("--threads", type=int, default=0, help="consume threads (client default)")
        p.add_argument("--expect", type=int, default=0, help="stop after N distinct messages")

    p = sub.add_parser("consume", help="push consumer printing each delivery")
    common(p, "cpp_consumer_group")
    consume_opts(p)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds (give up)")
    p.add_argument(
        "--idle",
        type=float,
        default=0.0,
        help="stop after this many seconds without a message (after the first)",
    )
    p.add_argument(
        "--linger",
        type=float,
        default=1.0,
        help="seconds to keep consuming after --expect is reached (duplicates)",
    )
    p.add_argument(
        "--fail-times",
        type=int,
        default=0,
        metavar="K",
        help="RECONSUME_LATER the first K deliveries of each message",
    )
    p.add_argument(
        "--prop-names",
        default="",
        help="comma-separated user property names to read (besides body.props)",
    )
    p.set_defaults(func=cmd_consume)

    p = sub.add_parser("bench-produce", help="W threads of sync sends for S seconds")
    common(p, "cpp_bench_producer")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--send-timeout", type=int, default=0)
    p.add_argument("--warmup", type=float, default=4.0, help="unmeasured seconds first")
    p.set_defaults(func=cmd_bench_produce)

    p = sub.add_parser("bench-consume", help="count deliveries for S seconds")
    common(p, "cpp_bench_consumer")
    consume_opts(p)
    p.add_argument("--seconds", type=float, default=10.0)
    p.set_defaults(func=cmd_bench_consume)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.func(args)
    except Exception as exc:
        log(f"fatal: {type(exc).__name__}: {exc}")
        emit({"done": False, "error": f"{type(exc).__name__}: {exc}"})
        rc = 1
    _OUT.flush()
    return rc


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # librocketmq's static destructors occasionally hang or crash at interpreter exit; every
    # client object has been shut down and destroyed already, so leave without them.
    os._exit(code)
