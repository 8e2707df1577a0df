"""Store byte layouts: hand-written vectors (message-format.md §4, §7, §8) and round trips."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocketq.store import format as fmt
from rocketq.store.format import (
    BLANK_MAGIC_CODE,
    MESSAGE_MAGIC_CODE,
    ConsumeQueueEntry,
    IndexEntry,
    IndexHeader,
    RecordFormatError,
    StoredMessage,
)
from tests.conftest import Kernels

# message-format.md §4, written out field by field.
EXAMPLE_HEX = (
    "00000077"  # TOTALSIZE 119
    "daa320a7"  # MAGICCODE V1
    "3610a686"  # BODYCRC crc32("hello") & 0x7fffffff
    "00000001"  # QUEUEID
    "00000000"  # FLAG
    "0000000000000005"  # QUEUEOFFSET
    "00000000000004d2"  # PHYSICALOFFSET 1234
    "00000000"  # SYSFLAG
    "0000018bcfe56800"  # BORNTIMESTAMP
    "7f000001" "0000c350"  # BORNHOST 127.0.0.1:50000
    "0000018bcfe56801"  # STORETIMESTAMP
    "7f000001" "00002a9f"  # STOREHOST 127.0.0.1:10911
    "00000000"  # RECONSUMETIMES
    "0000000000000000"  # PREPARED TRANSACTION OFFSET
    "00000005" "68656c6c6f"  # BODY "hello"
    "01" "54"  # TOPIC "T"
    "0016" "554e49515f4b4559" "01" "414243" "02" "54414753" "01" "74616741"  # PROPERTIES
)  # fmt: skip
EXAMPLE = bytes.fromhex(EXAMPLE_HEX)

EXAMPLE_MSG = StoredMessage(
    topic="T",
    queue_id=1,
    body=b"hello",
    properties="UNIQ_KEY\x01ABC\x02TAGS\x01tagA",
    queue_offset=5,
    physical_offset=1234,
    born_timestamp=0x18BCFE56800,
    born_host=("127.0.0.1", 50000),
    store_timestamp=0x18BCFE56801,
    store_host=("127.0.0.1", 10911),
)


def test_encode_matches_doc_example(impl: Kernels) -> None:
    assert len(EXAMPLE) == 0x77
    assert impl.encode_record(EXAMPLE_MSG) == EXAMPLE


def test_decode_doc_example(impl: Kernels) -> None:
    rec = impl.decode_record(EXAMPLE, check_crc=True)
    assert rec.total_size == 119
    assert rec.magic == MESSAGE_MAGIC_CODE
    assert rec.body_crc == 0x3610A686
    assert (rec.queue_id, rec.queue_offset, rec.physical_offset) == (1, 5, 1234)
    assert rec.born_host == ("127.0.0.1", 50000)
    assert rec.store_host == ("127.0.0.1", 10911)
    assert rec.store_timestamp == rec.born_timestamp + 1
    assert rec.body == b"hello" and rec.topic == "T"
    assert rec.properties_map() == {"UNIQ_KEY": "ABC", "TAGS": "tagA"}


def test_decode_at_offset_inside_larger_buffer(impl: Kernels) -> None:
    buf = b"\xaa" * 13 + EXAMPLE + fmt.encode_blank(100)
    rec = impl.decode_record(memoryview(buf), 13)
    assert rec.body == b"hello"
    assert fmt.peek_record(buf, 13 + len(EXAMPLE)) == (100, BLANK_MAGIC_CODE)


def test_blank_filler_bytes() -> None:
    assert fmt.encode_blank(0x1234) == bytes.fromhex("00001234cbd43194")


def test_crc_mismatch_detected_only_when_asked(impl: Kernels) -> None:
    bad = bytearray(EXAMPLE)
    bad[88] ^= 0xFF  # first body byte
    impl.decode_record(bytes(bad))
    with pytest.raises(RecordFormatError, match="CRC"):
        impl.decode_record(bytes(bad), check_crc=True)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda b: b.__setitem__(slice(4, 8), b"\x00\x00\x00\x01"), "magic"),
        (lambda b: b.__setitem__(slice(0, 4), b"\x00\x00\x00\x78"), "size"),
        (lambda b: b.__setitem__(slice(0, 4), b"\x00\x00\x00\x76"), "match"),
        (lambda b: b.__setitem__(slice(0, 4), b"\x00\x00\x00\x10"), "size"),
    ],
)
def test_corrupt_records_raise(mutate: object, match: str, impl: Kernels) -> None:
    bad = bytearray(EXAMPLE)
    mutate(bad)  # type: ignore[operator]
    with pytest.raises(RecordFormatError, match=match):
        impl.decode_record(bytes(bad))


def test_truncated_buffer_raises(impl: Kernels) -> None:
    with pytest.raises(RecordFormatError):
        impl.decode_record(EXAMPLE[:50])
    with pytest.raises(RecordFormatError):
        fmt.peek_record(EXAMPLE[:7])


def test_ipv6_hosts_set_sysflag_and_grow_record(impl: Kernels) -> None:
    msg = StoredMessage(
        topic="T", queue_id=0, body=b"x", born_host=("::1", 7), store_host=("fe80::2", 10911)
    )
    raw = impl.encode_record(msg)
    assert len(raw) == 91 + 1 + 1 + 24
    rec = impl.decode_record(raw)
    assert rec.sys_flag == 0x30
    assert rec.born_host == ("::1", 7) and rec.store_host == ("fe80::2", 10911)
    assert fmt.record_length(0x10, 1, 1, 0) == 91 + 2 + 12


def test_v6_bits_follow_addresses_not_caller(impl: Kernels) -> None:
    msg = StoredMessage(topic="T", queue_id=0, body=b"", sys_flag=0x30 | 0x1)
    assert impl.decode_record(impl.encode_record(msg)).sys_flag == 0x1


def test_v2_magic_reads_two_byte_topic_length(impl: Kernels) -> None:
    base = impl.encode_record(StoredMessage(topic="T", queue_id=0, body=b"ab"))
    # rebuild as V2: magic, 2-byte topic length, total + 1
    v2 = bytearray(base[:90]) + b"\x00\x01T" + base[92:]
    v2[0:8] = (len(v2)).to_bytes(4, "big") + (0xDAA320AB).to_bytes(4, "big")
    rec = impl.decode_record(bytes(v2))
    assert rec.topic == "T" and rec.body == b"ab"


def test_limits(impl: Kernels) -> None:
    with pytest.raises(RecordFormatError, match="topic"):
        impl.encode_record(StoredMessage(topic="t" * 128, queue_id=0, body=b""))
    with pytest.raises(RecordFormatError, match="properties"):
        impl.encode_record(StoredMessage(topic="t", queue_id=0, body=b"", properties="a" * 32768))
    with pytest.raises(RecordFormatError, match="IP"):
        impl.encode_record(StoredMessage(topic="t", queue_id=0, body=b"", born_host=("x", 1)))


def test_properties_encoding(impl: Kernels) -> None:
    props = {"UNIQ_KEY": "ABC", "TAGS": "tagA", "SKIP": None}
    assert impl.encode_properties(props, True) == "UNIQ_KEY\x01ABC\x02TAGS\x01tagA\x02"
    assert impl.encode_properties(props) == EXAMPLE_MSG.properties  # 4.9 form by default
    assert impl.encode_properties({}) == "" and impl.encode_properties({}, False) == ""
    with pytest.raises(ValueError):
        impl.encode_properties({"a\x01": "b"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("A\x01b", {"A": "b"}),
        ("A\x01b\x02", {"A": "b"}),
        ("A\x01b\x02C\x01d", {"A": "b", "C": "d"}),
        ("\x01v\x02K\x01\x02K2\x01v2", {"K2": "v2"}),  # empty name / empty value dropped
        ("AB\x02C\x01d", {"C": "d"}),  # segment without separator dropped
        ("A\x01b\x01c", {"A": "b\x01c"}),  # split at the first 0x01
        ("\x02\x02A\x01b\x02\x02", {"A": "b"}),
    ],
)
def test_properties_decoding_like_java(
    text: str, expected: dict[str, str], impl: Kernels
) -> None:
    assert impl.decode_properties(text) == expected


def test_java_string_hash(impl: Kernels) -> None:
    assert impl.java_string_hash("tagA") == 3552231
    assert impl.java_string_hash("tagJ") == 3552240
    assert impl.java_string_hash("") == 0
    # "polygenelubricants".hashCode() == Integer.MIN_VALUE, a well-known Java value
    assert impl.java_string_hash("polygenelubricants") == -(2**31)
    # non-BMP char counts as two UTF-16 units: "\U0001F600" = D83D DE00
    assert impl.java_string_hash("\U0001f600") == 31 * 0xD83D + 0xDE00
    assert fmt.tags_code("tagA") == 3552231
    assert fmt.tags_code(None) == 0 and fmt.tags_code("") == 0


def test_index_key_hash(impl: Kernels) -> None:
    assert fmt.index_key_hash("polygenelubricants") == 0
    assert fmt.index_key_hash("tagA") == 3552231
    negative = next(s for s in ("a" * n for n in range(1, 40)) if impl.java_string_hash(s) < 0)
    assert fmt.index_key_hash(negative) == -impl.java_string_hash(negative)


def test_offset_msg_id(impl: Kernels) -> None:
    msg_id = impl.create_offset_msg_id(("127.0.0.1", 10911), 0)
    assert msg_id == "7F00000100002A9F0000000000000000"
    assert fmt.decode_offset_msg_id(msg_id) == (("127.0.0.1", 10911), 0)
    assert fmt.decode_offset_msg_id("7f00000100002a9f00000000000004D2")[1] == 1234
    v6 = impl.create_offset_msg_id(("::1", 10911), 1234)
    assert len(v6) == 56
    assert fmt.decode_offset_msg_id(v6) == (("::1", 10911), 1234)
    for bad in ("", "7F", "Z" * 32):
        with pytest.raises(RecordFormatError):
            fmt.decode_offset_msg_id(bad)


def test_consume_queue_entry() -> None:
    raw = fmt.pack_cq_entry(1234, 119, 3552231)
    assert raw == bytes.fromhex("00000000000004d2" "00000077" "00000000003633e7")  # fmt: skip
    assert fmt.unpack_cq_entry(b"\x00" + raw, 1) == ConsumeQueueEntry(1234, 119, 3552231)
    assert fmt.pack_cq_entry(0, 1, -1)[12:] == b"\xff" * 8  # sign-extended tags code
    assert not fmt.unpack_cq_entry(bytes(20)).is_valid
    assert len(raw) == fmt.CQ_STORE_UNIT_SIZE


def test_index_layouts() -> None:
    header = IndexHeader(1, 2, 3, 4, 5, 6)
    raw = header.pack()
    assert len(raw) == fmt.INDEX_HEADER_SIZE
    assert raw == bytes.fromhex(
        "0000000000000001" "0000000000000002" "0000000000000003" "0000000000000004"
        "00000005" "00000006"
    )  # fmt: skip
    assert IndexHeader.unpack(raw) == header
    assert IndexHeader.unpack(bytes(40)).index_count == 1
    entry = IndexEntry(7, 1234, 9, 0)
    expected = bytes.fromhex("00000007" "00000000000004d2" "00000009" "00000000")  # fmt: skip
    assert entry.pack() == expected
    assert IndexEntry.unpack(entry.pack()) == entry


def test_body_crc_masks_sign_bit() -> None:
    data = next(bytes([i]) * 3 for i in range(256) if zlib.crc32(bytes([i]) * 3) >= 2**31)
    assert fmt.body_crc(data) == zlib.crc32(data) - 2**31


_text = st.text(
    st.characters(blacklist_characters="\x01\x02", blacklist_categories=("Cs",)), max_size=20
)
_hosts = st.tuples(
    st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str), st.integers(0, 65535)
)
_i32 = st.integers(-(2**31), 2**31 - 1)
_i64 = st.integers(-(2**63), 2**63 - 1)


@given(
    topic=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=127),
    body=st.binary(max_size=200),
    props=st.dictionaries(_text.filter(bool), _text.filter(bool), max_size=5),
    ints=st.tuples(_i32, _i32, _i64, _i64, st.integers(0, 0xF), _i64, _i64, _i32, _i64),
    born=_hosts,
    store=_hosts,
)
def test_record_round_trip(
    topic: str,
    body: bytes,
    props: dict[str, str],
    ints: tuple[int, ...],
    born: tuple[str, int],
    store: tuple[str, int],
    impl: Kernels,
) -> None:
    queue_id, flag, qoff, phys, sys_flag, born_ts, store_ts, reconsume, prepared = ints
    msg = StoredMessage(
        topic, queue_id, body, impl.encode_properties(props), flag, qoff, phys, sys_flag,
        born_ts, born, store_ts, store, reconsume, prepared,
    )  # fmt: skip
    raw = impl.encode_record(msg)
    rec = impl.decode_record(raw, check_crc=True)
    assert rec.total_size == len(raw)
    assert (rec.topic, rec.body, rec.properties_map()) == (topic, body, props)
    assert (rec.queue_id, rec.flag, rec.queue_offset, rec.physical_offset) == (
        queue_id, flag, qoff, phys,
    )  # fmt: skip
    assert (rec.born_timestamp, rec.store_timestamp, rec.reconsume_times) == (
        born_ts, store_ts, reconsume,
    )  # fmt: skip
    assert rec.prepared_transaction_offset == prepared
    assert rec.born_host[1] == born[1] and rec.store_host[1] == store[1]
    assert rec.sys_flag & 0xF == sys_flag


@given(st.dictionaries(_text, _text, max_size=6), st.booleans())
def test_properties_round_trip(impl: Kernels, props: dict[str, str], trailing: bool) -> None:
    text = impl.encode_properties(props, trailing)
    assert impl.decode_properties(text) == {k: v for k, v in props.items() if k and v}


@given(st.text(max_size=30))
def test_java_hash_matches_reference(impl: Kernels, text: str) -> None:
    h = 0
    data = text.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(data), 2):
        h = (31 * h + int.from_bytes(data[i : i + 2], "big")) % 2**32
    assert impl.java_string_hash(text) == (h if h < 2**31 else h - 2**32)
