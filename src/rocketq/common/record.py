"""The stored message record: the CommitLog layout, which is also the pull-response body
and the body of VIEW/QUERY answers (principle 2: the stored record is the wire record).

Everything is big-endian (Java ``ByteBuffer``). Pure functions over ``bytes``/``memoryview``/
``mmap``; no file handling here (that is ``store/mapped_file.py``).

CommitLog record (``CommitLog#calMsgLength``, ``DefaultAppendMessageCallback`` of 4.9)::

    +-----------+-----------+---------+---------+------+-------------+----------------+
    | TOTALSIZE | MAGICCODE | BODYCRC | QUEUEID | FLAG | QUEUEOFFSET | PHYSICALOFFSET |
    |   i32     |   u32     |  i32    |  i32    | i32  |    i64      |      i64       |
    +-----------+-----------+---------+---------+------+-------------+----------------+
    | SYSFLAG | BORNTIMESTAMP | BORNHOST        | STORETIMESTAMP | STOREHOST          |
    |  i32    |     i64       | ip 4|16 + port i32|     i64      | ip 4|16 + port i32 |
    +---------+---------------+-----------------+----------------+--------------------+
    | RECONSUMETIMES | PREPARED TXN OFFSET | BODYLEN | BODY | TOPICLEN | TOPIC |
    |      i32       |        i64          |  i32    |  n   | i8 (V2:i16)|  t  |
    +----------------+---------------------+---------+------+----------+-------+
    | PROPLEN | PROPERTIES  name 0x01 value 0x02 ...  |
    |  i16    |   p                                    |
    +---------+----------------------------------------+

    IPv4 hosts, V1 magic: TOTALSIZE = 91 + n + t + p. Each IPv6 host (SYSFLAG 0x10 born,
    0x20 store) adds 12 bytes.

End-of-file filler (``END_FILE_MIN_BLANK_LENGTH``)::

    +------------------------------+-------------------+
    | TOTALSIZE = bytes left in file | MAGIC 0xCBD43194 |
    +------------------------------+-------------------+
"""

from __future__ import annotations

import functools
import ipaddress
import mmap
import socket
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias, TypeVar

from rocketq.common import speedups
from rocketq.common.errors import ProtocolError
from rocketq.common.hashing import java_string_hash
from rocketq.common.message import MessageConst, SysFlag, decode_properties, encode_properties

__all__ = [
    "BLANK_MAGIC_CODE",
    "END_FILE_MIN_BLANK_LENGTH",
    "MAX_PROPERTIES_LENGTH",
    "MAX_TOPIC_LENGTH_V1",
    "MESSAGE_MAGIC_CODE",
    "MESSAGE_MAGIC_CODE_V2",
    "Address",
    "Buffer",
    "GatherLimits",
    "MessageRecord",
    "RecordFormatError",
    "StoredMessage",
    "body_crc",
    "checked_record_length",
    "copy_message",
    "create_offset_msg_id",
    "decode_offset_msg_id",
    "decode_record",
    "decode_records",
    "encode_blank",
    "encode_record",
    "gather_records",
    "host_extra",
    "messages_of_pull_body",
    "peek_record",
    "record_bytes",
    "record_length",
    "record_parts",
    "sent_message",
    "tags_code",
]

Address: TypeAlias = tuple[str, int]
Buffer: TypeAlias = bytes | bytearray | memoryview | mmap.mmap
_T = TypeVar("_T")

# MessageDecoder.MESSAGE_MAGIC_CODE (-626843481): V1 record, 1-byte topic length.
MESSAGE_MAGIC_CODE = 0xDAA320A7
# MessageVersion.MESSAGE_VERSION_V2 (5.x): 2-byte topic length, used for topics > 127 bytes.
MESSAGE_MAGIC_CODE_V2 = 0xDAA320AB
# CommitLog.BLANK_MAGIC_CODE (-875286124): the end-of-file filler.
BLANK_MAGIC_CODE = 0xCBD43194
# TOTALSIZE + MAGIC of the filler; every file keeps room for it
# (CommitLog.END_FILE_MIN_BLANK_LENGTH).
END_FILE_MIN_BLANK_LENGTH = 4 + 4
# The V1 topic length is read as a signed byte by Java and the C++ client.
MAX_TOPIC_LENGTH_V1 = 127
# PROPERTIESLENGTH is a signed short.
MAX_PROPERTIES_LENGTH = 32767

# MessageSysFlag bits that change the layout.
_BORNHOST_V6_FLAG = 0x10
_STOREHOST_V6_FLAG = 0x20
_V6_FLAGS = _BORNHOST_V6_FLAG | _STOREHOST_V6_FLAG
_SYSFLAG_POSITION = 36
_CRC_MASK = 0x7FFFFFFF
# Fixed bytes of a V1 record with IPv4 hosts, excluding body, topic and properties.
_FIXED_V1_IPV4 = 91
_V6_EXTRA = 12

_HEAD = struct.Struct(">iI")
_INT = struct.Struct(">i")
_SHORT = struct.Struct(">h")
_TOPIC_LEN_V1 = struct.Struct(">B")
_MSG_ID_V4 = struct.Struct(">4siq")
_MSG_ID_V6 = struct.Struct(">16siq")


def _fixed_struct(born_v6: bool, store_v6: bool) -> struct.Struct:
    born = "16si" if born_v6 else "4si"
    store = "16si" if store_v6 else "4si"
    # total magic crc qid flag qoff phys sysflag bornts | born | storets | store
    # | reconsume prepared bodylen
    return struct.Struct(f">iIiiiqqiq{born}q{store}iqi")


# Indexed by (sys_flag & 0x30) >> 4: bit 0 = born v6, bit 1 = store v6.
_FIXED = tuple(_fixed_struct(bool(i & 1), bool(i & 2)) for i in range(4))


class RecordFormatError(ProtocolError, ValueError):
    """Bytes that are not a valid store record, or a value that cannot be stored."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message as the CommitLog stores it; input of :func:`encode_record`.

    The IPv6 bits (0x10/0x20) of ``sys_flag`` are derived from the host addresses.
    """

    topic: str
    queue_id: int
    body: bytes
    properties: str = ""
    flag: int = 0
    queue_offset: int = 0
    physical_offset: int = 0
    sys_flag: int = 0
    born_timestamp: int = 0
    born_host: Address = ("127.0.0.1", 0)
    store_timestamp: int = 0
    store_host: Address = ("127.0.0.1", 0)
    reconsume_times: int = 0
    prepared_transaction_offset: int = 0
    # The parsed form of ``properties`` when the caller already has it (the broker parsed
    # the request); saves the store parsing them again to find TAGS and KEYS.
    props: Mapping[str, str] | None = field(default=None, compare=False, repr=False)


_FIELD_SETTERS = {name: StoredMessage.__dict__[name].__set__ for name in StoredMessage.__slots__}
_DEFAULTS = StoredMessage(topic="", queue_id=0, body=b"")


@speedups.twin
def sent_message(
    topic: str,
    queue_id: int,
    body: bytes,
    properties: str,
    props: Mapping[str, str],
    flag: int,
    sys_flag: int,
    born_timestamp: int,
    born_host: Address,
    reconsume_times: int,
) -> StoredMessage:
    """``StoredMessage(...)`` of a send (every other field at its default), built through
    the slot descriptors: the frozen dataclass ``__init__`` pays an ``object.__setattr__``
    per field, about a microsecond more per send. Has a compiled twin."""
    msg: StoredMessage = object.__new__(StoredMessage)
    put = _FIELD_SETTERS
    put["topic"](msg, topic)
    put["queue_id"](msg, queue_id)
    put["body"](msg, body)
    put["properties"](msg, properties)
    put["flag"](msg, flag)
    put["queue_offset"](msg, 0)
    put["physical_offset"](msg, 0)
    put["sys_flag"](msg, sys_flag)
    put["born_timestamp"](msg, born_timestamp)
    put["born_host"](msg, born_host)
    put["store_timestamp"](msg, 0)
    put["store_host"](msg, _DEFAULTS.store_host)
    put["reconsume_times"](msg, reconsume_times)
    put["prepared_transaction_offset"](msg, 0)
    put["props"](msg, props)
    return msg


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A decoded CommitLog record (``MessageExt`` as stored)."""

    total_size: int
    magic: int
    body_crc: int
    queue_id: int
    flag: int
    queue_offset: int
    physical_offset: int
    sys_flag: int
    born_timestamp: int
    born_host: Address
    store_timestamp: int
    store_host: Address
    reconsume_times: int
    prepared_transaction_offset: int
    body: bytes
    topic: str
    properties: str

    def properties_map(self) -> dict[str, str]:
        """The properties text parsed as Java does."""
        return decode_properties(self.properties)


def copy_message(
    src: StoredMessage | MessageRecord,
    topic: str,
    queue_id: int,
    props: dict[str, str],
    *,
    sys_flag: int | None = None,
    reconsume_times: int | None = None,
    prepared_transaction_offset: int | None = None,
) -> StoredMessage:
    """``src``'s body, flag and born fields stored anew at ``topic``/``queue_id`` with
    ``props``: what the retry, delay, timer and transaction paths write (Java builds a
    ``MessageExtBrokerInner`` from the ``MessageExt`` each time). ``sys_flag``,
    ``reconsume_times`` and ``prepared_transaction_offset`` default to ``src``'s."""
    return StoredMessage(
        topic=topic,
        queue_id=queue_id,
        body=src.body,
        properties=encode_properties(props),
        props=props,
        flag=src.flag,
        sys_flag=src.sys_flag if sys_flag is None else sys_flag,
        born_timestamp=src.born_timestamp,
        born_host=src.born_host,
        reconsume_times=src.reconsume_times if reconsume_times is None else reconsume_times,
        prepared_transaction_offset=(
            src.prepared_transaction_offset
            if prepared_transaction_offset is None
            else prepared_transaction_offset
        ),
    )


# ---------------------------------------------------------------------------------------------
# properties, hashes, ids


@functools.lru_cache(maxsize=4096)
def tags_code(tags: str | None) -> int:
    """``MessageExtBrokerInner#tagsString2tagsCode``: hash of TAGS, 0 when absent or empty."""
    return java_string_hash(tags) if tags else 0


def body_crc(body: Buffer) -> int:
    """``UtilAll#crc32``: CRC32 masked to a non-negative int."""
    return zlib.crc32(body) & _CRC_MASK


@functools.lru_cache(maxsize=1024)
def _pack_ip(ip: str) -> bytes:
    try:
        return ipaddress.ip_address(ip).packed
    except ValueError as exc:
        raise RecordFormatError(f"not an IP address: {ip!r}") from exc


@functools.lru_cache(maxsize=64)
def host_extra(host: Address) -> int:
    """The bytes an IPv6 ``host`` adds to a record's host field (0 for IPv4)."""
    return _V6_EXTRA if len(_pack_ip(host[0])) == 16 else 0


@functools.lru_cache(maxsize=1024)
def _unpack_ip(raw: bytes) -> str:
    # A few distinct hosts appear again and again (producers, this broker): cache them.
    if len(raw) == 4:
        return socket.inet_ntoa(raw)
    return str(ipaddress.ip_address(raw))


@functools.lru_cache(maxsize=64)
def _msg_id_prefix(store_host: Address) -> str:
    raw = _pack_ip(store_host[0])
    return (raw + _INT.pack(store_host[1])).hex().upper()


@speedups.twin
def create_offset_msg_id(store_host: Address, physical_offset: int) -> str:
    """``MessageDecoder#createMessageId``: uppercase hex of ip + port i32 + offset i64."""
    return f"{_msg_id_prefix(store_host)}{physical_offset & 0xFFFFFFFFFFFFFFFF:016X}"


def decode_offset_msg_id(msg_id: str) -> tuple[Address, int]:
    """``MessageDecoder#decodeMessageId``: 32 hex chars = IPv4 form, 56 = IPv6 form."""
    layout = {32: _MSG_ID_V4, 56: _MSG_ID_V6}.get(len(msg_id))
    if layout is None:
        raise RecordFormatError(f"offset msgId must have 32 or 56 hex chars: {msg_id!r}")
    try:
        raw, port, offset = layout.unpack(bytes.fromhex(msg_id))
    except ValueError as exc:
        raise RecordFormatError(f"offset msgId is not hex: {msg_id!r}") from exc
    return (_unpack_ip(raw), port), offset


# ---------------------------------------------------------------------------------------------
# CommitLog records


def record_length(sys_flag: int, body_len: int, topic_len: int, props_len: int) -> int:
    """``CommitLog#calMsgLength`` for a V1 record."""
    extra = _V6_EXTRA * (bool(sys_flag & _BORNHOST_V6_FLAG) + bool(sys_flag & _STOREHOST_V6_FLAG))
    return _FIXED_V1_IPV4 + extra + body_len + topic_len + props_len


def encode_record(msg: StoredMessage) -> bytes:
    """Encode ``msg`` as one V1 CommitLog record (body CRC computed here)."""
    topic, props = msg.topic.encode("utf-8"), msg.properties.encode("utf-8")
    total = checked_record_length(msg, topic, props)
    return b"".join(
        record_parts(
            msg, topic, props, total, msg.queue_offset, msg.physical_offset,
            msg.store_timestamp, msg.store_host,
        )
    )  # fmt: skip


@speedups.twin
def checked_record_length(msg: StoredMessage, topic: bytes, props: bytes) -> int:
    """TOTALSIZE of ``msg`` with these encoded topic and properties; checks their limits."""
    if len(topic) > MAX_TOPIC_LENGTH_V1:
        raise RecordFormatError(f"topic longer than {MAX_TOPIC_LENGTH_V1} bytes: {msg.topic!r}")
    if len(props) > MAX_PROPERTIES_LENGTH:
        raise RecordFormatError(f"properties longer than {MAX_PROPERTIES_LENGTH} bytes")
    v6 = (len(_pack_ip(msg.born_host[0])) == 16) + (len(_pack_ip(msg.store_host[0])) == 16)
    return _FIXED_V1_IPV4 + _V6_EXTRA * v6 + len(msg.body) + len(topic) + len(props)


@speedups.twin
def record_parts(
    msg: StoredMessage,
    topic: bytes,
    props: bytes,
    total: int,
    queue_offset: int,
    physical_offset: int,
    store_timestamp: int,
    store_host: Address,
) -> tuple[bytes, bytes, bytes, bytes]:
    """The pieces of one record (fixed part, body, topic, properties), joined by the caller.

    The store fields are arguments so the CommitLog can fill them in without copying
    ``msg``; the IPv6 bits of SYSFLAG follow the host addresses.
    """
    born_ip = _pack_ip(msg.born_host[0])
    store_ip = _pack_ip(store_host[0])
    v6 = (_BORNHOST_V6_FLAG if len(born_ip) == 16 else 0) | (
        _STOREHOST_V6_FLAG if len(store_ip) == 16 else 0
    )
    sys_flag = (msg.sys_flag & ~_V6_FLAGS) | v6
    fixed = _FIXED[v6 >> 4].pack(
        total, MESSAGE_MAGIC_CODE, zlib.crc32(msg.body) & _CRC_MASK, msg.queue_id, msg.flag,
        queue_offset, physical_offset, sys_flag, msg.born_timestamp,
        born_ip, msg.born_host[1], store_timestamp, store_ip, store_host[1],
        msg.reconsume_times, msg.prepared_transaction_offset, len(msg.body),
    )  # fmt: skip
    return fixed, msg.body, _topic_field(topic), _SHORT.pack(len(props)) + props


@speedups.twin
def record_bytes(
    msg: StoredMessage,
    topic: bytes,
    props: bytes,
    total: int,
    queue_offset: int,
    physical_offset: int,
    store_timestamp: int,
    store_host: Address,
) -> bytes:
    """One whole record, ``b"".join(record_parts(...))``: what the CommitLog writes.

    Has a compiled twin (one allocation, no intermediate pieces)."""
    return b"".join(
        record_parts(msg, topic, props, total, queue_offset, physical_offset, store_timestamp,
                     store_host)
    )  # fmt: skip


@functools.lru_cache(maxsize=4096)
def _topic_field(topic: bytes) -> bytes:
    return bytes((len(topic),)) + topic


def encode_blank(remaining: int) -> bytes:
    """The 8-byte end-of-file filler: TOTALSIZE = bytes left in the file, BLANK magic."""
    return _HEAD.pack(remaining, BLANK_MAGIC_CODE)


def peek_record(buf: Buffer, offset: int = 0) -> tuple[int, int]:
    """(TOTALSIZE, MAGICCODE) of the record at ``offset``; needs only 8 bytes."""
    if offset < 0 or len(buf) - offset < END_FILE_MIN_BLANK_LENGTH:
        raise RecordFormatError(f"no record header at offset {offset}")
    size, magic = _HEAD.unpack_from(buf, offset)
    return int(size), int(magic)


@speedups.twin
def decode_record(buf: Buffer, offset: int = 0, check_crc: bool = False) -> MessageRecord:
    """Decode the V1/V2 record at ``offset`` of ``buf``; checks size, magic and maybe CRC."""
    return _decode_record(buf, offset, check_crc)


def _decode_record(buf: Buffer, offset: int, check_crc: bool) -> MessageRecord:
    # decode_record's reference, also what the reference decode_records calls: the pure
    # path stays pure where decode_record is the compiled twin.
    size, magic = peek_record(buf, offset)
    if magic not in (MESSAGE_MAGIC_CODE, MESSAGE_MAGIC_CODE_V2):
        raise RecordFormatError(f"bad magic code 0x{magic:08X} at offset {offset}")
    if size < _FIXED_V1_IPV4 or size > len(buf) - offset:
        raise RecordFormatError(f"record size {size} at offset {offset} out of range")
    view = memoryview(buf)[offset : offset + size]
    try:
        return _decode_view(view, magic, check_crc)
    except struct.error as exc:
        raise RecordFormatError(f"truncated record at offset {offset}") from exc
    finally:
        view.release()


def _decode_view(view: memoryview, magic: int, check_crc: bool) -> MessageRecord:
    (sys_flag,) = _INT.unpack_from(view, _SYSFLAG_POSITION)
    fixed = _FIXED[(sys_flag & _V6_FLAGS) >> 4]
    values = fixed.unpack_from(view)
    total, _, crc, queue_id, flag, queue_offset, phys, _, born_ts = values[:9]
    born_ip, born_port, store_ts, store_ip, store_port, reconsume, prepared, body_len = values[9:]
    pos = fixed.size
    body = bytes(view[pos : pos + body_len])
    if body_len < 0 or len(body) != body_len:
        raise RecordFormatError(f"body length {body_len} out of range")
    if check_crc and body_crc(body) != crc:
        raise RecordFormatError(f"body CRC mismatch at physical offset {phys}")
    pos += body_len
    if magic == MESSAGE_MAGIC_CODE_V2:
        (topic_len,) = _SHORT.unpack_from(view, pos)
        pos += 2
    else:
        (topic_len,) = _TOPIC_LEN_V1.unpack_from(view, pos)
        pos += 1
    if topic_len < 0 or pos + topic_len > len(view):
        raise struct.error("topic runs past the record")
    topic = bytes(view[pos : pos + topic_len]).decode("utf-8", "replace")
    pos += topic_len
    (props_len,) = _SHORT.unpack_from(view, pos)
    pos += 2
    props = bytes(view[pos : pos + max(props_len, 0)]).decode("utf-8", "replace")
    pos += max(props_len, 0)
    if pos != total:
        raise RecordFormatError(f"record size {total} does not match its fields ({pos})")
    return MessageRecord(
        total, magic, crc, queue_id, flag, queue_offset, phys, sys_flag, born_ts,
        (_unpack_ip(born_ip), born_port), store_ts, (_unpack_ip(store_ip), store_port),
        reconsume, prepared, body, topic, props,
    )  # fmt: skip


@speedups.twin
def decode_records(data: Buffer) -> list[MessageRecord]:
    """Decode concatenated records (a pull body); raises RecordFormatError on a bad one."""
    return _decode_records(data)


def _decode_records(data: Buffer) -> list[MessageRecord]:
    # decode_records' reference, also what the reference messages_of_pull_body calls.
    out = []
    pos = 0
    view = memoryview(data)
    while pos < len(view):
        record = _decode_record(view, pos, False)
        out.append(record)
        pos += record.total_size
    return out


@speedups.twin
def messages_of_pull_body(
    body: Buffer,
    make: Callable[..., _T],
    broker_name: str,
    min_offset: int,
    max_offset: int,
) -> list[_T]:
    """The received messages of a pull body: ``make(...)`` of every record, with its
    properties, inflated body, msgId and MIN_OFFSET/MAX_OFFSET as the client's
    ``PullAPIWrapper#processPullResult`` gives them. Has a compiled twin.

    Every record is decoded before the first message is made, so a bad record raises
    RecordFormatError before a bad compressed body raises ``zlib.error``. ``make`` (the
    client's ``MessageExt``) is called positionally with topic, body, properties, msg_id
    (UNIQ_KEY, else the offset msgId), offset_msg_id, queue_id, queue_offset,
    commit_log_offset, born_timestamp, born_host, store_timestamp, store_host,
    reconsume_times, sys_flag, flag, body_crc, prepared_transaction_offset, broker_name.
    """
    low, high = str(min_offset), str(max_offset)
    out = []
    for r in _decode_records(body):
        props = decode_properties(r.properties)
        data = zlib.decompress(r.body) if r.sys_flag & SysFlag.COMPRESSED else r.body
        offset_id = create_offset_msg_id(r.store_host, r.physical_offset)
        msg_id = props.get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX, offset_id)
        props[MessageConst.MIN_OFFSET] = low
        props[MessageConst.MAX_OFFSET] = high
        out.append(make(
            r.topic, data, props, msg_id, offset_id, r.queue_id, r.queue_offset,
            r.physical_offset, r.born_timestamp, r.born_host, r.store_timestamp,
            r.store_host, r.reconsume_times, r.sys_flag, r.flag, r.body_crc,
            r.prepared_transaction_offset, broker_name,
        ))  # fmt: skip
    return out


# A ConsumeQueue entry (CQ_STORE_UNIT_SIZE): physical offset i64, size i32, tags code i64.
_CQ_ENTRY = struct.Struct(">qiq")
GatherLimits: TypeAlias = tuple[int, int, int, int, int, int, int]


@speedups.twin
def gather_records(
    entries: Buffer,
    index: int,
    span: Buffer,
    span_start: int,
    min_phys: int,
    count: int,
    total: int,
    limits: GatherLimits,
) -> tuple[bytes, int, int, int, int, bool]:
    """An unfiltered pull's records, joined: from ConsumeQueue ``entries`` (20-byte units)
    at ``index``, the records that lie in ``span`` (CommitLog bytes from the global offset
    ``span_start``), one after another, while the pull is not full. Has a compiled twin.

    ``count``/``total``: messages and bytes the pull holds already. ``limits`` is
    (maxMsgNums, the CommitLog's max offset, the in-memory distance, max bytes and count
    in memory, max bytes and count on disk): ``DefaultMessageStore#isTheBatchFull`` is
    checked before every entry once the pull holds a message. Stops at the first entry
    that is removed (below ``min_phys``) or outside the span, for the caller to handle.
    Returns (the records, the next index, count, total, the last taken physical offset or
    -1, whether the pull is full).
    """
    if index < 0:
        raise ValueError(f"entry index {index} is negative")
    max_nums, max_phys, memory_limit, mem_bytes, mem_count, disk_bytes, disk_count = limits
    view = memoryview(span)
    span_end = span_start + len(view)
    unit = _CQ_ENTRY.size
    rest = memoryview(entries)[index * unit : len(entries) // unit * unit]
    pieces = []
    last_phys = -1
    full = False
    for phys, size, _tags in _CQ_ENTRY.iter_unpack(rest):
        if count:
            if max_phys - phys > memory_limit:
                max_bytes, max_count = disk_bytes, disk_count
            else:
                max_bytes, max_count = mem_bytes, mem_count
            if count >= max_nums or total + size > max_bytes or count > max_count - 1:
                full = True
                break
        if size < 0 or phys < min_phys or phys < span_start or phys + size > span_end:
            break
        at = phys - span_start
        pieces.append(view[at : at + size])
        count += 1
        total += size
        last_phys = phys
        index += 1
    joined = b"".join(pieces)
    for piece in pieces:
        piece.release()
    view.release()
    rest.release()
    return joined, index, count, total, last_phys, full
