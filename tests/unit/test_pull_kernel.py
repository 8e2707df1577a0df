"""``record.messages_of_pull_body``: a pull body straight to the client's messages, pure
Python and compiled (``impl`` fixture, tests/conftest.py), against each other and against the
client's older two-step path (``decode_records`` then ``MessageExt.from_record``)."""

from __future__ import annotations

import dataclasses
import mmap
import struct
import zlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocketq.client.message import MessageExt
from rocketq.common.message import encode_properties
from rocketq.common.record import RecordFormatError, StoredMessage, decode_records, encode_record
from tests.conftest import Kernels, compiled_kernels, outcome_of

_INT32 = st.integers(-(2**31), 2**31 - 1)
_INT64 = st.integers(-(2**63), 2**63 - 1)
_hosts = st.tuples(
    st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str), st.integers(0, 65535)
)
# Java-like property maps (with or without UNIQ_KEY, MIN_OFFSET already there) and raw
# properties text with stray separators, empty names and values, non-ASCII.
_props = st.one_of(
    st.dictionaries(
        st.sampled_from(["UNIQ_KEY", "TAGS", "KEYS", "WAIT", "MIN_OFFSET", "a", "é"]),
        st.text(st.sampled_from("AB0é😀"), min_size=1, max_size=8),
        max_size=5,
    ).map(encode_properties),
    st.text(st.sampled_from("ab\x01\x02é😀"), max_size=16),
)


def _as_tuple(*values: Any) -> tuple[Any, ...]:
    """A ``make`` that is called (not a slotted class)."""
    return values


@st.composite
def _stored(draw: st.DrawFn) -> StoredMessage:
    compressed = draw(st.booleans())
    raw = draw(st.binary(max_size=48))
    # A compressed record's body is deflated, or garbage (zlib.error both ways).
    body = zlib.compress(raw) if compressed and draw(st.booleans()) else raw
    return StoredMessage(
        topic=draw(st.text(max_size=20)),
        queue_id=draw(_INT32),
        body=body,
        properties=draw(_props),
        flag=draw(_INT32),
        queue_offset=draw(_INT64),
        physical_offset=draw(_INT64),
        sys_flag=(draw(st.integers(0, 0xFF)) & ~1) | compressed,
        born_timestamp=draw(_INT64),
        born_host=draw(_hosts),
        store_timestamp=draw(_INT64),
        store_host=draw(_hosts),
        reconsume_times=draw(_INT32),
        prepared_transaction_offset=draw(_INT64),
    )


@given(st.lists(_stored(), max_size=5), _INT64, _INT64)
def test_twins_agree_with_the_clients_two_step_path(
    both: tuple[Kernels, Kernels], stored: list[StoredMessage], low: int, high: int
) -> None:
    pure, compiled = both
    body = b"".join(encode_record(m) for m in stored)
    for make in (MessageExt, _as_tuple):
        expected = outcome_of(pure.messages_of_pull_body, body, make, "broker-a", low, high)
        assert outcome_of(compiled.messages_of_pull_body, body, make, "broker-a", low, high) == (
            expected
        )
    two_step = outcome_of(lambda: _from_records(body, low, high))
    assert outcome_of(pure.messages_of_pull_body, body, MessageExt, "broker-a", low, high) == (
        two_step
    )


def _from_records(body: bytes, low: int, high: int) -> list[MessageExt]:
    """The two-step path: each record decoded, then MessageExt.from_record + MIN/MAX."""
    out = []
    for record in decode_records(body):
        msg = MessageExt.from_record(record, "broker-a")
        msg.properties |= {"MIN_OFFSET": str(low), "MAX_OFFSET": str(high)}
        out.append(msg)
    return out


_BODY = b"".join(
    encode_record(m)
    for m in (
        StoredMessage(
            "TopicTest", 1, b"x" * 40, "UNIQ_KEY\x01AB12\x02TAGS\x01a", store_host=("10.0.0.1", 9)
        ),
        StoredMessage("TopicTest", 1, zlib.compress(b"zipped"), "KEYS\x01k", sys_flag=1),
        StoredMessage("Topic", 2, b"v6", "a\x01é", born_host=("::1", 7), store_host=("::2", 8)),
    )
)


@given(
    st.lists(st.tuples(st.integers(0, len(_BODY) - 1), st.integers(0, 255)), max_size=4),
    st.integers(0, len(_BODY)),
)
def test_twins_agree_on_mangled_pull_bodies(
    both: tuple[Kernels, Kernels], edits: list[tuple[int, int]], cut: int
) -> None:
    pure, compiled = both
    buf = bytearray(_BODY)
    for pos, value in edits:
        buf[pos] = value
    data = bytes(buf[:cut])
    for make in (MessageExt, _as_tuple):
        expected = outcome_of(pure.messages_of_pull_body, data, make, "b", 0, 9)
        assert outcome_of(compiled.messages_of_pull_body, data, make, "b", 0, 9) == expected
        assert expected not in (IndexError, struct.error, UnicodeDecodeError)


def test_a_bad_record_is_found_before_a_bad_compressed_body(impl: Kernels) -> None:
    garbage = encode_record(StoredMessage("T", 0, b"not deflated", "", sys_flag=1))
    with pytest.raises(zlib.error):
        impl.messages_of_pull_body(garbage, MessageExt, "b", 0, 1)
    with pytest.raises(RecordFormatError):
        impl.messages_of_pull_body(garbage + _BODY[:-1], MessageExt, "b", 0, 1)


def test_messages_carry_ids_offsets_and_inflated_bodies(impl: Kernels) -> None:
    got = impl.messages_of_pull_body(_BODY, MessageExt, "broker-a", 3, 12)
    assert [m.body for m in got] == [b"x" * 40, b"zipped", b"v6"]
    assert got[0].msg_id == "AB12" and got[0].offset_msg_id == "0A00000100000009" + "0" * 16
    assert got[1].msg_id == got[1].offset_msg_id
    assert len(got[2].offset_msg_id) == 56 and got[2].store_host == ("::2", 8)
    assert got[2].born_host == ("::1", 7) and got[2].properties["a"] == "é"
    assert all(m.properties["MIN_OFFSET"] == "3" for m in got)
    assert all(m.properties["MAX_OFFSET"] == "12" and m.broker_name == "broker-a" for m in got)
    assert impl.messages_of_pull_body(b"", MessageExt, "broker-a", 0, 0) == []


def test_every_buffer_kind_gives_the_same_messages(impl: Kernels) -> None:
    mapped = mmap.mmap(-1, len(_BODY))
    mapped[:] = _BODY
    expected = impl.messages_of_pull_body(_BODY, MessageExt, "b", 0, 1)
    for buf in (bytearray(_BODY), memoryview(_BODY), mapped):
        assert impl.messages_of_pull_body(buf, MessageExt, "b", 0, 1) == expected
    mapped.close()  # no export left behind by the kernel's buffer view


@dataclasses.dataclass(slots=True)
class _Checked:
    """A slotted class like MessageExt whose construction does more than store."""

    topic: str
    body: bytes
    properties: dict[str, str]
    msg_id: str
    offset_msg_id: str
    queue_id: int
    queue_offset: int
    commit_log_offset: int
    born_timestamp: int
    born_host: tuple[str, int]
    store_timestamp: int
    store_host: tuple[str, int]
    reconsume_times: int
    sys_flag: int
    flag: int
    body_crc: int
    prepared_transaction_offset: int
    broker_name: str

    def __post_init__(self) -> None:
        self.topic = self.topic.upper()


class _Unhashable:
    """A callable ``make`` that cannot be a dict key."""

    __hash__ = None  # type: ignore[assignment]

    def __call__(self, *values: Any) -> tuple[Any, ...]:
        return values


def test_only_plain_slotted_classes_are_filled_directly() -> None:
    kernels = compiled_kernels()
    assert kernels.fills_slots(MessageExt)
    assert not kernels.fills_slots(_Checked)
    assert not kernels.fills_slots(_as_tuple)
    assert not kernels.fills_slots(_Unhashable())
    assert not kernels.fills_slots(StoredMessage)  # other slots
    got = kernels.messages_of_pull_body(_BODY, _Checked, "b", 0, 1)
    assert [m.topic for m in got] == ["TOPICTEST", "TOPICTEST", "TOPIC"]
    assert kernels.messages_of_pull_body(_BODY, _Unhashable(), "b", 0, 1) == [
        tuple(getattr(m, f.name) for f in dataclasses.fields(MessageExt))
        for m in kernels.messages_of_pull_body(_BODY, MessageExt, "b", 0, 1)
    ]
