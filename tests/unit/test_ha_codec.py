"""The classic HA wire format: offset reports and transfer chunks, fed whole, byte by byte,
in random splits and with garbage."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocketq.store.ha.codec import (
    HEADER_SIZE,
    MAX_BODY_SIZE,
    HAProtocolError,
    ReportDecoder,
    TransferChunk,
    TransferDecoder,
    encode_header,
    encode_report,
)


def test_layouts_are_big_endian_java_long_and_int() -> None:
    assert encode_report(0x0102030405060708) == bytes(range(1, 9))
    assert encode_header(1 << 32, 7) == b"\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x07"
    assert len(encode_header(0, 0)) == HEADER_SIZE == 12
    for bad in (lambda: encode_report(-1), lambda: encode_header(-1, 0)):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(ValueError):
        encode_header(0, MAX_BODY_SIZE + 1)


def test_report_decoder_keeps_only_the_last_complete_report() -> None:
    decoder = ReportDecoder()
    assert decoder.feed(b"") is None
    stream = encode_report(10) + encode_report(20) + encode_report(30)
    assert decoder.feed(stream[:5]) is None
    assert decoder.feed(stream[5:20]) == 20  # 20 bytes so far: two whole reports, the last wins
    assert decoder.feed(stream[20:]) == 30


def test_report_decoder_byte_by_byte() -> None:
    decoder = ReportDecoder()
    seen = [decoder.feed(bytes([b])) for b in encode_report(123456789) * 2]
    assert [s for s in seen if s is not None] == [123456789, 123456789]
    assert seen.index(123456789) == 7


def test_report_decoder_rejects_negative_offsets() -> None:
    with pytest.raises(HAProtocolError):
        ReportDecoder().feed(struct.pack(">q", -5))


def _stream(chunks: list[tuple[int, bytes]]) -> bytes:
    return b"".join(encode_header(offset, len(body)) + body for offset, body in chunks)


CHUNKS = [(0, b"abc"), (3, b""), (3, bytes(range(256)) * 3), (771, b"z")]


def test_transfer_decoder_whole_and_byte_by_byte() -> None:
    expected = [TransferChunk(o, b) for o, b in CHUNKS]
    assert TransferDecoder().feed(_stream(CHUNKS)) == expected
    decoder = TransferDecoder()
    got: list[TransferChunk] = []
    for byte in _stream(CHUNKS):
        got.extend(decoder.feed(bytes([byte])))
    assert got == expected
    assert decoder.buffered == 0
    assert got[1].is_heartbeat and not got[0].is_heartbeat


@given(st.lists(st.integers(min_value=1, max_value=50), max_size=40))
def test_transfer_decoder_any_split(cuts: list[int]) -> None:
    data = _stream(CHUNKS)
    decoder = TransferDecoder()
    got: list[TransferChunk] = []
    pos = 0
    for cut in cuts:
        got.extend(decoder.feed(data[pos : pos + cut]))
        pos += cut
    got.extend(decoder.feed(data[pos:]))
    assert got == [TransferChunk(o, b) for o, b in CHUNKS]


@given(st.integers(min_value=0, max_value=2**62), st.binary(max_size=300))
def test_transfer_round_trip(offset: int, body: bytes) -> None:
    assert TransferDecoder().feed(encode_header(offset, len(body)) + body) == [
        TransferChunk(offset, body)
    ]


@pytest.mark.parametrize(
    "garbage",
    [
        struct.pack(">qi", -1, 0),  # negative offset
        struct.pack(">qi", 0, -1),  # negative size
        struct.pack(">qi", 0, MAX_BODY_SIZE + 1),  # larger than a Java slave could ever read
        b"\xff" * 12,
    ],
)
def test_transfer_decoder_rejects_garbage_headers(garbage: bytes) -> None:
    decoder = TransferDecoder()
    assert decoder.feed(garbage[:11]) == []  # not judged before the header is whole
    with pytest.raises(HAProtocolError):
        decoder.feed(garbage[11:])


def test_transfer_decoder_garbage_after_good_chunks_still_fails() -> None:
    decoder = TransferDecoder(max_body_size=1024)
    with pytest.raises(HAProtocolError):
        decoder.feed(_stream([(0, b"ok")]) + struct.pack(">qi", 2, 4096))
    # a custom limit is honoured
    assert TransferDecoder(max_body_size=4).feed(_stream([(0, b"1234")])) == [
        TransferChunk(0, b"1234")
    ]


@given(st.binary(min_size=12, max_size=64))
def test_transfer_decoder_never_crashes_on_random_bytes(data: bytes) -> None:
    decoder = TransferDecoder()
    try:
        for chunk in decoder.feed(data):
            assert chunk.offset >= 0 and len(chunk.body) <= MAX_BODY_SIZE
    except HAProtocolError:
        pass
