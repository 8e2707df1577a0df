"""Sans-I/O codec for RocketMQ remoting frames.

Frame layout (big-endian; ``RemotingCommand#encode``/``decode`` in RocketMQ)::

    +-------------+---------------------------+-----------------+---------------+
    | totalLength | serializeType | headerLen | header          | body          |
    |   4 bytes   |  1 byte       |  3 bytes  | headerLen bytes | the rest      |
    +-------------+---------------------------+-----------------+---------------+
    totalLength = 4 + headerLen + len(body)   (does not count its own 4 bytes)

The header is JSON text (serialize type 0) or RocketMQ's binary layout (type 1)::

    code:i16 | language:u8 | version:i16 | opaque:i32 | flag:i32
    | remarkLen:i32 remark | extLen:i32 { keyLen:i16 key valLen:i32 val }*

Nothing here touches sockets: ``FrameDecoder.feed(bytes) -> list[RemotingCommand]``,
``encode(cmd) -> bytes``. ``FrameDecoder``, ``decode_frame`` and ``encode_parts`` have compiled
twins in ``_kernels.pyx`` (``rocketq.common.speedups``); the code here is their reference.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import orjson

from rocketq.common import speedups
from rocketq.common.errors import BrokerError, ProtocolError
from rocketq.remoting.codes import LanguageCode, ResponseCode, SerializeType
from rocketq.remoting.command import DEFAULT_LANGUAGE, DEFAULT_VERSION, RemotingCommand

__all__ = [
    "DEFAULT_MAX_FRAME_LENGTH",
    "FIELD_BOOL",
    "FIELD_INT",
    "FIELD_STR",
    "FieldPlan",
    "FrameDecoder",
    "FrameSplitter",
    "coerce_ext_fields",
    "decode_frame",
    "encode",
    "encode_parts",
    "encode_send_ok",
    "header_field_bad",
    "header_field_missing",
    "header_from_ext",
]

# Java's NettyDecoder refuses frames above com.rocketmq.remoting.frameMaxLength (16 MiB);
# a 4 MiB message plus headers fits with room to spare, a garbage length does not.
DEFAULT_MAX_FRAME_LENGTH = 16 * 1024 * 1024
# Smallest legal frame: the 4-byte header-length word and an empty header.
_MIN_TOTAL_LENGTH = 4
_HEADER_LEN_MASK = 0xFFFFFF

_PREFIX = struct.Struct(">II")
_UINT = struct.Struct(">I")
_INT = struct.Struct(">i")
_SHORT = struct.Struct(">h")
_RMQ_FIXED = struct.Struct(">hBhii")  # code, language, version, opaque, flag

_LANGUAGE_BY_BYTE = {lc.value: lc.name for lc in LanguageCode}
_BYTE_BY_LANGUAGE = {lc.name: lc.value for lc in LanguageCode}


# ---------------------------------------------------------------------------------------------
# encoding


@speedups.twin
def encode_parts(cmd: RemotingCommand) -> list[bytes]:
    """Encode ``cmd`` as the pieces of one frame (prefix+header, body), ready for writelines."""
    if cmd.serialize_type == SerializeType.ROCKETMQ:
        header = _encode_rocketmq_header(cmd)
    else:
        header = _encode_json_header(cmd)
    body = cmd.body
    body_len = len(body) if body else 0
    prefix = _PREFIX.pack(4 + len(header) + body_len, (cmd.serialize_type << 24) | len(header))
    if body_len:
        assert body is not None
        return [prefix + header, body]
    return [prefix + header]


def encode(cmd: RemotingCommand) -> bytes:
    """Encode ``cmd`` as one complete frame."""
    return b"".join(encode_parts(cmd))


# A SEND answer with code SUCCESS, JSON: what encode() writes for make_response() with
# SendMessageProcessor's extFields (see encode_send_ok).
_SEND_OK_JSON = (
    '{"code":0,"extFields":{"msgId":"%s","queueId":"%d","queueOffset":"%d","MSG_REGION":%s,'
    '"TRACE_ON":"true"},"flag":1,"language":"%s","opaque":%d,"serializeTypeCurrentRPC":"JSON",'
    '"version":%d}'
)
# Per region: (its JSON text, the binary header's MSG_REGION and TRACE_ON entries).
_send_ok_tails: dict[str, tuple[bytes, bytes]] = {}
# Distinct region names kept (a broker has one).
_SEND_OK_TAILS_LIMIT = 64


def _binary_entry(key: str, value: str) -> bytes:
    k, v = key.encode(), value.encode()
    return _SHORT.pack(len(k)) + k + _INT.pack(len(v)) + v


def send_ok_tail(region: str) -> tuple[bytes, bytes]:
    """The region's parts of a SEND answer: (its JSON string, the binary header's
    MSG_REGION and TRACE_ON entries); kept per region (the compiled twin uses them too)."""
    tail = _send_ok_tails.get(region)
    if tail is None:
        if len(_send_ok_tails) > _SEND_OK_TAILS_LIMIT:
            _send_ok_tails.clear()
        tail = _send_ok_tails[region] = (
            orjson.dumps(region),
            _binary_entry("MSG_REGION", region) + _binary_entry("TRACE_ON", "true"),
        )
    return tail


@speedups.twin
def encode_send_ok(
    opaque: int,
    serialize_type: int,
    msg_id: str,
    queue_id: int,
    queue_offset: int,
    region: str,
) -> bytes:
    """The whole frame of a successful SEND's answer, byte for byte what ``encode`` gives
    for that RemotingCommand (``SendMessageResponseHeader`` fields, region, trace on; JSON
    or RocketMQ's binary header, as the request came), without building the command and
    its extFields: the broker writes one per message. ``msg_id`` is hex (an offset msgId)."""
    tail = send_ok_tail(region)
    if serialize_type == SerializeType.ROCKETMQ:
        qid, qoff = str(queue_id).encode(), str(queue_offset).encode()
        ext = (
            b"\x00\x05msgId" + _INT.pack(len(msg_id)) + msg_id.encode()
            + b"\x00\x07queueId" + _INT.pack(len(qid)) + qid
            + b"\x00\x0bqueueOffset" + _INT.pack(len(qoff)) + qoff
            + tail[1]
        )  # fmt: skip
        header = (
            _RMQ_FIXED.pack(0, _BYTE_BY_LANGUAGE[DEFAULT_LANGUAGE], DEFAULT_VERSION, opaque, 1)
            + _ZERO_INT
            + _INT.pack(len(ext))
            + ext
        )
        stype = int(SerializeType.ROCKETMQ) << 24
    else:
        header = (
            _SEND_OK_JSON
            % (
                msg_id,
                queue_id,
                queue_offset,
                tail[0].decode(),
                DEFAULT_LANGUAGE,
                opaque,
                DEFAULT_VERSION,
            )
        ).encode()
        stype = 0
    return _PREFIX.pack(4 + len(header), stype | len(header)) + header


_ZERO_INT = b"\x00\x00\x00\x00"


def _encode_json_header(cmd: RemotingCommand) -> bytes:
    # Keys in fastjson's (alphabetical) order; null remark/extFields are omitted as Java does.
    header: dict[str, Any] = {"code": cmd.code}
    if cmd.ext_fields is not None:
        header["extFields"] = cmd.ext_fields
    header["flag"] = cmd.flag
    header["language"] = cmd.language
    header["opaque"] = cmd.opaque
    if cmd.remark is not None:
        header["remark"] = cmd.remark
    header["serializeTypeCurrentRPC"] = "JSON"
    header["version"] = cmd.version
    return orjson.dumps(header)


def _encode_rocketmq_header(cmd: RemotingCommand) -> bytes:
    language = _BYTE_BY_LANGUAGE.get(cmd.language, LanguageCode.OTHER)
    out = bytearray(_RMQ_FIXED.pack(cmd.code, language, cmd.version, cmd.opaque, cmd.flag))
    remark = cmd.remark.encode() if cmd.remark else b""
    out += _INT.pack(len(remark))
    out += remark
    ext = bytearray()
    for key, value in (cmd.ext_fields or {}).items():
        k = key.encode()
        v = value.encode()
        ext += _SHORT.pack(len(k))
        ext += k
        ext += _INT.pack(len(v))
        ext += v
    out += _INT.pack(len(ext))
    out += ext
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# decoding


def coerce_ext_fields(raw: object) -> dict[str, str] | None:
    """Turn a JSON ``extFields`` object into the declared ``Map<String,String>``.

    Real clients are liberal (client-behaviour.md §10): the C++ client sends numbers,
    ali-ons numbers and JSON booleans. Numbers become decimal text, booleans
    ``"true"``/``"false"`` (Java's ``toString``), nulls are dropped. A ``dict`` whose
    values are all strings already (what Java sends) is returned as it is, not copied.
    """
    if raw is None:
        return None
    if type(raw) is dict:
        for value in raw.values():
            if type(value) is not str:
                break
        else:
            return raw
    elif not isinstance(raw, Mapping):
        raise ProtocolError(f"extFields must be a JSON object, got {type(raw).__name__}")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, str):
            out[key] = value
        elif value is None:
            continue
        elif value is True:
            out[key] = "true"
        elif value is False:
            out[key] = "false"
        elif isinstance(value, float) and value.is_integer():
            out[key] = str(int(value))
        elif isinstance(value, int | float):
            out[key] = str(value)
        else:
            out[key] = orjson.dumps(value).decode()
    return out


def _as_int(value: object, name: str) -> int:
    if type(value) is int:
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise ProtocolError(f"header field {name!r} is not an integer: {value!r}")


def _decode_json_header(data: bytes | memoryview) -> RemotingCommand:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"header is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ProtocolError("JSON header is not an object")
    if "code" not in obj:
        raise ProtocolError("JSON header has no 'code'")
    remark = obj.get("remark")
    language = obj.get("language", "JAVA")
    if isinstance(language, int):  # fastjson accepts an enum ordinal too
        language = _LANGUAGE_BY_BYTE.get(language, "OTHER")
    code, version, opaque, flag = (
        obj["code"],
        obj.get("version", 0),
        obj.get("opaque", 0),
        obj.get("flag", 0),
    )
    # JSON numbers arrive as int: one type test instead of four calls (every frame).
    if not (type(code) is int and type(version) is int and type(opaque) is int
            and type(flag) is int):  # fmt: skip
        code, version = _as_int(code, "code"), _as_int(version, "version")
        opaque, flag = _as_int(opaque, "opaque"), _as_int(flag, "flag")
    return RemotingCommand(
        code,
        language if type(language) is str else str(language),
        version,
        opaque,
        flag,
        None if remark is None else str(remark),
        coerce_ext_fields(obj.get("extFields")),
        None,
        SerializeType.JSON,
    )


def _decode_rocketmq_header(view: memoryview) -> RemotingCommand:
    data = bytes(view)  # one copy; slicing bytes is cheaper than slicing views and copying
    try:
        code, language, version, opaque, flag = _RMQ_FIXED.unpack_from(data, 0)
        pos = _RMQ_FIXED.size
        (remark_len,) = _INT.unpack_from(data, pos)
        pos += 4
        remark = _take_text(data, pos, remark_len) if remark_len > 0 else None
        pos += max(remark_len, 0)
        (ext_len,) = _INT.unpack_from(data, pos)
        pos += 4
        ext = _decode_rocketmq_ext(data[pos : pos + ext_len]) if ext_len > 0 else None
        if ext_len > 0 and pos + ext_len > len(data):
            raise ProtocolError("ROCKETMQ header extFields run past the header")
    except struct.error as exc:
        raise ProtocolError(f"truncated ROCKETMQ header: {exc}") from exc
    return RemotingCommand(
        code=code,
        language=_LANGUAGE_BY_BYTE.get(language, "OTHER"),
        version=version,
        opaque=opaque,
        flag=flag,
        remark=remark,
        ext_fields=ext,
        serialize_type=SerializeType.ROCKETMQ,
    )


def _take_text(data: bytes, pos: int, length: int) -> str:
    if length < 0 or pos + length > len(data):
        raise ProtocolError("ROCKETMQ header string runs past the header")
    try:
        return data[pos : pos + length].decode()
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"ROCKETMQ header string is not UTF-8: {exc}") from exc


def _decode_rocketmq_ext(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    end = len(data)
    short_at = _SHORT.unpack_from
    int_at = _INT.unpack_from
    while pos < end:
        (key_len,) = short_at(data, pos)
        pos += 2
        key = _take_text(data, pos, key_len)
        pos += key_len
        (val_len,) = int_at(data, pos)
        pos += 4
        out[key] = _take_text(data, pos, val_len)
        pos += val_len
    return out


@speedups.twin
def decode_frame(frame: bytes | memoryview) -> RemotingCommand:
    """Decode one frame *without* its leading 4-byte total length."""
    return _decode_frame(frame)


def _decode_frame(frame: bytes | memoryview) -> RemotingCommand:
    # decode_frame's reference, also what the reference FrameDecoder calls: the pure path
    # stays pure even where decode_frame is the compiled twin.
    view = memoryview(frame)
    if len(view) < 4:
        raise ProtocolError("frame shorter than its header-length word")
    (word,) = _UINT.unpack_from(view, 0)
    stype = word >> 24
    header_len = word & _HEADER_LEN_MASK
    if header_len > len(view) - 4:
        raise ProtocolError(f"header length {header_len} exceeds frame length {len(view) - 4}")
    header = view[4 : 4 + header_len]
    if stype == SerializeType.JSON:
        cmd = _decode_json_header(header)
    elif stype == SerializeType.ROCKETMQ:
        cmd = _decode_rocketmq_header(header)
    else:
        raise ProtocolError(f"unknown serialize type {stype}")
    if len(view) > 4 + header_len:
        cmd.body = bytes(view[4 + header_len :])
    return cmd


class FrameSplitter:
    """Accumulates bytes and yields every complete command they hold.

    A frame may arrive split across many reads, and one read may hold many frames.
    A frame whose length is impossible or above ``max_frame_length`` raises
    ``ProtocolError``: the caller closes that one connection. After that the stream
    position is lost, so the decoder stays failed: every later ``feed`` raises too.
    Any other exception from a frame's decode fails the decoder the same way.

    Each whole frame goes through ``_decode_one``: :class:`FrameDecoder`'s is
    ``decode_frame``'s reference; a subclass names its own (``plain_send.SendFrameDecoder``),
    and the splitting stays here, once (the compiled twins share ``_frames.pxi`` so).
    """

    __slots__ = ("_buf", "_error", "_max", "_need")

    # The per-frame decode: a frame without its total length, as a view into the buffer
    # that it must not keep, to its command; a bad frame raises ProtocolError.
    _decode_one = staticmethod(_decode_frame)

    def __init__(self, max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH) -> None:
        self._buf = bytearray()
        self._max = max_frame_length
        self._need = 0  # total length of the frame being waited for, 0 if unknown
        # Why the stream broke; kept as text so no traceback pins views of the buffer.
        self._error: str | None = None

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet form a whole frame."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[RemotingCommand]:
        """Add bytes; return the commands completed by them, in order."""
        if self._error is not None:
            raise ProtocolError(f"decoder already failed: {self._error}")
        buf = self._buf
        buf += data
        if len(buf) < 4 or (self._need and len(buf) < self._need):
            return []
        out: list[RemotingCommand] = []
        pos = 0
        end = len(buf)
        view = memoryview(buf)
        decode = self._decode_one
        try:
            while end - pos >= 4:
                (total,) = _UINT.unpack_from(view, pos)
                if total < _MIN_TOTAL_LENGTH or total > self._max:
                    raise ProtocolError(
                        f"frame length {total} outside [{_MIN_TOTAL_LENGTH}, {self._max}]"
                    )
                if end - pos - 4 < total:
                    break
                out.append(decode(view[pos + 4 : pos + 4 + total]))
                pos += 4 + total
        except ProtocolError as exc:
            self._error = str(exc)
            raise
        except Exception as exc:
            # A decode that fails otherwise (a hook's bug, MemoryError) breaks the stream as
            # much: the frames decoded before it in this call are lost with the exception,
            # and the buffer still holds them, so a later feed must not decode them again.
            self._error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            view.release()
        if pos:
            del buf[:pos]
        self._need = 4 + int.from_bytes(buf[:4], "big") if len(buf) >= 4 else 0
        return out


@speedups.twin
class FrameDecoder(FrameSplitter):
    """:class:`FrameSplitter` decoding every frame as ``decode_frame`` does: the decoder of
    every connection (``Connection``) unless its processor table names another."""

    __slots__ = ()


# ---------------------------------------------------------------------------------------------
# typed headers from extFields (the generic field extraction; the classes are in headers/)

# How a field's text becomes its value (``CommandHeader``'s field types).
FIELD_STR = 0  # the text itself
FIELD_INT = 1  # int(text): Java's Integer/Long.parseLong, a ValueError is a bad value
FIELD_BOOL = 2  # Boolean.parseBoolean, plus the C++ client's "1"
# One field of a header class: (attribute, extFields key, FIELD_*, required, default).
FieldPlan = tuple[tuple[str, str, int, bool, Any], ...]


def header_field_missing(key: str) -> BrokerError:
    """A required field is absent (``RemotingCommand#decodeCommandCustomHeader``)."""
    return BrokerError(ResponseCode.SYSTEM_ERROR, f"the custom field <{key}> is null")


def header_field_bad(key: str, text: str) -> BrokerError:
    """A field's text does not parse as its type."""
    return BrokerError(
        ResponseCode.SYSTEM_ERROR, f"the custom field <{key}> has a bad value {text!r}"
    )


@speedups.twin
def header_from_ext(plan: FieldPlan, cls: type[Any], ext: Mapping[str, str] | None) -> Any:
    """A slotted header object of ``cls`` with every field of ``plan`` taken from ``ext``.

    A missing field takes its default or, when required, raises
    :func:`header_field_missing`; a text ``int()`` refuses raises :func:`header_field_bad`.
    The slots are filled without ``__init__`` (a frozen dataclass pays an
    ``object.__setattr__`` per field there). Has a compiled twin.
    """
    get = (ext or {}).get
    obj = object.__new__(cls)
    for attr, key, kind, required, default in plan:
        v = get(key)
        if v is None:
            if required:
                raise header_field_missing(key)
            value = default
        elif kind == FIELD_INT:
            try:
                value = int(v)
            except ValueError as exc:
                raise header_field_bad(key, v) from exc
        elif kind == FIELD_BOOL:
            value = v.lower() in ("true", "1")
        else:
            value = v
        object.__setattr__(obj, attr, value)
    return obj
