"""Remoting codec micro-benchmark: µs per frame to encode and decode typical SEND traffic.

Measures, for both header serializations (JSON and ROCKETMQ):

* a SEND_MESSAGE_V2 request (V2 header a..k, a properties string, a 1 KiB body),
* a typical SEND response (msgId / queueId / queueOffset),

each as: encode (``encode_parts``, what the transport writes), decode of one frame per
``FrameDecoder.feed`` call, decode of 64 frames arriving in one read, and the typed-header
conversions (``from_ext`` / ``to_ext``) a broker does on top. Every figure is the best of
``--repeat`` runs of ``--iterations`` calls, timed with ``time.perf_counter``.

    .venv/bin/python benchmarks/codec_bench.py [--iterations N] [--repeat R] [--body BYTES]
    ROCKETQ_PURE_PYTHON=1 .venv/bin/python benchmarks/codec_bench.py   # the pure-Python codec
"""

from __future__ import annotations

import argparse
import functools
import platform
import sys
import time
from collections.abc import Callable

from rocketq.common import speedups
from rocketq.remoting.codec import FrameDecoder, encode, encode_parts
from rocketq.remoting.codes import RequestCode, SerializeType
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.headers import SendMessageRequestHeaderV2, SendMessageResponseHeader

# A batch of frames read at once, as under pipelined load (the server bench keeps 64 in flight).
BATCH = 64


def send_request(stype: int, body_size: int) -> tuple[RemotingCommand, SendMessageRequestHeaderV2]:
    """A SEND_MESSAGE_V2 request as a Java producer sends it."""
    header = SendMessageRequestHeaderV2(
        producer_group="please_rename_unique_group_name",
        topic="TopicTest",
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=3,
        sys_flag=0,
        born_timestamp=1795262554349,
        flag=0,
        properties=(
            "KEYS\x01order-000123\x02UNIQ_KEY\x01AC11000100002A9F0000000000000001\x02"
            "WAIT\x01true\x02TAGS\x01TagA\x02"
        ),
        reconsume_times=0,
        unit_mode=False,
    )
    cmd = RemotingCommand(
        code=RequestCode.SEND_MESSAGE_V2,
        language="JAVA",
        version=401,
        opaque=123456,
        ext_fields=header.to_ext(),
        body=bytes(range(256)) * (body_size // 256) + b"x" * (body_size % 256),
        serialize_type=stype,
    )
    return cmd, header


def send_response(stype: int) -> tuple[RemotingCommand, SendMessageResponseHeader]:
    """The broker's answer to it."""
    header = SendMessageResponseHeader(
        msg_id="AC11000100002A9F00000000000A1B2C", queue_id=3, queue_offset=123456
    )
    cmd = RemotingCommand(
        code=0,
        opaque=123456,
        flag=1,
        ext_fields={**header.to_ext(), "MSG_REGION": "DefaultRegion", "TRACE_ON": "true"},
        serialize_type=stype,
    )
    return cmd, header


def best_us(fn: Callable[[], object], iterations: int, repeat: int, per_call: int = 1) -> float:
    """Best-of-``repeat`` µs per item, ``fn`` handling ``per_call`` items per call."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / (iterations * per_call) * 1e6


def measure(cmd: RemotingCommand, iterations: int, repeat: int) -> dict[str, float]:
    frame = encode(cmd)
    decoder = FrameDecoder()
    batch = frame * BATCH
    return {
        "bytes": float(len(frame)),
        "encode": best_us(lambda: encode_parts(cmd), iterations, repeat),
        "decode": best_us(lambda: decoder.feed(frame), iterations, repeat),
        "decode_batch": best_us(
            lambda: decoder.feed(batch), max(1, iterations // BATCH), repeat, BATCH
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=2000, help="calls per run")
    parser.add_argument("--repeat", type=int, default=25, help="runs; the best is kept")
    parser.add_argument("--body", type=int, default=1024, help="message body bytes")
    args = parser.parse_args(argv)

    print(f"# python {platform.python_version()} on {platform.machine()}, {sys.platform}, "
          f"{speedups.describe()}")  # fmt: skip
    print(f"# best of {args.repeat} x {args.iterations} iterations; µs per frame")
    row = "{:<10} {:<9} {:>6} {:>9} {:>9} {:>12} {:>9} {:>9}"
    titles = ("frame", "serialize", "bytes", "encode", "decode", "decode x64", "from_ext", "to_ext")
    print(row.format(*titles))
    for stype in (SerializeType.JSON, SerializeType.ROCKETMQ):
        req, req_header = send_request(stype, args.body)
        resp, resp_header = send_response(stype)
        cases = [
            ("send req", req, SendMessageRequestHeaderV2, req_header),
            ("send resp", resp, SendMessageResponseHeader, resp_header),
        ]
        for name, cmd, header_cls, header in cases:
            m = measure(cmd, args.iterations, args.repeat)
            from_ext = best_us(
                functools.partial(header_cls.from_ext, cmd.ext_fields), args.iterations, args.repeat
            )
            to_ext = best_us(header.to_ext, args.iterations, args.repeat)
            print(
                row.format(
                    name,
                    stype.name,
                    int(m["bytes"]),
                    f"{m['encode']:.2f}",
                    f"{m['decode']:.2f}",
                    f"{m['decode_batch']:.2f}",
                    f"{from_ext:.2f}",
                    f"{to_ext:.2f}",
                )
            )


if __name__ == "__main__":
    main()
