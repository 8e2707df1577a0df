"""A plain send read straight from its frame (``broker/plain_send.py``, issue 11): the
compiled twins equal the pure reference, a ``PlainSend`` holds what the general decode and
``SendMessageRequestHeaderV2.from_ext`` give - with a binary header and with a JSON one -
and every other frame decodes as before."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocketq.broker import plain_send
from rocketq.broker.plain_send import PlainSend
from rocketq.common import speedups
from rocketq.common.errors import ProtocolError
from rocketq.remoting.codec import decode_frame, encode
from rocketq.remoting.codes import RequestCode, SerializeType
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection, ProcessorTable
from rocketq.remoting.headers import SendMessageRequestHeaderV2
from tests.conftest import compiled_kernels, outcome_of

FIELDS = {
    "a": "pg", "b": "BenchmarkTest", "c": "TBW102", "d": "4", "e": "1", "f": "0",
    "g": "1700000000000", "h": "0", "i": "UNIQ_KEY\x01AB\x02WAIT\x01true\x02", "j": "0",
    "k": "false", "m": "false",
}  # fmt: skip


def _frame(ext: dict[str, str] | None, *, code: int = 310, flag: int = 0, remark: str | None = None,
           body: bytes | None = b"body", stype: int = SerializeType.ROCKETMQ) -> bytes:  # fmt: skip
    cmd = RemotingCommand(code, "JAVA", 401, 7, flag, remark, ext, body, stype)
    return encode(cmd)[4:]


def _impls() -> list[Any]:
    compiled = compiled_kernels("rocketq.broker._kernels")
    return [speedups.REFERENCE["decode_send_frame"], compiled.decode_send_frame]


def _check(frame: bytes) -> Any:
    """Both implementations agree; a PlainSend holds the general decode's values."""
    pure, compiled = _impls()
    got = outcome_of(pure, frame)
    assert outcome_of(compiled, frame) == got
    assert type(outcome_of(compiled, frame)) is type(got)
    general = outcome_of(decode_frame, frame)
    if type(got) is not PlainSend:
        assert got == general
        return got
    assert got.command() == general
    header_len = struct.unpack_from(">I", frame)[0] & 0xFFFFFF
    assert got.serialize_type == general.serialize_type and got.header == frame[4 : 4 + header_len]
    assert got.ext_fields is None and got.remark is None and general.remark is None
    header = SendMessageRequestHeaderV2.from_ext(general.ext_fields)
    assert not header.batch
    assert (got.topic, got.queue_id, got.sys_flag, got.born_timestamp, got.msg_flag) == (
        header.topic, header.queue_id, header.sys_flag, header.born_timestamp, header.flag,
    )  # fmt: skip
    assert got.reconsume_times == (header.reconsume_times or 0)
    assert got.properties == (header.properties or "")
    assert (got.code, got.opaque, got.flag, got.body) == (310, 7, general.flag, general.body)
    return got


_STYPES = [SerializeType.ROCKETMQ, SerializeType.JSON]


@pytest.mark.parametrize("stype", _STYPES)
def test_a_java_send_is_plain(stype: int) -> None:
    got = _check(_frame(FIELDS, stype=stype))
    assert type(got) is PlainSend and got.topic == "BenchmarkTest" and got.queue_id == 1
    assert got.serialize_type == stype and got.language == "JAVA" and got.version == 401


@pytest.mark.parametrize("stype", _STYPES)
@pytest.mark.parametrize(
    "change",
    [
        {"m": "true"}, {"m": "False"}, {"d": "x"}, {"e": "+1"}, {"e": " 1"}, {"g": "1" * 19},
        {"z": "1"}, {"l": "-"}, {"e": "٣"}, {"topic": "T"},
    ],
)  # fmt: skip
def test_what_the_general_path_decides_is_not_plain(change: dict[str, str], stype: int) -> None:
    assert type(_check(_frame({**FIELDS, **change}, stype=stype))) is RemotingCommand


def test_non_ascii_text_in_a_field_the_send_does_not_read() -> None:
    # The binary reader takes only ASCII there; a JSON header's strings are decoded already.
    ext = {**FIELDS, "a": "gé"}
    assert type(_check(_frame(ext))) is RemotingCommand
    assert type(_check(_frame(ext, stype=SerializeType.JSON))) is PlainSend


@pytest.mark.parametrize("stype", _STYPES)
@pytest.mark.parametrize("missing", list("abcdefgh"))
def test_a_required_field_missing_is_not_plain(missing: str, stype: int) -> None:
    ext = {k: v for k, v in FIELDS.items() if k != missing}
    assert type(_check(_frame(ext, stype=stype))) is RemotingCommand


@pytest.mark.parametrize("stype", _STYPES)
@pytest.mark.parametrize(
    "kw", [{"code": 10}, {"code": 320}, {"flag": 1}, {"remark": "r"}, {"body": None}]
)
def test_other_frames_decode_as_before(kw: dict[str, Any], stype: int) -> None:
    got = _check(_frame(FIELDS, stype=stype, **kw))
    assert type(got) is (PlainSend if kw == {"body": None} else RemotingCommand)


def test_an_empty_json_remark_is_not_plain() -> None:
    assert type(_check(_frame(FIELDS, remark="", stype=SerializeType.JSON))) is RemotingCommand


@pytest.mark.parametrize("stype", _STYPES)
def test_optional_fields_and_utf8(stype: int) -> None:
    ext = {k: v for k, v in FIELDS.items() if k not in "ijkm"}
    got = _check(_frame({**ext, "b": "Tö", "l": "-3", "n": "broker-a"}, stype=stype))
    assert type(got) is PlainSend and got.properties == "" and got.reconsume_times == 0
    assert type(_check(_frame({**FIELDS, "i": "K\x01ü😀\x02"}, stype=stype))) is PlainSend


def _json_frame(header: dict[str, Any] | str, body: bytes = b"body") -> bytes:
    """A frame whose JSON header is ``header`` as given (not as ``codec.encode`` writes)."""
    text = (header if isinstance(header, str) else json.dumps(header)).encode()
    return struct.pack(">I", len(text)) + text + body


def test_json_headers_as_other_clients_write_them() -> None:
    base = {"code": 310, "language": "CPP", "version": 1, "opaque": 7, "flag": 0}
    # numbers and booleans become text (codec.coerce_ext_fields), nulls are dropped
    ext: dict[str, Any] = {**FIELDS, "e": 2, "g": 1700000000000, "m": False, "l": None}
    got = _check(_json_frame({**base, "extFields": ext}))
    assert type(got) is PlainSend and (got.queue_id, got.born_timestamp) == (2, 1700000000000)
    got = _check(_json_frame({**base, "language": 0, "extFields": FIELDS}))  # an ordinal
    assert type(got) is PlainSend and got.language == "JAVA"
    assert (
        type(_check(_json_frame({**base, "extFields": {**FIELDS, "m": True}}))) is RemotingCommand
    )
    # a key twice: the JSON decode keeps one value, the PlainSend the same one
    twice = json.dumps({**base, "extFields": FIELDS})[:-2] + ', "e": "3"}}'
    got = _check(_json_frame(twice))
    assert type(got) is PlainSend and got.queue_id == 3
    for header in ({**base, "extFields": None}, {**base, "flag": 3, "extFields": FIELDS}):
        assert type(_check(_json_frame(header))) is RemotingCommand


def _with_duplicate(frame: bytes) -> bytes:
    """The frame with its extFields' first entry written twice."""
    header_len = struct.unpack_from(">I", frame)[0] & 0xFFFFFF
    header, body = frame[4 : 4 + header_len], frame[4 + header_len :]
    ext_len = struct.unpack_from(">i", header, 17)[0]
    entry_len = 2 + 1 + 4 + struct.unpack_from(">i", header, 17 + 4 + 3)[0]
    entry = header[21 : 21 + entry_len]
    new = header[:17] + struct.pack(">i", ext_len + entry_len) + entry + header[21:]
    return struct.pack(">I", (1 << 24) | len(new)) + new + body


def test_a_key_twice_is_not_plain() -> None:
    assert type(_check(_with_duplicate(_frame(FIELDS)))) is RemotingCommand


_value = st.one_of(
    st.sampled_from(["0", "1", "-1", "12", "-0", "007", "x", "", "true", "false", "1" * 18]),
    st.text(st.sampled_from("09-+ aé\x01\x02"), max_size=6),
)
_ext = st.dictionaries(st.sampled_from(list("abcdefghijklmnoz")), _value, max_size=16)


@given(_ext, st.sampled_from([310, 10, 320]), st.integers(0, 3), st.sampled_from(_STYPES))
def test_twins_agree_on_any_header(ext: dict[str, str], code: int, flag: int, stype: int) -> None:
    _check(_frame(ext, code=code, flag=flag, stype=stype))


@given(st.data())
def test_twins_agree_on_mangled_frames(data: st.DataObject) -> None:
    stype = data.draw(st.sampled_from(_STYPES))
    frame = bytearray(_frame({**FIELDS, **data.draw(_ext)}, stype=stype))
    for _ in range(data.draw(st.integers(0, 3))):
        at = data.draw(st.integers(0, len(frame) - 1))
        frame[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(frame)))
    _check(bytes(frame[:cut]))


def _decoders() -> list[Any]:
    compiled = compiled_kernels("rocketq.broker._kernels")
    return [speedups.REFERENCE["SendFrameDecoder"], compiled.SendFrameDecoder]


_KINDS = ["plain", "json", "json v1", "json batch", "v1", "pull"]


@given(st.lists(st.sampled_from(_KINDS), max_size=6), st.integers(1, 97))
def test_decoders_agree_fed_whole_and_in_pieces(kinds: list[str], step: int) -> None:
    json_ = SerializeType.JSON
    frames = {
        "plain": _frame(FIELDS), "json": _frame(FIELDS, stype=json_),
        "json v1": _frame(FIELDS, code=10, stype=json_),
        "json batch": _frame({**FIELDS, "m": "true"}, stype=json_),
        "v1": _frame(FIELDS, code=10), "pull": _frame({"x": "1"}, code=11, body=None),
    }  # fmt: skip
    data = b"".join(struct.pack(">I", len(frames[k])) + frames[k] for k in kinds)
    outs = []
    for cls in _decoders():
        whole = cls().feed(data)
        decoder, pieces = cls(), []
        for at in range(0, len(data), step):
            pieces += decoder.feed(data[at : at + step])
        assert pieces == whole and decoder.buffered == 0
        outs.append([(type(c), c) for c in whole])
    assert outs[0] == outs[1]
    assert [c.command() if type(c) is PlainSend else c for _, c in outs[0]] == [
        decode_frame(frames[k]) for k in kinds
    ]
    assert [t is PlainSend for t, _ in outs[0]] == [k in ("plain", "json") for k in kinds]


@pytest.mark.parametrize("total", [0, 3, 2**30])
def test_decoders_fail_on_a_bad_length_and_stay_failed(total: int) -> None:
    for cls in _decoders():
        decoder = cls(1 << 20)
        with pytest.raises(ProtocolError, match="frame length"):
            decoder.feed(struct.pack(">I", total) + b"\x00" * 8)
        with pytest.raises(ProtocolError, match="already failed"):
            decoder.feed(b"")


def test_decoders_fail_on_a_frame_their_decode_refuses_and_stay_failed() -> None:
    # The error is the per-frame decode's (codec.FrameSplitter's hook), kept by the splitting.
    bad = b"\x07\x00\x00\x01xxxxx"  # serialize type 7
    for cls in _decoders():
        decoder = cls()
        with pytest.raises(ProtocolError, match="unknown serialize type 7"):
            decoder.feed(struct.pack(">I", len(bad)) + bad)
        with pytest.raises(ProtocolError, match="already failed: unknown serialize type 7"):
            decoder.feed(_frame(FIELDS))
        assert decoder.buffered == 4 + len(bad)  # a failed decoder takes no more bytes


def test_the_module_names_are_the_active_twins() -> None:
    module = speedups.load_kernels("rocketq.broker._kernels")
    if module is None:
        assert plain_send.decode_send_frame is speedups.REFERENCE["decode_send_frame"]
    else:
        assert plain_send.decode_send_frame is module.decode_send_frame
        assert plain_send.SendFrameDecoder is module.SendFrameDecoder


async def test_a_table_with_a_decoder_serves_its_connections_with_it() -> None:
    table = ProcessorTable()
    assert type(Connection(table)._decoder) is type(Connection()._decoder)
    plain_send.install(table)
    conn = Connection(table)
    assert type(conn._decoder) is plain_send.SendFrameDecoder
    seen: list[RemotingCommand] = []
    table.register(RequestCode.SEND_MESSAGE_V2, lambda c, req: seen.append(req))
    for stype in _STYPES:
        frame = _frame(FIELDS, stype=stype)
        conn.data_received(struct.pack(">I", len(frame)) + frame)
    assert [(type(c), c.serialize_type) for c in seen] == [(PlainSend, s) for s in _STYPES]


# --- the StoredMessage of a plain send ------------------------------------------------------

_REFUSE = frozenset({"DELAY", "TRAN_MSG", "TIMER_DELIVER_MS"})
# WAIT's "false" in any case, near misses, a value with 0x01, a non-ASCII one
_VALUES = ["true", "false", "FALSE", "fAlSe", "falsee", "fals", "FALS@", "x", "", "a\x01b", "ü"]
_prop_text = st.one_of(
    st.text(st.sampled_from("ab\x01\x02WAITDELAYCLUSTERfalse"), max_size=40),
    st.lists(
        st.tuples(
            st.sampled_from(["UNIQ_KEY", "WAIT", "TAGS", "KEYS", "CLUSTER", "DELAY", "a", "é"]),
            st.sampled_from(_VALUES),
        ),
        max_size=6,
    ).map(lambda pairs: "".join(f"{k}\x01{v}\x02" for k, v in pairs)),
)


def _plain_messages() -> list[Any]:
    compiled = compiled_kernels("rocketq.broker._kernels")
    return [speedups.REFERENCE["plain_message"], compiled.plain_message]


def _built(fn: Any, text: str, cluster: str, refuse: frozenset[str] = _REFUSE) -> Any:
    got = outcome_of(fn, "T", 1, b"body", text, 3, 4, 5, ("127.0.0.1", 6), 7, cluster, refuse)
    if type(got) is tuple:
        msg, wait = got
        return msg, dict(msg.props), wait, type(msg.props)
    return got


@given(
    _prop_text,
    st.sampled_from(["DefaultCluster", "c\x01x", "clé", ""]),
    st.sampled_from([_REFUSE, frozenset({"WAIT", "KEYS"}), frozenset()]),
)
def test_plain_message_twins_agree(text: str, cluster: str, refuse: frozenset[str]) -> None:
    pure, compiled = _plain_messages()
    assert _built(compiled, text, cluster, refuse) == _built(pure, text, cluster, refuse)


def test_plain_message_is_what_the_processor_built_before() -> None:
    text = "UNIQ_KEY\x01AB\x02WAIT\x01false\x02TAGS\x01T"
    for fn in _plain_messages():
        msg, wait = fn("T", 1, b"b", text, 3, 4, 5, ("127.0.0.1", 6), 7, "C", _REFUSE)
        assert wait is False
        assert msg.properties == "UNIQ_KEY\x01AB\x02TAGS\x01T\x02CLUSTER\x01C"
        assert msg.props == {"UNIQ_KEY": "AB", "TAGS": "T", "CLUSTER": "C"}
        assert (msg.topic, msg.queue_id, msg.body, msg.flag, msg.sys_flag) == ("T", 1, b"b", 3, 4)
        assert (msg.born_timestamp, msg.born_host, msg.reconsume_times) == (5, ("127.0.0.1", 6), 7)
        assert fn("T", 1, b"b", "DELAY\x013", 0, 0, 0, ("h", 0), 0, "C", _REFUSE) is None
        # a name the compiled twin knows by heart, refused all the same
        refuse = frozenset({"KEYS"})
        assert fn("T", 1, b"b", "KEYS\x01k", 0, 0, 0, ("h", 0), 0, "C", refuse) is None
