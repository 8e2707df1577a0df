"""The compiled core per kernel: µs per call of each twinned function, its pure-Python
reference against its compiled twin, on the inputs of one SEND_MESSAGE_V2 as a Java
producer sends it (1 KiB body, UNIQ_KEY/WAIT/TAGS properties) and its stored record; then
the client's side of a pull: a body of 32 such records to the list of ``MessageExt``, the
older two steps (``decode_records``, then ``messages_from_pull``) against the one kernel
``messages_of_pull_body``, µs per message.

Both run in this one process (``rocketq.common.speedups.REFERENCE`` holds the references),
alternately; every figure is the best of ``--repeat`` runs of ``--iterations`` calls.

    .venv/bin/python benchmarks/kernels_bench.py [--iterations N] [--repeat R] [--pull-only]
"""

from __future__ import annotations

import argparse
import importlib
import mmap
import timeit
import uuid
from collections.abc import Callable
from typing import Any

from rocketq.client.message import MessageExt, messages_from_pull
from rocketq.common import speedups
from rocketq.common.message import decode_properties, encode_properties
from rocketq.common.record import (
    StoredMessage,
    checked_record_length,
    decode_records,
    encode_record,
    messages_of_pull_body,
    sent_message,
)
from rocketq.remoting.codec import encode
from rocketq.remoting.codes import RequestCode, SerializeType
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.headers import SendMessageRequestHeaderV2
from rocketq.remoting.headers.base import field_plan
from rocketq.store.index_file import INDEX_HEADER_SIZE, _LiveHeader

# Geometry of the default IndexFile (maxHashSlotNum / maxIndexNum).
SLOTS = 5_000_000
ENTRIES = 20_000_000
# Entries of the put_index_key case's file: room for every call of both implementations.
PUT_ENTRIES = 400_000
# Records in the pull body of the pull case: a listener batch of 32 (pullBatchSize).
PULL_BATCH = 32


def send_request(stype: int) -> RemotingCommand:
    """A SEND_MESSAGE_V2 request like broker_send_bench's."""
    header = SendMessageRequestHeaderV2(
        producer_group="benchmark_producer", topic="BenchmarkTest", default_topic="TBW102",
        default_topic_queue_nums=4, queue_id=1, sys_flag=0, born_timestamp=1795262554349,
        flag=0, properties=f"UNIQ_KEY\x01{uuid.uuid4().hex.upper()}\x02WAIT\x01true\x02TAGS"
        "\x01TagA\x02", reconsume_times=0, unit_mode=False, batch=False,
    )  # fmt: skip
    cmd = RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header.to_ext(), b"x" * 1024)
    cmd.language, cmd.opaque, cmd.serialize_type = "JAVA", 7, stype
    return cmd


def cases() -> list[tuple[str, str, tuple[Any, ...]]]:
    """(stage, twin name, arguments) of the send path's calls."""
    json_req, rmq_req = send_request(SerializeType.JSON), send_request(SerializeType.ROCKETMQ)
    answer = json_req.make_response(ext_fields={"msgId": "7F000001" * 4, "queueId": "1"})
    ext = json_req.ext_fields or {}
    props = decode_properties(ext["i"])  # V2 header: "i" is properties
    msg = sent_message("BenchmarkTest", 1, json_req.body or b"", encode_properties(props), props,
                       0, 0, 1795262554349, ("127.0.0.1", 40000), 0)  # fmt: skip
    topic, text = msg.topic.encode(), msg.properties.encode()
    total = checked_record_length(msg, topic, text)
    index = mmap.mmap(-1, INDEX_HEADER_SIZE + SLOTS * 4 + PUT_ENTRIES * 20)
    key = f"BenchmarkTest#{props['UNIQ_KEY']}"
    return [
        ("decode frame (JSON)", "decode_frame", (encode(json_req)[4:],)),
        ("decode frame (ROCKETMQ)", "decode_frame", (encode(rmq_req)[4:],)),
        ("properties decode", "decode_properties", (ext["i"],)),
        ("properties encode", "encode_properties", (props,)),
        ("record sizes + checks", "checked_record_length", (msg, topic, text)),
        ("record encode", "record_parts",
         (msg, topic, text, total, 5, 123456, 1795262554350, ("127.0.0.1", 10911))),
        ("offset msgId", "create_offset_msg_id", (("127.0.0.1", 10911), 123456)),
        ("index key hash", "java_string_hash", (key,)),
        ("index entry put", "put_index_entry", (index, SLOTS, INDEX_HEADER_SIZE + SLOTS * 4,
                                                7, 12345, 123456, 3)),
        ("response encode (JSON)", "encode_parts", (answer,)),
        ("typed send header from extFields", "header_from_ext",
         (field_plan(SendMessageRequestHeaderV2), SendMessageRequestHeaderV2, ext)),
        ("StoredMessage of a send", "sent_message",
         ("BenchmarkTest", 1, json_req.body or b"", msg.properties, props, 0, 0, 1795262554349,
          ("127.0.0.1", 40000), 0)),
        ("whole record bytes", "record_bytes",
         (msg, topic, text, total, 5, 123456, 1795262554350, ("127.0.0.1", 10911))),
        ("IndexFile#putKey (hash, entry, header)", "put_index_key",
         (index, _LiveHeader(1795262554349, 1795262554349, 1, 1, 0, 1), SLOTS, PUT_ENTRIES,
          "BenchmarkTest#",
          props["UNIQ_KEY"], 123456, 1795262554350)),
        ("record decode (pull/recovery)", "decode_record", (encode_record(msg),)),
        ("pull body of 32 records (client)", "decode_records", (encode_record(msg) * 32,)),
    ]  # fmt: skip


def pull_body() -> bytes:
    """PULL_BATCH records as a Java producer's sends store them: 1 KiB body, UNIQ_KEY, WAIT,
    TAGS and KEYS, one producer host, consecutive offsets and timestamps."""
    records = []
    for i in range(PULL_BATCH):
        props = {"UNIQ_KEY": uuid.uuid4().hex.upper(), "WAIT": "true", "TAGS": "TagA",
                 "KEYS": f"order-{i}"}  # fmt: skip
        msg = StoredMessage(
            "BenchmarkTest", 1, b"x" * 1024, encode_properties(props), queue_offset=1000 + i,
            physical_offset=1_200_000 + 1200 * i, born_timestamp=1795262554349 + i,
            born_host=("10.1.2.3", 40000), store_timestamp=1795262554350 + i,
            store_host=("10.1.2.4", 10911),
        )  # fmt: skip
        records.append(encode_record(msg))
    return b"".join(records)


def pull_rows(iterations: int, repeat: int) -> None:
    """µs per message of a pull body to MessageExt: older two steps, kernel, reference."""
    body = pull_body()
    reference = speedups.REFERENCE["messages_of_pull_body"]
    paths: list[tuple[str, Callable[[], Any]]] = [
        ("decode_records + messages_from_pull",
         lambda: messages_from_pull(decode_records(body), "broker-a", 0, 5000)),
        ("messages_of_pull_body (active)",
         lambda: messages_of_pull_body(body, MessageExt, "broker-a", 0, 5000)),
        ("messages_of_pull_body (pure reference)",
         lambda: reference(body, MessageExt, "broker-a", 0, 5000)),
    ]  # fmt: skip
    calls = max(iterations // PULL_BATCH, 1)
    print(f"\n# a pull body of {PULL_BATCH} records to MessageExt; µs per message")
    print("| path | µs/msg |")
    print("|---|---:|")
    for name, fn in paths:
        print(f"| {name} | {best_us(fn, (), calls, repeat) / PULL_BATCH:.2f} |")


def best_us(fn: Callable[..., Any], args: tuple[Any, ...], iterations: int, repeat: int) -> float:
    """Best µs per call over ``repeat`` runs."""
    best = min(timeit.repeat(lambda: fn(*args), number=iterations, repeat=repeat))
    return best / iterations * 1e6


def main() -> None:
    """Print one row per kernel."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--iterations", type=int, default=20000)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--pull-only", action="store_true", help="only the pull body rows")
    args = p.parse_args()
    if args.pull_only:
        pull_rows(args.iterations, args.repeat)
        return
    print(f"# {speedups.describe()}; best of {args.repeat} x {args.iterations}; µs per call")
    print("| stage | kernel | pure Python | compiled | ratio |")
    print("|---|---|---:|---:|---:|")
    for stage, name, call_args in cases():
        pure = speedups.REFERENCE[name]
        compiled = getattr(importlib.import_module(speedups.kernel_module_name(pure)), name)
        a = best_us(pure, call_args, args.iterations, args.repeat)
        b = best_us(compiled, call_args, args.iterations, args.repeat)
        print(f"| {stage} | `{name}` | {a:.2f} | {b:.2f} | {a / b:.1f}x |")
    pull_rows(args.iterations, args.repeat)


if __name__ == "__main__":
    main()
