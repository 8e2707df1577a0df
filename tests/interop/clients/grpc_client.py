"""Interop driver for the official RocketMQ 5.x Python client (PyPI
``rocketmq-python-client`` 5.1.2, import name ``rocketmq``), which speaks gRPC.

Run ONLY with the interpreter of ``.cache/interop/grpc-venv`` (setup_clients.py makes it);
the project's interpreter never imports this client. Output: one JSON object per line on
stdout (same conventions as cpp_client.py, see ../README.md); logs go to stderr and to
``$HOME/logs/rocketmq_python`` (pass ``--home``).

    produce   --endpoints H:P --topic T --count N [--tag A,B] [--keys-prefix k] [--prop k=v]
              [--message-groups G (FIFO: message i in group g<i % G>)] [--deliver-in S (DELAY:
              delivery_timestamp = now + S s, in ms as the client documents it)]
    transaction --endpoints H:P --topic T --commit N --rollback M
    orphan    --endpoints H:P --topic T --count N [--timeout S] (N half messages never ended;
              the checker answers COMMIT to the broker's check-backs; after N checks print
              {"event": "all-checked"} and keep running until stdin closes)
    consume   --endpoints H:P --topic T --group G --expect N [--invisible S] [--no-ack-first K]
              [--expression E] [--timeout S] [--await S]
    push-consume --endpoints H:P --topic T --group G --expect N [--fail-first K]
              [--expression E] [--timeout S] [--hold] (PushConsumer: the first K deliveries
              answer FAILURE and must come back; --hold: after all are in, print
              {"event": "all-in"} and keep running until stdin closes)
    bench-produce --endpoints H:P --topic T --seconds S [--size B] [--threads N]
    schema    print the client's protobuf schema facts (names, numbers, types) as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import Any


def out(obj: dict[str, Any]) -> None:
    """One JSON line on stdout."""
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def _config(args: argparse.Namespace) -> Any:
    from rocketmq import ClientConfiguration, Credentials

    return ClientConfiguration(args.endpoints, Credentials(), request_timeout=args.request_timeout)


def produce(args: argparse.Namespace) -> int:
    """Send --count messages; message i: tag list[i % len], keys <prefix><i>, --prop props."""
    from rocketmq import Message, Producer

    producer = Producer(_config(args), (args.topic,))
    producer.startup()
    out({"event": "started"})
    tags = [t for t in args.tag.split(",") if t]
    props = dict(p.split("=", 1) for p in args.prop)
    sent = failed = 0
    try:
        for i in range(args.count):
            msg = Message()
            msg.topic = args.topic
            msg.body = json.dumps({"i": i, "src": "grpc", "props": props}).encode()
            if tags:
                msg.tag = tags[i % len(tags)]
            if args.keys_prefix:
                msg.keys = f"{args.keys_prefix}{i}"
            for k, v in props.items():
                msg.add_property(k, v)
            if args.message_groups:
                msg.message_group = f"g{i % args.message_groups}"
            deliver_at = 0
            if args.deliver_in:
                deliver_at = int(time.time() * 1000) + args.deliver_in * 1000
                msg.delivery_timestamp = deliver_at
            try:
                receipt = producer.send(msg)
            except Exception as exc:
                failed += 1
                out({"i": i, "error": str(exc)})
                continue
            sent += 1
            out({"i": i, "status": "OK", "msg_id": receipt.message_id, "offset": receipt.offset,
                 "deliver_at_ms": deliver_at})  # fmt: skip
    finally:
        producer.shutdown()
    out({"done": failed == 0, "sent": sent, "failed": failed})
    return 0 if failed == 0 else 1


def transaction(args: argparse.Namespace) -> int:
    """Send --commit + --rollback transactional messages; commit the first --commit ones,
    roll back the rest."""
    from rocketmq import Message, Producer, TransactionChecker, TransactionResolution

    class Checker(TransactionChecker):  # type: ignore[misc]
        def check(self, message: Any) -> Any:
            return TransactionResolution.COMMIT

    producer = Producer(_config(args), (args.topic,), Checker())
    producer.startup()
    out({"event": "started"})
    failed = 0
    try:
        for i in range(args.commit + args.rollback):
            commit = i < args.commit
            msg = Message()
            msg.topic = args.topic
            msg.body = json.dumps({"i": i, "commit": commit}).encode()
            tx = producer.begin_transaction()
            receipt = producer.send(msg, tx)
            answer = tx.commit() if commit else tx.rollback()
            ok = answer is not None and answer.status.code == 20000
            failed += not ok
            out({"i": i, "msg_id": receipt.message_id, "commit": commit, "ok": ok,
                 "transaction_id": receipt.transaction_id})  # fmt: skip
    finally:
        producer.shutdown()
    out({"done": failed == 0, "failed": failed})
    return 0 if failed == 0 else 1


def orphan(args: argparse.Namespace) -> int:
    """Send --count transactional messages and end none: the broker asks back over
    Telemetry (RecoverOrphanedTransactionCommand) and the checker commits each."""
    from rocketmq import Message, Producer, TransactionChecker, TransactionResolution

    lock = threading.Lock()
    checked: dict[str, int] = {}
    all_checked = threading.Event()

    class Checker(TransactionChecker):  # type: ignore[misc]
        def check(self, message: Any) -> Any:
            with lock:
                checked[message.message_id] = checked.get(message.message_id, 0) + 1
                out({"checked": message.message_id, "topic": message.topic,
                     "body": bytes(message.body).decode(errors="replace")})  # fmt: skip
                if len(checked) >= args.count:
                    all_checked.set()
            return TransactionResolution.COMMIT

    producer = Producer(_config(args), (args.topic,), Checker())
    producer.startup()
    out({"event": "started"})
    sent = []
    try:
        for i in range(args.count):
            msg = Message()
            msg.topic = args.topic
            msg.body = json.dumps({"i": i, "orphan": True}).encode()
            receipt = producer.send(msg, producer.begin_transaction())
            sent.append(receipt.message_id)
            out({"i": i, "msg_id": receipt.message_id})
        all_checked.wait(args.timeout)
        if all_checked.is_set():
            out({"event": "all-checked"})
            sys.stdin.read()
    finally:
        producer.shutdown()
    ok = all_checked.is_set() and set(checked) == set(sent)
    out({"done": ok, "checked": len(checked), "sent": len(sent)})
    return 0 if ok else 3


def _line(msg: Any, attempt_seen: int, acked: bool) -> dict[str, Any]:
    body = bytes(msg.body).decode(errors="replace")
    return {
        "msg_id": msg.message_id,
        "topic": msg.topic,
        "tags": msg.tag,
        "keys": sorted(msg.keys or ()),
        "body": body,
        "properties": dict(msg.properties or {}),
        "delivery_attempt": msg.delivery_attempt,
        "attempt": attempt_seen,
        "acked": acked,
        "corrupted": bool(getattr(msg, "corrupted", False)),
        "message_group": msg.message_group,
        "received_at_ms": int(time.time() * 1000),
    }


def consume(args: argparse.Namespace) -> int:
    """Receive until --expect distinct messages are acked. The first --no-ack-first
    deliveries are not acked (they must come back after --invisible seconds)."""
    from rocketmq import FilterExpression, SimpleConsumer

    consumer = SimpleConsumer(
        _config(args), args.group, {args.topic: FilterExpression(args.expression)},
        await_duration=args.await_s,
    )  # fmt: skip
    consumer.startup()
    out({"event": "started"})
    seen: dict[str, int] = {}
    acked: set[str] = set()
    skipped = deliveries = 0
    start = time.monotonic()
    try:
        while len(acked) < args.expect and time.monotonic() - start < args.timeout:
            for msg in consumer.receive(args.batch, args.invisible) or []:
                deliveries += 1
                seen[msg.message_id] = seen.get(msg.message_id, 0) + 1
                if skipped < args.no_ack_first and seen[msg.message_id] == 1:
                    skipped += 1
                    out(_line(msg, seen[msg.message_id], False))
                    continue
                consumer.ack(msg)
                acked.add(msg.message_id)
                out(_line(msg, seen[msg.message_id], True))
    finally:
        consumer.shutdown()
    timed_out = len(acked) < args.expect
    out({"done": not timed_out, "received": len(acked), "deliveries": deliveries,
         "expected": args.expect, "timed_out": timed_out,
         "seconds": round(time.monotonic() - start, 3)})  # fmt: skip
    return 3 if timed_out else 0


def push_consume(args: argparse.Namespace) -> int:
    """A PushConsumer until --expect distinct messages were consumed with SUCCESS; its
    listener answers FAILURE to the first --fail-first deliveries."""
    from rocketmq import ConsumeResult, FilterExpression, MessageListener, PushConsumer

    lock = threading.Lock()
    seen: dict[str, int] = {}
    consumed: set[str] = set()
    state = {"failed": 0, "deliveries": 0}
    all_in = threading.Event()

    class Listener(MessageListener):  # type: ignore[misc]
        def consume(self, message: Any) -> Any:
            with lock:
                state["deliveries"] += 1
                seen[message.message_id] = seen.get(message.message_id, 0) + 1
                fail = state["failed"] < args.fail_first and seen[message.message_id] == 1
                state["failed"] += fail
                if not fail:
                    consumed.add(message.message_id)
                out(_line(message, seen[message.message_id], not fail))
                if len(consumed) >= args.expect:
                    all_in.set()
            return ConsumeResult.FAILURE if fail else ConsumeResult.SUCCESS

    consumer = PushConsumer(
        _config(args), args.group, Listener(), {args.topic: FilterExpression(args.expression)}
    )
    consumer.startup()
    out({"event": "started"})
    start = time.monotonic()
    try:
        all_in.wait(args.timeout)
        if args.hold and all_in.is_set():
            out({"event": "all-in"})
            sys.stdin.read()
    finally:
        consumer.shutdown()
    timed_out = not all_in.is_set()
    out({"done": not timed_out, "received": len(consumed), "deliveries": state["deliveries"],
         "expected": args.expect, "timed_out": timed_out,
         "seconds": round(time.monotonic() - start, 3)})  # fmt: skip
    return 3 if timed_out else 0


def bench_produce(args: argparse.Namespace) -> int:
    """Send --size byte messages from --threads threads for --seconds; report the rate."""
    from rocketmq import Message, Producer

    producer = Producer(_config(args), (args.topic,))
    producer.startup()
    body = b"x" * args.size
    counts = [0] * args.threads
    failures = [0] * args.threads
    rts: list[float] = []
    stop = time.monotonic() + args.warmup + args.seconds
    measure_from = time.monotonic() + args.warmup

    def run(n: int) -> None:
        while (now := time.monotonic()) < stop:
            msg = Message()
            msg.topic, msg.body = args.topic, body
            try:
                producer.send(msg)
            except Exception:
                failures[n] += 1
                continue
            if now >= measure_from:
                counts[n] += 1
                rts.append(time.monotonic() - now)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    producer.shutdown()
    sent = sum(counts)
    out({"bench": "produce", "client": "rocketmq-python-client 5.1.2 (gRPC)", "sent": sent,
         "failed": sum(failures), "tps": round(sent / args.seconds, 1), "threads": args.threads,
         "size": args.size, "avg_rt_ms": round(1000 * sum(rts) / max(len(rts), 1), 3),
         "max_rt_ms": round(1000 * max(rts, default=0), 3), "done": True})  # fmt: skip
    return 0


def bench_consume(args: argparse.Namespace) -> int:
    """Receive and ack a backlog of --count messages with one SimpleConsumer from --threads
    threads (receive up to --batch, then ack each, blocking); report the rate from the
    first receive to the last ack."""
    from rocketmq import FilterExpression, SimpleConsumer

    consumer = SimpleConsumer(
        _config(args), args.group, {args.topic: FilterExpression("*")}, await_duration=1
    )
    consumer.startup()
    lock = threading.Lock()
    state = {"acked": 0, "failed": 0, "last": 0.0}
    deadline = time.monotonic() + args.timeout

    def run() -> None:
        while state["acked"] < args.count and time.monotonic() < deadline:
            try:
                messages = consumer.receive(args.batch, args.invisible) or []
            except Exception:
                with lock:
                    state["failed"] += 1
                continue
            for msg in messages:
                try:
                    consumer.ack(msg)
                except Exception:
                    with lock:
                        state["failed"] += 1
                    continue
                with lock:
                    state["acked"] += 1
                    state["last"] = time.monotonic()

    threads = [threading.Thread(target=run) for _ in range(args.threads)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    consumer.shutdown()
    seconds = max(state["last"] - start, 1e-9)
    acked = int(state["acked"])
    out({"bench": "receive", "client": "rocketmq-python-client 5.1.2 SimpleConsumer (gRPC)",
         "received": acked, "failed": int(state["failed"]), "threads": args.threads,
         "seconds": round(seconds, 3), "tps": round(acked / seconds, 1),
         "done": acked >= args.count})  # fmt: skip
    return 0 if acked >= args.count else 3


def schema(_args: argparse.Namespace) -> int:
    """The client's wire schema as facts: every message's fields, enums, service methods."""
    from rocketmq.grpc_protocol import definition_pb2, service_pb2

    facts: dict[str, Any] = {}
    for fd in (definition_pb2.DESCRIPTOR, service_pb2.DESCRIPTOR):
        _schema_facts(fd, facts)
    out({"schema": facts, "done": True})
    return 0


def _schema_facts(fd: Any, facts: dict[str, Any]) -> None:
    def message(d: Any) -> None:
        facts["message " + d.full_name] = sorted(
            [f.name, f.number, f.type, bool(f.is_repeated) if hasattr(f, "is_repeated")
             else f.label == 3, (f.message_type or f.enum_type).full_name
             if (f.message_type or f.enum_type) else "",
             f.containing_oneof.name if f.containing_oneof else "", f.has_presence]
            for f in d.fields
        )  # fmt: skip
        for nested in d.nested_types:
            message(nested)
        for e in d.enum_types:
            enum(e)

    def enum(e: Any) -> None:
        facts["enum " + e.full_name] = sorted([v.name, v.number] for v in e.values)

    for d in fd.message_types_by_name.values():
        message(d)
    for e in fd.enum_types_by_name.values():
        enum(e)
    for s in fd.services_by_name.values():
        facts["service " + s.full_name] = sorted(
            [m.name, m.input_type.full_name, m.output_type.full_name, m.client_streaming,
             m.server_streaming] for m in s.methods
        )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", default=os.environ.get("ROCKETQ_INTEROP_GRPC_HOME", ""))
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("produce", "consume", "push-consume", "bench-produce", "bench-consume",
                 "transaction", "orphan"):  # fmt: skip
        p = sub.add_parser(name)
        p.add_argument("--endpoints", required=True)
        p.add_argument("--topic", required=True)
        p.add_argument("--request-timeout", type=int, default=10)
    p = sub.choices["produce"]
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--tag", default="")
    p.add_argument("--keys-prefix", default="")
    p.add_argument("--prop", action="append", default=[])
    p.add_argument("--message-groups", type=int, default=0)
    p.add_argument("--deliver-in", type=int, default=0)
    p = sub.choices["transaction"]
    p.add_argument("--commit", type=int, default=1)
    p.add_argument("--rollback", type=int, default=1)
    p = sub.choices["orphan"]
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--timeout", type=float, default=60)
    p = sub.choices["consume"]
    p.add_argument("--group", required=True)
    p.add_argument("--expect", type=int, required=True)
    p.add_argument("--expression", default="*")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--invisible", type=int, default=30)
    p.add_argument("--no-ack-first", type=int, default=0)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--await", dest="await_s", type=int, default=5)
    p = sub.choices["push-consume"]
    p.add_argument("--group", required=True)
    p.add_argument("--expect", type=int, required=True)
    p.add_argument("--expression", default="*")
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--hold", action="store_true")
    p.add_argument("--timeout", type=float, default=60)
    p = sub.choices["bench-produce"]
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--warmup", type=float, default=2)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--threads", type=int, default=4)
    p = sub.choices["bench-consume"]
    p.add_argument("--group", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--invisible", type=int, default=60)
    p.add_argument("--timeout", type=float, default=600)
    sub.add_parser("schema")
    args = ap.parse_args(argv)
    if args.home:  # the client logs under ~/logs/rocketmq_python
        os.environ["HOME"] = args.home
    handlers = {"produce": produce, "consume": consume, "push-consume": push_consume,
                "bench-produce": bench_produce, "bench-consume": bench_consume, "schema": schema,
                "transaction": transaction, "orphan": orphan}  # fmt: skip
    try:
        return handlers[args.cmd](args)
    except Exception as exc:
        out({"done": False, "error": f"{type(exc).__name__}: {exc}"})
        return 1


if __name__ == "__main__":
    sys.exit(main())
