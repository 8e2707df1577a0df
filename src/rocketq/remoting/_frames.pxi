# The compiled twin of codec.FrameSplitter: the one frame-splitting loop of the compiled
# decoders, included (Cython ``include``, textually) by rocketq/remoting/_kernels.pyx
# (FrameDecoder) and rocketq/broker/_kernels.pyx (SendFrameDecoder). A subclass overrides
# only ``_decode_one``, a C method: a frame costs no Python call here.
#
# The including module provides ``_get32`` (a big-endian u32 at a pointer), ``ProtocolError``
# and ``DEFAULT_MAX_FRAME_LENGTH``, and includes this before its decoder classes.

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING
from cpython.bytes cimport PyBytes_AS_STRING
from libc.stdint cimport uint8_t, uint32_t

# codec._MIN_TOTAL_LENGTH: the header-length word is the least a frame holds.
cdef uint32_t MIN_TOTAL_LENGTH = 4


cdef class _FrameSplitter:
    """Accumulates bytes and yields every complete command they hold.

    Same contract as the reference ``codec.FrameSplitter``: a bad frame raises
    ``ProtocolError``, any other exception from ``_decode_one`` passes through, and after
    either every later ``feed`` raises too.
    """

    cdef bytearray _buf
    cdef Py_ssize_t _max
    cdef Py_ssize_t _need  # total length of the frame being waited for, 0 if unknown
    cdef object _error

    def __init__(self, max_frame_length=DEFAULT_MAX_FRAME_LENGTH):
        self._buf = bytearray()
        self._max = max_frame_length
        self._need = 0
        self._error = None

    cdef object _decode_one(self, const uint8_t* p, Py_ssize_t length):
        """The command of one frame (without its total length) at ``p``; may not keep ``p``."""
        raise NotImplementedError("a decoder names its per-frame decode")

    @property
    def buffered(self):
        """Bytes held that do not yet form a whole frame."""
        return len(self._buf)

    def feed(self, data):
        """Add bytes; return the commands completed by them, in order."""
        if self._error is not None:
            raise ProtocolError(f"decoder already failed: {self._error}")
        cdef bytearray buf = self._buf
        cdef list out = []
        cdef Py_ssize_t pos, end
        if not len(buf) and type(data) is bytes:  # nothing held: frames read from data itself
            end = len(<bytes>data)
            try:
                pos = self._split(<const uint8_t*>PyBytes_AS_STRING(data), end, out)
            except BaseException:
                buf += data  # a failed decoder holds the bytes it was given, as below
                raise
            if pos == 0:  # no whole frame: the read is held as it is (one copy)
                buf += data
            elif pos < end:  # the start of a frame after whole ones: only that part held
                buf += memoryview(data)[pos:]
            self._hold_need()
            return out
        buf += data
        end = len(buf)
        if end < 4 or (self._need and end < self._need):
            return out
        # A buffer export pins the bytearray (it cannot be resized under p) until released,
        # as the reference's memoryview does.
        cdef Py_buffer view
        PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
        try:
            pos = self._split(<const uint8_t*>view.buf, end, out)
        finally:
            PyBuffer_Release(&view)
        if pos:
            del buf[:pos]
        self._hold_need()
        return out

    cdef Py_ssize_t _split(self, const uint8_t* p, Py_ssize_t end, list out) except -1:
        """The frames whole in ``p[:end]`` decoded into ``out``; where the rest begins."""
        cdef Py_ssize_t pos = 0
        cdef uint32_t total
        try:
            while end - pos >= 4:
                total = _get32(p + pos)
                if total < MIN_TOTAL_LENGTH or total > self._max:
                    raise ProtocolError(
                        f"frame length {total} outside [{MIN_TOTAL_LENGTH}, {self._max}]"
                    )
                if end - pos - 4 < total:
                    break
                out.append(self._decode_one(p + pos + 4, total))
                pos += 4 + total
        except ProtocolError as exc:
            self._error = str(exc)
            raise
        except Exception as exc:
            # Any other failure of a frame's decode: failed all the same (the reference's why).
            self._error = f"{type(exc).__name__}: {exc}"
            raise
        return pos

    cdef void _hold_need(self):
        """The whole length of the frame the held bytes begin, once its length is there."""
        cdef bytearray buf = self._buf
        if len(buf) >= 4:
            self._need = 4 + _get32(<const uint8_t*>PyByteArray_AS_STRING(buf))
        else:
            self._need = 0
