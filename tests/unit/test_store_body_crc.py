"""The compiled store kernels compute a record's BODYCRC in C (libdeflate's crc32 where it is
installed, else zlib's own crc32, each looked up once, or a byte table where neither is
found): the same value as ``zlib.crc32``, which the pure-Python reference uses, for every
length and content, every way."""

from __future__ import annotations

import os
import zlib

from hypothesis import given
from hypothesis import strategies as st

from rocketq.common.record import StoredMessage
from rocketq.common.speedups import REFERENCE
from rocketq.store.commit_log import AppendResult
from tests.conftest import compiled_kernels


def test_every_length_both_ways() -> None:
    kernels = compiled_kernels("rocketq.store._kernels")
    assert kernels.crc_from_zlib()  # this machine's Python has a shared libz
    for body_crc in (kernels.body_crc, kernels.body_crc_by_zlib, kernels.body_crc_by_table):
        for n in [*range(0, 260), 1023, 1024, 1025, 4096, 65_537]:
            for data in (os.urandom(n), b"\xff" * n, b"\x00" * n):
                assert body_crc(data) == zlib.crc32(data), n


@given(st.binary(max_size=2048))
def test_any_bytes(data: bytes) -> None:
    kernels = compiled_kernels("rocketq.store._kernels")
    want = zlib.crc32(data)
    assert kernels.body_crc(data) == kernels.body_crc_by_zlib(data) == want
    assert kernels.body_crc_by_table(data) == want


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=6))
def test_records_written_with_it_equal_the_reference(bodies: list[bytes]) -> None:
    compiled = compiled_kernels("rocketq.store._kernels").put_batches
    written = []
    for put_batches in (REFERENCE["put_batches"], compiled):
        buf = bytearray(64 * 1024)
        batches = [[StoredMessage(topic="T", queue_id=0, body=body)] for body in bodies]
        out: list[tuple[AppendResult, ...]] = []
        end = put_batches(buf, 0, len(buf) - 8, batches, 0, {}, 0, 5, ("127.0.0.1", 1), 4 << 20,
                          out)  # fmt: skip
        written.append((bytes(buf[:end]), out))
    assert written[0] == written[1] and written[0][1]
