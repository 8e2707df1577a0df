# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""C twins of rocketq.remoting.codec (DESIGN principle 19): ``FrameDecoder``,
``decode_frame`` and ``encode_parts``, with the names, signatures, results and exception
types of the pure-Python reference in ``codec.py`` (read that first: the frame and header
layouts are drawn there).

Frames are split and headers read with C types. A JSON header of the usual shape (int
code/version/opaque/flag, str language and remark, string extFields) is read and written
here, byte for byte as orjson would; any other JSON is left to orjson, and any other shape
to the reference's own ``_decode_json_header``, which coerces it or says what is wrong.
ROCKETMQ headers are encoded here unless a value would not fit, which the reference then
reports.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport int16_t, int32_t, uint8_t, uint32_t
from libc.string cimport memchr, memcmp, memcpy
from cpython.object cimport Py_TYPE
from cpython.dict cimport PyDict_Next
from cpython.ref cimport PyObject

import orjson

from rocketq.common.errors import ProtocolError
from rocketq.remoting.codes import LanguageCode, SerializeType
from rocketq.remoting.command import RemotingCommand

cdef extern from "Python.h":
    object PyUnicode_DecodeUTF8(const char* data, Py_ssize_t size, const char* errors)
    object PyUnicode_DecodeLatin1(const char* data, Py_ssize_t size, const char* errors)
    int PyObject_GenericSetAttr(object obj, object name, object value) except -1
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size)  # NULL: error set
    bint PyUnicode_IS_COMPACT_ASCII(object text)
    void* PyUnicode_DATA(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    long long PyLong_AsLongLongAndOverflow(object number, int* overflow) except? -1
    void PyErr_Clear()
    void* PyMem_Realloc(void* p, size_t n)
    void PyMem_Free(void* p)

# codec.py's constants.
DEFAULT_MAX_FRAME_LENGTH = 16 * 1024 * 1024
cdef uint32_t HEADER_LEN_MASK = 0xFFFFFF
# code i16, language u8, version i16, opaque i32, flag i32 (codec._RMQ_FIXED)
cdef Py_ssize_t RMQ_FIXED_SIZE = 13

cdef uint32_t SERIALIZE_JSON = SerializeType.JSON
cdef uint32_t SERIALIZE_ROCKETMQ = SerializeType.ROCKETMQ
_JSON = SerializeType.JSON
_ROCKETMQ = SerializeType.ROCKETMQ
_LANGUAGE_BY_BYTE = {lc.value: lc.name for lc in LanguageCode}
_BYTE_BY_LANGUAGE = {lc.name: lc.value for lc in LanguageCode}
_OTHER = LanguageCode.OTHER
_loads = orjson.loads
_dumps = orjson.dumps
_JSONDecodeError = orjson.JSONDecodeError
# RemotingCommand's fields in order, set one by one without its __init__ (one Python call).
_COMMAND_FIELDS = RemotingCommand.__slots__

cdef object _codec = None


cdef object _reference():
    """rocketq.remoting.codec, for the inputs left to the pure-Python reference."""
    global _codec
    if _codec is None:
        from rocketq.remoting import codec
        _codec = codec
    return _codec


cdef inline uint32_t _get32(const uint8_t* p) noexcept:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline int16_t _get16(const uint8_t* p) noexcept:
    return <int16_t>((<uint32_t>p[0] << 8) | p[1])


cdef inline void _put32(char* p, uint32_t v) noexcept:
    p[0] = <char>(v >> 24)
    p[1] = <char>(v >> 16)
    p[2] = <char>(v >> 8)
    p[3] = <char>v


cdef inline void _put16(char* p, uint32_t v) noexcept:
    p[0] = <char>(v >> 8)
    p[1] = <char>v


# Each field's slot descriptor, in field order, when the class is what this code expects:
# the values go straight into the slots (no __init__, no attribute lookup by name).
_SLOTS = tuple(RemotingCommand.__dict__.get(name) for name in _COMMAND_FIELDS)
cdef bint _SLOTTED = (
    _COMMAND_FIELDS == ("code", "language", "version", "opaque", "flag", "remark",
                        "ext_fields", "body", "serialize_type")
    and all(type(d) is type(RemotingCommand.__dict__["code"]) for d in _SLOTS)
)
cdef object _S_CODE, _S_LANGUAGE, _S_VERSION, _S_OPAQUE, _S_FLAG, _S_REMARK, _S_EXT, _S_BODY
cdef object _S_STYPE
if _SLOTTED:
    (_S_CODE, _S_LANGUAGE, _S_VERSION, _S_OPAQUE, _S_FLAG, _S_REMARK, _S_EXT, _S_BODY,
     _S_STYPE) = _SLOTS


cdef inline void _fill(object d, object obj, object value):
    Py_TYPE(d).tp_descr_set(d, obj, value)


cdef object _command(code, language, version, opaque, flag, remark, ext, stype):
    if not _SLOTTED:  # the class changed: take its constructor
        return RemotingCommand(code, language, version, opaque, flag, remark, ext, None, stype)
    cmd = RemotingCommand.__new__(RemotingCommand)
    _fill(_S_CODE, cmd, code)
    _fill(_S_LANGUAGE, cmd, language)
    _fill(_S_VERSION, cmd, version)
    _fill(_S_OPAQUE, cmd, opaque)
    _fill(_S_FLAG, cmd, flag)
    _fill(_S_REMARK, cmd, remark)
    _fill(_S_EXT, cmd, ext)
    _fill(_S_BODY, cmd, None)
    _fill(_S_STYPE, cmd, stype)
    return cmd


# --- decoding -----------------------------------------------------------------------------

cdef inline bint _all_str(dict ext):
    for value in ext.values():
        if type(value) is not str:
            return False
    return True


cdef object _json_header(const uint8_t* p, Py_ssize_t n):
    cmd = _json_usual(p, n)
    if cmd is not None:
        return cmd
    data = PyBytes_FromStringAndSize(<const char*>p, n)
    try:
        obj = _loads(data)
    except _JSONDecodeError as exc:
        raise ProtocolError(f"header is not valid JSON: {exc}") from exc
    if type(obj) is not dict:
        return _reference()._decode_json_header(data)
    cdef dict d = obj
    code = d.get("code")
    version = d.get("version", 0)
    opaque = d.get("opaque", 0)
    flag = d.get("flag", 0)
    language = d.get("language", "JAVA")
    remark = d.get("remark")
    ext = d.get("extFields")
    if (type(code) is int and type(version) is int and type(opaque) is int
            and type(flag) is int and type(language) is str
            and (remark is None or type(remark) is str)
            and (ext is None or (type(ext) is dict and _all_str(ext)))):
        return _command(code, language, version, opaque, flag, remark, ext, _JSON)
    return _reference()._decode_json_header(data)  # numbers as text, ordinals, ...


# -- the usual JSON header read here, without orjson ---------------------------------------
#
# Every frame of a Python or C++ client, and every answer to them, carries one: an object of
# int code/version/opaque/flag, str language and remark, and extFields of str values. Such a
# header is read here straight into its command (orjson's dict, then the look-ups, cost more
# than the rest of a frame's decoding). Anything else - another type, a number with a
# fraction or an exponent or of 19 digits and more, a surrogate escape, a nested value,
# any syntax error - returns None, and orjson and the reference decide as before.

# A JSON scalar read by _scan_value: what kind it was.
DEF J_FAIL = 0
DEF J_STR = 1
DEF J_INT = 2
DEF J_NULL = 3
DEF J_OTHER = 4  # true/false: valid, never one of the fields read here
# Digits of an int read here: 18 always fit a long long.
DEF MAX_INT_DIGITS = 18
# The cache of short ASCII texts (_key_text): its slots, the longest key kept, and the
# longest value looked up there (the usual ones repeat: "true", "0", a topic).
DEF KEY_CACHE_SLOTS = 64
DEF KEY_CACHE_MAX_LEN = 32
DEF VALUE_CACHE_MAX_LEN = 16


cdef inline Py_ssize_t _skip_ws(const uint8_t* p, Py_ssize_t i, Py_ssize_t n) noexcept:
    while i < n and (p[i] == 32 or p[i] == 10 or p[i] == 13 or p[i] == 9):
        i += 1
    return i


cdef inline int _hex_digit(uint8_t c) noexcept:
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


cdef Py_ssize_t _unescape(const uint8_t* p, Py_ssize_t i, Py_ssize_t end, char* out) noexcept:
    """Bytes p[i:end] of a string with escapes, decoded as UTF-8 into out (never longer
    than the input); -1 for an escape left to orjson (a surrogate, a bad one)."""
    cdef Py_ssize_t o = 0
    cdef uint8_t c
    cdef int cp, d, j
    while i < end:
        c = p[i]
        if c != 92:
            out[o] = <char>c
            o += 1
            i += 1
            continue
        c = p[i + 1]  # an escape's second byte is before end: _scan_string saw it
        i += 2
        if c == 34 or c == 92 or c == 47:
            out[o] = <char>c
        elif c == 98:
            out[o] = 8
        elif c == 102:
            out[o] = 12
        elif c == 110:
            out[o] = 10
        elif c == 114:
            out[o] = 13
        elif c == 116:
            out[o] = 9
        elif c == 117:
            if i + 4 > end:
                return -1
            cp = 0
            for j in range(4):
                d = _hex_digit(p[i + j])
                if d < 0:
                    return -1
                cp = cp * 16 + d
            i += 4
            if 0xD800 <= cp <= 0xDFFF:
                return -1
            if cp < 0x80:
                out[o] = <char>cp
            elif cp < 0x800:
                out[o] = <char>(0xC0 | (cp >> 6))
                out[o + 1] = <char>(0x80 | (cp & 0x3F))
                o += 1
            else:
                out[o] = <char>(0xE0 | (cp >> 12))
                out[o + 1] = <char>(0x80 | ((cp >> 6) & 0x3F))
                out[o + 2] = <char>(0x80 | (cp & 0x3F))
                o += 2
        else:
            return -1
        o += 1
    return o


cdef object _utf8_text(const char* data, Py_ssize_t size):
    # None when the bytes are not UTF-8 (orjson then says so).
    try:
        return PyUnicode_DecodeUTF8(data, size, NULL)
    except UnicodeDecodeError:
        return None


cdef object _scan_string(const uint8_t* p, Py_ssize_t* at, Py_ssize_t n, bint make,
                         Py_ssize_t cached=0):
    """The string starting at p[at[0]] (its opening quote): its str when ``make`` (from the
    cache of short texts when it is ASCII without escapes and at most ``cached`` bytes),
    else True; None when it is left to orjson. at[0] moves past its closing quote."""
    cdef Py_ssize_t i = at[0] + 1, start = i, size
    cdef bint escaped = False
    cdef uint8_t c
    cdef char small[256]
    cdef char* out
    while True:
        if i >= n:
            return None
        c = p[i]
        if c == 34:
            break
        if c < 32:
            return None  # a raw control character: not JSON
        if c == 92:
            escaped = True
            i += 2
            continue
        i += 1
    at[0] = i + 1
    if not escaped:
        if make:
            if i - start <= cached:
                text = _key_text(p + start, i - start)
                if text is not None:
                    return text
            return _utf8_text(<const char*>p + start, i - start)
        for size in range(start, i):  # UTF-8 checked only where it is not ASCII
            if p[size] >= 0x80:
                return _utf8_text(<const char*>p + start, i - start)
        return True
    out = &small[0]
    if i - start > 256:
        out = <char*>PyMem_Realloc(NULL, <size_t>(i - start))
    if out == NULL:
        raise MemoryError()
    try:
        size = _unescape(p, start, i, out)
        if size < 0:
            return None
        return _utf8_text(out, size)
    finally:
        if out != &small[0]:
            PyMem_Free(out)


cdef int _scan_value(const uint8_t* p, Py_ssize_t* at, Py_ssize_t n, long long* number) noexcept:
    """A scalar but a string at p[at[0]]: J_INT (its value in number), J_NULL, J_OTHER
    (true/false), or J_FAIL (anything left to orjson); at[0] moves past it."""
    cdef Py_ssize_t i = at[0], digits
    cdef uint8_t c = p[i]
    cdef bint negative = False
    cdef unsigned long long v = 0
    if c == 45 or 48 <= c <= 57:
        if c == 45:
            negative = True
            i += 1
        digits = 0
        while i < n and 48 <= p[i] <= 57:
            v = v * 10 + (p[i] - 48)
            digits += 1
            i += 1
        if (digits == 0 or digits > MAX_INT_DIGITS or (digits > 1 and p[i - digits] == 48)
                or (i < n and (p[i] == 46 or p[i] == 101 or p[i] == 69))):
            return J_FAIL
        number[0] = -<long long>v if negative else <long long>v
        at[0] = i
        return J_INT
    if i + 4 <= n and memcmp(p + i, b"null", 4) == 0:
        at[0] = i + 4
        return J_NULL
    if i + 4 <= n and memcmp(p + i, b"true", 4) == 0:
        at[0] = i + 4
        return J_OTHER
    if i + 5 <= n and memcmp(p + i, b"false", 5) == 0:
        at[0] = i + 5
        return J_OTHER
    return J_FAIL


cdef object _scan_ext(const uint8_t* p, Py_ssize_t* at, Py_ssize_t n):
    """The extFields object at p[at[0]] (its opening brace) when every value is a string,
    else None."""
    cdef dict out = {}
    cdef Py_ssize_t i = _skip_ws(p, at[0] + 1, n)
    cdef object value
    if i < n and p[i] == 125:
        at[0] = i + 1
        return out
    while True:
        if i >= n or p[i] != 34:
            return None
        key = _scan_string(p, &i, n, True, KEY_CACHE_MAX_LEN)
        i = _skip_ws(p, i, n)
        if key is None or i >= n or p[i] != 58:
            return None
        i = _skip_ws(p, i + 1, n)
        if i >= n or p[i] != 34:
            return None
        value = _scan_string(p, &i, n, True, VALUE_CACHE_MAX_LEN)
        if value is None:
            return None
        out[key] = value
        i = _skip_ws(p, i, n)
        if i < n and p[i] == 44:
            i = _skip_ws(p, i + 1, n)
        elif i < n and p[i] == 125:
            at[0] = i + 1
            return out
        else:
            return None


# The header's keys read here (K_OTHER: any other key, its value checked and dropped).
DEF K_OTHER = 0
DEF K_CODE = 1
DEF K_LANGUAGE = 2
DEF K_VERSION = 3
DEF K_OPAQUE = 4
DEF K_FLAG = 5
DEF K_REMARK = 6
DEF K_EXT = 7


cdef int _key_of(const uint8_t* p, Py_ssize_t size) noexcept:
    if size == 4 and memcmp(p, b"code", 4) == 0:
        return K_CODE
    if size == 4 and memcmp(p, b"flag", 4) == 0:
        return K_FLAG
    if size == 6 and memcmp(p, b"opaque", 6) == 0:
        return K_OPAQUE
    if size == 6 and memcmp(p, b"remark", 6) == 0:
        return K_REMARK
    if size == 7 and memcmp(p, b"version", 7) == 0:
        return K_VERSION
    if size == 8 and memcmp(p, b"language", 8) == 0:
        return K_LANGUAGE
    if size == 9 and memcmp(p, b"extFields", 9) == 0:
        return K_EXT
    return K_OTHER


cdef object _json_usual(const uint8_t* p, Py_ssize_t n):
    """The command of a usual JSON header (see above), else None."""
    cdef Py_ssize_t i = _skip_ws(p, 0, n), key_start
    cdef long long number = 0, code = 0, version = 0, opaque = 0, flag = 0
    cdef bint has_code = False
    cdef int kind, key
    cdef object text = None
    language, remark, ext = "JAVA", None, None
    if i >= n or p[i] != 123:
        return None
    i = _skip_ws(p, i + 1, n)
    while True:
        if i >= n or p[i] != 34:
            return None  # an empty header has no code either: orjson and the reference say
        key_start = i + 1
        if _scan_string(p, &i, n, False) is None:
            return None
        if memchr(p + key_start, 92, i - 1 - key_start) != NULL:
            return None  # an escaped key: not one of ours as any client writes it
        key = _key_of(p + key_start, i - 1 - key_start)
        i = _skip_ws(p, i, n)
        if i >= n or p[i] != 58:
            return None
        i = _skip_ws(p, i + 1, n)
        if i >= n:
            return None
        if p[i] == 123:
            if key != K_EXT:
                return None
            ext = _scan_ext(p, &i, n)
            if ext is None:
                return None
        else:
            if p[i] == 34:
                text = _scan_string(p, &i, n, key == K_LANGUAGE or key == K_REMARK,
                                    KEY_CACHE_MAX_LEN if key == K_LANGUAGE else 0)
                kind = J_FAIL if text is None else J_STR
            else:
                kind = _scan_value(p, &i, n, &number)
            if kind == J_FAIL:
                return None
            if key == K_CODE or key == K_OPAQUE or key == K_FLAG or key == K_VERSION:
                if kind != J_INT:
                    return None
                if key == K_CODE:
                    code, has_code = number, True
                elif key == K_OPAQUE:
                    opaque = number
                elif key == K_FLAG:
                    flag = number
                else:
                    version = number
            elif key == K_LANGUAGE:
                if kind != J_STR:
                    return None
                language = text
            elif key == K_REMARK:
                if kind != J_STR and kind != J_NULL:
                    return None
                remark = text if kind == J_STR else None
            elif key == K_EXT:
                if kind != J_NULL:
                    return None
                ext = None
        i = _skip_ws(p, i, n)
        if i < n and p[i] == 44:
            i = _skip_ws(p, i + 1, n)
        elif i < n and p[i] == 125:
            break
        else:
            return None
    if _skip_ws(p, i + 1, n) != n or not has_code:
        return None
    return _command(code, language, version, opaque, flag, remark, ext, _JSON)


cdef str _take_text(const uint8_t* p, Py_ssize_t end, Py_ssize_t pos, Py_ssize_t length):
    if length < 0 or pos + length > end:
        raise ProtocolError("ROCKETMQ header string runs past the header")
    try:
        return PyUnicode_DecodeUTF8(<const char*>p + pos, length, NULL)
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"ROCKETMQ header string is not UTF-8: {exc}") from exc


# extFields keys met before, by a hash of their bytes: a key read again is the same str
# (its hash kept), not a new one (a SEND answer's five keys, every time). ASCII keys up to
# KEY_CACHE_MAX_LEN bytes; a slot holds the last key that hashed to it.
cdef list _key_cache = [None] * KEY_CACHE_SLOTS


cdef object _key_text(const uint8_t* p, Py_ssize_t n):
    """The str of the ASCII key p[:n] from the cache (added when missing); None when the
    key is not cached here (too long, not ASCII): the caller decodes it."""
    cdef Py_ssize_t i
    cdef size_t h = <size_t>n
    if n == 0 or n > KEY_CACHE_MAX_LEN:
        return None
    for i in range(n):
        if p[i] >= 0x80:
            return None
        h = h * 31 + p[i]
    cdef Py_ssize_t slot = <Py_ssize_t>(h & (KEY_CACHE_SLOTS - 1))
    cached = _key_cache[slot]
    if (cached is not None and PyUnicode_GET_LENGTH(cached) == n
            and memcmp(PyUnicode_DATA(cached), p, n) == 0):
        return cached
    key = PyUnicode_DecodeLatin1(<const char*>p, n, NULL)
    _key_cache[slot] = key
    return key


cdef object _truncated():
    return ProtocolError("truncated ROCKETMQ header: a length runs past the header")


cdef dict _rocketmq_ext(const uint8_t* p, Py_ssize_t end):
    cdef dict out = {}
    cdef Py_ssize_t pos = 0, key_len, val_len
    while pos < end:
        if pos + 2 > end:
            raise _truncated()
        key_len = _get16(p + pos)
        pos += 2
        key = _key_text(p + pos, key_len) if 0 < key_len <= end - pos else None
        if key is None:
            key = _take_text(p, end, pos, key_len)
        pos += key_len
        if pos + 4 > end:
            raise _truncated()
        val_len = <int32_t>_get32(p + pos)
        pos += 4
        value = None
        if 0 < val_len <= VALUE_CACHE_MAX_LEN and val_len <= end - pos:
            value = _key_text(p + pos, val_len)  # short values repeat too ("true", "0")
        out[key] = value if value is not None else _take_text(p, end, pos, val_len)
        pos += val_len
    return out


cdef object _rocketmq_header(const uint8_t* p, Py_ssize_t n):
    if n < RMQ_FIXED_SIZE + 4:
        raise _truncated()
    code = _get16(p)
    language = _LANGUAGE_BY_BYTE.get(p[2], "OTHER")
    version = _get16(p + 3)
    opaque = <int32_t>_get32(p + 5)
    flag = <int32_t>_get32(p + 9)
    cdef Py_ssize_t pos = RMQ_FIXED_SIZE
    cdef Py_ssize_t remark_len = <int32_t>_get32(p + pos)
    pos += 4
    remark = _take_text(p, n, pos, remark_len) if remark_len > 0 else None
    pos += max(remark_len, 0)
    if pos + 4 > n:
        raise _truncated()
    cdef Py_ssize_t ext_len = <int32_t>_get32(p + pos)
    pos += 4
    ext = None
    if ext_len > 0:
        ext = _rocketmq_ext(p + pos, min(ext_len, n - pos))
        if pos + ext_len > n:
            raise ProtocolError("ROCKETMQ header extFields run past the header")
    return _command(code, language, version, opaque, flag, remark, ext, _ROCKETMQ)


cdef object _decode(const uint8_t* p, Py_ssize_t length):
    if length < 4:
        raise ProtocolError("frame shorter than its header-length word")
    cdef uint32_t word = _get32(p)
    cdef uint32_t stype = word >> 24
    cdef Py_ssize_t header_len = word & HEADER_LEN_MASK
    if header_len > length - 4:
        raise ProtocolError(f"header length {header_len} exceeds frame length {length - 4}")
    if stype == SERIALIZE_JSON:
        cmd = _json_header(p + 4, header_len)
    elif stype == SERIALIZE_ROCKETMQ:
        cmd = _rocketmq_header(p + 4, header_len)
    else:
        raise ProtocolError(f"unknown serialize type {stype}")
    if length > 4 + header_len:
        cmd.body = PyBytes_FromStringAndSize(<const char*>p + 4 + header_len,
                                             length - 4 - header_len)
    return cmd


def decode_frame(frame):
    """Decode one frame *without* its leading 4-byte total length."""
    cdef Py_buffer view
    PyObject_GetBuffer(frame, &view, PyBUF_SIMPLE)
    try:
        return _decode(<const uint8_t*>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)


include "_frames.pxi"  # _FrameSplitter: the splitting loop, shared with broker/_kernels.pyx


cdef class FrameDecoder(_FrameSplitter):
    """Accumulates bytes and yields every complete command they hold, each decoded as
    ``decode_frame`` does (the reference ``codec.FrameDecoder``'s contract)."""

    cdef object _decode_one(self, const uint8_t* p, Py_ssize_t length):
        return _decode(p, length)


# --- encoding -----------------------------------------------------------------------------

cdef bytes _json_header_bytes(cmd):
    # Keys in fastjson's (alphabetical) order; null remark/extFields are omitted as Java does.
    # What orjson says of any header: the values _json_first leaves to it.
    header = {"code": cmd.code}
    ext = cmd.ext_fields
    if ext is not None:
        header["extFields"] = ext
    header["flag"] = cmd.flag
    header["language"] = cmd.language
    header["opaque"] = cmd.opaque
    remark = cmd.remark
    if remark is not None:
        header["remark"] = remark
    header["serializeTypeCurrentRPC"] = "JSON"
    header["version"] = cmd.version
    return _dumps(header)


# -- the JSON header written here, byte for byte what orjson.dumps writes ---------------------
#
# Every request of the client and every answer but a stored send's is a JSON header of the
# same few keys: building a dict for orjson and copying its output cost about as much as the
# rest of a send's encoding. The usual header (int numbers, str texts, a dict of str
# extFields) is written straight into the frame; anything else is left to orjson.

# Per byte of a string's UTF-8: 0 copied as it is, 1 a two-character escape (\b \t \n \f
# \r \" \\), 5 a \u00XX escape (the other control characters, lowercase hex), as orjson.
cdef uint8_t _ESC_EXTRA[256]
cdef char _ESC_CHAR[256]
cdef const char* _HEX = "0123456789abcdef"
for _c in range(256):
    _ESC_EXTRA[_c] = 5 if _c < 0x20 else 0
    _ESC_CHAR[_c] = 0
for _c, _e in ((8, "b"), (9, "t"), (10, "n"), (12, "f"), (13, "r"), (34, '"'), (92, "\\")):
    _ESC_EXTRA[_c] = 1
    _ESC_CHAR[_c] = ord(_e)

cdef struct _Text:
    const uint8_t* data
    Py_ssize_t size


cdef inline bint _json_text(object value, _Text* out) noexcept:
    # The UTF-8 of an exact str (ASCII ones are their own UTF-8); False for anything else,
    # and for a str with a lone surrogate (orjson then says what is wrong).
    cdef Py_ssize_t n
    if type(value) is not str:
        return False
    if PyUnicode_IS_COMPACT_ASCII(value):
        out.data = <const uint8_t*>PyUnicode_DATA(value)
        out.size = PyUnicode_GET_LENGTH(value)
        return True
    out.data = <const uint8_t*>PyUnicode_AsUTF8AndSize(value, &n)
    if out.data == NULL:
        PyErr_Clear()
        return False
    out.size = n
    return True


cdef char* _put_json_text(char* p, _Text t) noexcept:
    # Runs of plain bytes copied whole, each byte that needs it escaped as orjson does.
    cdef Py_ssize_t i = 0, run = 0
    cdef uint8_t c
    p[0] = 34
    p += 1
    while i < t.size:
        c = t.data[i]
        if _ESC_EXTRA[c] == 0:
            i += 1
            continue
        memcpy(p, t.data + run, i - run)
        p += i - run
        if _ESC_EXTRA[c] == 1:
            p[0] = 92
            p[1] = _ESC_CHAR[c]
            p += 2
        else:
            memcpy(p, b"\\u00", 4)
            p[4] = _HEX[c >> 4]
            p[5] = _HEX[c & 15]
            p += 6
        i += 1
        run = i
    memcpy(p, t.data + run, i - run)
    p += i - run
    p[0] = 34
    return p + 1


cdef inline Py_ssize_t _put_decimal(char* p, long long value) noexcept:
    cdef char tmp[24]
    cdef Py_ssize_t n = 0, i
    cdef unsigned long long v = <unsigned long long>value
    if value < 0:
        v = 0 - v
    while True:
        tmp[n] = <char>(48 + v % 10)
        n += 1
        v //= 10
        if v == 0:
            break
    if value < 0:
        tmp[n] = 45
        n += 1
    for i in range(n):
        p[i] = tmp[n - 1 - i]
    return n


cdef inline bint _json_int(object value, long long* out) except -1:
    # int and its subclasses (IntEnum codes) as orjson writes them; bool and numbers past
    # 64 bits (signed) are left to orjson.
    cdef int overflow = 0
    if type(value) is not int and (not isinstance(value, int) or isinstance(value, bool)):
        return False
    out[0] = PyLong_AsLongLongAndOverflow(value, &overflow)
    return overflow == 0


# The fixed texts of a header, in key order.
cdef const char* _J_CODE = b'{"code":'
cdef const char* _J_EXT = b',"extFields":{'
cdef const char* _J_FLAG = b',"flag":'
cdef const char* _J_LANGUAGE = b',"language":'
cdef const char* _J_OPAQUE = b',"opaque":'
cdef const char* _J_REMARK = b',"remark":'
cdef const char* _J_VERSION = b',"serializeTypeCurrentRPC":"JSON","version":'
# Bytes of a header beside its strings: the frame's lengths, the fixed texts, four numbers
# at their longest (20 characters), braces, quotes.
cdef Py_ssize_t HEADER_FIXED_MAX = 8 + 8 + 14 + 1 + 8 + 12 + 10 + 10 + 44 + 4 * 20 + 1
# The scratch buffer a header is written into (grown for a big one, kept up to
# SCRATCH_KEEP bytes): the frame's first part is copied out of it at its true length.
cdef char* _scratch = NULL
cdef Py_ssize_t _scratch_size = 0
cdef Py_ssize_t SCRATCH_KEEP = 64 * 1024


cdef char* _scratch_of(Py_ssize_t size) except NULL:
    global _scratch, _scratch_size
    cdef void* grown
    if size > _scratch_size:
        size = max(size, 4096, 2 * _scratch_size)
        grown = PyMem_Realloc(_scratch, <size_t>size)
        if grown == NULL:
            raise MemoryError()
        _scratch, _scratch_size = <char*>grown, size
    return _scratch


cdef void _trim_scratch() noexcept:
    # A buffer grown past SCRATCH_KEEP for one big header is given back, not kept.
    global _scratch, _scratch_size
    if _scratch_size > SCRATCH_KEEP:
        PyMem_Free(_scratch)
        _scratch, _scratch_size = NULL, 0


cdef inline object _slot(object d, object cmd, str name):
    # A RemotingCommand field: read through its slot when the class is what this module
    # expects (no attribute lookup by name), else by name.
    if _SLOTTED and type(cmd) is RemotingCommand:
        return Py_TYPE(d).tp_descr_get(d, cmd, RemotingCommand)
    return getattr(cmd, name)


cdef object _json_first(cmd, Py_ssize_t body_len):
    """The frame's first part (lengths + JSON header) of a usual header, else None."""
    cdef long long code, flag, opaque, version
    cdef _Text language, remark, key, value
    cdef Py_ssize_t at, pos = 0
    cdef bint comma = False
    cdef PyObject* k
    cdef PyObject* v
    ext, remark_obj = _slot(_S_EXT, cmd, "ext_fields"), _slot(_S_REMARK, cmd, "remark")
    language_obj = _slot(_S_LANGUAGE, cmd, "language")  # held: language points into it
    if not (_json_int(_slot(_S_CODE, cmd, "code"), &code)
            and _json_int(_slot(_S_FLAG, cmd, "flag"), &flag)
            and _json_int(_slot(_S_OPAQUE, cmd, "opaque"), &opaque)
            and _json_int(_slot(_S_VERSION, cmd, "version"), &version)
            and _json_text(language_obj, &language)
            and (remark_obj is None or _json_text(remark_obj, &remark))
            and (ext is None or type(ext) is dict)):
        return None
    # Room for everything but extFields (every string byte escaped as \u00XX at worst);
    # each entry makes room for itself and for all that follows it.
    cdef Py_ssize_t rest = (HEADER_FIXED_MAX + 6 * language.size
                            + (6 * remark.size + 2 if remark_obj is not None else 0))
    cdef char* start = _scratch_of(rest)
    cdef char* p = _put_text(start + 8, _J_CODE, 8)
    p += _put_decimal(p, code)
    if ext is not None:
        p = _put_text(p, _J_EXT, 14)
        while PyDict_Next(ext, &pos, &k, &v):
            if not (_json_text(<object>k, &key) and _json_text(<object>v, &value)):
                _trim_scratch()
                return None
            at = p - start
            start = _scratch_of(at + 6 * (key.size + value.size) + 6 + rest)
            p = start + at
            if comma:
                p[0] = 44
                p += 1
            comma = True
            p = _put_json_text(p, key)
            p[0] = 58
            p = _put_json_text(p + 1, value)
        p[0] = 125
        p += 1
    p = _put_text(p, _J_FLAG, 8)
    p += _put_decimal(p, flag)
    p = _put_text(p, _J_LANGUAGE, 12)
    p = _put_json_text(p, language)
    p = _put_text(p, _J_OPAQUE, 10)
    p += _put_decimal(p, opaque)
    if remark_obj is not None:
        p = _put_text(p, _J_REMARK, 10)
        p = _put_json_text(p, remark)
    p = _put_text(p, _J_VERSION, 44)
    p += _put_decimal(p, version)
    p[0] = 125
    p += 1
    cdef Py_ssize_t header_len = p - start - 8
    _put32(start, <uint32_t>(4 + header_len + body_len))
    _put32(start + 4, <uint32_t>header_len)  # serialize type 0: JSON
    first = PyBytes_FromStringAndSize(start, p - start)
    _trim_scratch()
    return first


cdef object _rocketmq_first(cmd, Py_ssize_t body_len):
    """The frame's first part (lengths + ROCKETMQ header) written straight from the command's
    fields (the UTF-8 of its strings, no intermediate pieces), else None: a value that would
    not fit, or that is not what the header holds, is left to the reference, which says so."""
    cdef long long code, flag, opaque, version
    cdef _Text remark, key, value
    cdef Py_ssize_t size, ext_size = 0, pos = 0
    cdef PyObject* k
    cdef PyObject* v
    ext, remark_obj = _slot(_S_EXT, cmd, "ext_fields"), _slot(_S_REMARK, cmd, "remark")
    remark.size = 0
    if not (_json_int(_slot(_S_CODE, cmd, "code"), &code) and -0x8000 <= code <= 0x7FFF
            and _json_int(_slot(_S_VERSION, cmd, "version"), &version)
            and -0x8000 <= version <= 0x7FFF
            and _json_int(_slot(_S_OPAQUE, cmd, "opaque"), &opaque)
            and -0x80000000 <= opaque <= 0x7FFFFFFF
            and _json_int(_slot(_S_FLAG, cmd, "flag"), &flag)
            and -0x80000000 <= flag <= 0x7FFFFFFF
            and (not remark_obj or _json_text(remark_obj, &remark))
            and (ext is None or type(ext) is dict)):
        return None
    if ext:
        while PyDict_Next(ext, &pos, &k, &v):
            if not (_json_text(<object>k, &key) and _json_text(<object>v, &value)
                    and key.size <= 0x7FFF):
                return None
            ext_size += 6 + key.size + value.size
    size = 8 + RMQ_FIXED_SIZE + 4 + remark.size + 4 + ext_size
    first = PyBytes_FromStringAndSize(NULL, size)
    cdef char* p = PyBytes_AS_STRING(first)
    _put32(p, <uint32_t>(size - 4 + body_len))
    _put32(p + 4, (<uint32_t>SERIALIZE_ROCKETMQ << 24) | <uint32_t>(size - 8))
    p += 8
    _put16(p, <uint32_t><int32_t>code)
    p[2] = <char><int>_BYTE_BY_LANGUAGE.get(_slot(_S_LANGUAGE, cmd, "language"), _OTHER)
    _put16(p + 3, <uint32_t><int32_t>version)
    _put32(p + 5, <uint32_t><int32_t>opaque)
    _put32(p + 9, <uint32_t><int32_t>flag)
    p += RMQ_FIXED_SIZE
    _put32(p, <uint32_t>remark.size)
    p = _put_text(p + 4, <const char*>remark.data, remark.size)
    _put32(p, <uint32_t>ext_size)
    p += 4
    if ext:
        pos = 0
        while PyDict_Next(ext, &pos, &k, &v):
            _json_text(<object>k, &key)
            _json_text(<object>v, &value)
            _put16(p, <uint32_t>key.size)
            p = _put_text(p + 2, <const char*>key.data, key.size)
            _put32(p, <uint32_t>value.size)
            p = _put_text(p + 4, <const char*>value.data, value.size)
    return first


def encode_parts(cmd):
    """Encode ``cmd`` as the pieces of one frame (prefix+header, body), ready for writelines."""
    stype = cmd.serialize_type
    cdef bytes header
    body = cmd.body
    cdef Py_ssize_t body_len = len(body) if body else 0
    if stype == SERIALIZE_ROCKETMQ:
        written = _rocketmq_first(cmd, body_len)
        if written is not None:
            return [written, body] if body_len else [written]
        header = _reference()._encode_rocketmq_header(cmd)  # raises what struct says
    else:
        written = _json_first(cmd, body_len)
        if written is not None:
            return [written, body] if body_len else [written]
        header = _json_header_bytes(cmd)
    cdef Py_ssize_t header_len = len(header)
    cdef bytes first = PyBytes_FromStringAndSize(NULL, 8 + header_len)
    cdef char* p = PyBytes_AS_STRING(first)
    _put32(p, <uint32_t>(4 + header_len + body_len))
    _put32(p + 4, (<uint32_t>(<int>stype) << 24) | <uint32_t>header_len)
    memcpy(p + 8, PyBytes_AS_STRING(header), header_len)
    if body_len:
        return [first, body]
    return [first]


# -- typed headers from extFields (codec.header_from_ext) ---------------------------------------

# codec.FIELD_*: how a field's text becomes its value.
cdef int FIELD_INT = 1
cdef int FIELD_BOOL = 2
_object_new = object.__new__


cdef object _parse_bool(object v):
    # The reference: v.lower() in ("true", "1"); the usual texts without the lower() call.
    if type(v) is str:
        if v == "true" or v == "1":
            return True
        if v == "false" or v == "0":
            return False
    return v.lower() in ("true", "1")


# id(plan) -> (plan, cls, the member descriptor of each field's slot or None): a plan lives
# as long as its class's from_ext; bounded for callers that make plans on the fly.
cdef dict _plan_slots = {}
cdef Py_ssize_t PLAN_CACHE_LIMIT = 512
_MemberDescriptor = type(RemotingCommand.__dict__["code"])


cdef tuple _slots_of(tuple plan, cls):
    entry = _plan_slots.get(id(plan))
    if entry is not None and (<tuple>entry)[0] is plan and (<tuple>entry)[1] is cls:
        return (<tuple>entry)[2]
    cdef list found = []
    for spec in plan:
        d = getattr(cls, "__dict__", {}).get(spec[0])
        found.append(d if type(d) is _MemberDescriptor else None)
    if len(_plan_slots) >= PLAN_CACHE_LIMIT:
        _plan_slots.clear()
    slots = tuple(found)
    _plan_slots[id(plan)] = (plan, cls, slots)
    return slots


def header_from_ext(tuple plan, cls, ext):
    """A slotted header object of ``cls`` with every field of ``plan`` taken from ``ext``.

    codec.header_from_ext is the reference, with the docs."""
    cdef tuple spec
    cdef object v, value, key, d
    cdef int kind
    cdef Py_ssize_t i
    if not ext:
        ext = {}
    cdef bint is_dict = type(ext) is dict
    get = None if is_dict else ext.get
    cdef tuple slots = _slots_of(plan, cls)
    obj = _object_new(cls)
    for i in range(len(plan)):
        spec = plan[i]
        key = spec[1]
        if is_dict:
            v = (<dict>ext).get(key)
        else:
            v = get(key)
        if v is None:
            if spec[3]:
                raise _reference().header_field_missing(key)
            value = spec[4]
        else:
            kind = spec[2]
            if kind == FIELD_INT:
                try:
                    value = int(v)
                except ValueError as exc:
                    raise _reference().header_field_bad(key, v) from exc
            elif kind == FIELD_BOOL:
                value = _parse_bool(v)
            else:
                value = v
        d = slots[i]
        if d is None:
            PyObject_GenericSetAttr(obj, spec[0], value)
        else:  # the slot's own setter: what object.__setattr__ finds and calls
            Py_TYPE(d).tp_descr_set(d, obj, value)
    return obj



# -- a stored send's answer frame (codec.encode_send_ok) -------------------------------------

from libc.stdio cimport snprintf
from rocketq.remoting.command import DEFAULT_LANGUAGE, DEFAULT_VERSION

cdef bytes _JSON_A = b'{"code":0,"extFields":{"msgId":"'
cdef bytes _JSON_B = b'","queueId":"'
cdef bytes _JSON_C = b'","queueOffset":"'
cdef bytes _JSON_D = b'","MSG_REGION":'
cdef bytes _JSON_E = (',"TRACE_ON":"true"},"flag":1,"language":"' + DEFAULT_LANGUAGE
                      + '","opaque":').encode()
cdef bytes _JSON_F = b',"serializeTypeCurrentRPC":"JSON","version":'
cdef int _LANGUAGE_BYTE = _BYTE_BY_LANGUAGE[DEFAULT_LANGUAGE]
cdef int _VERSION = DEFAULT_VERSION
cdef bytes _JSON_G = f"{DEFAULT_VERSION}}}".encode()  # the version and the closing brace


cdef inline char* _put_bytes(char* p, bytes b) noexcept:
    cdef Py_ssize_t n = len(b)
    memcpy(p, PyBytes_AS_STRING(b), n)
    return p + n


cdef inline char* _put_text(char* p, const char* t, Py_ssize_t n) noexcept:
    memcpy(p, t, n)
    return p + n


# The last region encode_send_ok was given and its parts (codec.send_ok_tail); a sentinel
# first, so that any first region (None too) goes through send_ok_tail and fails as there.
cdef object _tail_region = object()
cdef object _tail = None


def encode_send_ok(long long opaque, int serialize_type, str msg_id, long long queue_id,
                   long long queue_offset, str region):
    """The whole frame of a successful SEND's answer, byte for byte what ``encode`` gives
    for that RemotingCommand: codec.encode_send_ok is the reference, with the docs."""
    global _tail_region, _tail
    if region is not _tail_region:  # a broker has one region: its parts looked up once
        _tail = _reference().send_ok_tail(region)
        _tail_region = region
    tail = _tail
    cdef bytes mid = msg_id.encode()
    cdef char qid[24]
    cdef char qoff[24]
    cdef char num[24]
    cdef Py_ssize_t qid_n = snprintf(qid, 24, "%lld", queue_id)
    cdef Py_ssize_t qoff_n = snprintf(qoff, 24, "%lld", queue_offset)
    cdef Py_ssize_t mid_n = len(mid)
    cdef Py_ssize_t header_n, num_n
    cdef bytes out, region_part = <bytes>(<tuple>tail)[1 if serialize_type == SERIALIZE_ROCKETMQ else 0]
    cdef char* p
    if serialize_type == SERIALIZE_ROCKETMQ:
        # code, language, version, opaque, flag, remark length 0, ext length, the entries
        header_n = 13 + 4 + 4 + (2 + 5 + 4 + mid_n) + (2 + 7 + 4 + qid_n) + (2 + 11 + 4 + qoff_n)
        header_n += len(region_part)
        out = PyBytes_FromStringAndSize(NULL, 8 + header_n)
        p = PyBytes_AS_STRING(out)
        _put32(p, <uint32_t>(4 + header_n))
        _put32(p + 4, (<uint32_t>SERIALIZE_ROCKETMQ << 24) | <uint32_t>header_n)
        p += 8
        _put16(p, 0)
        p[2] = <char>_LANGUAGE_BYTE
        _put16(p + 3, <uint32_t>_VERSION)
        _put32(p + 5, <uint32_t>opaque)
        _put32(p + 9, 1)
        _put32(p + 13, 0)
        _put32(p + 17, <uint32_t>(header_n - 21))
        p += 21
        _put16(p, 5)
        p = _put_text(p + 2, "msgId", 5)
        _put32(p, <uint32_t>mid_n)
        p = _put_bytes(p + 4, mid)
        _put16(p, 7)
        p = _put_text(p + 2, "queueId", 7)
        _put32(p, <uint32_t>qid_n)
        p = _put_text(p + 4, qid, qid_n)
        _put16(p, 11)
        p = _put_text(p + 2, "queueOffset", 11)
        _put32(p, <uint32_t>qoff_n)
        p = _put_text(p + 4, qoff, qoff_n)
        _put_bytes(p, region_part)
        return out
    num_n = snprintf(num, 24, "%lld", opaque)
    header_n = (len(_JSON_A) + mid_n + len(_JSON_B) + qid_n + len(_JSON_C) + qoff_n
                + len(_JSON_D) + len(region_part) + len(_JSON_E) + num_n + len(_JSON_F)
                + len(_JSON_G))
    out = PyBytes_FromStringAndSize(NULL, 8 + header_n)
    p = PyBytes_AS_STRING(out)
    _put32(p, <uint32_t>(4 + header_n))
    _put32(p + 4, <uint32_t>header_n)
    p += 8
    p = _put_bytes(p, _JSON_A)
    p = _put_bytes(p, mid)
    p = _put_bytes(p, _JSON_B)
    p = _put_text(p, qid, qid_n)
    p = _put_bytes(p, _JSON_C)
    p = _put_text(p, qoff, qoff_n)
    p = _put_bytes(p, _JSON_D)
    p = _put_bytes(p, region_part)
    p = _put_bytes(p, _JSON_E)
    p = _put_text(p, num, num_n)
    p = _put_bytes(p, _JSON_F)
    _put_bytes(p, _JSON_G)
    return out


# -- a producer's send request and result (send_codec.py is the reference) --------------------

from rocketq.common import speedups as _speedups
from rocketq.common.topic import RETRY_GROUP_TOPIC_PREFIX

cdef extern from "Python.h":
    dict _PyDict_NewPresized(Py_ssize_t minused)


cdef object _decimal_text(object value):
    # str(value), an int's formatted here.
    cdef char digits[24]
    cdef long long number
    cdef int overflow = 0
    if type(value) is int:
        number = PyLong_AsLongLongAndOverflow(value, &overflow)
        if not overflow:
            return PyUnicode_DecodeLatin1(digits, _put_decimal(digits, number), NULL)
    return str(value)


def send_v2_command(code, group, topic, default_topic, default_topic_queue_nums, queue_id,
                    sys_flag, born_timestamp, flag, properties, batch, body):
    """A send request (``code``: SEND_MESSAGE_V2, SEND_BATCH_MESSAGE, SEND_REPLY_MESSAGE_V2)
    with ``SendMessageRequestHeaderV2``'s extFields written out: send_codec.py is the
    reference, with the docs."""
    cdef dict ext = _PyDict_NewPresized(12)
    ext["a"] = group
    ext["b"] = topic
    ext["c"] = default_topic
    ext["d"] = _decimal_text(default_topic_queue_nums)
    ext["e"] = _decimal_text(queue_id)
    ext["f"] = _decimal_text(sys_flag)
    ext["g"] = _decimal_text(born_timestamp)
    ext["h"] = _decimal_text(flag)
    ext["i"] = properties
    if topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
        ext["j"] = "0"
    ext["k"] = "false"
    ext["m"] = "true" if batch else "false"
    if not _SLOTTED:
        return RemotingCommand(code, DEFAULT_LANGUAGE, DEFAULT_VERSION, 0, 0, None, ext, body)
    cmd = _command(code, DEFAULT_LANGUAGE, DEFAULT_VERSION, 0, 0, None, ext, _JSON)
    _fill(_S_BODY, cmd, body)
    return cmd


from cpython.object cimport PyTypeObject
cdef extern from "Python.h":
    PyTypeObject PyBaseObject_Type
cdef tuple _NO_ARGS = ()


# class -> the member descriptor of each of its __slots__, in order (None where a slot is not
# a plain member); a few classes at most (SendResult): bounded all the same.
cdef dict _class_slots = {}
cdef Py_ssize_t CLASS_CACHE_LIMIT = 64


cdef tuple _members_of(cls):
    found = _class_slots.get(cls)
    if found is not None:
        return <tuple>found
    names = cls.__slots__
    if type(names) is not tuple:
        return None
    members = []
    for name in names:
        d = cls.__dict__.get(name)
        members.append(d if type(d) is _MemberDescriptor else None)
    if len(_class_slots) >= CLASS_CACHE_LIMIT:
        _class_slots.clear()
    found = _class_slots[cls] = (names, tuple(members))
    return <tuple>found


def slotted_instance(cls, tuple values):
    """An instance of the slotted class ``cls`` (a frozen dataclass too) with its
    ``__slots__`` set to ``values``, in order, without ``__init__``: send_codec.py is the
    reference, with the docs."""
    obj = _slotted(cls, values)
    if obj is None:  # not a class this fills: the reference does it, or says what is wrong
        return _speedups.REFERENCE["slotted_instance"](cls, values)
    return obj


cdef object _slotted(cls, tuple values):
    spec = _members_of(cls) if isinstance(cls, type) else None
    if spec is None or len(<tuple>(<tuple>spec)[0]) != len(values):
        return None
    cdef tuple names = (<tuple>spec)[0], members = (<tuple>spec)[1]
    cdef PyTypeObject* tp = <PyTypeObject*>cls
    if tp.tp_new != PyBaseObject_Type.tp_new:  # its own __new__: object.__new__ refuses it
        return None
    obj = tp.tp_new(<type>cls, <PyObject*>_NO_ARGS, NULL)  # object.__new__(cls), no call
    cdef Py_ssize_t i
    for i in range(len(values)):
        d = members[i]
        if d is None:
            PyObject_GenericSetAttr(obj, names[i], values[i])
        else:
            Py_TYPE(d).tp_descr_set(d, obj, values[i])
    return obj


cdef object _MISSING = object()


cdef object _int_text(object text):
    # int(text) of a number's text, or None where int() raises ValueError/TypeError; the
    # usual ASCII digits read here.
    cdef Py_ssize_t n, i = 0
    cdef const uint8_t* p
    cdef long long v = 0
    cdef bint negative = False
    if type(text) is str and PyUnicode_IS_COMPACT_ASCII(text):
        n = PyUnicode_GET_LENGTH(text)
        p = <const uint8_t*>PyUnicode_DATA(text)
        if n and p[0] == 45:
            negative, i = True, 1
        if 0 < n - i <= MAX_INT_DIGITS:
            while i < n and 48 <= p[i] <= 57:
                v = v * 10 + (p[i] - 48)
                i += 1
            if i == n:
                return -v if negative else v
    try:
        return int(text)  # spaces, "+", underscores, other digits: as Python reads them
    except (ValueError, TypeError):
        return None


def send_result_of(cls, status, msg_id, ext, mq):
    """The ``SendResult`` (``cls``) of a stored send's answer (``processSendResponse``): its
    slots filled from the answer's extFields: send_codec.py is the reference, with the docs."""
    if type(ext) is not dict:
        return _speedups.REFERENCE["send_result_of"](cls, status, msg_id, ext, mq)
    cdef dict d = ext
    offset_msg_id = d.get("msgId", _MISSING)
    queue_id = d.get("queueId", _MISSING)
    queue_offset = d.get("queueOffset", _MISSING)
    if offset_msg_id is _MISSING or queue_id is _MISSING or queue_offset is _MISSING:
        return None
    queue_id = _int_text(queue_id)
    if queue_id is None:
        return None
    queue_offset = _int_text(queue_offset)
    if queue_offset is None or queue_id != mq.queue_id:
        return None
    values = (status, msg_id, offset_msg_id, mq, queue_offset, d.get("transactionId"),
              d.get(_MSG_REGION, "DefaultRegion"), d.get(_TRACE_SWITCH) != "false")
    obj = _slotted(cls, values)
    if obj is None:
        return _speedups.REFERENCE["slotted_instance"](cls, values)
    return obj


from rocketq.common.message import MessageConst
_MSG_REGION = MessageConst.MSG_REGION
_TRACE_SWITCH = MessageConst.TRACE_SWITCH
