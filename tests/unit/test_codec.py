"""The sans-I/O frame codec: round trips, hand-written wire vectors, splitting, bad frames.

Wire vectors here are written by hand from the documented layout (remoting.md §1-§3)
or copied from captured traffic, never produced by our own encoder.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rocketq.common.errors import ProtocolError
from rocketq.remoting import codec
from rocketq.remoting.codec import (
    DEFAULT_MAX_FRAME_LENGTH,
    FrameDecoder,
    coerce_ext_fields,
    decode_frame,
    encode,
    encode_parts,
)
from rocketq.remoting.codes import LanguageCode, RequestCode, SerializeType
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.headers import SendMessageRequestHeader, SendMessageRequestHeaderV2
from tests.conftest import Kernels, outcome_of, twin_implementation

# The names below that the tests call: the pure-Python reference of codec.py, then its
# compiled twin (rocketq.common.speedups); every test of this module runs once with each.
TWINNED = ("FrameDecoder", "decode_frame", "encode", "encode_parts")


@pytest.fixture(scope="module", autouse=True, params=["pure", "compiled"])
def codec_implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    """Rebinds this module's codec names to one implementation for the module's tests."""
    chosen = twin_implementation(request.param)
    saved = {name: globals()[name] for name in TWINNED}
    globals().update({name: getattr(chosen, name) for name in TWINNED})
    yield request.param
    globals().update(saved)


JSON = SerializeType.JSON
ROCKETMQ = SerializeType.ROCKETMQ

INT32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
INT16 = st.integers(min_value=-(2**15), max_value=2**15 - 1)


def json_frame(header: str | bytes, body: bytes = b"", stype: int = 0) -> bytes:
    """A frame assembled by hand: total length, type|header length, header, body."""
    h = header.encode() if isinstance(header, str) else header
    return struct.pack(">II", 4 + len(h) + len(body), (stype << 24) | len(h)) + h + body


def decode_one(frame: bytes) -> RemotingCommand:
    """Feed one whole frame to a fresh decoder and return its only command."""
    decoder = FrameDecoder()
    commands = decoder.feed(frame)
    assert len(commands) == 1
    assert decoder.buffered == 0
    return commands[0]


# ---------------------------------------------------------------------------------------------
# property round trips

ext_maps = st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=6)
language_names = st.sampled_from([lc.name for lc in LanguageCode])


@st.composite
def commands(draw: st.DrawFn, stype: int) -> RemotingCommand:
    return RemotingCommand(
        code=draw(INT16 if stype == ROCKETMQ else INT32),
        language=draw(language_names),
        version=draw(INT16 if stype == ROCKETMQ else INT32),
        opaque=draw(INT32),
        flag=draw(INT32),
        remark=draw(st.none() | st.text(max_size=60)),
        ext_fields=draw(st.none() | ext_maps),
        body=draw(st.none() | st.binary(max_size=300)),
        serialize_type=stype,
    )


def expected_after_wire(cmd: RemotingCommand) -> RemotingCommand:
    """What the peer sees. Both layouts lose the difference between no body and an empty
    one (a zero-length body is absent). The ROCKETMQ layout also writes a null remark and
    an empty remark as length 0, read back as null (``RocketMQSerializable``), and an
    empty extFields map as length 0, read back as null (``mapDeserialize``)."""
    remark = cmd.remark
    ext = cmd.ext_fields
    if cmd.serialize_type == ROCKETMQ:
        remark = remark or None
        ext = ext or None
    return RemotingCommand(
        code=cmd.code,
        language=cmd.language,
        version=cmd.version,
        opaque=cmd.opaque,
        flag=cmd.flag,
        remark=remark,
        ext_fields=ext,
        body=cmd.body or None,
        serialize_type=cmd.serialize_type,
    )


@pytest.mark.parametrize("stype", [JSON, ROCKETMQ], ids=["JSON", "ROCKETMQ"])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_round_trip(stype: int, data: st.DataObject) -> None:
    cmd = data.draw(commands(stype))
    frame = encode(cmd)
    assert decode_one(frame) == expected_after_wire(cmd)
    # encode_parts is the same bytes, cut for writelines
    assert b"".join(encode_parts(cmd)) == frame


@pytest.mark.parametrize("stype", [JSON, ROCKETMQ], ids=["JSON", "ROCKETMQ"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_round_trip_many_frames_in_random_chunks(stype: int, data: st.DataObject) -> None:
    cmds = data.draw(st.lists(commands(stype), min_size=1, max_size=5))
    stream = b"".join(encode(c) for c in cmds)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    decoder = FrameDecoder()
    got: list[RemotingCommand] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        got += decoder.feed(stream[start:cut])
        start = cut
    assert got == [expected_after_wire(c) for c in cmds]
    assert decoder.buffered == 0


def test_rocketmq_empty_remark_and_ext_read_back_as_null() -> None:
    cmd = RemotingCommand(code=1, remark="", ext_fields={}, serialize_type=ROCKETMQ)
    got = decode_one(encode(cmd))
    assert got.remark is None
    assert got.ext_fields is None


def test_json_keeps_empty_remark_and_empty_ext() -> None:
    cmd = RemotingCommand(code=1, remark="", ext_fields={}, serialize_type=JSON)
    got = decode_one(encode(cmd))
    assert got.remark == ""
    assert got.ext_fields == {}


# ---------------------------------------------------------------------------------------------
# hand-written wire vectors

# remoting.md §3: Java 4.9.4, GET_ROUTEINFO_BY_TOPIC, opaque 7, remark "rk", topic "T".
JAVA_ROCKETMQ_FRAME = bytes.fromhex(
    "00000027 01000023 0069 00 0191 00000007 00000000 00000002 726b"
    " 0000000c 0005 746f706963 00000001 54".replace(" ", "")
)


def test_decode_java_rocketmq_example() -> None:
    cmd = decode_one(JAVA_ROCKETMQ_FRAME)
    assert cmd == RemotingCommand(
        code=RequestCode.GET_ROUTEINFO_BY_TOPIC,
        language="JAVA",
        version=401,
        opaque=7,
        flag=0,
        remark="rk",
        ext_fields={"topic": "T"},
        body=None,
        serialize_type=ROCKETMQ,
    )


def test_encode_rocketmq_matches_java_example() -> None:
    cmd = RemotingCommand(
        code=105,
        language="JAVA",
        version=401,
        opaque=7,
        remark="rk",
        ext_fields={"topic": "T"},
        serialize_type=ROCKETMQ,
    )
    assert encode(cmd) == JAVA_ROCKETMQ_FRAME


def test_decode_rocketmq_with_body_and_two_ext_fields() -> None:
    header = (
        bytes.fromhex("000a 01 003f 7fffffff 00000001")  # SEND_MESSAGE, CPP, v63, flag response
        + struct.pack(">i", 0)  # no remark
        + struct.pack(">i", 2 + 1 + 4 + 2 + 2 + 2 + 4 + 1)
        + struct.pack(">h", 1)
        + b"a"
        + struct.pack(">i", 2)
        + b"pg"
        + struct.pack(">h", 2)
        + b"\xc3\xa9"
        + struct.pack(">i", 1)
        + b"x"
    )
    frame = struct.pack(">II", 4 + len(header) + 3, (1 << 24) | len(header)) + header + b"abc"
    cmd = decode_one(frame)
    assert (cmd.code, cmd.language, cmd.version, cmd.opaque, cmd.flag) == (
        10,
        "CPP",
        63,
        2**31 - 1,
        1,
    )
    assert cmd.is_response
    assert cmd.remark is None
    assert cmd.ext_fields == {"a": "pg", "é": "x"}
    assert cmd.body == b"abc"


def test_rocketmq_unknown_language_byte_reads_as_other() -> None:
    header = bytes.fromhex("0001 63 0000 00000000 00000000 00000000 00000000")
    assert decode_one(json_frame(header, stype=1)).language == "OTHER"


# The C++ client 1.2.3 (jsoncpp FastWriter): keys sorted, remark "", a trailing newline,
# numbers for queueId/sysFlag/defaultTopicQueueNums/flag, booleans as "0"/"1", and the
# AccessKey/OnsChannel/Signature trio even without credentials (remoting.md §2, §5).
CPP_SEND_HEADER = (
    '{"code":10,"extFields":{"AccessKey":"","OnsChannel":"ALIYUN",'
    '"Signature":"dGhpcyBpcyBub3QgYSBzaWduYXR1cmU=","batch":"0","bornTimestamp":"1700000000123",'
    '"defaultTopic":"TBW102","defaultTopicQueueNums":4,"flag":0,"producerGroup":"CPP_PG",'
    '"properties":"TAGS\\u0001TagA\\u0002WAIT\\u0001true\\u0002","queueId":3,'
    '"reconsumeTimes":"0","sysFlag":0,"topic":"TestTopic","unitMode":"0"},'
    '"flag":0,"language":"CPP","opaque":5,"remark":"","version":63}\n'
)


def test_decode_cpp_client_send() -> None:
    cmd = decode_one(json_frame(CPP_SEND_HEADER, b"hello"))
    assert (cmd.code, cmd.language, cmd.version, cmd.opaque, cmd.flag) == (10, "CPP", 63, 5, 0)
    assert cmd.remark == ""
    assert cmd.body == b"hello"
    assert cmd.serialize_type == JSON
    assert cmd.ext_fields == {
        "AccessKey": "",
        "OnsChannel": "ALIYUN",
        "Signature": "dGhpcyBpcyBub3QgYSBzaWduYXR1cmU=",
        "batch": "0",
        "bornTimestamp": "1700000000123",
        "defaultTopic": "TBW102",
        "defaultTopicQueueNums": "4",
        "flag": "0",
        "producerGroup": "CPP_PG",
        "properties": "TAGS\x01TagA\x02WAIT\x01true\x02",
        "queueId": "3",
        "reconsumeTimes": "0",
        "sysFlag": "0",
        "topic": "TestTopic",
        "unitMode": "0",
    }
    header = SendMessageRequestHeader.from_ext(cmd.ext_fields)
    assert header.queue_id == 3
    assert header.default_topic_queue_nums == 4
    assert header.batch is False
    assert header.unit_mode is False


def test_cpp_batch_one_is_true() -> None:
    cmd = decode_one(json_frame(CPP_SEND_HEADER.replace('"batch":"0"', '"batch":"1"')))
    assert SendMessageRequestHeader.from_ext(cmd.ext_fields).batch is True


# ali-ons 3.12.0: SEND_MESSAGE_V2 with JS types kept in extFields, no remark.
ALI_ONS_SEND_HEADER = (
    '{"code":310,"language":"JAVA","opaque":1,"version":121,"flag":0,'
    '"extFields":{"a":"ONS_PG","b":"TestTopic","c":"TBW102","d":4,"e":-1,"f":0,'
    '"g":1700000000456,"h":0,"i":"KEYS\\u0001k1\\u0002","j":0,"k":false,"l":16,'
    '"ratio":1.5,"big":1e3,"opt":null,"flagOn":true}}'
)


def test_decode_ali_ons_send_v2() -> None:
    cmd = decode_one(json_frame(ALI_ONS_SEND_HEADER, b"\x00\x01"))
    assert (cmd.code, cmd.language, cmd.version, cmd.opaque, cmd.flag) == (310, "JAVA", 121, 1, 0)
    assert cmd.remark is None
    assert cmd.body == b"\x00\x01"
    assert cmd.ext_fields == {
        "a": "ONS_PG",
        "b": "TestTopic",
        "c": "TBW102",
        "d": "4",
        "e": "-1",
        "f": "0",
        "g": "1700000000456",
        "h": "0",
        "i": "KEYS\x01k1\x02",
        "j": "0",
        "k": "false",
        "l": "16",
        "ratio": "1.5",
        "big": "1000",
        "flagOn": "true",
    }
    header = SendMessageRequestHeaderV2.from_ext(cmd.ext_fields)
    assert header.queue_id == -1
    assert header.born_timestamp == 1700000000456
    assert header.unit_mode is False
    assert header.max_reconsume_times == 16


# Java 4.9.4: fastjson, keys sorted, all strings, serializeTypeCurrentRPC, null remark omitted.
JAVA_ROUTE_HEADER = (
    '{"code":105,"extFields":{"topic":"TestTopic"},"flag":0,"language":"JAVA",'
    '"opaque":0,"serializeTypeCurrentRPC":"JSON","version":401}'
)


def test_decode_java_json_request() -> None:
    cmd = decode_one(json_frame(JAVA_ROUTE_HEADER))
    assert cmd == RemotingCommand(
        code=105,
        language="JAVA",
        version=401,
        opaque=0,
        flag=0,
        remark=None,
        ext_fields={"topic": "TestTopic"},
        body=None,
        serialize_type=JSON,
    )


def test_decode_java_heartbeat_without_ext_fields() -> None:
    header = '{"code":34,"flag":0,"language":"JAVA","opaque":9,"version":401}'
    cmd = decode_one(json_frame(header, b'{"clientID":"c"}'))
    assert cmd.ext_fields is None
    assert cmd.body == b'{"clientID":"c"}'


def test_decode_json_tolerant_of_odd_types() -> None:
    # fastjson accepts an enum ordinal for language and numbers as strings.
    header = '{"code":"105","language":1,"opaque":"7","flag":1,"remark":null,"extFields":null}'
    cmd = decode_one(json_frame(header))
    assert (cmd.code, cmd.language, cmd.opaque, cmd.flag) == (105, "CPP", 7, 1)
    assert cmd.remark is None
    assert cmd.ext_fields is None
    assert cmd.version == 0  # absent


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"n": 3}, {"n": "3"}),
        ({"n": -12}, {"n": "-12"}),
        ({"n": 2**53 + 1}, {"n": str(2**53 + 1)}),
        ({"t": True, "f": False}, {"t": "true", "f": "false"}),
        ({"x": None, "y": "1"}, {"y": "1"}),
        ({"s": ""}, {"s": ""}),
        ({"o": {"k": 1}}, {"o": '{"k":1}'}),
        ({}, {}),
        (None, None),
    ],
)
def test_coerce_ext_fields(raw: object, expected: dict[str, str] | None) -> None:
    assert coerce_ext_fields(raw) == expected


# ---------------------------------------------------------------------------------------------
# splitting


def sample_frames() -> list[bytes]:
    return [
        JAVA_ROCKETMQ_FRAME,
        json_frame(CPP_SEND_HEADER, b"hello"),
        json_frame(ALI_ONS_SEND_HEADER, b"\x00\x01"),
        json_frame(JAVA_ROUTE_HEADER),
    ]


def test_one_frame_fed_byte_by_byte() -> None:
    frame = json_frame(CPP_SEND_HEADER, b"hello")
    decoder = FrameDecoder()
    got: list[RemotingCommand] = []
    for i in range(len(frame)):
        out = decoder.feed(frame[i : i + 1])
        if i < len(frame) - 1:
            assert out == []
            assert decoder.buffered == i + 1
        got += out
    assert got == [decode_one(frame)]
    assert decoder.buffered == 0


def test_many_frames_in_one_feed() -> None:
    frames = sample_frames() * 25
    got = FrameDecoder().feed(b"".join(frames))
    assert got == [decode_one(f) for f in frames]


def test_stream_byte_by_byte() -> None:
    stream = b"".join(sample_frames())
    decoder = FrameDecoder()
    got: list[RemotingCommand] = []
    for i in range(len(stream)):
        got += decoder.feed(stream[i : i + 1])
    assert got == [decode_one(f) for f in sample_frames()]


@pytest.mark.parametrize("frame", sample_frames(), ids=["rocketmq", "cpp", "ali-ons", "java"])
def test_frame_split_at_every_position(frame: bytes) -> None:
    expected = decode_one(frame)
    for cut in range(len(frame) + 1):
        decoder = FrameDecoder()
        first = decoder.feed(frame[:cut])
        assert first == ([expected] if cut == len(frame) else [])
        second = decoder.feed(frame[cut:])
        assert first + second == [expected], cut
        assert decoder.buffered == 0


def test_two_frames_split_at_every_position() -> None:
    a, b = JAVA_ROCKETMQ_FRAME, json_frame(CPP_SEND_HEADER, b"hello")
    stream = a + b
    expected = [decode_one(a), decode_one(b)]
    for cut in range(len(stream) + 1):
        decoder = FrameDecoder()
        got = decoder.feed(stream[:cut])
        assert len(got) == (0 if cut < len(a) else 1 if cut < len(stream) else 2)
        got += decoder.feed(stream[cut:])
        assert got == expected, cut


def test_trailing_partial_frame_stays_buffered() -> None:
    a, b = JAVA_ROCKETMQ_FRAME, json_frame(JAVA_ROUTE_HEADER, b"body")
    decoder = FrameDecoder()
    assert decoder.feed(a + b[:6]) == [decode_one(a)]
    assert decoder.buffered == 6
    assert decoder.feed(b[6:-1]) == []
    assert decoder.buffered == len(b) - 1
    assert decoder.feed(b[-1:]) == [decode_one(b)]
    assert decoder.buffered == 0


def test_feed_accepts_bytearray_and_memoryview() -> None:
    frame = json_frame(JAVA_ROUTE_HEADER)
    decoder = FrameDecoder()
    assert decoder.feed(bytearray(frame[:10])) == []
    assert decoder.feed(memoryview(frame)[10:]) == [decode_one(frame)]


def test_empty_feed() -> None:
    assert FrameDecoder().feed(b"") == []


def test_decoded_body_does_not_alias_decoder_buffer() -> None:
    frame = json_frame(JAVA_ROUTE_HEADER, b"payload")
    decoder = FrameDecoder()
    (cmd,) = decoder.feed(frame + frame[:5])
    decoder.feed(frame[5:])
    assert cmd.body == b"payload"
    assert isinstance(cmd.body, bytes)


def test_frame_of_exactly_max_length_is_accepted() -> None:
    header = b'{"code":1}'
    frame = json_frame(header, b"x" * 50)
    decoder = FrameDecoder(max_frame_length=len(frame) - 4)
    assert len(decoder.feed(frame)) == 1


# ---------------------------------------------------------------------------------------------
# bad frames


def rocketmq_header_frame(header: bytes) -> bytes:
    return json_frame(header, stype=1)


BAD_FRAMES = {
    "length above max": struct.pack(">I", DEFAULT_MAX_FRAME_LENGTH + 1),
    "length 2**31-1": struct.pack(">I", 2**31 - 1),
    "http request": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "length 0": struct.pack(">I", 0),
    "length 3": struct.pack(">I", 3) + b"abc",
    "header longer than frame": struct.pack(">II", 4 + 2, 3) + b"{}",
    "header length max": struct.pack(">II", 4, 0xFFFFFF),
    "unknown serialize type 2": json_frame(b'{"code":1}', stype=2),
    "serialize type 0x7f": json_frame(b'{"code":1}', stype=0x7F),
    "not JSON": json_frame(b"not json at all"),
    "empty JSON header": json_frame(b""),
    "truncated JSON": json_frame(b'{"code":1,'),
    "non-UTF-8 JSON": json_frame(b'{"code":1,"remark":"\xff"}'),
    "JSON array header": json_frame(b"[1,2]"),
    "JSON without code": json_frame(b'{"opaque":1,"flag":0}'),
    "JSON code not a number": json_frame(b'{"code":"abc"}'),
    "JSON code is a float": json_frame(b'{"code":1.5}'),
    "JSON opaque is an object": json_frame(b'{"code":1,"opaque":{}}'),
    "JSON extFields is a list": json_frame(b'{"code":1,"extFields":["a"]}'),
    "ROCKETMQ empty header": rocketmq_header_frame(b""),
    "ROCKETMQ fixed part cut": rocketmq_header_frame(bytes.fromhex("0069 00 0191 000000")),
    "ROCKETMQ no ext length": rocketmq_header_frame(
        bytes.fromhex("0069 00 0191 00000007 00000000 00000000")
    ),
    "ROCKETMQ remark past header": rocketmq_header_frame(
        bytes.fromhex("0069 00 0191 00000007 00000000 00000010 726b 00000000")
    ),
    "ROCKETMQ ext past header": rocketmq_header_frame(
        bytes.fromhex("0069 00 0191 00000007 00000000 00000000 00000020 0005 746f706963")
    ),
    "ROCKETMQ ext value past ext": rocketmq_header_frame(
        bytes.fromhex(
            "0069 00 0191 00000007 00000000 00000000 0000000c 0005 746f706963 00000009 54"
        )
    ),
    "ROCKETMQ ext key length negative": rocketmq_header_frame(
        bytes.fromhex("0069 00 0191 00000007 00000000 00000000 00000008 ffff 00000000 00")
    ),
    "ROCKETMQ ext entry cut": rocketmq_header_frame(
        bytes.fromhex("0069 00 0191 00000007 00000000 00000000 00000003 0005 74")
    ),
    "ROCKETMQ remark not UTF-8": rocketmq_header_frame(
        bytes.fromhex("0069 00 0191 00000007 00000000 00000001 ff 00000000")
    ),
}


@pytest.mark.parametrize("frame", list(BAD_FRAMES.values()), ids=list(BAD_FRAMES))
def test_bad_frame_raises_protocol_error(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        FrameDecoder().feed(frame)


@pytest.mark.parametrize("frame", list(BAD_FRAMES.values()), ids=list(BAD_FRAMES))
def test_bad_frame_after_good_one_raises(frame: bytes) -> None:
    decoder = FrameDecoder()
    assert len(decoder.feed(JAVA_ROCKETMQ_FRAME)) == 1
    with pytest.raises(ProtocolError):
        decoder.feed(frame)


def test_frame_above_custom_max_is_refused_from_its_length_alone() -> None:
    decoder = FrameDecoder(max_frame_length=1024)
    with pytest.raises(ProtocolError, match="1025"):
        decoder.feed(struct.pack(">I", 1025))


def test_length_word_fed_in_pieces_is_checked_once_complete() -> None:
    decoder = FrameDecoder(max_frame_length=1024)
    word = struct.pack(">I", 70000)
    assert decoder.feed(word[:3]) == []
    with pytest.raises(ProtocolError):
        decoder.feed(word[3:])


def test_decoder_stays_failed_after_protocol_error() -> None:
    decoder = FrameDecoder()
    with pytest.raises(ProtocolError) as first:
        decoder.feed(json_frame(b"garbage"))
    # The decoder is in an error state: more bytes (even a good frame) raise the same way,
    # never BufferError and never a command built from a misaligned stream. The first
    # exception (and its traceback) is still alive here on purpose.
    with pytest.raises(ProtocolError, match="already failed") as again:
        decoder.feed(JAVA_ROCKETMQ_FRAME)
    assert str(first.value) in str(again.value)


# What the compiled splitting loop's own per-frame decode raises (_frames.pxi): a decoder
# class names its decode; the loop alone decodes nothing.
NO_DECODE = "a decoder names its per-frame decode"


def _no_decode(frame: memoryview) -> RemotingCommand:
    raise NotImplementedError(NO_DECODE)


def splitter_without_decode() -> Any:
    """This implementation's splitting loop with a per-frame decode that raises something
    other than ProtocolError. The compiled loop's base class is one as it is (its
    ``_decode_one`` is a C method, which no Python subclass replaces); the reference's
    takes a hook raising the same."""
    splitter = FrameDecoder.__mro__[1]  # FrameDecoder's base: the splitting loop
    if splitter is not codec.FrameSplitter:
        return splitter()

    class NoDecode(codec.FrameSplitter):
        __slots__ = ()
        _decode_one = staticmethod(_no_decode)

    return NoDecode()


def test_decoder_stays_failed_after_a_decode_error_of_any_kind() -> None:
    decoder = splitter_without_decode()
    data = JAVA_ROCKETMQ_FRAME * 2
    with pytest.raises(NotImplementedError, match=NO_DECODE):
        decoder.feed(data)
    # Failed as after a bad frame: nothing of the stream is decoded (again) from here on.
    with pytest.raises(ProtocolError, match=f"already failed: NotImplementedError: {NO_DECODE}"):
        decoder.feed(JAVA_ROCKETMQ_FRAME)
    assert decoder.buffered == len(data)


def test_frames_decoded_before_a_failing_one_are_never_decoded_again() -> None:
    # The reference's loop (codec.FrameSplitter, pure in either mode): a test cannot make
    # the compiled per-frame decode (C) fail on the second frame of a feed; the compiled
    # loop's failure handling is the test above's.
    decoded: list[bytes] = []

    def decode_until_second(frame: memoryview) -> RemotingCommand:
        if decoded:
            raise UnicodeDecodeError("utf-8", bytes(frame), 0, 1, "a hook's own failure")
        decoded.append(bytes(frame))
        return codec._decode_frame(frame)

    class FailsOnSecond(codec.FrameSplitter):
        __slots__ = ()
        _decode_one = staticmethod(decode_until_second)

    decoder = FailsOnSecond()
    with pytest.raises(UnicodeDecodeError):
        decoder.feed(JAVA_ROCKETMQ_FRAME * 2)  # the first command is lost with the exception
    with pytest.raises(ProtocolError, match="already failed: UnicodeDecodeError: 'utf-8'"):
        decoder.feed(b"")
    assert decoded == [JAVA_ROCKETMQ_FRAME[4:]]


def test_decode_frame_rejects_too_short_frame() -> None:
    with pytest.raises(ProtocolError):
        decode_frame(b"\x00\x00")


def test_rocketmq_negative_remark_length_is_null() -> None:
    # Java reads remark only when remarkLength > 0.
    header = bytes.fromhex("0069 00 0191 00000007 00000000 ffffffff 00000000")
    assert decode_one(rocketmq_header_frame(header)).remark is None


def test_rocketmq_trailing_header_bytes_are_ignored() -> None:
    header = bytes.fromhex("0069 00 0191 00000007 00000000 00000000 00000000 dead")
    cmd = decode_one(rocketmq_header_frame(header))
    assert (cmd.code, cmd.opaque, cmd.ext_fields) == (105, 7, None)


# ---------------------------------------------------------------------------------------------
# encode layout


def test_encode_json_layout() -> None:
    cmd = RemotingCommand(
        code=105,
        language="PYTHON",
        version=401,
        opaque=3,
        flag=1,
        remark="no route",
        ext_fields={"queueId": "3", "topic": "T"},
        body=b"BODY",
    )
    frame = encode(cmd)
    total, word = struct.unpack_from(">II", frame)
    header_len = word & 0xFFFFFF
    assert word >> 24 == 0
    assert total == len(frame) - 4 == 4 + header_len + 4
    assert frame[8 + header_len :] == b"BODY"
    header = orjson.loads(frame[8 : 8 + header_len])
    assert header == {
        "code": 105,
        "extFields": {"queueId": "3", "topic": "T"},
        "flag": 1,
        "language": "PYTHON",
        "opaque": 3,
        "remark": "no route",
        "serializeTypeCurrentRPC": "JSON",
        "version": 401,
    }
    # keys in fastjson's alphabetical order, and extFields values are JSON strings
    assert list(header) == sorted(header)
    assert b'"queueId":"3"' in frame


def test_encode_json_omits_null_remark_and_ext() -> None:
    frame = encode(RemotingCommand(code=34, opaque=1))
    header = orjson.loads(frame[8:])
    assert "remark" not in header
    assert "extFields" not in header
    assert struct.unpack_from(">I", frame)[0] == len(frame) - 4


def test_encode_rocketmq_layout_by_hand() -> None:
    cmd = RemotingCommand(
        code=-2,
        language="GO",
        version=479,
        opaque=0x01020304,
        flag=3,
        remark="é",
        ext_fields={"k": "vv", "": ""},
        body=b"\x00\xff",
        serialize_type=ROCKETMQ,
    )
    header = (
        bytes.fromhex("fffe 09 01df 01020304 00000003")
        + bytes.fromhex("00000002 c3a9")
        + bytes.fromhex("0000000f")
        + bytes.fromhex("0001 6b 00000002 7676")
        + bytes.fromhex("0000 00000000")
    )
    assert len(header) == 0x26
    expected = bytes.fromhex("0000002c 01000026") + header + b"\x00\xff"
    assert encode(cmd) == expected
    parts = encode_parts(cmd)
    assert parts == [expected[:-2], b"\x00\xff"]


def test_encode_rocketmq_unknown_language_is_other() -> None:
    frame = encode(RemotingCommand(code=1, language="COBOL", serialize_type=ROCKETMQ))
    assert frame[10] == LanguageCode.OTHER


def test_encode_parts_without_body_is_one_piece() -> None:
    assert len(encode_parts(RemotingCommand(code=1))) == 1
    assert len(encode_parts(RemotingCommand(code=1, body=b""))) == 1


def test_make_response_fills_each_field_by_name() -> None:
    # make_response passes its fields positionally (cheaper): a reordered dataclass would
    # put values into the wrong fields, which this catches.
    from rocketq.remoting.command import DEFAULT_LANGUAGE, DEFAULT_VERSION, FLAG_RESPONSE

    req = RemotingCommand(code=310, opaque=77, serialize_type=SerializeType.ROCKETMQ)
    resp = req.make_response(3, "why", {"k": "v"}, b"body")
    assert resp == RemotingCommand(
        code=3,
        language=DEFAULT_LANGUAGE,
        version=DEFAULT_VERSION,
        opaque=77,
        flag=FLAG_RESPONSE,
        remark="why",
        ext_fields={"k": "v"},
        body=b"body",
        serialize_type=SerializeType.ROCKETMQ,
    )


@given(
    opaque=st.integers(-(2**31), 2**31 - 1),
    stype=st.sampled_from([SerializeType.JSON, SerializeType.ROCKETMQ]),
    msg_id=st.text("0123456789ABCDEF", min_size=32, max_size=32),
    queue_id=st.integers(0, 2**31 - 1),
    queue_offset=st.integers(0, 2**63 - 1),
    region=st.text(max_size=20),
)
@settings(max_examples=300, deadline=None)
def test_send_ok_frame_is_what_encode_writes(
    impl: Kernels,
    opaque: int,
    stype: SerializeType,
    msg_id: str,
    queue_id: int,
    queue_offset: int,
    region: str,
) -> None:
    request = RemotingCommand(code=RequestCode.SEND_MESSAGE_V2, opaque=opaque, serialize_type=stype)
    answer = request.make_response(
        ext_fields={
            "msgId": msg_id,
            "queueId": str(queue_id),
            "queueOffset": str(queue_offset),
            "MSG_REGION": region,
            "TRACE_ON": "true",
        }
    )
    frame = impl.encode_send_ok(opaque, stype, msg_id, queue_id, queue_offset, region)
    assert frame == encode(answer)
    (decoded,) = FrameDecoder().feed(frame)
    assert decoded == answer


def test_send_ok_of_no_region_fails_alike_in_both_twins(both: tuple[Kernels, Kernels]) -> None:
    # the compiled encoder keeps the last region's parts: a first call must not skip the check
    pure, compiled = both
    for impl in (compiled, pure, compiled):
        assert outcome_of(impl.encode_send_ok, 1, SerializeType.JSON, "AB", 0, 0, None) is (
            AttributeError
        )
