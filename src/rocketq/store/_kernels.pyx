# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""C twins of rocketq.store's byte-level puts (DESIGN principle 19), with the signatures,
results and exception types of the pure-Python references (read those first; the layouts
are drawn in ``store/format.py``):

    put_index_entry     rocketq.store.index_file   one IndexFile entry and its slot
    put_index_key       rocketq.store.index_file   IndexFile#putKey: hash, entry, header
    put_index_keys      rocketq.store.index_file   put_index_key of several keys
    put_batches         rocketq.store.commit_log   records of several puts into a mapping
    put_ok              rocketq.store.put_twins    a PUT_OK PutMessageResult
    queue_runs          rocketq.store.put_twins    a dispatch pass's ConsumeQueue entries
    put_runs            rocketq.store.put_twins    those entries into their queues
    checked_batches     rocketq.store.put_twins    a read's puts when the checks pass them
    put_oks             rocketq.store.put_twins    put_ok of each stored put of a read
    stored_flat         rocketq.store.put_twins    a read's stored records back to back
"""

from cpython.buffer cimport PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t

import struct

cdef extern from "Python.h":
    int PyUnicode_KIND(object text)
    void* PyUnicode_DATA(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    Py_UCS4 PyUnicode_READ(int kind, void* data, Py_ssize_t index)

# store/format.py: IndexHeader.INDEX_HEADER_SIZE, IndexFile.hashSlotSize / indexSize.
cdef Py_ssize_t INDEX_HEADER_SIZE = 40
cdef Py_ssize_t INDEX_HASH_SLOT_SIZE = 4
cdef Py_ssize_t INDEX_ENTRY_SIZE = 20
# IndexFile.invalidIndex
cdef int32_t INVALID_INDEX = 0

_STRUCT_ERROR = struct.error


cdef inline uint32_t _get32(const uint8_t* p) noexcept:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline void _put32(uint8_t* p, uint32_t v) noexcept:
    p[0] = <uint8_t>(v >> 24)
    p[1] = <uint8_t>(v >> 16)
    p[2] = <uint8_t>(v >> 8)
    p[3] = <uint8_t>v


cdef inline void _put64(uint8_t* p, int64_t v) noexcept:
    _put32(p, <uint32_t>(<uint64_t>v >> 32))
    _put32(p + 4, <uint32_t><uint64_t>v)


cdef inline uint32_t _hash_more(uint32_t h, str text) noexcept:
    """Java ``String#hashCode`` continued over ``text`` (UTF-16 code units)."""
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    cdef Py_ssize_t i, n = PyUnicode_GET_LENGTH(text)
    cdef uint32_t cp
    for i in range(n):
        cp = PyUnicode_READ(kind, data, i)
        if cp >= 0x10000:  # outside the BMP: a surrogate pair
            cp -= 0x10000
            h = 31 * h + (0xD800 + (cp >> 10))
            h = 31 * h + (0xDC00 + (cp & 0x3FF))
        else:
            h = 31 * h + cp
    return h


def put_index_entry(buf, hash_slot_num, entries_base, count, key_hash, phy_offset,
                    time_diff):
    """Write entry number ``count`` and make it the head of its key's slot chain, the byte
    work of ``IndexFile#putKey``; return the entry it links back to."""
    cdef Py_ssize_t slot_pos, entry_pos
    cdef int32_t c_count, c_hash, c_diff, prev
    cdef int64_t phy
    try:
        # Python's % (never negative for a positive modulus), then C types; what struct
        # would refuse to pack is refused the same way.
        slot_pos = INDEX_HEADER_SIZE + (key_hash % hash_slot_num) * INDEX_HASH_SLOT_SIZE
        entry_pos = entries_base + count * INDEX_ENTRY_SIZE
        c_count, c_hash, c_diff, phy = count, key_hash, time_diff, phy_offset
    except (OverflowError, TypeError) as exc:
        raise _STRUCT_ERROR(str(exc)) from None
    cdef Py_buffer view
    PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
    cdef uint8_t* p = <uint8_t*>view.buf
    try:
        if slot_pos < 0 or slot_pos + 4 > view.len:
            raise _STRUCT_ERROR(f"slot at {slot_pos} is outside a buffer of {view.len} bytes")
        if entry_pos < 0 or entry_pos + INDEX_ENTRY_SIZE > view.len:
            raise _STRUCT_ERROR(f"entry at {entry_pos} is outside a buffer of {view.len} bytes")
        prev = <int32_t>_get32(p + slot_pos)
        if prev <= INVALID_INDEX or prev > c_count:
            prev = INVALID_INDEX
        p += entry_pos
        _put32(p, <uint32_t>c_hash)
        _put32(p + 4, <uint32_t>(<uint64_t>phy >> 32))
        _put32(p + 8, <uint32_t><uint64_t>phy)
        _put32(p + 12, <uint32_t>c_diff)
        _put32(p + 16, <uint32_t>prev)
        _put32(<uint8_t*>view.buf + slot_pos, <uint32_t>c_count)
        return prev
    finally:
        PyBuffer_Release(&view)


# IndexFile's time diff: a Java int of whole seconds.
cdef int64_t MAX_TIME_DIFF = 0x7FFFFFFF
# Values past this take the reference (no int64 overflow in the sums below).
cdef int64_t SAFE = 1 << 60
cdef int64_t INT32_MAX = 0x7FFFFFFF

cdef inline int64_t _time_diff(int64_t ts, int64_t begin_ts) noexcept:
    """IndexFile#putKey's timeDiff: seconds since the file's first message, 0 before it."""
    cdef int64_t diff = 0
    if begin_ts > 0:
        diff = ts - begin_ts
        diff = diff // 1000 if diff >= 0 else -1
        diff = min(diff, MAX_TIME_DIFF) if diff > 0 else 0
    return diff


cdef inline int32_t _key_hash(str prefix, str key) noexcept:
    """``indexKeyHashMethod(topic#key)``: the Java hash of prefix + key, made non-negative
    (abs; Integer.MIN_VALUE -> 0)."""
    cdef int32_t key_hash = <int32_t>_hash_more(_hash_more(0, prefix), key)
    if key_hash < 0:
        key_hash = 0 if key_hash == -2147483648 else -key_hash
    return key_hash


cdef dict _references = {}


cdef object _reference(str name):
    """The pure-Python reference of the kernel ``name`` (for inputs left to it)."""
    fn = _references.get(name)
    if fn is None:
        from rocketq.common import speedups
        fn = _references[name] = speedups.REFERENCE[name]
    return fn


def put_index_key(buf, header, hash_slot_num, index_num, str prefix not None, str key not None,
                  phy_offset, store_timestamp):
    """``IndexFile#putKey`` of ``prefix + key`` on the mapping ``buf`` of a file with this
    geometry and its live ``header``.

    index_file.put_index_key is the reference, with the docs; any value outside the C
    types here (or a slot or entry outside ``buf``) is left to it.
    """
    cdef int64_t count, slots, phy, ts, begin_ts, begin_phy, used, diff, n
    cdef Py_ssize_t slot_pos, entry_pos, base
    cdef int32_t key_hash, prev
    cdef Py_buffer view
    try:
        count, n, slots = header.index_count, index_num, hash_slot_num
        phy, ts = phy_offset, store_timestamp
        begin_ts, used = header.begin_timestamp, header.hash_slot_count
        begin_phy = phy if count <= 1 else header.begin_phy_offset
    except (OverflowError, TypeError):
        count = -1
    if count < 0 or slots <= 0 or not (-SAFE < ts < SAFE and -SAFE < begin_ts < SAFE
                                       and -SAFE < phy < SAFE and count < INT32_MAX
                                       and 0 <= used < INT32_MAX and slots < SAFE // 4):
        return _reference("put_index_key")(buf, header, hash_slot_num, index_num, prefix, key,
                                          phy_offset, store_timestamp)
    if count >= n:
        return False
    diff = _time_diff(ts, begin_ts)
    key_hash = _key_hash(prefix, key)
    base = INDEX_HEADER_SIZE + slots * INDEX_HASH_SLOT_SIZE
    slot_pos = INDEX_HEADER_SIZE + (key_hash % slots) * INDEX_HASH_SLOT_SIZE
    entry_pos = base + count * INDEX_ENTRY_SIZE
    PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
    cdef uint8_t* p = <uint8_t*>view.buf
    try:
        if entry_pos + INDEX_ENTRY_SIZE > view.len or slot_pos + 4 > view.len:
            return _reference("put_index_key")(buf, header, hash_slot_num, index_num, prefix,
                                              key, phy_offset, store_timestamp)
        prev = <int32_t>_get32(p + slot_pos)
        if prev <= INVALID_INDEX or prev > count:
            prev = INVALID_INDEX
        _put32(p + entry_pos, <uint32_t>key_hash)
        _put64(p + entry_pos + 4, phy)
        _put32(p + entry_pos + 12, <uint32_t><int32_t>diff)
        _put32(p + entry_pos + 16, <uint32_t>prev)
        _put32(p + slot_pos, <uint32_t>count)
        if count <= 1:
            begin_ts = ts
            header.begin_timestamp = store_timestamp
            header.begin_phy_offset = phy_offset
        header.end_timestamp = store_timestamp
        header.end_phy_offset = phy_offset
        if prev == INVALID_INDEX:
            used += 1
            header.hash_slot_count = used
        header.index_count = count + 1
        _put64(p, begin_ts)
        _put64(p + 8, ts)
        _put64(p + 16, begin_phy)
        _put64(p + 24, phy)
        _put32(p + 32, <uint32_t>used)
        _put32(p + 36, <uint32_t>(count + 1))
        return True
    finally:
        PyBuffer_Release(&view)




def put_index_keys(buf, header, hash_slot_num, index_num, keys, first):
    """:func:`put_index_key` of each (prefix, key, physical offset, store timestamp) of
    ``keys[first:]`` in turn until the file is full; index_file.put_index_keys is the
    reference, with the docs. The header's attributes are read once and set once; any
    value outside the C types here goes to the reference from that key on."""
    cdef int64_t count, slots, n, begin_ts, end_ts, begin_phy, end_phy, used, phy, ts, diff
    cdef Py_ssize_t index, total, slot_pos, entry_pos, base
    cdef int32_t key_hash, prev
    cdef Py_buffer view
    cdef uint8_t* p
    try:
        index, total = first, len(keys)
        count, n, slots = header.index_count, index_num, hash_slot_num
        begin_ts, end_ts = header.begin_timestamp, header.end_timestamp
        begin_phy, end_phy, used = header.begin_phy_offset, header.end_phy_offset, header.hash_slot_count
    except (OverflowError, TypeError):
        count = -1
    if count < 0 or slots <= 0 or index < 0 or not (
            -SAFE < begin_ts < SAFE and -SAFE < end_ts < SAFE and -SAFE < begin_phy < SAFE
            and -SAFE < end_phy < SAFE and count < INT32_MAX and 0 <= used < INT32_MAX
            and slots < SAFE // 4):
        return _reference("put_index_keys")(buf, header, hash_slot_num, index_num, keys, first)
    base = INDEX_HEADER_SIZE + slots * INDEX_HASH_SLOT_SIZE
    PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
    p = <uint8_t*>view.buf
    start = index
    try:
        while index < total:
            item = keys[index]
            try:
                prefix, key, phy_offset, store_timestamp = item
                phy, ts = phy_offset, store_timestamp
            except (OverflowError, TypeError, ValueError):
                break
            if (type(prefix) is not str or type(key) is not str or not -SAFE < phy < SAFE
                    or not -SAFE < ts < SAFE or count >= INT32_MAX - 1):
                break
            if count >= n:
                break  # full
            diff = _time_diff(ts, begin_ts)
            key_hash = _key_hash(prefix, key)
            slot_pos = INDEX_HEADER_SIZE + (key_hash % slots) * INDEX_HASH_SLOT_SIZE
            entry_pos = base + count * INDEX_ENTRY_SIZE
            if entry_pos + INDEX_ENTRY_SIZE > view.len or slot_pos + 4 > view.len:
                break
            prev = <int32_t>_get32(p + slot_pos)
            if prev <= INVALID_INDEX or prev > count:
                prev = INVALID_INDEX
            _put32(p + entry_pos, <uint32_t>key_hash)
            _put64(p + entry_pos + 4, phy)
            _put32(p + entry_pos + 12, <uint32_t><int32_t>diff)
            _put32(p + entry_pos + 16, <uint32_t>prev)
            _put32(p + slot_pos, <uint32_t>count)
            if count <= 1:
                begin_ts, begin_phy = ts, phy
            end_ts, end_phy = ts, phy
            if prev == INVALID_INDEX:
                used += 1
            count += 1
            index += 1
        if index > start:
            _put64(p, begin_ts)
            _put64(p + 8, end_ts)
            _put64(p + 16, begin_phy)
            _put64(p + 24, end_phy)
            _put32(p + 32, <uint32_t>used)
            _put32(p + 36, <uint32_t>count)
    finally:
        PyBuffer_Release(&view)
    if index > start:
        header.begin_timestamp = begin_ts
        header.end_timestamp = end_ts
        header.begin_phy_offset = begin_phy
        header.end_phy_offset = end_phy
        header.hash_slot_count = used
        header.index_count = count
    if index < total and count < n:  # stopped on a value the C types do not hold
        return _reference("put_index_keys")(buf, header, hash_slot_num, index_num, keys, index)
    return index if index < total else total


# --- CommitLog appends ----------------------------------------------------------------------

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    int PyObject_GenericSetAttr(object obj, object name, object value) except -1

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport Py_TYPE
from cpython.ref cimport Py_INCREF, Py_XDECREF, PyObject
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.string cimport memcpy

# rocketq.common.record / rocketq.store.commit_log constants, same names.
cdef uint32_t MESSAGE_MAGIC_CODE = 0xDAA320A7
cdef Py_ssize_t FIXED_V1_IPV4 = 91
cdef Py_ssize_t V6_EXTRA = 12
cdef Py_ssize_t MAX_TOPIC_LENGTH_V1 = 127
cdef Py_ssize_t MAX_PROPERTIES_LENGTH = 32767
cdef Py_ssize_t MAX_RECORD_OVERHEAD = 64 * 1024
cdef int32_t BORNHOST_V6_FLAG = 0x10
cdef int32_t STOREHOST_V6_FLAG = 0x20
cdef int32_t TRANSACTION_MASK = 0xC
cdef int32_t TRANSACTION_PREPARED = 0x4
cdef int32_t TRANSACTION_ROLLBACK = 0xC
cdef uint32_t CRC_MASK = 0x7FFFFFFF
cdef int64_t INT64_MAX = 0x7FFFFFFFFFFFFFFF
# Records of a batch staged on the stack; a longer batch takes the heap.
cdef enum:
    STAGED_ON_STACK = 8

cdef const char* HEX_DIGITS = b"0123456789ABCDEF"

# BODYCRC is zlib.crc32 of the body (what record.py computes), here in C: libdeflate's
# crc32 where that library is installed (the same CRC-32, folded with carry-less multiplies:
# several times faster than zlib's on a 1 KiB body), else the crc32 of the zlib library
# Python's own zlib module uses, or, where neither can be found, a table-driven CRC-32 of
# the same polynomial. Each is looked up once: no Python call per record.
cdef extern from *:
    """
#include <stdint.h>
#include <stddef.h>
#include <limits.h>
#include <dlfcn.h>

/* zlib's crc32(crc, buf, len) */
typedef unsigned long (*rq_zlib_crc32_fn)(unsigned long, const unsigned char*, unsigned int);
static rq_zlib_crc32_fn rq_zlib_crc32 = NULL;
/* libdeflate's libdeflate_crc32(crc, buf, len): zlib's crc32, any length */
typedef uint32_t (*rq_deflate_crc32_fn)(uint32_t, const void*, size_t);
static rq_deflate_crc32_fn rq_deflate_crc32 = NULL;
static uint32_t rq_crc_table[256];  /* reflected polynomial 0xEDB88320, one byte a step */

static void rq_crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        rq_crc_table[i] = c;
    }
    void* lib = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib != NULL) rq_zlib_crc32 = (rq_zlib_crc32_fn)dlsym(lib, "crc32");
    lib = dlopen("libdeflate.so.0", RTLD_NOW | RTLD_LOCAL);
    if (lib != NULL) rq_deflate_crc32 = (rq_deflate_crc32_fn)dlsym(lib, "libdeflate_crc32");
}

static uint32_t rq_crc32_table(const unsigned char* p, size_t n) {
    uint32_t crc = 0xFFFFFFFFu;
    while (n--) crc = rq_crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* zlib.crc32(data) through zlib (or the table) */
static uint32_t rq_crc32_zlib(const unsigned char* p, size_t n) {
    if (rq_zlib_crc32 != NULL && n <= UINT_MAX) {
        return (uint32_t)rq_zlib_crc32(0, p, (unsigned int)n);
    }
    return rq_crc32_table(p, n);
}

/* zlib.crc32(data) */
static uint32_t rq_crc32(const unsigned char* p, size_t n) {
    if (rq_deflate_crc32 != NULL) return rq_deflate_crc32(0, p, n);
    return rq_crc32_zlib(p, n);
}
    """
    void rq_crc_init()
    uint32_t rq_crc32(const unsigned char* p, size_t n) noexcept nogil
    uint32_t rq_crc32_zlib(const unsigned char* p, size_t n) noexcept nogil
    uint32_t rq_crc32_table(const unsigned char* p, size_t n) noexcept nogil
    bint rq_crc_from_zlib "(rq_zlib_crc32 != NULL)"
    bint rq_crc_from_libdeflate "(rq_deflate_crc32 != NULL)"

rq_crc_init()


def body_crc(data):
    """``zlib.crc32(data)`` of a bytes object, as the records' BODYCRC is computed here."""
    cdef bytes b = data
    return rq_crc32(<const unsigned char*>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))


def body_crc_by_table(data):
    """The same through the byte table alone (the path taken when zlib is not found)."""
    cdef bytes b = data
    return rq_crc32_table(<const unsigned char*>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))


def body_crc_by_zlib(data):
    """The same through zlib's crc32 (the path taken when libdeflate is not found)."""
    cdef bytes b = data
    return rq_crc32_zlib(<const unsigned char*>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))


def crc_from_zlib():
    """True when zlib's own crc32 was found at import (used where libdeflate is not)."""
    return rq_crc_from_zlib


def crc_from_libdeflate():
    """True when BODYCRC is computed by libdeflate's crc32 (found at import)."""
    return rq_crc_from_libdeflate


# ``object.__new__(cls)`` without its Python call (what it does for a class with no
# abstract methods, as these result classes are: the type's own allocation, slots empty).
cdef extern from *:
    """
static PyObject* rq_object_new(PyObject* cls) {
    return ((PyTypeObject*)cls)->tp_alloc((PyTypeObject*)cls, 0);
}
    """
    object _object_new "rq_object_new" (object cls)
# ip text -> its packed bytes (record._pack_ip), kept for the process: a few hosts recur.
cdef dict _packed_ips = {}
cdef object _record = None
cdef object _result_type = None


cdef struct _Staged:
    const char* topic
    Py_ssize_t topic_len
    const char* props
    Py_ssize_t props_len
    const char* body
    Py_ssize_t body_len
    const char* born_ip
    Py_ssize_t born_ip_len
    int32_t total
    uint32_t crc
    int32_t queue_id
    int32_t flag
    int32_t sys_flag
    int64_t born_timestamp
    int32_t born_port
    int32_t reconsume_times
    int64_t prepared_offset
    int64_t queue_offset
    PyObject* topic_obj  # borrowed from the message, which the batch holds


cdef object _packed_ip(object ip):
    """record._pack_ip through a process-wide dict (None when it refuses the text)."""
    global _record
    packed = _packed_ips.get(ip)
    if packed is not None:
        return packed
    if _record is None:
        from rocketq.common import record
        _record = record
    try:
        packed = _record._pack_ip(ip)
    except Exception:
        return None
    if type(packed) is not bytes or len(<bytes>packed) not in (4, 16):
        return None
    _packed_ips[ip] = packed
    return packed


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member

import types

# StoredMessage's fields read by _stage, in this order; their slots' offsets in the object.
_MSG_FIELDS = ("topic", "queue_id", "body", "properties", "flag", "sys_flag",
               "born_timestamp", "born_host", "reconsume_times", "prepared_transaction_offset")
cdef enum:
    F_TOPIC, F_QUEUE_ID, F_BODY, F_PROPERTIES, F_FLAG, F_SYS_FLAG, F_BORN_TIMESTAMP, \
        F_BORN_HOST, F_RECONSUME_TIMES, F_PREPARED, N_MSG_FIELDS
cdef Py_ssize_t _msg_offsets[N_MSG_FIELDS]
cdef object _msg_type = None
# AppendResult's slots, in field order (physical_offset, size, queue_offset, timestamp, id).
cdef Py_ssize_t _result_offsets[5]


cdef Py_ssize_t _slot_offset(cls, str name) except -1:
    """Where the slot ``name`` of a ``cls`` instance lives (its member descriptor says)."""
    descr = cls.__dict__[name]
    if type(descr) is not types.MemberDescriptorType:
        raise TypeError(f"{cls.__name__}.{name} is not a slot")
    return (<PyMemberDescrObject*><PyObject*>descr).d_member.offset


cdef int _bind_classes() except -1:
    global _msg_type, _result_type
    from rocketq.common.record import StoredMessage
    from rocketq.store.commit_log import AppendResult
    cdef Py_ssize_t i
    for i in range(N_MSG_FIELDS):
        _msg_offsets[i] = _slot_offset(StoredMessage, _MSG_FIELDS[i])
    for i in range(5):
        _result_offsets[i] = _slot_offset(AppendResult, AppendResult.__slots__[i])
    _msg_type, _result_type = StoredMessage, AppendResult
    return 0


cdef inline object _field(object obj, Py_ssize_t index):
    """A StoredMessage field straight from its slot (AttributeError when unset)."""
    cdef PyObject* value = (<PyObject**>(<char*><PyObject*>obj + _msg_offsets[index]))[0]
    if value == NULL:
        raise AttributeError(_MSG_FIELDS[index])
    return <object>value


cdef object _new_result(int64_t phys, int32_t total, int64_t queue_offset, object stamp,
                        object msg_id):
    """``commit_log._append_result``: an AppendResult with its slots set directly (the
    store timestamp is the caller's object: one for all the results of a call)."""
    obj = _object_new(_result_type)
    cdef char* base = <char*><PyObject*>obj
    cdef object value
    cdef Py_ssize_t i
    for i in range(5):
        if i == 0:
            value = phys
        elif i == 1:
            value = total
        elif i == 2:
            value = queue_offset
        elif i == 3:
            value = stamp
        else:
            value = msg_id
        Py_INCREF(value)  # the slot's reference (it was empty: nothing to release)
        (<PyObject**>(base + _result_offsets[i]))[0] = <PyObject*>value
    return obj


# PutMessageResult's slots (status, appended, remark) and PUT_OK, once looked up.
cdef object _ok_type = None
cdef object _ok_status = None
cdef Py_ssize_t _ok_offsets[3]


def put_ok(appended):
    """``PutMessageResult(PUT_OK, appended)`` through the slot descriptors (the frozen
    dataclass ``__init__`` pays an ``object.__setattr__`` per field): most puts end here.
    put_twins.put_ok is the reference."""
    return _put_ok(appended)


cdef object _put_ok(object appended):
    global _ok_type, _ok_status
    cdef Py_ssize_t i
    if _ok_type is None:
        from rocketq.store.result import PutMessageResult, PutMessageStatus
        if PutMessageResult.__slots__ != ("status", "appended", "remark"):
            return _reference("put_ok")(appended)
        for i in range(3):
            _ok_offsets[i] = _slot_offset(PutMessageResult, PutMessageResult.__slots__[i])
        _ok_status, _ok_type = PutMessageStatus.PUT_OK, PutMessageResult
    obj = _object_new(_ok_type)
    cdef char* base = <char*><PyObject*>obj
    cdef object value
    for i in range(3):
        value = _ok_status if i == 0 else appended if i == 1 else ""
        Py_INCREF(value)  # the slot's reference (it was empty: nothing to release)
        (<PyObject**>(base + _ok_offsets[i]))[0] = <PyObject*>value
    return obj


cdef object _msg_id(object prefix, int64_t phys):
    """``prefix`` (the store host's hex) + the offset as 16 uppercase hex digits."""
    cdef Py_ssize_t n = len(prefix)
    out = PyUnicode_New(n + 16, 127)
    cdef char* p = <char*>PyUnicode_DATA(out)
    memcpy(p, PyUnicode_DATA(prefix), n)
    cdef uint64_t v = <uint64_t>phys
    cdef int i
    for i in range(15, -1, -1):
        p[n + i] = HEX_DIGITS[v & 0xF]
        v >>= 4
    return out


cdef bint _stage(object msg, _Staged* s, Py_ssize_t store_v6, int64_t max_message_size):
    """Read ``msg`` into ``s`` and size its record as commit_log.record_size does; False for
    anything the reference would refuse or treat differently (the caller stops there)."""
    if type(msg) is not _msg_type:
        return False
    try:
        topic, props = _field(msg, F_TOPIC), _field(msg, F_PROPERTIES)
        body, born_host = _field(msg, F_BODY), _field(msg, F_BORN_HOST)
        queue_id = _field(msg, F_QUEUE_ID)
        if (type(topic) is not str or type(props) is not str or type(body) is not bytes
                or type(born_host) is not tuple or len(<tuple>born_host) != 2
                or type(queue_id) is not int):
            return False
        s.body = PyBytes_AS_STRING(body)
        s.body_len = PyBytes_GET_SIZE(body)
        if s.body_len > max_message_size:
            return False
        s.topic = PyUnicode_AsUTF8AndSize(topic, &s.topic_len)
        s.props = PyUnicode_AsUTF8AndSize(props, &s.props_len)
        if s.topic_len > MAX_TOPIC_LENGTH_V1 or s.props_len > MAX_PROPERTIES_LENGTH:
            return False
        born_ip = _packed_ip((<tuple>born_host)[0])
        if born_ip is None:
            return False
        s.born_ip = PyBytes_AS_STRING(born_ip)
        s.born_ip_len = PyBytes_GET_SIZE(born_ip)
        s.born_port = (<tuple>born_host)[1]
        s.queue_id = queue_id
        s.flag = _field(msg, F_FLAG)
        s.sys_flag = _field(msg, F_SYS_FLAG)
        s.born_timestamp = _field(msg, F_BORN_TIMESTAMP)
        s.reconsume_times = _field(msg, F_RECONSUME_TIMES)
        s.prepared_offset = _field(msg, F_PREPARED)
        s.topic_obj = <PyObject*>topic
    except Exception:  # a value out of range, a text that is not UTF-8: the slow way
        return False
    cdef int64_t total = (FIXED_V1_IPV4 + V6_EXTRA * ((s.born_ip_len == 16) + store_v6)
                          + s.body_len + s.topic_len + s.props_len)
    if total > max_message_size + MAX_RECORD_OVERHEAD:
        return False
    s.total = <int32_t>total
    s.crc = rq_crc32(<const unsigned char*>s.body, s.body_len) & CRC_MASK
    return True


cdef void _write_record(uint8_t* p, _Staged* s, int64_t phys, int64_t stamp,
                        const char* store_ip, Py_ssize_t store_ip_len,
                        int32_t store_port) noexcept:
    """The record as record.record_bytes lays it out, written at ``p``."""
    cdef int32_t sys_flag = (s.sys_flag & ~(BORNHOST_V6_FLAG | STOREHOST_V6_FLAG)) | (
        BORNHOST_V6_FLAG if s.born_ip_len == 16 else 0) | (
        STOREHOST_V6_FLAG if store_ip_len == 16 else 0)
    _put32(p, <uint32_t>s.total)
    _put32(p + 4, MESSAGE_MAGIC_CODE)
    _put32(p + 8, s.crc)
    _put32(p + 12, <uint32_t>s.queue_id)
    _put32(p + 16, <uint32_t>s.flag)
    _put64(p + 20, s.queue_offset)
    _put64(p + 28, phys)
    _put32(p + 36, <uint32_t>sys_flag)
    _put64(p + 40, s.born_timestamp)
    memcpy(p + 48, s.born_ip, s.born_ip_len)
    p += 48 + s.born_ip_len
    _put32(p, <uint32_t>s.born_port)
    _put64(p + 4, stamp)
    memcpy(p + 12, store_ip, store_ip_len)
    p += 12 + store_ip_len
    _put32(p, <uint32_t>store_port)
    _put32(p + 4, <uint32_t>s.reconsume_times)
    _put64(p + 8, s.prepared_offset)
    _put32(p + 16, <uint32_t>s.body_len)
    p += 20
    memcpy(p, s.body, s.body_len)
    p += s.body_len
    p[0] = <uint8_t>s.topic_len
    memcpy(p + 1, s.topic, s.topic_len)
    p += 1 + s.topic_len
    p[0] = <uint8_t>(s.props_len >> 8)
    p[1] = <uint8_t>s.props_len
    memcpy(p + 2, s.props, s.props_len)


# The queue keys made lately ("<topic>-<queueId>", commit_log.queue_key) by topic text and
# queue id, held here (the references in the arrays are this cache's): a send's topic is a
# new str each time, its key then the same object again, hash known, no new text to build.
cdef enum:
    KEY_CACHE = 16
cdef PyObject* _key_topics[KEY_CACHE]
cdef PyObject* _key_texts[KEY_CACHE]
cdef int32_t _key_queue_ids[KEY_CACHE]
cdef int _keys_used = 0
cdef int _keys_next = 0


cdef object _queue_key(str topic, int32_t queue_id):
    """``f"{topic}-{queue_id}"``: the one made for the same text and queue lately, if any."""
    global _keys_used, _keys_next
    cdef int i
    for i in range(_keys_used):
        if _key_queue_ids[i] == queue_id and (<str>_key_topics[i]) == topic:
            return <object>_key_texts[i]
    key = f"{topic}-{queue_id}"
    i = _keys_next
    if i < _keys_used:
        Py_XDECREF(_key_topics[i])
        Py_XDECREF(_key_texts[i])
    else:
        _keys_used += 1
    Py_INCREF(topic)
    Py_INCREF(key)
    _key_topics[i], _key_texts[i], _key_queue_ids[i] = <PyObject*>topic, <PyObject*>key, queue_id
    _keys_next = (i + 1) % KEY_CACHE
    return key


def put_batches(buf, position, limit, batches, first, dict table not None, file_from_offset,
                store_timestamp, store_host, max_message_size, list out not None):
    """Write ``batches[first:]`` into ``buf`` (the mapping of the CommitLog file starting at
    ``file_from_offset``), straight into it; commit_log.put_batches is the reference, with
    the docs. This stops where it does (and a little earlier on unusual values, which the
    caller's slow way then takes); arguments outside the C types go to the reference.
    """
    cdef Py_ssize_t pos, c_limit, index, count, n, i
    cdef int64_t base_offset, stamp, max_size, phys, size
    cdef int32_t store_port
    try:
        pos, c_limit, index, base_offset = position, limit, first, file_from_offset
        stamp, max_size, count = store_timestamp, max_message_size, len(batches)
        if store_host is not _host:  # (a store's host is one tuple: worked out once)
            _bind_host(store_host)
        store_ip, store_port, prefix = _host_ip, _host_port, _host_prefix
    except Exception:
        store_ip = None
    if store_ip is None or pos < 0 or index < 0 or max_size < 0 or base_offset < 0:
        return _reference("put_batches")(buf, position, limit, batches, first, table,
                                         file_from_offset, store_timestamp, store_host,
                                         max_message_size, out)
    cdef Py_ssize_t store_v6 = PyBytes_GET_SIZE(store_ip) == 16
    cdef const char* c_store_ip = PyBytes_AS_STRING(store_ip)
    cdef _Staged on_stack[STAGED_ON_STACK]
    cdef _Staged* staged
    cdef Py_buffer view
    if _msg_type is None:
        _bind_classes()
    PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
    try:
        if c_limit > view.len:
            c_limit = view.len
        while index < count:
            msgs = batches[index]
            n = len(msgs)
            if n == 0:
                return pos
            staged = &on_stack[0]
            if n > STAGED_ON_STACK:
                staged = <_Staged*>PyMem_Malloc(n * sizeof(_Staged))
            if staged == NULL:
                raise MemoryError()
            try:
                size = 0
                taken = None  # the queue offsets the batch takes: {key: next}, or one key
                single_key = None
                for i in range(n):
                    if not _stage(msgs[i], &staged[i], store_v6, max_size):
                        return pos
                    size += staged[i].total
                    staged[i].queue_offset = 0
                    if staged[i].sys_flag & TRANSACTION_MASK not in (TRANSACTION_PREPARED,
                                                                    TRANSACTION_ROLLBACK):
                        key = _queue_key(<object>staged[i].topic_obj, staged[i].queue_id)
                        offset = None
                        if single_key is not None:  # a second key: a dict from now on
                            taken = {single_key: single_next}
                            single_key = None
                        if taken is not None:
                            offset = taken.get(key)
                        if offset is None:
                            offset = table.get(key, 0)
                        if type(offset) is not int or not 0 <= offset < INT64_MAX:
                            return pos  # what no record can hold: the slow way raises
                        staged[i].queue_offset = offset
                        if taken is not None:
                            taken[key] = offset + 1
                        else:
                            single_key, single_next = key, offset + 1
                if pos + size > c_limit:
                    return pos
                # The results first (all that can fail here): then the bytes, which cannot.
                results = PyTuple_New(n)
                phys = base_offset + pos
                for i in range(n):
                    result = _new_result(phys, staged[i].total, staged[i].queue_offset,
                                         store_timestamp, _msg_id(prefix, phys))
                    Py_INCREF(result)  # the tuple's reference
                    PyTuple_SET_ITEM(results, i, result)
                    phys += staged[i].total
                phys = base_offset + pos
                for i in range(n):
                    _write_record(<uint8_t*>view.buf + pos, &staged[i], phys, stamp, c_store_ip,
                                  PyBytes_GET_SIZE(store_ip), store_port)
                    pos += staged[i].total
                    phys += staged[i].total
            finally:
                if staged != &on_stack[0]:
                    PyMem_Free(staged)
            if single_key is not None:
                table[single_key] = single_next
            elif taken is not None:
                table.update(taken)
            out.append(results)
            index += 1
        return pos
    finally:
        PyBuffer_Release(&view)


# The store host put_batches last wrote for (kept alive here, so ``is`` tells it again) and
# its packed ip, port and msgId prefix.
cdef object _host = None
cdef object _host_ip = None
cdef int32_t _host_port = 0
cdef object _host_prefix = None


cdef int _bind_host(object store_host) except -1:
    """Work out the parts of ``store_host`` for the next puts (raises what they raise)."""
    global _host, _host_ip, _host_port, _host_prefix
    ip = _packed_ip(store_host[0])
    cdef int32_t port = store_host[1]
    prefix = _msg_id_prefix(store_host)
    _host_ip, _host_port, _host_prefix = ip, port, prefix
    _host = store_host  # last: a failure above leaves none of it bound
    return 0


cdef object _msg_id_prefix(object store_host):
    """record._msg_id_prefix (cached there), checked to be ASCII for _msg_id."""
    global _record
    if _record is None:
        from rocketq.common import record
        _record = record
    prefix = _record._msg_id_prefix(store_host)
    if type(prefix) is not str or not (<str>prefix).isascii():
        raise ValueError("msgId prefix is not ASCII text")
    return prefix


# --- Dispatch ---------------------------------------------------------------------------------

cdef extern from "Python.h":
    int PyByteArray_Resize(object array, Py_ssize_t size) except -1
    object PyByteArray_FromStringAndSize(const char* data, Py_ssize_t size)
    char* PyByteArray_AS_STRING(object array)
    Py_ssize_t PyByteArray_GET_SIZE(object array)

# ConsumeQueue.CQ_STORE_UNIT_SIZE; put_twins.py's _MAX_QUEUE_OFFSET and TX_PREPARED_BIT.
cdef Py_ssize_t CQ_UNIT = 20
cdef int64_t MAX_QUEUE_OFFSET = 1 << 58
cdef Py_ssize_t _props_offset = -1
cdef object _schedule_topic = None
cdef object _decode_properties = None
cdef object _tags_code = None


cdef int _bind_dispatch() except -1:
    global _props_offset, _schedule_topic, _decode_properties, _tags_code
    if _msg_type is None:
        _bind_classes()
    from rocketq.common.topic import SCHEDULE_TOPIC
    from rocketq.store import put_twins
    _schedule_topic, _decode_properties, _tags_code = (
        SCHEDULE_TOPIC, put_twins.decode_properties, put_twins.tags_code)
    _props_offset = _slot_offset(_msg_type, "props")
    return 0


cdef inline object _slot(object obj, Py_ssize_t offset, str name):
    """The slot at ``offset`` of ``obj`` (AttributeError when unset)."""
    cdef PyObject* value = (<PyObject**>(<char*><PyObject*>obj + offset))[0]
    if value == NULL:
        raise AttributeError(name)
    return <object>value


cdef enum:
    RUN_CACHE = 8


cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object number, int* overflow) except? -1


cdef inline bint _small_int(object number, int64_t* out) except -1:
    """True with ``out`` set when ``number`` is an int that fits an int64."""
    cdef int overflow = 0
    if type(number) is not int:
        return False
    out[0] = PyLong_AsLongLongAndOverflow(number, &overflow)
    return overflow == 0


cdef inline bint _same_text(object a, object b) except -1:
    """``a == b``, without the generic comparison for two str."""
    if a is b:
        return True
    if type(a) is str and type(b) is str:
        return (<str>a) == (<str>b)
    return a == b


cdef inline object _get(object props, str key):
    if type(props) is dict:
        return (<dict>props).get(key)
    return props.get(key)


def queue_runs(msgs, appended, scheduled_code, list index_keys, list arrivals not None):
    """The per-record work of a dispatch pass over freshly appended records, as data.

    put_twins.queue_runs is the reference, with the docs. Inputs of other types go to the
    reference whole."""
    cdef Py_ssize_t i, n = len(msgs), used
    cdef int64_t phys, last_phys = -1, size, queue_offset, code, first
    cdef uint8_t* p
    cdef dict runs = {}
    # The first RUN_CACHE runs of the pass (borrowed: runs holds them), looked up by
    # (topic, queue id) without a key tuple.
    cdef PyObject* run_topics[RUN_CACHE]
    cdef PyObject* run_entries[RUN_CACHE]
    cdef int64_t run_qids[RUN_CACHE]
    cdef int64_t run_firsts[RUN_CACHE]
    cdef int cached = 0, j, k
    cdef int64_t qid = 0
    cdef bint small
    last_topic = prefix = None
    if _props_offset < 0:
        _bind_dispatch()
    usual = len(appended) == n
    for i in range(n if usual else 0):
        if type(msgs[i]) is not _msg_type or type(appended[i]) is not _result_type:
            usual = False
            break
    if not usual:
        return _reference("queue_runs")(msgs, appended, scheduled_code, index_keys, arrivals)
    for i in range(n):
        msg, result = msgs[i], appended[i]
        topic = _field(msg, F_TOPIC)
        props = _slot(msg, _props_offset, "props")
        sys_flag = _field(msg, F_SYS_FLAG)
        if props is None:
            properties = _field(msg, F_PROPERTIES)
            props = _decode_properties(properties) if properties else {}
        phys_o = _slot(result, _result_offsets[0], "physical_offset")
        stamp = _slot(result, _result_offsets[3], "store_timestamp")
        try:
            phys = phys_o
        except OverflowError:
            return None
        if phys <= last_phys:
            return None
        last_phys = phys
        if index_keys is not None:
            keys, uniq = _get(props, "KEYS"), _get(props, "UNIQ_KEY")
            if (keys or uniq) and sys_flag & 0xC != 0xC:  # a ROLLBACK's are not indexed
                if last_topic is None or not _same_text(last_topic, topic):
                    last_topic, prefix = topic, f"{topic}#"
                if uniq is not None:
                    index_keys.append((prefix, uniq, phys_o, stamp))
                if keys:
                    for token in keys.split(" "):  # MessageConst.KEY_SEPARATOR
                        if token:
                            index_keys.append((prefix, token, phys_o, stamp))
        if sys_flag & 0x4:  # PREPARED or ROLLBACK: no queue entry
            continue
        queue_id = _field(msg, F_QUEUE_ID)
        try:
            queue_offset = _slot(result, _result_offsets[2], "queue_offset")
        except OverflowError:
            return None
        if not 0 <= queue_offset < MAX_QUEUE_OFFSET:
            return None
        if _same_text(topic, _schedule_topic):
            code_o = scheduled_code(topic, props, stamp)
        else:
            tags = _get(props, "TAGS")
            if type(tags) is str:
                code_o = <int32_t>_hash_more(0, tags) if tags else 0
            else:
                code_o = _tags_code(tags)
        j = -1
        small = _small_int(queue_id, &qid)
        if small:  # the runs met so far, without a key tuple and a dict lookup
            for k in range(cached):
                if run_qids[k] == qid and _same_text(<object>run_topics[k], topic):
                    j = k
                    break
        if j >= 0:
            entries = <object>run_entries[j]
            if queue_offset != run_firsts[j] + PyByteArray_GET_SIZE(entries) // CQ_UNIT:
                return None
        else:
            key = (topic, queue_id)
            # (a queue the cache does not have is not in runs while the cache has them all)
            run = None if small and len(runs) == cached else runs.get(key)
            if run is None:
                entries = PyByteArray_FromStringAndSize(NULL, 0)
                runs[key] = (_slot(result, _result_offsets[2], "queue_offset"), entries)
                if small and cached < RUN_CACHE:  # runs holds the topic and the entries
                    run_topics[cached], run_entries[cached] = <PyObject*>topic, <PyObject*>entries
                    run_qids[cached], run_firsts[cached] = qid, queue_offset
                    cached += 1
            else:
                first, entries = run
                if queue_offset != first + PyByteArray_GET_SIZE(entries) // CQ_UNIT:
                    return None
        try:
            size, code = _slot(result, _result_offsets[1], "size"), code_o
        except OverflowError:
            return None
        if not -2147483648 <= size <= INT32_MAX:
            return None
        used = PyByteArray_GET_SIZE(entries)
        PyByteArray_Resize(entries, used + CQ_UNIT)
        p = <uint8_t*>PyByteArray_AS_STRING(entries) + used
        _put64(p, phys)
        _put32(p + 8, <uint32_t><int32_t>size)
        _put64(p + 12, code)
        arrivals.append((topic, queue_id, queue_offset + 1, code_o))
    return runs


# --- ConsumeQueue runs ------------------------------------------------------------------------

# ConsumeQueue and MappedFile, bound on first use; put_twins.put_runs takes anything else.
cdef object _cq_type = None
cdef object _mapped_type = None
# ConsumeQueue's and MappedFile's slots read and set here.
cdef Py_ssize_t _cq_max_phys_offset = 0
cdef Py_ssize_t _cq_queue_offset = 0
cdef Py_ssize_t _mf_wrote, _mf_size, _mf_from, _mf_mm, _mf_synced
# An entry's end (offset + size) is computed in C below this offset only.
cdef int64_t MAX_RUN_PHYS = INT64_MAX - INT32_MAX


cdef inline int64_t _get64(const uint8_t* p) noexcept:
    return <int64_t>((<uint64_t>_get32(p) << 32) | _get32(p + 4))


cdef enum:
    RUN_NOT_TAKEN, RUN_WRITTEN, RUN_ASK_PYTHON


cdef int _append_run(object cq, int64_t first, object entries) except -1:
    """``ConsumeQueue.append_run`` of an exact ConsumeQueue whose tail is an exact
    MappedFile, with ``MappedFile.append_at`` inline (the write straight into its map):
    RUN_WRITTEN or RUN_NOT_TAKEN (nothing written) where the reference answers True or
    False, RUN_ASK_PYTHON (nothing written) for all else: the method then decides."""
    cdef const uint8_t* p = <const uint8_t*>PyByteArray_AS_STRING(entries)
    cdef Py_ssize_t n = PyByteArray_GET_SIZE(entries)
    cdef int64_t phys, max_phys, wrote, file_size, file_from, position
    cdef Py_buffer view
    if n == 0 or n % CQ_UNIT or not 0 <= first < MAX_QUEUE_OFFSET:
        return RUN_ASK_PYTHON
    phys = _get64(p)
    if phys < 0 or phys > MAX_RUN_PHYS:  # (an end computed in C must not overflow)
        return RUN_ASK_PYTHON
    if not _small_int(_slot(cq, _cq_max_phys_offset, "max_physic_offset"), &max_phys):
        return RUN_ASK_PYTHON
    files = _slot(cq, _cq_queue_offset, "queue").files
    if type(files) is not list:
        return RUN_ASK_PYTHON
    if not files or phys + <int32_t>_get32(p + 8) <= max_phys:
        return RUN_NOT_TAKEN
    tail = (<list>files)[len(<list>files) - 1]
    if type(tail) is not _mapped_type or _slot(tail, _mf_synced, "_synced_appends") is not False:
        return RUN_ASK_PYTHON  # (synced appends advise the kernel: append_at does it)
    if not (_small_int(_slot(tail, _mf_wrote, "_wrote"), &wrote)
            and _small_int(_slot(tail, _mf_size, "file_size"), &file_size)
            and _small_int(_slot(tail, _mf_from, "file_from_offset"), &file_from)
            and file_from >= 0):
        return RUN_ASK_PYTHON
    position = first * CQ_UNIT - file_from
    if position <= 0 or position != wrote or position + n > file_size:
        return RUN_NOT_TAKEN
    p = p + n - CQ_UNIT  # the last entry
    if _get64(p) < 0 or _get64(p) > MAX_RUN_PHYS:
        return RUN_ASK_PYTHON
    PyObject_GetBuffer(_slot(tail, _mf_mm, "_mm"), &view, PyBUF_WRITABLE)  # (closed: raises)
    try:
        if position + n > view.len:
            return RUN_ASK_PYTHON
        memcpy(<char*>view.buf + position, PyByteArray_AS_STRING(entries), n)
    finally:
        PyBuffer_Release(&view)
    _set_slot(tail, _mf_wrote, position + n)
    _set_slot(cq, _cq_max_phys_offset, _get64(p) + <int32_t>_get32(p + 8))
    return RUN_WRITTEN


cdef inline void _set_slot(object obj, Py_ssize_t offset, object value) noexcept:
    """Set the slot at ``offset`` of ``obj`` (what its member descriptor does)."""
    cdef PyObject** at = <PyObject**>(<char*><PyObject*>obj + offset)
    cdef PyObject* old = at[0]
    Py_INCREF(value)
    at[0] = <PyObject*>value
    Py_XDECREF(old)


cdef int _bind_queues() except -1:
    global _cq_type, _mapped_type, _cq_max_phys_offset, _cq_queue_offset
    global _mf_wrote, _mf_size, _mf_from, _mf_mm, _mf_synced
    from rocketq.store.consume_queue import ConsumeQueue
    from rocketq.store.mapped_file import MappedFile
    _cq_max_phys_offset = _slot_offset(ConsumeQueue, "max_physic_offset")
    _cq_queue_offset = _slot_offset(ConsumeQueue, "queue")
    _mf_wrote, _mf_size = _slot_offset(MappedFile, "_wrote"), _slot_offset(MappedFile, "file_size")
    _mf_from = _slot_offset(MappedFile, "file_from_offset")
    _mf_mm = _slot_offset(MappedFile, "_mm")
    _mf_synced = _slot_offset(MappedFile, "_synced_appends")
    _cq_type, _mapped_type = ConsumeQueue, MappedFile
    return 0


def put_runs(queues, runs):
    """Write the runs of :func:`queue_runs` whose ConsumeQueue exists and takes them the
    usual way; put_twins.put_runs is the reference, with the docs. Here each such run is copied
    into its queue's tail file directly; inputs of other types go to the reference."""
    cdef int64_t first
    cdef int taken
    if type(queues) is not dict or type(runs) is not dict:
        return _reference("put_runs")(queues, runs)
    if _cq_type is None:
        _bind_queues()
    left = []
    for key, run in (<dict>runs).items():
        first_o, entries = run
        cq = (<dict>queues).get(key) if not left else None  # after one left: all left
        if cq is not None:
            taken = RUN_ASK_PYTHON
            if type(cq) is _cq_type and type(entries) is bytearray and _small_int(first_o,
                                                                                &first):
                taken = _append_run(cq, first, entries)
            if taken == RUN_WRITTEN or taken == RUN_ASK_PYTHON and cq.append_run(first_o,
                                                                                 entries):
                continue
        left.append((key, first_o, entries))
    return left


# --- A read's puts: checks, answers, the stored records ----------------------------------------

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object text)


def checked_batches(puts):
    """The batches of ``puts`` when each has messages and none of them is refused by
    :func:`check_messages` (the usual read); put_twins.checked_batches is the
    reference, with the docs. A message whose texts are not all ASCII (or anything
    unusual) sends the whole read to the reference."""
    cdef Py_ssize_t i, n
    if _msg_type is None:
        _bind_classes()
    if type(puts) is not list:
        return _reference("checked_batches")(puts)
    batches = []
    for put in <list>puts:
        if type(put) is not tuple or len(<tuple>put) != 2:
            return _reference("checked_batches")(puts)
        msgs = (<tuple>put)[0]
        if type(msgs) is not list:
            return _reference("checked_batches")(puts)
        n = len(<list>msgs)
        if n == 0:
            return None
        for i in range(n):
            msg = (<list>msgs)[i]
            if type(msg) is not _msg_type:
                return _reference("checked_batches")(puts)
            topic, props = _slot(msg, _msg_offsets[F_TOPIC], "topic"), _slot(
                msg, _msg_offsets[F_PROPERTIES], "properties")
            if (type(topic) is not str or type(props) is not str
                    or not PyUnicode_IS_ASCII(topic) or not PyUnicode_IS_ASCII(props)
                    or len(<str>topic) > MAX_TOPIC_LENGTH_V1
                    or len(<str>props) > MAX_PROPERTIES_LENGTH):
                return _reference("checked_batches")(puts)
        batches.append(msgs)
    return batches


def put_oks(outcomes):
    """:func:`put_ok` of each outcome of ``append_many`` when every one is its batch's
    results (all stored), else None; put_twins.put_oks is the reference."""
    if type(outcomes) is not list:
        return _reference("put_oks")(outcomes)
    answers = []
    for outcome in <list>outcomes:
        if type(outcome) is not tuple:
            return None
        answers.append(_put_ok(outcome))
    return answers


def stored_flat(batches, outcomes):
    """The messages of ``batches`` and their results back to back, when ``append_many``
    stored every batch; put_twins.stored_flat is the reference, with the docs."""
    cdef Py_ssize_t i, n
    if type(batches) is not list or type(outcomes) is not list:
        return _reference("stored_flat")(batches, outcomes)
    n = len(<list>batches)
    if len(<list>outcomes) != n:
        return None
    msgs, appended = [], []
    for i in range(n):
        batch, outcome = (<list>batches)[i], (<list>outcomes)[i]
        if type(outcome) is not tuple:
            return None
        if type(batch) is list and len(<list>batch) == 1 and len(<tuple>outcome) == 1:
            msgs.append((<list>batch)[0])  # the usual one-message send
            appended.append((<tuple>outcome)[0])
        else:
            msgs += batch
            appended += outcome
    return msgs, appended
