"""Java's ``String#hashCode``, which RocketMQ uses for tag codes and index keys."""

from __future__ import annotations

import operator
import sys
from array import array

from rocketq.common import speedups

__all__ = ["java_string_hash"]

# Powers of 31 mod 2^32 for Java's polynomial string hash; strings longer than this use
# the plain loop.
_POW31_LIMIT = 4096
_POW31 = tuple(pow(31, i, 1 << 32) for i in range(_POW31_LIMIT))


@speedups.twin
def java_string_hash(text: str) -> int:
    """Java ``String#hashCode``: over UTF-16 code units, signed 32-bit result."""
    units: bytes | array[int]
    if text.isascii():
        units = text.encode("ascii")  # ASCII bytes are the UTF-16 code units
    else:
        units = array("H", text.encode("utf-16-be", "surrogatepass"))
        if sys.byteorder == "little":  # array reads native order; the units are big-endian
            units.byteswap()
    n = len(units)
    h: int
    if n <= _POW31_LIMIT:
        # sum(u[i] * 31^(n-1-i)) evaluated in C instead of a Python loop
        h = sum(map(operator.mul, units, _POW31[n - 1 :: -1] if n else ())) & 0xFFFFFFFF
    else:
        h = 0
        for unit in units:
            h = (31 * h + unit) & 0xFFFFFFFF
    return h - 0x100000000 if h & 0x80000000 else h
