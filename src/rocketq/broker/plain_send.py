"""The usual send read straight from its frame (issue 11): a SEND_MESSAGE_V2 request, as Java
clients send it, becomes a :class:`PlainSend` - the request with the header fields the send
path needs - without the header object (``SendMessageProcessor`` reads the same fields from
``SendMessageRequestHeaderV2``). A binary (``ROCKETMQ``) header is read here, without the
``extFields`` dict and its two dozen strings; a JSON header is decoded by
``codec.decode_frame`` and its ``extFields`` dict checked and read by the same rule
(:func:`_plain_send`, what it saves is ``SendMessageRequestHeaderV2.from_ext``). The
``PlainSend`` keeps the header's bytes and serialize type.

Only a frame that the general decode and ``SendMessageRequestHeaderV2.from_ext`` would take
without a word comes out as a ``PlainSend``: no remark, every required field present,
every number plain decimal, no field twice, ``batch`` absent or "false", only V2 keys; in a
binary header text that is ASCII (topic and properties may be any UTF-8). Anything else -
another code, a response, a header those would refuse - is decoded by ``codec.decode_frame``
as before, so errors and their wording stay the general path's. :meth:`PlainSend.command`
gives the full command back when the processor takes the general path after all.

``decode_send_frame`` and ``SendFrameDecoder`` (``codec.FrameSplitter`` with that per-frame
step) have compiled twins in ``_kernels.pyx`` (DESIGN principle 19); the code here is their
reference.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rocketq.common import speedups
from rocketq.common.message import MessageConst, decode_properties, encode_properties
from rocketq.common.record import Address, StoredMessage, sent_message
from rocketq.remoting import codec
from rocketq.remoting.codes import LanguageCode, RequestCode, SerializeType
from rocketq.remoting.command import FLAG_RESPONSE, RemotingCommand
from rocketq.remoting.connection import ProcessorTable

__all__ = ["PlainSend", "SendFrameDecoder", "decode_send_frame", "install", "plain_message"]

_SEND_V2 = int(RequestCode.SEND_MESSAGE_V2)
_ROCKETMQ = int(SerializeType.ROCKETMQ)
_JSON = int(SerializeType.JSON)
_HEAD = struct.Struct(">hBhiii")  # code, language, version, opaque, flag, remark length
_UINT = struct.Struct(">I")
_LANGUAGE_BY_BYTE = {lc.value: lc.name for lc in LanguageCode}
# SendMessageRequestHeaderV2's keys: all, the required ones, the integer ones (Java's
# decimal text). Any other key takes the general way.
_KNOWN = frozenset("abcdefghijklmn")
_REQUIRED = frozenset("abcdefgh")
_INTS = frozenset("defghjl")
# Decimal digits a 64-bit value may have; a longer number goes the general way.
_MAX_DIGITS = 18


@dataclass(slots=True, eq=True)
class PlainSend(RemotingCommand):
    """A SEND_MESSAGE_V2 request with the header fields of the plain send path read from
    its frame (``ext_fields`` stays None; :meth:`command` decodes them)."""

    topic: str = ""
    queue_id: int = 0
    sys_flag: int = 0
    born_timestamp: int = 0
    msg_flag: int = 0  # the message's flag (header "h"); ``flag`` is the frame's
    reconsume_times: int = 0
    properties: str = ""
    header: bytes = b""  # the frame's header as it came

    def command(self) -> RemotingCommand:
        """The request as ``codec.decode_frame`` gives it (with ``extFields``)."""
        prefix = _UINT.pack((self.serialize_type << 24) | len(self.header))
        cmd = codec.decode_frame(prefix + self.header)
        cmd.body = self.body
        return cmd


def _decimal(text: str) -> int | None:
    """``int(text)`` for the plain decimal Java writes (``-`` and digits), else None."""
    digits = text[1:] if text[:1] == "-" else text
    if not digits or len(digits) > _MAX_DIGITS or not (digits.isascii() and digits.isdigit()):
        return None
    return int(text)


def _ext_of(data: bytes, pos: int, end: int) -> dict[str, str] | None:
    """The extFields entries of a binary header, or None for anything but well-formed
    entries with V2 keys, each once, and ASCII values (topic and properties: UTF-8)."""
    ext: dict[str, str] = {}
    while pos < end:
        if pos + 2 > end:
            return None
        key_len = int.from_bytes(data[pos : pos + 2], "big", signed=True)
        key_raw = data[pos + 2 : pos + 2 + key_len]
        pos += 2 + max(key_len, 0)
        if key_len < 0 or pos + 4 > end:
            return None
        val_len = int.from_bytes(data[pos : pos + 4], "big", signed=True)
        raw = data[pos + 4 : pos + 4 + val_len]
        pos += 4 + max(val_len, 0)
        if val_len < 0 or pos > end or not key_raw.isascii():
            return None
        key = key_raw.decode()
        if key not in _KNOWN or key in ext or not (raw.isascii() or key in ("b", "i")):
            return None
        try:
            ext[key] = raw.decode()
        except UnicodeDecodeError:
            return None
    return ext


def _plain_of(data: bytes, body: bytes | None) -> PlainSend | None:
    """The PlainSend of a binary header (``data``), or None (see the module docstring)."""
    if len(data) < _HEAD.size + 4:
        return None
    code, language, version, opaque, flag, remark_len = _HEAD.unpack_from(data, 0)
    if code != _SEND_V2 or remark_len > 0:  # not one to read the extFields of
        return None
    pos = _HEAD.size
    (ext_len,) = _UINT.unpack_from(data, pos)
    pos += 4
    if ext_len != len(data) - pos:
        return None
    ext = _ext_of(data, pos, len(data))
    if ext is None:
        return None
    head = (code, _LANGUAGE_BY_BYTE.get(language, "OTHER"), version, opaque, flag, None)
    return _plain_send(head, ext, body, _ROCKETMQ, data)


def _plain_send(
    head: tuple[int, str, int, int, int, str | None],
    ext: dict[str, str] | None,
    body: bytes | None,
    serialize_type: int,
    header: bytes,
) -> PlainSend | None:
    """The PlainSend of a request whose code, language, version, opaque, flag and remark
    are ``head`` and whose extFields are ``ext``, or None unless it is a plain send: code
    SEND_MESSAGE_V2, a request, no remark, only V2 keys, the required ones there, every
    value a str, the integer ones plain decimal, ``batch`` absent or "false". Both header
    forms end here (a binary one read by :func:`_plain_of`, a JSON one decoded by
    ``codec``)."""
    code, language, version, opaque, flag, remark = head
    if code != _SEND_V2 or flag & FLAG_RESPONSE or remark is not None or ext is None:
        return None
    if not (_REQUIRED <= ext.keys() <= _KNOWN) or ext.get("m", "false") != "false":
        return None
    ints: dict[str, int] = {}
    for key, text in ext.items():
        if type(text) is not str:
            return None
        if key in _INTS:
            value = _decimal(text)
            if value is None:
                return None
            ints[key] = value
    return PlainSend(
        _SEND_V2, language, version, opaque, flag, None, None, body, serialize_type, ext["b"],
        ints["e"], ints["f"], ints["g"], ints["h"], ints.get("j", 0), ext.get("i", ""), header,
    )  # fmt: skip


def _plain_of_json(cmd: RemotingCommand, header: bytes) -> PlainSend | None:
    """The PlainSend of a request decoded from a JSON header (``header``), or None."""
    head = (cmd.code, cmd.language, cmd.version, cmd.opaque, cmd.flag, cmd.remark)
    return _plain_send(head, cmd.ext_fields, cmd.body, _JSON, header)


@speedups.twin
def decode_send_frame(frame: bytes | memoryview) -> RemotingCommand:
    """``codec.decode_frame(frame)`` (``frame`` without its 4-byte total length), except that
    a plain SEND_MESSAGE_V2 (either header form) comes out as a :class:`PlainSend`."""
    return _decode_send_frame(frame)


def _decode_send_frame(frame: bytes | memoryview) -> RemotingCommand:
    # decode_send_frame's reference, also what the reference SendFrameDecoder calls
    view = memoryview(frame)
    if len(view) >= 4:
        (word,) = _UINT.unpack_from(view, 0)
        header_len = word & 0xFFFFFF
        if word >> 24 == _ROCKETMQ and header_len <= len(view) - 4:
            body = bytes(view[4 + header_len :]) if len(view) > 4 + header_len else None
            plain = _plain_of(bytes(view[4 : 4 + header_len]), body)
            if plain is not None:
                return plain
    cmd = codec._decode_frame(view)  # the reference's own decode (pure stays pure)
    if cmd.serialize_type == _JSON:  # decoded: the header length word is there and fits
        header_len = _UINT.unpack_from(view, 0)[0] & 0xFFFFFF
        plain = _plain_of_json(cmd, bytes(view[4 : 4 + header_len]))
        if plain is not None:
            return plain
    return cmd


@speedups.twin
class SendFrameDecoder(codec.FrameSplitter):
    """``codec.FrameDecoder`` whose frames go through :func:`decode_send_frame`: the same
    splitting, limits and errors (``codec.FrameSplitter``'s); plain sends come out as
    :class:`PlainSend`."""

    __slots__ = ()

    _decode_one = staticmethod(_decode_send_frame)


@speedups.twin
def plain_message(
    topic: str,
    queue_id: int,
    body: bytes,
    text: str,
    flag: int,
    sys_flag: int,
    born_timestamp: int,
    born_host: Address,
    reconsume_times: int,
    cluster: str,
    refuse: frozenset[str],
) -> tuple[StoredMessage, bool] | None:
    """The StoredMessage of a plain send whose properties are ``text`` and its WAIT flag
    (``SendMessageProcessor`` builds it so: WAIT taken out, CLUSTER set, the properties
    encoded again), or None when a property named in ``refuse`` is there. The compiled twin
    does it in one pass over the text. A value may hold 0x01 (Java keeps it: all after a
    pair's first 0x01 is the value)."""
    props = decode_properties(text)
    if not refuse.isdisjoint(props):
        return None
    wait = props.pop(MessageConst.WAIT_STORE_MSG_OK, "true").lower() != "false"
    props[MessageConst.CLUSTER] = cluster
    msg = sent_message(topic, queue_id, body, encode_properties(props), props, flag, sys_flag,
                       born_timestamp, born_host, reconsume_times)  # fmt: skip
    return msg, wait


def install(table: ProcessorTable) -> None:
    """Serve ``table``'s connections with :class:`SendFrameDecoder`."""
    table.set_decoder(SendFrameDecoder)
