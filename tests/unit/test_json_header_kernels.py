"""The compiled JSON header writer and reader against the pure-Python codec (orjson), and
the compiled ROCKETMQ (binary) header writer against the reference's.

``encode_parts`` writes the usual JSON header itself and ``FrameDecoder``/``decode_frame``
read it themselves (remoting/_kernels.pyx); every other header is left to orjson. Either
way the frame, the command or the exception type must be what the reference gives: here
hypothesis feeds both odd texts (control characters, quotes, lone surrogates, non-ASCII),
numbers at and past 64 bits, other JSON types, and hand-written JSON with whitespace,
escapes, duplicate keys and syntax errors.
"""

from __future__ import annotations

import enum
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocketq.remoting.codes import SerializeType
from rocketq.remoting.command import RemotingCommand
from tests.conftest import Kernels, compiled_kernels, outcome_of

# Every code point, lone surrogates included, and the bytes JSON escapes, often.
_odd_text = st.text(
    st.one_of(
        st.sampled_from('"\\/\x00\x01\x02\x08\t\n\x0c\r\x1f\x7f é€😀'),
        st.characters(blacklist_categories=()),
    ),
    max_size=12,
)
_numbers = st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**65), 2**65),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 0, -1]),
)


class _Code(enum.IntEnum):
    SEND = 310


def _ext_values() -> st.SearchStrategy[Any]:
    return st.one_of(_odd_text, st.integers(-5, 5), st.none(), st.booleans())


def _commands(
    serialize_type: SerializeType,
    language: st.SearchStrategy[Any],
    remark: st.SearchStrategy[Any],
    more_ext: tuple[st.SearchStrategy[Any], ...] = (),
) -> st.SearchStrategy[RemotingCommand]:
    """Commands whose every field may be odd (numbers past 64 bits, bools, odd texts, other
    JSON types), written with ``serialize_type``; ``more_ext`` adds extFields choices."""
    return st.builds(
        RemotingCommand,
        code=st.one_of(_numbers, st.just(_Code.SEND), st.booleans()),
        language=language,
        version=_numbers,
        opaque=_numbers,
        flag=_numbers,
        remark=remark,
        ext_fields=st.one_of(
            st.none(),
            st.dictionaries(_odd_text, _odd_text, max_size=6),
            st.dictionaries(_odd_text, _ext_values(), max_size=4),
            st.dictionaries(st.integers(0, 3), _odd_text, max_size=2),
            *more_ext,
        ),
        body=st.one_of(st.none(), st.binary(max_size=6)),
        serialize_type=st.just(serialize_type),
    )


@given(
    _commands(
        SerializeType.JSON,
        language=st.one_of(st.sampled_from(["JAVA", "PYTHON"]), _odd_text, st.none(), st.just(3)),
        remark=st.one_of(st.none(), _odd_text, st.just(7)),
    )
)
def test_json_headers_are_written_as_orjson_writes_them(
    both: tuple[Kernels, Kernels], cmd: RemotingCommand
) -> None:
    pure, compiled = both
    assert outcome_of(compiled.encode_parts, cmd) == outcome_of(pure.encode_parts, cmd)


@given(
    _commands(
        SerializeType.ROCKETMQ,
        language=st.one_of(st.sampled_from(["JAVA", "PYTHON", "NOPE"]), st.none(), st.just([])),
        remark=st.one_of(st.none(), _odd_text, st.just(7), st.just("")),
        more_ext=(st.just({"k" * 0x8000: "v"}),),
    )
)
def test_rocketmq_headers_are_written_as_the_reference_writes_them(
    both: tuple[Kernels, Kernels], cmd: RemotingCommand
) -> None:
    pure, compiled = both
    assert outcome_of(compiled.encode_parts, cmd) == outcome_of(pure.encode_parts, cmd)


def test_a_json_header_with_deleted_extfields_entries_and_a_long_text(
    both: tuple[Kernels, Kernels],
) -> None:
    pure, compiled = both
    ext = {"gone": "x", "a": "1", "props": "KEYS\x01k\x02" * 2000}
    del ext["gone"]  # the dict's first slot is empty: no comma before the first entry
    for remark in (None, "r" * 5000):
        cmd = RemotingCommand(310, "PYTHON", 401, 9, 0, remark, ext, b"b")
        assert compiled.encode_parts(cmd) == pure.encode_parts(cmd)


@pytest.mark.parametrize("entries", [0, 1, 40, 200])
@pytest.mark.parametrize("remark_size", [0, 300, 40_000])
def test_big_headers_escaped_everywhere_are_written_alike(
    both: tuple[Kernels, Kernels], entries: int, remark_size: int
) -> None:
    """Every byte escaped (6 written per byte), in extFields and after them (the remark,
    the language): the room made as the header grows covers what follows it too."""
    pure, compiled = both
    ext = {f"k{i}\x01": "\x02" * (i * 7 % 900) for i in range(entries)}
    for _ in range(2):  # a big one, then another after the buffer was given back
        cmd = RemotingCommand(310, "\x03" * 50, 401, 9, 0, "\x1f" * remark_size, ext, b"b")
        assert compiled.encode_parts(cmd) == pure.encode_parts(cmd)


def _frame(header: bytes) -> bytes:
    """A frame without its total length, as decode_frame takes it: JSON header, no body."""
    return struct.pack(">I", len(header)) + header


def _decoded_alike(pure: Kernels, compiled: Kernels, header: bytes) -> None:
    expected = outcome_of(pure.decode_frame, _frame(header))
    assert outcome_of(compiled.decode_frame, _frame(header)) == expected
    decoder = compiled.FrameDecoder()
    whole = struct.pack(">I", 4 + len(header)) + _frame(header)
    assert outcome_of(decoder.feed, whole) == (
        expected if isinstance(expected, type) else [expected]
    )


@given(
    st.builds(
        RemotingCommand,
        code=st.integers(-(2**31), 2**31 - 1),
        language=_odd_text,
        version=st.integers(-(2**15), 2**15 - 1),
        opaque=st.integers(-(2**31), 2**31 - 1),
        flag=st.integers(0, 3),
        remark=st.one_of(st.none(), _odd_text),
        ext_fields=st.one_of(st.none(), st.dictionaries(_odd_text, _odd_text, max_size=5)),
        serialize_type=st.just(SerializeType.JSON),
    ),
    st.lists(st.tuples(st.integers(0, 600), st.sampled_from(b' \t\n\r"\\{}[],:0-.eE1uatfn')),
             max_size=3),
)  # fmt: skip
def test_written_headers_read_back_alike_even_mangled(
    both: tuple[Kernels, Kernels], cmd: RemotingCommand, edits: list[tuple[int, int]]
) -> None:
    pure, compiled = both
    try:
        header = bytearray(pure.encode(cmd)[8:])
    except Exception:  # a lone surrogate: nothing to read back
        return
    for pos, value in edits:
        header[pos % len(header)] = value
    _decoded_alike(pure, compiled, bytes(header))


_SCALARS = [
    '"JAVA"', '"a\\"b"', '"\\u0001x\\u00e9\\u20ac"', '"\\ud83d\\ude00"', '"\\ud800"', '"\\/\\b"',
    '"\\q"', '"\\u12"', '"é"', '"\x01"', "0", "-0", "7", "-12", "01", "-", "1.5", "1e3", "2E1",
    "123456789012345678", "1234567890123456789", "99999999999999999999", "null", "true",
    "false", "nul", "[]", "{}", '{"a":"b"}', '{"a":1}', '{"a":null}', '{"a":"b",}', "",
]  # fmt: skip
_KEYS = ["code", "language", "version", "opaque", "flag", "remark", "extFields", "other",
         "co\\u0064e", "serializeTypeCurrentRPC"]  # fmt: skip


@given(
    st.lists(st.tuples(st.sampled_from(_KEYS), st.sampled_from(_SCALARS)), max_size=6),
    st.sampled_from(["", " ", "\n", "\t ", "\r\n"]),
    st.sampled_from(["", " ", "\n", "x", ",", "}"]),
)
def test_hand_written_headers_read_alike(
    both: tuple[Kernels, Kernels], pairs: list[tuple[str, str]], space: str, tail: str
) -> None:
    pure, compiled = both
    body = f"{space},{space}".join(f'"{key}"{space}:{space}{value}' for key, value in pairs)
    header = f"{space}{{{space}{body}{space}}}{tail}".encode()
    _decoded_alike(pure, compiled, header)
    if pairs:  # with a code, most of these are usual headers the kernel reads itself
        _decoded_alike(pure, compiled, header.replace(b"{", b'{"code":310,', 1))


def test_usual_headers_read_alike(both: tuple[Kernels, Kernels]) -> None:
    pure, compiled = both
    for header in (
        b'{"code":0,"extFields":{"msgId":"7F00","queueId":"3","queueOffset":"12",'
        b'"MSG_REGION":"DefaultRegion","TRACE_ON":"true"},"flag":1,"language":"JAVA",'
        b'"opaque":5,"serializeTypeCurrentRPC":"JSON","version":401}',
        b'{"code":310,"extFields":{"i":"UNIQ_KEY\\u0001ab\\u0002"},"opaque":-3}\n',
        b'{"code":1,"remark":null,"extFields":null,"extFields":{"k":"v"},"code":2}',
        b'{"code":1,"extFields":{"k":"' + "é€".encode() + b'","k":"second"}}',
        b'{"code":1,"language":"\xff"}',
        b'{"code":1,"extFields":{"k":"' + b"x" * 300 + b'\\n"}}',
    ):
        _decoded_alike(pure, compiled, header)


def test_the_kernels_read_and_write_the_usual_header_without_orjson(
    both: tuple[Kernels, Kernels], monkeypatch: Any
) -> None:
    pure, compiled = both
    kernels = compiled_kernels("rocketq.remoting._kernels")

    def refused(*_args: Any) -> Any:
        raise AssertionError("left to orjson")

    ext = {"a": "group", "i": "UNIQ_KEY\x01id\x02WAIT\x01true\x02"}
    cmd = RemotingCommand(_Code.SEND, "PYTHON", 401, 7, 0, None, ext, b"body")
    frame = pure.encode(cmd)
    monkeypatch.setattr(kernels, "_dumps", refused)
    monkeypatch.setattr(kernels, "_loads", refused)
    assert compiled.encode_parts(cmd) == pure.encode_parts(cmd)
    assert compiled.decode_frame(frame[4:]) == pure.decode_frame(frame[4:])


@given(
    st.lists(
        st.dictionaries(
            st.one_of(_odd_text, st.sampled_from(["msgId", "queueId", "a", "k" * 33, ""])),
            _odd_text,
            max_size=6,
        ),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from([SerializeType.JSON, SerializeType.ROCKETMQ]),
)
def test_extfields_keys_read_alike_again_and_again(
    both: tuple[Kernels, Kernels], exts: list[dict[str, str]], stype: SerializeType
) -> None:
    """Keys are kept and reused by the compiled readers: read twice, with other keys of the
    same length between, every header still reads as the reference reads it."""
    pure, compiled = both
    for ext in exts * 2:
        cmd = RemotingCommand(0, "JAVA", 1, 2, 1, None, ext, None, stype)
        try:
            frame = pure.encode(cmd)
        except Exception:  # a lone surrogate: nothing to read back
            continue
        assert outcome_of(compiled.decode_frame, frame[4:]) == outcome_of(
            pure.decode_frame, frame[4:]
        )
