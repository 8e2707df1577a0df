# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""C twins of rocketq's hottest pure functions (DESIGN principle 19).

Each function here has the name, the signature and the behaviour (results and exception
types) of the pure-Python function it twins; ``rocketq.common.speedups.twin`` swaps it in
at import time. The pure-Python functions are the reference: read them first, this file
only does the same with C types. Byte and text work only, no business logic.

    java_string_hash        rocketq.common.hashing
    decode_properties       rocketq.common.message
    encode_properties       rocketq.common.message
    checked_record_length   rocketq.common.record
    record_parts            rocketq.common.record
    record_bytes            rocketq.common.record
    create_offset_msg_id    rocketq.common.record
    decode_record           rocketq.common.record
    decode_records          rocketq.common.record
    messages_of_pull_body   rocketq.common.record
    sent_message            rocketq.common.record
    gather_records          rocketq.common.record

Helpers that only cache (IP packing, the topic field, the msgId prefix) and the record
classes are taken from ``rocketq.common.record`` on first use (it imports this module).
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy
from cpython.object cimport Py_TYPE

import struct
import zlib

cdef extern from "Python.h":
    int PyUnicode_KIND(object text)
    void* PyUnicode_DATA(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    Py_UCS4 PyUnicode_READ(int kind, void* data, Py_ssize_t index)
    object PyUnicode_Substring(object text, Py_ssize_t start, Py_ssize_t end)
    Py_ssize_t PyUnicode_FindChar(object text, Py_UCS4 ch, Py_ssize_t start,
                                  Py_ssize_t end, int direction) except -2
    object PyUnicode_DecodeUTF8(const char* data, Py_ssize_t size, const char* errors)
    object PyUnicode_DecodeASCII(const char* data, Py_ssize_t size, const char* errors)
    int PyObject_GenericSetAttr(object obj, object name, object value) except -1
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    Py_UCS4 PyUnicode_MAX_CHAR_VALUE(object text)
    Py_ssize_t PyUnicode_CopyCharacters(object to, Py_ssize_t to_start, object frm,
                                        Py_ssize_t from_start, Py_ssize_t how_many) except -1
    void PyUnicode_WRITE(int kind, void* data, Py_ssize_t index, Py_UCS4 value)

# MessageDecoder's separators (rocketq.common.message).
cdef Py_UCS4 NAME_VALUE_SEPARATOR = 1
cdef Py_UCS4 PROPERTY_SEPARATOR = 2
# rocketq.common.record's constants, same names without the leading underscore.
cdef uint32_t MESSAGE_MAGIC_CODE = 0xDAA320A7
cdef uint32_t MESSAGE_MAGIC_CODE_V2 = 0xDAA320AB
cdef int32_t MAX_TOPIC_LENGTH_V1 = 127
cdef int32_t MAX_PROPERTIES_LENGTH = 32767
cdef int32_t BORNHOST_V6_FLAG = 0x10
cdef int32_t STOREHOST_V6_FLAG = 0x20
cdef int32_t CRC_MASK = 0x7FFFFFFF
cdef Py_ssize_t FIXED_V1_IPV4 = 91
cdef Py_ssize_t V6_EXTRA = 12
cdef Py_ssize_t END_FILE_MIN_BLANK_LENGTH = 8
# The fixed part of a record without its two host addresses (record_parts' first piece).
cdef Py_ssize_t FIXED_WITHOUT_HOSTS = 80
cdef Py_ssize_t SYSFLAG_POSITION = 36
cdef Py_ssize_t BORNHOST_POSITION = 48

_crc32 = zlib.crc32
_STRUCT_ERROR = struct.error

# --- rocketq.common.record's helpers, bound on first use ----------------------------------
cdef object _record = None


cdef object _record_module():
    global _record
    if _record is None:
        from rocketq.common import record
        _record = record
    return _record


cdef object _format_error(str text):
    return _record_module().RecordFormatError(text)


# --- big-endian reads and writes ----------------------------------------------------------

cdef inline void _put32(char* p, uint32_t v) noexcept:
    p[0] = <char>(v >> 24)
    p[1] = <char>(v >> 16)
    p[2] = <char>(v >> 8)
    p[3] = <char>v


cdef inline void _put64(char* p, uint64_t v) noexcept:
    _put32(p, <uint32_t>(v >> 32))
    _put32(p + 4, <uint32_t>v)


cdef inline uint32_t _get32(const uint8_t* p) noexcept:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline uint64_t _get64(const uint8_t* p) noexcept:
    return (<uint64_t>_get32(p) << 32) | _get32(p + 4)


cdef inline int16_t _get16(const uint8_t* p) noexcept:
    return <int16_t>((<uint32_t>p[0] << 8) | p[1])


# --- hashing ------------------------------------------------------------------------------

def java_string_hash(str text not None):
    """Java ``String#hashCode``: over UTF-16 code units, signed 32-bit result."""
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    cdef Py_ssize_t i, n = PyUnicode_GET_LENGTH(text)
    cdef uint32_t h = 0
    cdef uint32_t cp
    for i in range(n):
        cp = PyUnicode_READ(kind, data, i)
        if cp >= 0x10000:  # outside the BMP: two UTF-16 units, a surrogate pair
            cp -= 0x10000
            h = 31 * h + (0xD800 + (cp >> 10))
            h = 31 * h + (0xDC00 + (cp & 0x3FF))
        else:
            h = 31 * h + cp
    return <int32_t>h


# --- message properties -------------------------------------------------------------------

def decode_properties(str text not None):
    """``MessageDecoder#string2messageProperties``: with or without a trailing 0x02."""
    cdef dict out = {}
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
    cdef Py_ssize_t start = 0, end, cut
    while start <= n:  # one segment per 0x02, the last one possibly empty
        end = start
        while end < n and PyUnicode_READ(kind, data, end) != PROPERTY_SEPARATOR:
            end += 1
        if end - start >= 3:
            cut = start
            while cut < end and PyUnicode_READ(kind, data, cut) != NAME_VALUE_SEPARATOR:
                cut += 1
            if start < cut < end - 1:
                out[PyUnicode_Substring(text, start, cut)] = PyUnicode_Substring(
                    text, cut + 1, end
                )
        start = end + 1
    return out


cdef inline bint _has_char(str text, Py_UCS4 char):
    return PyUnicode_FindChar(text, char, 0, PyUnicode_GET_LENGTH(text), 1) >= 0


cdef inline int _check_pair(str name, str value) except -1:
    """encode_properties' refusals (the reference has the reasons)."""
    if _has_char(name, NAME_VALUE_SEPARATOR) or _has_char(name, PROPERTY_SEPARATOR):
        raise ValueError(f"property name may not hold 0x01/0x02: {name!r}")
    if _has_char(value, PROPERTY_SEPARATOR):
        raise ValueError(f"property value may not hold 0x02: {value!r}")
    return 0


cdef object _encode_str_dict(dict props, bint trailing_separator):
    """encode_properties of a dict of plain str: sized first, then written into one new
    str. None when a name or value is not a plain str (the general path takes it)."""
    cdef Py_ssize_t size = 0, pos = 0, n
    cdef Py_UCS4 maxchar = 127
    for name, value in props.items():
        if value is None:
            continue
        if type(name) is not str or type(value) is not str:
            return None
        _check_pair(name, value)
        maxchar = max(maxchar, PyUnicode_MAX_CHAR_VALUE(name), PyUnicode_MAX_CHAR_VALUE(value))
        size += PyUnicode_GET_LENGTH(name) + PyUnicode_GET_LENGTH(value) + 2
    if size and not trailing_separator:
        size -= 1
    out = PyUnicode_New(size, maxchar)
    cdef int kind = PyUnicode_KIND(out)
    cdef void* data = PyUnicode_DATA(out)
    for name, value in props.items():
        if value is None:
            continue
        n = PyUnicode_GET_LENGTH(name)
        PyUnicode_CopyCharacters(out, pos, name, 0, n)
        pos += n
        PyUnicode_WRITE(kind, data, pos, NAME_VALUE_SEPARATOR)
        pos += 1
        n = PyUnicode_GET_LENGTH(value)
        PyUnicode_CopyCharacters(out, pos, value, 0, n)
        pos += n
        if pos < size:
            PyUnicode_WRITE(kind, data, pos, PROPERTY_SEPARATOR)
            pos += 1
    return out


def encode_properties(props, trailing_separator=False):
    """``MessageDecoder#messageProperties2String``; ``None`` values are skipped like Java."""
    if type(props) is dict:
        fast = _encode_str_dict(props, trailing_separator)
        if fast is not None:
            return fast
    cdef list parts = []
    for name, value in props.items():
        if value is None:
            continue
        if type(name) is str and type(value) is str:
            _check_pair(name, value)
            parts += (name, "\x01", value, "\x02")
        else:  # str subclasses and other types: exactly the reference's steps
            if "\x01" in name or "\x02" in name:
                raise ValueError(f"property name may not hold 0x01/0x02: {name!r}")
            if "\x02" in value:
                raise ValueError(f"property value may not hold 0x02: {value!r}")
            parts.append(f"{name}\x01{value}\x02")
    cdef str joined = "".join(parts)
    if trailing_separator or not joined:
        return joined
    return PyUnicode_Substring(joined, 0, PyUnicode_GET_LENGTH(joined) - 1)  # the last 0x02


# --- CommitLog records --------------------------------------------------------------------

def checked_record_length(msg, topic, props):
    """TOTALSIZE of ``msg`` with these encoded topic and properties; checks their limits."""
    cdef Py_ssize_t topic_len = len(topic), props_len = len(props)
    if topic_len > MAX_TOPIC_LENGTH_V1:
        raise _format_error(f"topic longer than {MAX_TOPIC_LENGTH_V1} bytes: {msg.topic!r}")
    if props_len > MAX_PROPERTIES_LENGTH:
        raise _format_error(f"properties longer than {MAX_PROPERTIES_LENGTH} bytes")
    pack_ip = _record_module()._pack_ip
    cdef Py_ssize_t v6 = (len(pack_ip(msg.born_host[0])) == 16) + (
        len(pack_ip(msg.store_host[0])) == 16
    )
    return FIXED_V1_IPV4 + V6_EXTRA * v6 + len(msg.body) + topic_len + props_len


def record_parts(msg, topic, props, total, queue_offset, physical_offset, store_timestamp,
                 store_host):
    """The pieces of one record (fixed part, body, topic, properties), joined by the caller."""
    record = _record_module()
    born_host = msg.born_host
    body = msg.body
    try:
        fixed = _fixed_part(
            record._pack_ip(born_host[0]), born_host[1], record._pack_ip(store_host[0]),
            store_host[1], total, _crc32(body) & CRC_MASK, msg.queue_id, msg.flag,
            queue_offset, physical_offset, msg.sys_flag, msg.born_timestamp, store_timestamp,
            msg.reconsume_times, msg.prepared_transaction_offset, len(body),
        )
    except (OverflowError, TypeError) as exc:  # what struct.pack says of the same values
        raise _STRUCT_ERROR(str(exc)) from None
    topic_field = record._topic_field(topic)  # the reference's order: topic, then props
    cdef bytes props_bytes = props if type(props) is bytes else bytes(props)
    cdef Py_ssize_t props_len = len(props_bytes)
    if props_len > 0x7FFF:
        raise _STRUCT_ERROR("'h' format requires -32768 <= number <= 32767")
    cdef bytes props_field = PyBytes_FromStringAndSize(NULL, 2 + props_len)
    cdef char* q = PyBytes_AS_STRING(props_field)
    q[0] = <char>(props_len >> 8)
    q[1] = <char>props_len
    memcpy(q + 2, PyBytes_AS_STRING(props_bytes), props_len)
    return fixed, body, topic_field, props_field


cdef bytes _fixed_part(bytes born_ip, int32_t born_port, bytes store_ip, int32_t store_port,
                       int32_t total, uint32_t crc, int32_t queue_id, int32_t flag,
                       int64_t queue_offset, int64_t physical_offset, int32_t sys_flag,
                       int64_t born_timestamp, int64_t store_timestamp,
                       int32_t reconsume_times, int64_t prepared_offset, int32_t body_len):
    """The record up to BODY (``_FIXED[...].pack`` of record.py); SYSFLAG's IPv6 bits
    follow the host addresses."""
    cdef bytes fixed = PyBytes_FromStringAndSize(
        NULL, FIXED_WITHOUT_HOSTS + len(born_ip) + len(store_ip))
    _write_fixed(PyBytes_AS_STRING(fixed), born_ip, born_port, store_ip, store_port, total, crc,
                 queue_id, flag, queue_offset, physical_offset, sys_flag, born_timestamp,
                 store_timestamp, reconsume_times, prepared_offset, body_len)
    return fixed


cdef char* _write_fixed(char* p, bytes born_ip, int32_t born_port, bytes store_ip,
                        int32_t store_port, int32_t total, uint32_t crc, int32_t queue_id,
                        int32_t flag, int64_t queue_offset, int64_t physical_offset,
                        int32_t sys_flag, int64_t born_timestamp, int64_t store_timestamp,
                        int32_t reconsume_times, int64_t prepared_offset,
                        int32_t body_len) noexcept:
    """Write the record up to BODY at ``p``; return where BODY goes."""
    cdef Py_ssize_t born_len = len(born_ip), store_len = len(store_ip)
    sys_flag = (sys_flag & ~(BORNHOST_V6_FLAG | STOREHOST_V6_FLAG)) | (
        BORNHOST_V6_FLAG if born_len == 16 else 0) | (STOREHOST_V6_FLAG if store_len == 16 else 0)
    _put32(p, <uint32_t>total)
    _put32(p + 4, MESSAGE_MAGIC_CODE)
    _put32(p + 8, crc)
    _put32(p + 12, <uint32_t>queue_id)
    _put32(p + 16, <uint32_t>flag)
    _put64(p + 20, <uint64_t>queue_offset)
    _put64(p + 28, <uint64_t>physical_offset)
    _put32(p + 36, <uint32_t>sys_flag)
    _put64(p + 40, <uint64_t>born_timestamp)
    memcpy(p + 48, PyBytes_AS_STRING(born_ip), born_len)
    p += 48 + born_len
    _put32(p, <uint32_t>born_port)
    _put64(p + 4, <uint64_t>store_timestamp)
    memcpy(p + 12, PyBytes_AS_STRING(store_ip), store_len)
    p += 12 + store_len
    _put32(p, <uint32_t>store_port)
    _put32(p + 4, <uint32_t>reconsume_times)
    _put64(p + 8, <uint64_t>prepared_offset)
    _put32(p + 16, <uint32_t>body_len)
    return p + 20


def record_bytes(msg, topic, props, total, queue_offset, physical_offset, store_timestamp,
                 store_host):
    """One whole record, ``b"".join(record_parts(...))``: what the CommitLog writes.

    record.record_bytes is the reference; here the pieces go into one bytes object."""
    record = _record_module()
    born_host = msg.born_host
    body = msg.body
    cdef bytes born_ip, store_ip
    cdef int32_t born_port, store_port, c_total, queue_id, flag, sys_flag, reconsume, body_len
    cdef int64_t c_queue_offset, phys, born_ts, store_ts, prepared
    cdef uint32_t crc
    try:  # record_parts' argument order: what struct.pack says of the same values
        born_ip = record._pack_ip(born_host[0])
        born_port = born_host[1]
        store_ip = record._pack_ip(store_host[0])
        store_port = store_host[1]
        c_total = total
        crc = _crc32(body) & CRC_MASK
        queue_id, flag, c_queue_offset, phys = msg.queue_id, msg.flag, queue_offset, physical_offset
        sys_flag, born_ts, store_ts = msg.sys_flag, msg.born_timestamp, store_timestamp
        reconsume, prepared, body_len = msg.reconsume_times, msg.prepared_transaction_offset, len(body)
    except (OverflowError, TypeError) as exc:
        raise _STRUCT_ERROR(str(exc)) from None
    cdef bytes topic_bytes = topic if type(topic) is bytes else bytes(topic)
    cdef Py_ssize_t topic_len = len(topic_bytes)
    if topic_len > 255:
        return record._topic_field(topic)  # raises the reference's error
    cdef bytes props_bytes = props if type(props) is bytes else bytes(props)
    cdef Py_ssize_t props_len = len(props_bytes)
    if props_len > 0x7FFF:
        raise _STRUCT_ERROR("'h' format requires -32768 <= number <= 32767")
    cdef bytes body_bytes = body if type(body) is bytes else bytes(body)
    cdef Py_ssize_t size = (FIXED_WITHOUT_HOSTS + len(born_ip) + len(store_ip) + body_len + 1
                            + topic_len + 2 + props_len)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, size)
    cdef char* p = _write_fixed(PyBytes_AS_STRING(out), born_ip, born_port, store_ip, store_port,
                                c_total, crc, queue_id, flag, c_queue_offset, phys, sys_flag,
                                born_ts, store_ts, reconsume, prepared, body_len)
    memcpy(p, PyBytes_AS_STRING(body_bytes), body_len)
    p += body_len
    p[0] = <char>topic_len
    memcpy(p + 1, PyBytes_AS_STRING(topic_bytes), topic_len)
    p += 1 + topic_len
    p[0] = <char>(props_len >> 8)
    p[1] = <char>props_len
    memcpy(p + 2, PyBytes_AS_STRING(props_bytes), props_len)
    return out


cdef const char* HEX_DIGITS = b"0123456789ABCDEF"


def create_offset_msg_id(store_host, physical_offset):
    """``MessageDecoder#createMessageId``: uppercase hex of ip + port i32 + offset i64."""
    cdef uint64_t offset = <uint64_t>(physical_offset & 0xFFFFFFFFFFFFFFFF)
    cdef char digits[16]
    cdef int i
    for i in range(15, -1, -1):
        digits[i] = HEX_DIGITS[offset & 0xF]
        offset >>= 4
    return _record_module()._msg_id_prefix(store_host) + PyUnicode_DecodeASCII(digits, 16, NULL)


def decode_record(buf, offset=0, check_crc=False):
    """Decode the V1/V2 record at ``offset`` of ``buf``; checks size, magic and maybe CRC."""
    cdef Py_buffer view
    PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
    try:
        return _decode_record(<const uint8_t*>view.buf, view.len, offset, check_crc)
    finally:
        PyBuffer_Release(&view)


def decode_records(data):
    """Decode concatenated records (a pull body); raises RecordFormatError on a bad one."""
    cdef Py_buffer view
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    cdef list out = []
    cdef Py_ssize_t pos = 0
    try:
        while pos < view.len:
            out.append(_decode_record(<const uint8_t*>view.buf, view.len, pos, False))
            pos += <int32_t>_get32(<const uint8_t*>view.buf + pos)  # TOTALSIZE, checked
        return out
    finally:
        PyBuffer_Release(&view)


cdef struct Fields:
    # Where one record's parts are, found by _read_head and _read_tail (which check them).
    const uint8_t* p  # the record's first byte (TOTALSIZE)
    int32_t size
    uint32_t magic
    int32_t sys_flag
    Py_ssize_t born_len  # 4 or 16
    Py_ssize_t store_len
    const uint8_t* h  # the born port; the store timestamp follows
    const uint8_t* s  # the store port; RECONSUMETIMES, PREPARED offset, BODYLEN follow
    Py_ssize_t body_pos  # from p
    int32_t body_len
    Py_ssize_t topic_pos
    Py_ssize_t topic_len
    Py_ssize_t props_pos
    Py_ssize_t props_len


cdef int _read_head(const uint8_t* data, Py_ssize_t length, Py_ssize_t offset,
                    Fields* f) except -1:
    """The record at ``offset`` up to its body, with the reference's checks and errors."""
    if offset < 0 or length - offset < END_FILE_MIN_BLANK_LENGTH:
        raise _format_error(f"no record header at offset {offset}")
    cdef const uint8_t* p = data + offset
    f.p = p
    f.size = <int32_t>_get32(p)
    f.magic = _get32(p + 4)
    if f.magic != MESSAGE_MAGIC_CODE and f.magic != MESSAGE_MAGIC_CODE_V2:
        raise _format_error(f"bad magic code 0x{f.magic:08X} at offset {offset}")
    if f.size < FIXED_V1_IPV4 or f.size > length - offset:
        raise _format_error(f"record size {f.size} at offset {offset} out of range")
    f.sys_flag = <int32_t>_get32(p + SYSFLAG_POSITION)
    f.born_len = 16 if f.sys_flag & BORNHOST_V6_FLAG else 4
    f.store_len = 16 if f.sys_flag & STOREHOST_V6_FLAG else 4
    f.body_pos = FIXED_WITHOUT_HOSTS + f.born_len + f.store_len
    if f.body_pos > f.size:
        raise _format_error(f"truncated record at offset {offset}")
    f.h = p + BORNHOST_POSITION + f.born_len
    f.s = f.h + 12 + f.store_len
    f.body_len = <int32_t>_get32(f.s + 16)
    if f.body_len < 0 or f.body_pos + f.body_len > f.size:
        raise _format_error(f"body length {f.body_len} out of range")
    return 0


cdef int _read_tail(Py_ssize_t offset, Fields* f) except -1:
    """The topic and properties after the body found by _read_head, checked."""
    cdef const uint8_t* p = f.p
    cdef Py_ssize_t pos = f.body_pos + f.body_len
    if f.magic == MESSAGE_MAGIC_CODE_V2:
        if pos + 2 > f.size:
            raise _format_error(f"truncated record at offset {offset}")
        f.topic_len = _get16(p + pos)
        pos += 2
    else:
        if pos + 1 > f.size:
            raise _format_error(f"truncated record at offset {offset}")
        f.topic_len = p[pos]
        pos += 1
    if f.topic_len < 0 or pos + f.topic_len + 2 > f.size:
        raise _format_error(f"truncated record at offset {offset}")
    f.topic_pos = pos
    pos += f.topic_len
    f.props_len = max(_get16(p + pos), 0)
    f.props_pos = pos + 2
    if f.props_pos + f.props_len != f.size:
        raise _format_error(
            f"record size {f.size} does not match its fields ({f.props_pos + f.props_len})")
    return 0


cdef object _decode_record(const uint8_t* data, Py_ssize_t length, Py_ssize_t offset,
                           bint check_crc):
    cdef Fields f
    _read_head(data, length, offset, &f)
    cdef const uint8_t* p = f.p
    cdef int32_t crc = <int32_t>_get32(p + 8)
    cdef int64_t phys = <int64_t>_get64(p + 28)
    body = PyBytes_FromStringAndSize(<const char*>p + f.body_pos, f.body_len)
    if check_crc and (_crc32(body) & CRC_MASK) != crc:
        raise _format_error(f"body CRC mismatch at physical offset {phys}")
    _read_tail(offset, &f)
    topic = PyUnicode_DecodeUTF8(<const char*>p + f.topic_pos, f.topic_len, "replace")
    props = PyUnicode_DecodeUTF8(<const char*>p + f.props_pos, f.props_len, "replace")
    record = _record_module()
    unpack_ip = record._unpack_ip
    born_host = (unpack_ip(PyBytes_FromStringAndSize(<const char*>p + BORNHOST_POSITION,
                                                     f.born_len)),
                 <int32_t>_get32(f.h))
    store_host = (unpack_ip(PyBytes_FromStringAndSize(<const char*>f.h + 12, f.store_len)),
                  <int32_t>_get32(f.s))
    values = (
        f.size, f.magic, crc, <int32_t>_get32(p + 12), <int32_t>_get32(p + 16),
        <int64_t>_get64(p + 20), phys, f.sys_flag, <int64_t>_get64(p + 40), born_host,
        <int64_t>_get64(f.h + 4), store_host, <int32_t>_get32(f.s + 4),
        <int64_t>_get64(f.s + 8), body, topic, props,
    )
    return _new_frozen(record.MessageRecord, values)


# cls -> its slots' member descriptors in field order (what object.__setattr__ finds).
cdef dict _slot_descriptors = {}
_object_new = object.__new__


cdef object _new_frozen(cls, tuple values):
    """``cls(*values)`` for a frozen slotted dataclass, without its ``__init__``'s
    ``object.__setattr__`` per field (what ``record.sent_message`` does in Python): each
    slot's member descriptor sets it directly."""
    cdef tuple descriptors = _slot_descriptors.get(cls)
    if descriptors is None:
        descriptors = tuple([cls.__dict__[name] for name in cls.__slots__])
        _slot_descriptors[cls] = descriptors
    cdef Py_ssize_t i, n = len(descriptors)
    if n != len(values):  # the class changed: take the slow, sure way
        return cls(*values)
    obj = _object_new(cls)
    for i in range(n):
        d = descriptors[i]
        Py_TYPE(d).tp_descr_set(d, obj, values[i])
    return obj


# --- building the StoredMessage of a send -------------------------------------------------

cdef object _sent_defaults = None


def sent_message(topic, queue_id, body, properties, props, flag, sys_flag, born_timestamp,
                 born_host, reconsume_times):
    """``StoredMessage(...)`` of a send (every other field at its default), built through
    the slots; record.sent_message is the reference."""
    global _sent_defaults
    record = _record_module()
    if _sent_defaults is None:
        _sent_defaults = record.StoredMessage(topic="", queue_id=0, body=b"")
    values = (
        topic, queue_id, body, properties, flag, 0, 0, sys_flag, born_timestamp, born_host, 0,
        _sent_defaults.store_host, reconsume_times, 0, props,
    )
    return _new_frozen(record.StoredMessage, values)


# --- the received messages of a pull body (the client's consume path) ---------------------

from cpython.ref cimport PyObject, Py_XINCREF
from cpython.object cimport PyTypeObject
from libc.string cimport memchr, memcmp

import types

cdef extern from "Python.h":
    int PyUnicode_IS_COMPACT_ASCII(object text)
    dict _PyDict_NewPresized(Py_ssize_t minused)  # what Cython's own dict displays call

cdef extern from "structmember.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
        int flags
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    int T_OBJECT_EX
    int READONLY

# MessageSysFlag.COMPRESSED and the properties the pull path reads or sets (MessageConst).
cdef int32_t COMPRESSED_FLAG = 0x1
cdef str UNIQ_KEY = "UNIQ_KEY"
cdef str MIN_OFFSET = "MIN_OFFSET"
cdef str MAX_OFFSET = "MAX_OFFSET"
# Arguments of messages_of_pull_body's ``make``, in order: a class whose slots are exactly
# these (the client's MessageExt) gets them filled directly, without its __init__.
MESSAGE_FIELDS = (
    "topic", "body", "properties", "msg_id", "offset_msg_id", "queue_id", "queue_offset",
    "commit_log_offset", "born_timestamp", "born_host", "store_timestamp", "store_host",
    "reconsume_times", "sys_flag", "flag", "body_crc", "prepared_transaction_offset",
    "broker_name",
)
DEF FIELD_COUNT = 18
# make -> the byte offsets of its slots in MESSAGE_FIELDS order, or None: call it.
cdef dict _fill_plans = {}
cdef Py_ssize_t FILL_PLAN_LIMIT = 64
_decompress = zlib.decompress
_EMPTY = ()


cdef object _fill_plan(make):
    """The slot offsets of ``make`` when it is a plain slotted class (a dataclass) whose
    ``make(*values)`` only stores ``values`` in MESSAGE_FIELDS' slots; else None."""
    try:
        return _fill_plans[make]
    except KeyError:
        pass
    except TypeError:  # unhashable: called
        return None
    plan = _find_fill_plan(make)
    if len(_fill_plans) >= FILL_PLAN_LIMIT:
        _fill_plans.clear()
    _fill_plans[make] = plan
    return plan


def fills_slots(make):
    """True when messages_of_pull_body fills the slots of ``make``'s instances directly
    instead of calling ``make`` (for the tests)."""
    return _fill_plan(make) is not None


cdef object _find_fill_plan(make):
    if type(make) is not type or hasattr(make, "__post_init__"):
        return None
    if (<PyTypeObject*>make).tp_new != (<PyTypeObject*>object).tp_new:
        return None
    if tuple(make.__dict__.get("__slots__", ())) != MESSAGE_FIELDS:
        return None
    offsets = []
    for name in MESSAGE_FIELDS:
        d = make.__dict__[name]
        if type(d) is not types.MemberDescriptorType:
            return None
        member = (<PyMemberDescrObject*><PyObject*>d).d_member
        if member.type != T_OBJECT_EX or member.flags & READONLY:
            return None
        offsets.append(member.offset)
    # The proof: make(*values) stores each value in its slot and nothing else in them.
    values = tuple([object() for _ in range(FIELD_COUNT)])
    try:
        probe = make(*values)
    except Exception:
        return None
    if type(probe) is not make:
        return None
    for i in range(FIELD_COUNT):
        if (<PyObject**>(<char*><PyObject*>probe + <Py_ssize_t>offsets[i]))[0] != <PyObject*>values[i]:
            return None
    return tuple(offsets)


def messages_of_pull_body(body, make, broker_name, min_offset, max_offset):
    """The received messages of a pull body: ``make(...)`` of every record, with its
    properties, inflated body, msgId and MIN_OFFSET/MAX_OFFSET; record.messages_of_pull_body
    is the reference, with the docs."""
    low, high = str(min_offset), str(max_offset)
    cdef Py_buffer view
    PyObject_GetBuffer(body, &view, PyBUF_SIMPLE)
    try:
        return _messages(<const uint8_t*>view.buf, view.len, make, broker_name, low, high)
    finally:
        PyBuffer_Release(&view)


cdef struct Host:
    # The last host address made, by its raw bytes (ip, then port): the records of a pull
    # body share their store host and mostly their born hosts.
    uint8_t raw[20]
    Py_ssize_t n


cdef list _messages(const uint8_t* data, Py_ssize_t length, make, broker_name, str low,
                    str high):
    cdef Fields f
    cdef Py_ssize_t i, pos = 0
    while pos < length:  # all checked first: the reference decodes every record first
        _read_head(data, length, pos, &f)
        _read_tail(pos, &f)
        pos += f.size
    plan = _fill_plan(make)
    cdef Py_ssize_t offsets[FIELD_COUNT]
    if plan is not None:
        for i in range(FIELD_COUNT):
            offsets[i] = (<tuple>plan)[i]
    cdef PyObject* values[FIELD_COUNT]
    cdef list out = []
    cdef list seen = []  # the topic, then the property names and values of the last record
    cdef Host born_at, store_at
    born_at.n = store_at.n = -1
    born = store = None
    cdef const uint8_t* p
    # Python objects all (values[] points at them): no C type inferred for any.
    cdef object topic, body, props, offset_id, msg_id, queue_id, queue_offset, phys, born_ts
    cdef object store_ts, reconsume, sys_flag, flag, crc, prepared, msg
    pos = 0
    while pos < length:
        _read_head(data, length, pos, &f)
        _read_tail(pos, &f)
        p = f.p
        topic = _text(p + f.topic_pos, f.topic_len, seen, 0)
        body = PyBytes_FromStringAndSize(<const char*>p + f.body_pos, f.body_len)
        props = _props_of(p + f.props_pos, f.props_len, seen)
        if f.sys_flag & COMPRESSED_FLAG:
            body = _decompress(body)
        offset_id = _offset_msg_id(f.h + 12, f.store_len, p + 28)
        msg_id = props.get(UNIQ_KEY, offset_id)
        props[MIN_OFFSET] = low
        props[MAX_OFFSET] = high
        born = _host(p + BORNHOST_POSITION, f.born_len, &born_at, born)
        store = _host(f.h + 12, f.store_len, &store_at, store)
        queue_id, queue_offset = <int32_t>_get32(p + 12), <int64_t>_get64(p + 20)
        phys, born_ts = <int64_t>_get64(p + 28), <int64_t>_get64(p + 40)
        store_ts, reconsume = <int64_t>_get64(f.h + 4), <int32_t>_get32(f.s + 4)
        sys_flag, flag, crc = f.sys_flag, <int32_t>_get32(p + 16), <int32_t>_get32(p + 8)
        prepared = <int64_t>_get64(f.s + 8)
        if plan is None:
            msg = make(topic, body, props, msg_id, offset_id, queue_id, queue_offset, phys,
                       born_ts, born, store_ts, store, reconsume, sys_flag, flag, crc,
                       prepared, broker_name)
        else:  # make's own slots, in MESSAGE_FIELDS order
            values[0], values[1], values[2] = <PyObject*>topic, <PyObject*>body, <PyObject*>props
            values[3], values[4] = <PyObject*>msg_id, <PyObject*>offset_id
            values[5], values[6] = <PyObject*>queue_id, <PyObject*>queue_offset
            values[7], values[8], values[9] = <PyObject*>phys, <PyObject*>born_ts, <PyObject*>born
            values[10], values[11] = <PyObject*>store_ts, <PyObject*>store
            values[12], values[13] = <PyObject*>reconsume, <PyObject*>sys_flag
            values[14], values[15] = <PyObject*>flag, <PyObject*>crc
            values[16], values[17] = <PyObject*>prepared, <PyObject*>broker_name
            msg = (<PyTypeObject*>make).tp_new(<type>make, <PyObject*>_EMPTY, NULL)
            for i in range(FIELD_COUNT):
                Py_XINCREF(values[i])
                (<PyObject**>(<char*><PyObject*>msg + offsets[i]))[0] = values[i]
        out.append(msg)
        pos += f.size
    return out


cdef object _text(const uint8_t* p, Py_ssize_t n, list seen, Py_ssize_t k):
    """The str of the UTF-8 ``p[:n]`` (errors replaced): ``seen[k]`` again when it is these
    bytes (a pull body's records share their topic and most property names and values; a
    str made once also keeps its hash), else a new one, kept at ``seen[k]``."""
    cdef Py_ssize_t count = len(seen)
    if k < count:
        known = seen[k]
        if (PyUnicode_IS_COMPACT_ASCII(known) and PyUnicode_GET_LENGTH(known) == n
                and memcmp(PyUnicode_DATA(known), p, n) == 0):
            return known
    text = PyUnicode_DecodeUTF8(<const char*>p, n, "replace")
    if k < count:
        seen[k] = text
    else:  # k == count: the positions are taken in order
        seen.append(text)
    return text


cdef dict _props_of(const uint8_t* p, Py_ssize_t n, list seen):
    """decode_properties of the UTF-8 text ``p[:n]``, split at its 0x02 and 0x01 bytes: an
    ASCII byte is never part of a multi-byte or a replaced sequence, so the pieces decode to
    the reference's substrings, and a piece is empty exactly when its text is."""
    cdef Py_ssize_t start = 0, end, cut, k = 1, pairs = 1
    cdef const uint8_t* found = p
    while True:  # sized for every pair and MIN_OFFSET/MAX_OFFSET: the dict never grows
        found = <const uint8_t*>memchr(found, PROPERTY_SEPARATOR, n - (found - p))
        if found == NULL:
            break
        found += 1
        pairs += 1
    cdef dict out = _PyDict_NewPresized(pairs + 2)
    while start < n:
        found = <const uint8_t*>memchr(p + start, PROPERTY_SEPARATOR, n - start)
        end = n if found == NULL else found - p
        found = <const uint8_t*>memchr(p + start, NAME_VALUE_SEPARATOR, end - start)
        cut = end if found == NULL else found - p
        if start < cut < end - 1:
            name = _text(p + start, cut - start, seen, k)
            out[name] = _text(p + cut + 1, end - cut - 1, seen, k + 1)
            k += 2
        start = end + 1
    return out


cdef str _offset_msg_id(const uint8_t* store, Py_ssize_t ip_len, const uint8_t* phys):
    """create_offset_msg_id of a record: the uppercase hex of its store ip and port (which
    follow each other in the record), then of its physical offset."""
    cdef Py_ssize_t i, n = ip_len + 4
    text = PyUnicode_New(2 * (n + 8), 127)
    cdef char* q = <char*>PyUnicode_DATA(text)
    for i in range(n):
        q[2 * i] = HEX_DIGITS[store[i] >> 4]
        q[2 * i + 1] = HEX_DIGITS[store[i] & 0xF]
    q += 2 * n
    for i in range(8):
        q[2 * i] = HEX_DIGITS[phys[i] >> 4]
        q[2 * i + 1] = HEX_DIGITS[phys[i] & 0xF]
    return text


cdef object _host(const uint8_t* raw, Py_ssize_t ip_len, Host* last, object made):
    """(ip text, port) of the ip and port at ``raw``: ``made`` again when ``last`` says it
    is of the same bytes."""
    cdef Py_ssize_t n = ip_len + 4
    if n == last.n and memcmp(raw, last.raw, n) == 0:
        return made
    host = (_record_module()._unpack_ip(PyBytes_FromStringAndSize(<const char*>raw, ip_len)),
            <int32_t>_get32(raw + ip_len))
    memcpy(last.raw, raw, n)
    last.n = n
    return host


# --- pull reads ---------------------------------------------------------------------------

cdef Py_ssize_t CQ_UNIT = 20  # ConsumeQueue entry: physical offset i64, size i32, tags i64


def gather_records(entries, Py_ssize_t index, span, int64_t span_start, int64_t min_phys,
                   int64_t count, int64_t total, tuple limits):
    """An unfiltered pull's records, joined: from ConsumeQueue ``entries`` (20-byte units)
    ...; record.gather_records is the reference, with the docs. Two passes: which entries
    fit (limits, span), then one bytes of their size, copied into."""
    cdef int64_t max_nums, max_phys, memory_limit, mem_bytes, mem_count, disk_bytes, disk_count
    max_nums, max_phys, memory_limit, mem_bytes, mem_count, disk_bytes, disk_count = limits
    cdef Py_buffer ev, sv
    PyObject_GetBuffer(entries, &ev, PyBUF_SIMPLE)
    try:
        PyObject_GetBuffer(span, &sv, PyBUF_SIMPLE)
        try:
            return _gather(<const uint8_t*>ev.buf, ev.len // CQ_UNIT, index,
                           <const uint8_t*>sv.buf, sv.len, span_start, min_phys, count, total,
                           max_nums, max_phys, memory_limit, mem_bytes, mem_count,
                           disk_bytes, disk_count)
        finally:
            PyBuffer_Release(&sv)
    finally:
        PyBuffer_Release(&ev)


cdef tuple _gather(const uint8_t* cq, Py_ssize_t n, Py_ssize_t index, const uint8_t* span,
                   Py_ssize_t span_len, int64_t span_start, int64_t min_phys, int64_t count,
                   int64_t total, int64_t max_nums, int64_t max_phys, int64_t memory_limit,
                   int64_t mem_bytes, int64_t mem_count, int64_t disk_bytes,
                   int64_t disk_count):
    if index < 0:
        raise ValueError(f"entry index {index} is negative")
    cdef Py_ssize_t first = index
    cdef int64_t phys, size, max_bytes, max_count, last_phys = -1, taken = 0
    cdef bint full = False
    cdef const uint8_t* e
    while index < n:  # pass 1: which entries the pull takes
        e = cq + index * CQ_UNIT
        phys = <int64_t>_get64(e)
        size = <int32_t>_get32(e + 8)
        if count:
            if max_phys - phys > memory_limit:
                max_bytes, max_count = disk_bytes, disk_count
            else:
                max_bytes, max_count = mem_bytes, mem_count
            if count >= max_nums or total + size > max_bytes or count > max_count - 1:
                full = True
                break
        # (no phys + size: a corrupt entry's phys near 2**63 would wrap past the checks)
        if size < 0 or phys < min_phys or phys < span_start or phys - span_start > span_len - size:
            break
        count += 1
        total += size
        taken += size
        last_phys = phys
        index += 1
    joined = PyBytes_FromStringAndSize(NULL, taken)
    cdef char* out = PyBytes_AS_STRING(joined)
    cdef Py_ssize_t i
    for i in range(first, index):  # pass 2: copy their records
        e = cq + i * CQ_UNIT
        phys = <int64_t>_get64(e)
        size = <int32_t>_get32(e + 8)
        memcpy(out, span + (phys - span_start), size)
        out += size
    return joined, index, count, total, last_phys, full
