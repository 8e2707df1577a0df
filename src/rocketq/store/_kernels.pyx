# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""C twins of rocketq.store's byte-level puts (DESIGN principle 19), with the signatures,
results and exception types of the pure-Python references (read those first; the layouts
are drawn in ``store/format.py``):

    put_index_entry     rocketq.store.index_file   one IndexFile entry and its slot
    put_index_key       rocketq.store.index_file   IndexFile#putKey: hash, entry, header
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

cdef object _index_file = None


cdef object _reference_put_index_key():
    global _index_file
    if _index_file is None:
        from rocketq.common import speedups
        _index_file = speedups.REFERENCE["put_index_key"]
    return _index_file


def put_index_key(buf, header, hash_slot_num, index_num, str prefix not None, str key not None,
                  phy_offset, store_timestamp):
    """``IndexFile#putKey`` of ``prefix + key`` on the mapping ``buf`` of a file with this
    geometry and its live ``header``.

    index_file.put_index_key is the reference, with the docs; any value outside the C
    types here (or a slot or entry outside ``buf``) is left to it.
    """
    cdef int64_t count, slots, phy, ts, begin_ts, begin_phy, used, diff, n
    cdef Py_ssize_t slot_pos, entry_pos, base
    cdef uint32_t h
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
        return _reference_put_index_key()(buf, header, hash_slot_num, index_num, prefix, key,
                                          phy_offset, store_timestamp)
    if count >= n:
        return False
    diff = 0
    if begin_ts > 0:
        diff = ts - begin_ts
        diff = diff // 1000 if diff >= 0 else -1
        diff = min(diff, MAX_TIME_DIFF) if diff > 0 else 0
    h = _hash_more(_hash_more(0, prefix), key)
    key_hash = <int32_t>h
    if key_hash < 0:
        key_hash = 0 if key_hash == -2147483648 else -key_hash  # abs; MIN_VALUE -> 0
    base = INDEX_HEADER_SIZE + slots * INDEX_HASH_SLOT_SIZE
    slot_pos = INDEX_HEADER_SIZE + (key_hash % slots) * INDEX_HASH_SLOT_SIZE
    entry_pos = base + count * INDEX_ENTRY_SIZE
    PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
    cdef uint8_t* p = <uint8_t*>view.buf
    try:
        if entry_pos + INDEX_ENTRY_SIZE > view.len or slot_pos + 4 > view.len:
            return _reference_put_index_key()(buf, header, hash_slot_num, index_num, prefix,
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
