# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""C twins of rocketq.broker.plain_send (DESIGN principle 19): ``decode_send_frame`` and
``SendFrameDecoder``, with the names, signatures, results and exception types of the
pure-Python reference there (read it first: which frames become a ``PlainSend``).

A plain send's binary header is read with C types: its V2 keys are single letters, so the
entries are told apart by one byte, numbers are parsed from their digits, and only the
topic, the properties and the header itself become Python objects. Every other frame goes
to ``codec.decode_frame``; a JSON one decoded there is a plain send when its extFields
dict, read in one C pass (one letter per key, numbers from the strings' bytes), passes the
same rules.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_Next
from cpython.unicode cimport PyUnicode_Check, PyUnicode_CheckExact
from cpython.object cimport Py_TYPE, PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint32_t
from libc.string cimport memcmp

from rocketq.common.errors import ProtocolError
from rocketq.remoting import codec
from rocketq.remoting.codes import LanguageCode, RequestCode, SerializeType
from rocketq.remoting.command import RemotingCommand as _Command

cdef extern from "Python.h":
    object PyUnicode_DecodeUTF8(const char* data, Py_ssize_t size, const char* errors)
    int PyUnicode_IS_COMPACT_ASCII(object text)
    void* PyUnicode_DATA(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    Py_UCS4 PyUnicode_READ_CHAR(object text, Py_ssize_t index)

DEFAULT_MAX_FRAME_LENGTH = codec.DEFAULT_MAX_FRAME_LENGTH
cdef uint32_t HEADER_LEN_MASK = 0xFFFFFF
cdef int SEND_V2 = RequestCode.SEND_MESSAGE_V2
cdef uint32_t ROCKETMQ = SerializeType.ROCKETMQ
cdef uint32_t JSON = SerializeType.JSON
_ROCKETMQ = SerializeType.ROCKETMQ
_SEND_V2 = RequestCode.SEND_MESSAGE_V2
# code i16, language u8, version i16, opaque i32, flag i32, remark length i32; ext length
cdef Py_ssize_t HEAD_SIZE = 17
# plain_send._MAX_DIGITS
cdef Py_ssize_t MAX_DIGITS = 18
# Keys a..n as bits (bit k = letter 'a' + k): the required ones, the integer ones.
cdef uint32_t REQUIRED = 0xFF  # a-h
cdef uint32_t INTS = (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 9) | (1 << 11)
cdef int KEY_TOPIC = 1, KEY_QUEUE = 4, KEY_SYSFLAG = 5, KEY_BORN = 6, KEY_FLAG = 7
cdef int KEY_PROPS = 8, KEY_RECONSUME = 9, KEY_BATCH = 12
cdef int KEYS = 14
_LANGUAGE_BY_BYTE = {lc.value: lc.name for lc in LanguageCode}
# The same by index, for each byte value: a tuple read in C instead of a dict.get call
cdef tuple _LANGUAGES = tuple(_LANGUAGE_BY_BYTE.get(b, "OTHER") for b in range(256))
_decode_frame = codec.decode_frame  # the active twin

# --- instances of slotted dataclasses, their slots written directly ------------------------

cdef extern from "structmember.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
        int flags
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    int T_OBJECT_EX
    int READONLY

cdef extern from "Python.h":
    object PyType_GenericAlloc(PyTypeObject* cls, Py_ssize_t nitems)

import types

DEF MAX_FIELDS = 24

cdef struct SlotPlan:
    # The byte offset of each field's slot, in field order; n = 0: call the class instead.
    Py_ssize_t n
    Py_ssize_t offsets[MAX_FIELDS]


cdef SlotPlan _plan_of(cls):
    """Where the fields of ``cls`` (a slotted dataclass, no ``__post_init__``) live in its
    instances, when each is a plain object slot that ``cls(*values)`` fills and nothing
    else; else n = 0."""
    import dataclasses
    cdef SlotPlan plan
    plan.n = 0
    fields = dataclasses.fields(cls)
    if (len(fields) > MAX_FIELDS or hasattr(cls, "__post_init__")
            or (<PyTypeObject*>cls).tp_new != (<PyTypeObject*>object).tp_new):
        return plan
    cdef Py_ssize_t i
    cdef PyMemberDef* member
    for i in range(len(fields)):
        d = getattr(cls, fields[i].name, None)
        if type(d) is not types.MemberDescriptorType:
            return plan
        member = (<PyMemberDescrObject*><PyObject*>d).d_member
        if member.type != T_OBJECT_EX or member.flags & READONLY:
            return plan
        plan.offsets[i] = member.offset
    plan.n = len(fields)
    return plan


cdef _check_fields(cls, tuple names):
    """Refuse to build ``cls`` by position when its fields are not ``names``, in order."""
    import dataclasses
    found = tuple(f.name for f in dataclasses.fields(cls))
    if found != names:
        raise RuntimeError(f"{cls.__name__}'s fields are {found}, this kernel fills {names}")


cdef object _make(cls, SlotPlan* plan, PyObject** values, Py_ssize_t n):
    """``cls(*values)``: its slots written directly when ``plan`` allows."""
    cdef Py_ssize_t i
    if plan.n != n:
        return cls(*[<object>values[i] for i in range(n)])
    obj = PyType_GenericAlloc(<PyTypeObject*>cls, 0)  # every slot NULL
    for i in range(n):
        Py_INCREF(<object>values[i])
        (<PyObject**>(<char*><PyObject*>obj + plan.offsets[i]))[0] = values[i]
    return obj


# PlainSend and where its fields go, looked up at the first frame (plain_send imports this
# module while it is being imported).
cdef object _plain_cls = None
cdef SlotPlan _plain_plan
DEF PLAIN_FIELDS = 17


cdef object _plain_class():
    global _plain_cls, _plain_plan
    if _plain_cls is None:
        from rocketq.broker.plain_send import PlainSend
        _plain_plan = _plan_of(PlainSend)
        _plain_cls = PlainSend
    return _plain_cls


cdef inline uint32_t _get32(const uint8_t* p) noexcept:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline int16_t _get16(const uint8_t* p) noexcept:
    return <int16_t>((<uint32_t>p[0] << 8) | p[1])


cdef inline bint _ascii(const uint8_t* p, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    for i in range(n):
        if p[i] & 0x80:
            return False
    return True


cdef inline bint _decimal(const uint8_t* p, Py_ssize_t n, int64_t* out) noexcept:
    """plain_send._decimal: ``-`` and at most MAX_DIGITS digits, nothing else."""
    cdef Py_ssize_t i, start = 1 if n > 0 and p[0] == 45 else 0  # '-'
    if n - start < 1 or n - start > MAX_DIGITS:
        return False
    cdef int64_t v = 0
    for i in range(start, n):
        if p[i] < 48 or p[i] > 57:
            return False
        v = v * 10 + (p[i] - 48)
    out[0] = -v if start else v
    return True


cdef object _plain_of(const uint8_t* p, Py_ssize_t n, object body):
    """plain_send._plain_of over the header's bytes, or None."""
    if n < HEAD_SIZE + 4:
        return None
    cdef int32_t flag = <int32_t>_get32(p + 9)
    if _get16(p) != SEND_V2 or flag & 1 or <int32_t>_get32(p + 13) > 0:
        return None
    if <Py_ssize_t>_get32(p + HEAD_SIZE) != n - HEAD_SIZE - 4:
        return None
    cdef Py_ssize_t pos = HEAD_SIZE + 4, key_len, val_len
    cdef Py_ssize_t at[14]    # where each key's value starts
    cdef Py_ssize_t size[14]  # and its length
    cdef int64_t num[14]      # its number, for the integer keys
    cdef uint32_t seen = 0, bit
    cdef int key
    while pos < n:
        if pos + 2 > n:
            return None
        key_len = _get16(p + pos)
        pos += 2
        if key_len != 1 or pos + 5 > n:  # every V2 key is one letter
            return None
        key = p[pos] - 97  # 'a'
        val_len = <int32_t>_get32(p + pos + 1)
        pos += 5
        if key < 0 or key >= KEYS or val_len < 0 or pos + val_len > n:
            return None
        bit = 1u << key
        if seen & bit:
            return None
        seen |= bit
        if key != KEY_TOPIC and key != KEY_PROPS and not _ascii(p + pos, val_len):
            return None
        if INTS & bit and not _decimal(p + pos, val_len, &num[key]):
            return None
        at[key] = pos
        size[key] = val_len
        pos += val_len
    if seen & REQUIRED != REQUIRED:
        return None
    if seen & (1u << KEY_BATCH) and not (
        size[KEY_BATCH] == 5 and (<const char*>p)[at[KEY_BATCH]:at[KEY_BATCH] + 5] == b"false"
    ):
        return None
    try:
        topic = PyUnicode_DecodeUTF8(<const char*>p + at[KEY_TOPIC], size[KEY_TOPIC], NULL)
        props = ""
        if seen & (1u << KEY_PROPS):
            props = PyUnicode_DecodeUTF8(<const char*>p + at[KEY_PROPS], size[KEY_PROPS], NULL)
    except UnicodeDecodeError:
        return None
    return _new_plain(_SEND_V2, _LANGUAGES[p[2]], <int>_get16(p + 3),
                      <int32_t>_get32(p + 5), flag, body, _ROCKETMQ, topic, props, num, seen,
                      PyBytes_FromStringAndSize(<const char*>p, n))


cdef object _new_plain(code, language, version, opaque, flag, body, stype, topic, props,
                       const int64_t* num, uint32_t seen, header):
    """The PlainSend of a read header: the command's own fields, then the send's (``num``:
    the integer keys' values, ``seen``: which keys were there)."""
    cdef object queue_id = num[KEY_QUEUE]
    cdef object sys_flag = num[KEY_SYSFLAG]
    cdef object born = num[KEY_BORN]
    cdef object msg_flag = num[KEY_FLAG]
    cdef object reconsume = num[KEY_RECONSUME] if seen & (1u << KEY_RECONSUME) else 0
    cdef PyObject* values[PLAIN_FIELDS]
    values[:] = [
        <PyObject*>code, <PyObject*>language, <PyObject*>version, <PyObject*>opaque,
        <PyObject*>flag, <PyObject*>None, <PyObject*>None, <PyObject*>body,
        <PyObject*>stype, <PyObject*>topic, <PyObject*>queue_id, <PyObject*>sys_flag,
        <PyObject*>born, <PyObject*>msg_flag, <PyObject*>reconsume, <PyObject*>props,
        <PyObject*>header,
    ]
    cls = _plain_class()
    return _make(cls, &_plain_plan, values, PLAIN_FIELDS)


cdef object _decode_send(const uint8_t* p, Py_ssize_t length):
    """The PlainSend of a frame (without its total length), or None."""
    if length < 4:
        return None
    cdef uint32_t word = _get32(p)
    cdef Py_ssize_t header_len = word & HEADER_LEN_MASK
    if word >> 24 != ROCKETMQ or header_len > length - 4:
        return None
    body = None
    if length > 4 + header_len:
        body = PyBytes_FromStringAndSize(<const char*>p + 4 + header_len, length - 4 - header_len)
    return _plain_of(p + 4, header_len, body)


# RemotingCommand and where its fields live, looked up at the first JSON frame: the
# fields of a decoded command are read from their slots (no attribute lookups).
cdef object _command_cls = None
cdef SlotPlan _command_plan
_COMMAND_NAMES = (
    "code", "language", "version", "opaque", "flag", "remark", "ext_fields", "body",
    "serialize_type",
)
DEF CMD_CODE = 0
DEF CMD_LANGUAGE = 1
DEF CMD_VERSION = 2
DEF CMD_OPAQUE = 3
DEF CMD_FLAG = 4
DEF CMD_REMARK = 5
DEF CMD_EXT = 6
DEF CMD_BODY = 7
cdef object SEND_V2_INT = int(RequestCode.SEND_MESSAGE_V2)
cdef object JSON_INT = int(SerializeType.JSON)


cdef object _command_class():
    global _command_cls, _command_plan
    if _command_cls is None:
        _check_fields(_Command, _COMMAND_NAMES)
        _command_plan = _plan_of(_Command)
        _command_cls = _Command
    return _command_cls


cdef inline object _field(object cmd, int at):
    """Field ``at`` (CMD_*) of ``cmd``, a RemotingCommand: its slot, else its attribute."""
    cdef PyObject* value
    if _command_plan.n:
        value = (<PyObject**>(<char*><PyObject*>cmd + _command_plan.offsets[at]))[0]
        if value != NULL:
            return <object>value
    return getattr(cmd, _COMMAND_NAMES[at])


cdef object _json_plain(object cmd, const uint8_t* p, Py_ssize_t n):
    """plain_send._plain_of_json: the PlainSend of ``cmd``, decoded from a JSON header (its
    ``n`` bytes at ``p``), or None. Its extFields dict is read in C, one pass."""
    if type(cmd) is not _command_class():
        return None
    code, flag = _field(cmd, CMD_CODE), _field(cmd, CMD_FLAG)
    if code != SEND_V2_INT or flag & 1:
        return None
    ext = _field(cmd, CMD_EXT)
    if _field(cmd, CMD_REMARK) is not None or type(ext) is not dict:
        return None
    cdef PyObject* values_of[14]  # each key's value (borrowed from the dict)
    cdef int64_t num[14]          # its number, for the integer keys
    cdef Py_ssize_t pos = 0, length
    cdef PyObject* key
    cdef PyObject* value
    cdef uint32_t seen = 0, bit
    cdef int k
    while PyDict_Next(ext, &pos, &key, &value):
        if not PyUnicode_Check(<object>key) or PyUnicode_GET_LENGTH(<object>key) != 1:
            return None
        k = <int>PyUnicode_READ_CHAR(<object>key, 0) - 97  # 'a'
        if k < 0 or k >= KEYS or not PyUnicode_CheckExact(<object>value):
            return None
        bit = 1u << k
        seen |= bit
        values_of[k] = value
        if INTS & bit or k == KEY_BATCH:
            if not PyUnicode_IS_COMPACT_ASCII(<object>value):
                return None
            length = PyUnicode_GET_LENGTH(<object>value)
            if k == KEY_BATCH:
                if length != 5 or memcmp(PyUnicode_DATA(<object>value), b"false", 5) != 0:
                    return None
            elif not _decimal(<const uint8_t*>PyUnicode_DATA(<object>value), length, &num[k]):
                return None
    if seen & REQUIRED != REQUIRED:
        return None
    cdef object topic = <object>values_of[KEY_TOPIC]
    cdef object props = <object>values_of[KEY_PROPS] if seen & (1u << KEY_PROPS) else ""
    return _new_plain(SEND_V2_INT, _field(cmd, CMD_LANGUAGE), _field(cmd, CMD_VERSION),
                      _field(cmd, CMD_OPAQUE), flag, _field(cmd, CMD_BODY), JSON_INT, topic,
                      props, num, seen, PyBytes_FromStringAndSize(<const char*>p, n))


cdef object _decode_general(const uint8_t* p, Py_ssize_t length, object frame):
    """``codec.decode_frame(frame)`` (``frame``: the ``length`` bytes at ``p``), a plain send
    with a JSON header as a PlainSend."""
    cmd = _decode_frame(frame)
    if length >= 4 and _get32(p) >> 24 == JSON:  # decoded: the header length fits
        plain = _json_plain(cmd, p + 4, _get32(p) & HEADER_LEN_MASK)
        if plain is not None:
            return plain
    return cmd


def decode_send_frame(frame):
    """``codec.decode_frame(frame)`` (``frame`` without its 4-byte total length), except that
    a plain SEND_MESSAGE_V2 (either header form) comes out as a ``PlainSend``."""
    cdef Py_buffer view
    PyObject_GetBuffer(frame, &view, PyBUF_SIMPLE)
    try:
        cmd = _decode_send(<const uint8_t*>view.buf, view.len)
        if cmd is None:
            cmd = _decode_general(<const uint8_t*>view.buf, view.len, frame)
    finally:
        PyBuffer_Release(&view)
    return cmd


include "../remoting/_frames.pxi"  # _FrameSplitter: codec.FrameSplitter, the splitting loop


cdef class SendFrameDecoder(_FrameSplitter):
    """``codec.FrameDecoder`` whose frames go through ``decode_send_frame``."""

    cdef object _decode_one(self, const uint8_t* p, Py_ssize_t length):
        cmd = _decode_send(p, length)
        if cmd is None:
            frame = PyBytes_FromStringAndSize(<const char*>p, length)
            cmd = _decode_general(p, length, frame)
        return cmd


# --- the StoredMessage of a plain send ----------------------------------------------------

cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, unsigned int maxchar)
    object PyUnicode_FromStringAndSize(const char* data, Py_ssize_t size)

from libc.string cimport memchr, memcpy

from rocketq.common import record as _record

# Pairs parsed in C at most; a longer text takes the reference's steps.
DEF MAX_PAIRS = 64
cdef str WAIT = "WAIT"  # MessageConst.WAIT_STORE_MSG_OK
cdef str CLUSTER = "CLUSTER"  # MessageConst.CLUSTER
cdef bytes CLUSTER_PAIR = b"CLUSTER\x01"


cdef object _reference_plain_message():
    from rocketq.common import speedups
    return speedups.REFERENCE["plain_message"]


def plain_message(topic, queue_id, body, text, flag, sys_flag, born_timestamp, born_host,
                  reconsume_times, cluster, refuse):
    """The StoredMessage of a plain send whose properties are ``text`` and its WAIT flag
    (plain_send.plain_message is the reference, with the docs)."""
    if not (type(text) is str and PyUnicode_IS_COMPACT_ASCII(text) and type(cluster) is str
            and PyUnicode_IS_COMPACT_ASCII(cluster) and type(refuse) is frozenset
            and "\x01" not in cluster and "\x02" not in cluster):
        return _reference_plain_message()(topic, queue_id, body, text, flag, sys_flag,
                                          born_timestamp, born_host, reconsume_times, cluster,
                                          refuse)
    cdef const char* p = <const char*>PyUnicode_DATA(text)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
    cdef Py_ssize_t starts[MAX_PAIRS]
    cdef Py_ssize_t cuts[MAX_PAIRS]
    cdef Py_ssize_t ends[MAX_PAIRS]
    cdef int count = 0, i, wait_at = -1
    cdef Py_ssize_t seg = 0, end, total = 0
    cdef const char* cut
    while seg <= n:  # decode_properties: segments between 0x02s, "name 0x01 value"
        cut = <const char*>memchr(p + seg, 2, n - seg)
        end = (cut - p) if cut != NULL else n
        if end - seg >= 3:
            cut = <const char*>memchr(p + seg, 1, end - seg)
            if cut != NULL and p + seg < cut < p + end - 1:
                if count == MAX_PAIRS:  # many pairs: the reference
                    return _reference_plain_message()(
                        topic, queue_id, body, text, flag, sys_flag, born_timestamp,
                        born_host, reconsume_times, cluster, refuse)
                starts[count], cuts[count], ends[count] = seg, cut - p, end
                count += 1
        seg = end + 1
    cdef dict props = {}
    cdef int known
    cdef Py_ssize_t name_len
    cdef int refused = _refused_names(refuse)
    for i in range(count):
        name_len = cuts[i] - starts[i]
        known = _known(p + starts[i], name_len)
        if known == KNOWN_WAIT:  # taken out: its value read here, no string made
            if wait_at >= 0 or refused & (1 << KNOWN_WAIT):  # twice (or refused): as Python
                return _reference_plain_message()(
                    topic, queue_id, body, text, flag, sys_flag, born_timestamp, born_host,
                    reconsume_times, cluster, refuse)
            wait_at = i
            continue
        if known >= 0:
            if refused & (1 << known):
                return None
            name = NAMES[known]
        else:
            name = PyUnicode_FromStringAndSize(p + starts[i], name_len)
            if name in refuse:
                return None
        if (name_len == 7 and memcmp(p + starts[i], b"CLUSTER", 7) == 0) or name in props:
            return _reference_plain_message()(  # a position kept or a value replaced
                topic, queue_id, body, text, flag, sys_flag, born_timestamp, born_host,
                reconsume_times, cluster, refuse)
        props[name] = PyUnicode_FromStringAndSize(p + cuts[i] + 1, ends[i] - cuts[i] - 1)
        total += ends[i] - starts[i] + 1
    cdef bint wait = True
    if wait_at >= 0:  # str.lower() != "false", the text being ASCII
        wait = not _is_false(p + cuts[wait_at] + 1, ends[wait_at] - cuts[wait_at] - 1)
    props[CLUSTER] = cluster
    cdef Py_ssize_t cluster_len = PyUnicode_GET_LENGTH(cluster)
    out = PyUnicode_New(total + 8 + cluster_len, 127)
    cdef char* o = <char*>PyUnicode_DATA(out)
    for i in range(count):  # the kept pairs as they came, each with its 0x02
        if i != wait_at:
            memcpy(o, p + starts[i], ends[i] - starts[i])
            o[ends[i] - starts[i]] = 2
            o += ends[i] - starts[i] + 1
    memcpy(o, <const char*>CLUSTER_PAIR, 8)
    memcpy(o + 8, PyUnicode_DATA(cluster), cluster_len)
    return _stored_message(topic, queue_id, body, out, props, flag, sys_flag, born_timestamp,
                           born_host, reconsume_times), wait


# The property names a Java producer sends: reused, not made (and hashed) per message.
cdef tuple NAMES = ("UNIQ_KEY", "WAIT", "TAGS", "KEYS")
cdef int KNOWN_WAIT = 1  # NAMES.index("WAIT")
# Which NAMES the last ``refuse`` set holds (a bit each); it is the same set every call.
cdef object _refuse_seen = None
cdef int _refuse_bits = 0


cdef int _known(const char* p, Py_ssize_t n) noexcept:
    """The index in NAMES of the name at ``p``, or -1."""
    cdef int i
    cdef str known
    for i in range(4):
        known = <str>(<tuple>NAMES)[i]
        if PyUnicode_GET_LENGTH(known) == n and memcmp(PyUnicode_DATA(known), p, n) == 0:
            return i
    return -1


cdef int _refused_names(object refuse):
    global _refuse_seen, _refuse_bits
    cdef int i, bits = 0
    if refuse is not _refuse_seen:
        for i in range(4):
            if NAMES[i] in refuse:
                bits |= 1 << i
        _refuse_bits, _refuse_seen = bits, refuse
    return _refuse_bits


cdef bint _is_false(const char* p, Py_ssize_t n) noexcept:
    """Whether the ASCII text at ``p`` is "false" in any case."""
    cdef Py_ssize_t i
    cdef const char* false = b"false"
    if n != 5:
        return False
    for i in range(5):
        if (p[i] | 0x20) != false[i]:  # 'A'-'Z' to 'a'-'z'; nothing else becomes a letter of it
            return False
    return True


cdef SlotPlan _stored_plan
cdef object _stored_cls = None
cdef object _store_host = None
DEF STORED_FIELDS = 15
# The order _stored_message hands StoredMessage its values in (checked at first use: a
# field added or moved would otherwise fill the wrong slots without a word).
_STORED_NAMES = (
    "topic", "queue_id", "body", "properties", "flag", "queue_offset", "physical_offset",
    "sys_flag", "born_timestamp", "born_host", "store_timestamp", "store_host",
    "reconsume_times", "prepared_transaction_offset", "props",
)


cdef object _stored_message(topic, queue_id, body, properties, props, flag, sys_flag,
                            born_timestamp, born_host, reconsume_times):
    """record.sent_message(...), the StoredMessage's slots written directly."""
    global _stored_cls, _stored_plan, _store_host
    if _stored_cls is None:
        _check_fields(_record.StoredMessage, _STORED_NAMES)
        _stored_plan = _plan_of(_record.StoredMessage)
        _store_host = _record.StoredMessage(topic="", queue_id=0, body=b"").store_host
        _stored_cls = _record.StoredMessage
    cdef object zero = 0
    cdef PyObject* values[STORED_FIELDS]
    values[:] = [
        <PyObject*>topic, <PyObject*>queue_id, <PyObject*>body, <PyObject*>properties,
        <PyObject*>flag, <PyObject*>zero, <PyObject*>zero, <PyObject*>sys_flag,
        <PyObject*>born_timestamp, <PyObject*>born_host, <PyObject*>zero,
        <PyObject*>_store_host, <PyObject*>reconsume_times, <PyObject*>zero, <PyObject*>props,
    ]
    return _make(_stored_cls, &_stored_plan, values, STORED_FIELDS)
