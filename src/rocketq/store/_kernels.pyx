# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""C twin of rocketq.store.index_file's ``put_index_entry`` (DESIGN principle 19): the
byte work of one IndexFile put, with the signature, results and exception types of the
pure-Python reference there (read that first; the layout is drawn in ``store/format.py``).
"""

from cpython.buffer cimport PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t

import struct

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
