# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""C twins of rocketq.remoting.codec (DESIGN principle 19): ``FrameDecoder``,
``decode_frame`` and ``encode_parts``, with the names, signatures, results and exception
types of the pure-Python reference in ``codec.py`` (read that first: the frame and header
layouts are drawn there).

Frames are split and headers read with C types; a JSON header is still parsed by orjson,
and only its usual shape (int code/version/opaque/flag, str language and remark, string
extFields) is turned into a command here: any other shape goes to the reference's own
``_decode_json_header``, which coerces it or says what is wrong. ROCKETMQ headers are
encoded here unless a value would not fit, which the reference then reports.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport int16_t, int32_t, uint8_t, uint32_t
from libc.string cimport memcpy
from cpython.object cimport Py_TYPE

import orjson

from rocketq.common.errors import ProtocolError
from rocketq.remoting.codes import LanguageCode, SerializeType
from rocketq.remoting.command import RemotingCommand

cdef extern from "Python.h":
    object PyUnicode_DecodeUTF8(const char* data, Py_ssize_t size, const char* errors)
    int PyObject_GenericSetAttr(object obj, object name, object value) except -1

# codec.py's constants.
DEFAULT_MAX_FRAME_LENGTH = 16 * 1024 * 1024
cdef uint32_t MIN_TOTAL_LENGTH = 4
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


cdef str _take_text(const uint8_t* p, Py_ssize_t end, Py_ssize_t pos, Py_ssize_t length):
    if length < 0 or pos + length > end:
        raise ProtocolError("ROCKETMQ header string runs past the header")
    try:
        return PyUnicode_DecodeUTF8(<const char*>p + pos, length, NULL)
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"ROCKETMQ header string is not UTF-8: {exc}") from exc


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
        key = _take_text(p, end, pos, key_len)
        pos += key_len
        if pos + 4 > end:
            raise _truncated()
        val_len = <int32_t>_get32(p + pos)
        pos += 4
        out[key] = _take_text(p, end, pos, val_len)
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


cdef class FrameDecoder:
    """Accumulates bytes and yields every complete command they hold.

    Same contract as the reference ``codec.FrameDecoder``: a bad frame raises
    ``ProtocolError`` and every later ``feed`` raises too.
    """

    cdef bytearray _buf
    cdef Py_ssize_t _max
    cdef Py_ssize_t _need
    cdef object _error

    def __init__(self, max_frame_length=DEFAULT_MAX_FRAME_LENGTH):
        self._buf = bytearray()
        self._max = max_frame_length
        self._need = 0
        self._error = None

    @property
    def buffered(self):
        """Bytes held that do not yet form a whole frame."""
        return len(self._buf)

    def feed(self, data):
        """Add bytes; return the commands completed by them, in order."""
        if self._error is not None:
            raise ProtocolError(f"decoder already failed: {self._error}")
        cdef bytearray buf = self._buf
        buf += data
        cdef Py_ssize_t end = len(buf)
        if end < 4 or (self._need and end < self._need):
            return []
        cdef list out = []
        cdef Py_ssize_t pos = 0
        cdef uint32_t total
        # A buffer export pins the bytearray (it cannot be resized under p) until released,
        # as the reference's memoryview does.
        cdef Py_buffer view
        PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
        cdef const uint8_t* p = <const uint8_t*>view.buf
        try:
            while end - pos >= 4:
                total = _get32(p + pos)
                if total < MIN_TOTAL_LENGTH or total > self._max:
                    raise ProtocolError(
                        f"frame length {total} outside [{MIN_TOTAL_LENGTH}, {self._max}]"
                    )
                if end - pos - 4 < total:
                    break
                out.append(_decode(p + pos + 4, total))
                pos += 4 + total
        except ProtocolError as exc:
            self._error = str(exc)
            raise
        finally:
            PyBuffer_Release(&view)
        if pos:
            del buf[:pos]
        if len(buf) >= 4:
            self._need = 4 + _get32(<const uint8_t*>PyByteArray_AS_STRING(buf))
        else:
            self._need = 0
        return out


# --- encoding -----------------------------------------------------------------------------

cdef bytes _json_header_bytes(cmd):
    # Keys in fastjson's (alphabetical) order; null remark/extFields are omitted as Java does.
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


cdef bint _fits(value, long low, long high):
    # int subclasses too: codes are IntEnums (RequestCode, ResponseCode)
    return isinstance(value, int) and low <= value <= high


cdef bytes _rocketmq_header_bytes(cmd):
    code, version, opaque, flag = cmd.code, cmd.version, cmd.opaque, cmd.flag
    remark, ext = cmd.remark, cmd.ext_fields
    if not (_fits(code, -0x8000, 0x7FFF) and _fits(version, -0x8000, 0x7FFF)
            and _fits(opaque, -0x80000000, 0x7FFFFFFF) and _fits(flag, -0x80000000, 0x7FFFFFFF)
            and (not remark or type(remark) is str) and (ext is None or type(ext) is dict)):
        return _reference()._encode_rocketmq_header(cmd)  # raises what struct says
    cdef list pieces = []
    cdef Py_ssize_t ext_size = 0
    if ext:
        for key, value in (<dict>ext).items():
            if type(key) is not str or type(value) is not str:
                return _reference()._encode_rocketmq_header(cmd)
            k = (<str>key).encode()
            v = (<str>value).encode()
            if len(k) > 0x7FFF:
                return _reference()._encode_rocketmq_header(cmd)
            pieces += (k, v)
            ext_size += 6 + len(k) + len(v)
    remark_bytes = (<str>remark).encode() if remark else b""
    cdef Py_ssize_t remark_len = len(remark_bytes)
    cdef bytes out = PyBytes_FromStringAndSize(
        NULL, RMQ_FIXED_SIZE + 4 + remark_len + 4 + ext_size
    )
    cdef char* p = PyBytes_AS_STRING(out)
    _put16(p, <uint32_t><int32_t>code)
    p[2] = <char><int>_BYTE_BY_LANGUAGE.get(cmd.language, _OTHER)
    _put16(p + 3, <uint32_t><int32_t>version)
    _put32(p + 5, <uint32_t><int32_t>opaque)
    _put32(p + 9, <uint32_t><int32_t>flag)
    p += RMQ_FIXED_SIZE
    _put32(p, <uint32_t>remark_len)
    memcpy(p + 4, PyBytes_AS_STRING(remark_bytes), remark_len)
    p += 4 + remark_len
    _put32(p, <uint32_t>ext_size)
    p += 4
    cdef Py_ssize_t i, n
    for i in range(0, len(pieces), 2):
        k, v = pieces[i], pieces[i + 1]
        n = len(k)
        _put16(p, <uint32_t>n)
        memcpy(p + 2, PyBytes_AS_STRING(k), n)
        p += 2 + n
        n = len(v)
        _put32(p, <uint32_t>n)
        memcpy(p + 4, PyBytes_AS_STRING(v), n)
        p += 4 + n
    return out


def encode_parts(cmd):
    """Encode ``cmd`` as the pieces of one frame (prefix+header, body), ready for writelines."""
    stype = cmd.serialize_type
    cdef bytes header
    if stype == SERIALIZE_ROCKETMQ:
        header = _rocketmq_header_bytes(cmd)
    else:
        header = _json_header_bytes(cmd)
    body = cmd.body
    cdef Py_ssize_t body_len = len(body) if body else 0
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


def encode_send_ok(long long opaque, int serialize_type, str msg_id, long long queue_id,
                   long long queue_offset, str region):
    """The whole frame of a successful SEND's answer, byte for byte what ``encode`` gives
    for that RemotingCommand: codec.encode_send_ok is the reference, with the docs."""
    tail = _reference().send_ok_tail(region)
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
