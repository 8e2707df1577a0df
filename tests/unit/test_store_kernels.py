"""The store's compiled puts against their pure-Python references (DESIGN principle 19):
``put_index_key`` (IndexFile#putKey whole) and hypothesis differential runs feeding both
the same file state and values, valid or out of range."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from rocketq.store.format import IndexHeader, index_key_hash
from rocketq.store.index_file import _LiveHeader
from tests.conftest import Kernels, outcome_of

_I64 = st.integers(-(2**63), 2**63 - 1)
_keys = st.text(st.sampled_from("ab#é😀\x00"), max_size=6)


def _state(header: _LiveHeader) -> tuple[int, ...]:
    return tuple(getattr(header, name) for name in _LiveHeader.__slots__)


def test_put_index_key_writes_entry_slot_and_header(impl: Kernels) -> None:
    slots, entries = 7, 4
    buf = bytearray(40 + slots * 4 + entries * 20)
    header = _LiveHeader(begin_timestamp=1_000, end_timestamp=1_000)
    assert impl.put_index_key(buf, header, slots, entries, "T#", "k", 500, 3_500)
    key_hash = index_key_hash("T#k")
    slot = 40 + (key_hash % slots) * 4
    entry = 40 + slots * 4 + 20
    assert struct.unpack_from(">i", buf, slot) == (1,)
    assert struct.unpack_from(">iqii", buf, entry) == (key_hash, 500, 2, 0)
    assert IndexHeader.unpack(buf, 0) == IndexHeader(3_500, 3_500, 500, 500, 1, 2)
    assert _state(header) == (500, 3_500, 500, 3_500, 1, 2)
    assert impl.put_index_key(buf, header, slots, entries, "T#", "k", 900, 9_000)
    assert struct.unpack_from(">iqii", buf, entry + 20) == (key_hash, 900, 5, 1)  # chained
    assert impl.put_index_key(buf, header, slots, entries, "", "T#k", 950, 9_500)
    assert not impl.put_index_key(buf, header, slots, entries, "T#", "k", 990, 9_900)  # full
    assert header.index_count == entries


@given(
    st.integers(-2, 9),
    st.integers(0, 6),
    st.integers(-1, 8),
    st.integers(-1, 3),
    _keys,
    _keys,
    st.one_of(st.integers(-5, 10**6), _I64, st.integers(2**63, 2**64)),
    st.one_of(st.integers(-5, 10**7), _I64),
    st.one_of(st.integers(-5, 10**7), _I64),
    st.binary(max_size=8),
)
def test_put_index_key_twins(
    both: tuple[Kernels, Kernels],
    slots: int,
    entries: int,
    count: int,
    used: int,
    prefix: str,
    key: str,
    phy: int,
    ts: int,
    begin: int,
    slot_bytes: bytes,
) -> None:
    pure, compiled = both
    results = []
    for impl in (pure, compiled):
        buf = bytearray(range(200))  # old bytes everywhere
        buf[40 : 40 + len(slot_bytes)] = slot_bytes
        header = _LiveHeader(begin, begin, 7, 7, used, count)
        outcome = outcome_of(impl.put_index_key, buf, header, slots, entries, prefix, key, phy, ts)
        results.append((outcome, bytes(buf), _state(header)))
    assert results[0] == results[1]
