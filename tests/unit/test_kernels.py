"""The compiled core against its pure-Python reference (DESIGN principle 19).

The hand-written cases of each twinned function take the ``impl`` fixture (tests/conftest.py)
and run over both implementations; here: the selection itself (ROCKETQ_PURE_PYTHON, the
build), matching signatures, and differential runs where hypothesis feeds both the same
input, valid or mangled, and they must give the same answer or the same exception type.
"""

from __future__ import annotations

import inspect
import os
import struct
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocketq.common import hashing, message, record, speedups
from rocketq.common.record import RecordFormatError, StoredMessage
from rocketq.remoting.codec import encode
from rocketq.remoting.codes import SerializeType
from rocketq.remoting.command import RemotingCommand
from tests.conftest import (
    Kernels,
    compiled_kernels,
    compiler_present,
    outcome_of,
    twin_implementations,
)

_hosts = st.tuples(
    st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str), st.integers(0, 65535)
)
_props_text = st.text(st.sampled_from("ab\x01\x02é😀"), max_size=24)


def test_compiled_core_is_active_where_it_can_be_built() -> None:
    if speedups.pure_python_requested():
        assert not speedups.ACTIVE and "ROCKETQ_PURE_PYTHON" in speedups.describe()
        return
    if not compiler_present() and not os.environ.get("CI"):
        pytest.skip("no C compiler here: the pure-Python path is what runs")
    assert speedups.ACTIVE, speedups.describe()
    assert hashing.java_string_hash is compiled_kernels().java_string_hash
    assert speedups.describe() == "compiled core: on"


def test_environment_variable_selects_pure_python() -> None:
    code = (
        "from rocketq.common import hashing, speedups;"
        "print(speedups.ACTIVE, hashing.java_string_hash is speedups.REFERENCE['java_string_hash'])"
    )
    env = {**os.environ, speedups.ENV_VAR: "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["False", "True"], out.stderr


def test_every_twin_has_a_kernel_with_its_signature() -> None:
    _, compiled = twin_implementations()
    assert len(speedups.REFERENCE) >= 7
    for name, pure in speedups.REFERENCE.items():
        kernel = getattr(compiled, name)
        if isinstance(pure, type):  # a class: the same public methods and properties
            # dir, not vars: a pure decoder inherits feed and buffered from FrameSplitter
            public = {n for n in dir(pure) if not n.startswith("_")}
            assert public and public <= set(dir(kernel)), name
            continue
        assert list(inspect.signature(kernel).parameters) == list(
            inspect.signature(pure).parameters
        ), name
        assert kernel.__doc__ and kernel.__doc__.split("\n")[0] == pure.__doc__.split("\n")[0]


@given(st.text(max_size=60))
def test_java_string_hash_twins(both: tuple[Kernels, Kernels], text: str) -> None:
    pure, compiled = both
    assert compiled.java_string_hash(text) == pure.java_string_hash(text)


@given(_props_text)
def test_decode_properties_twins(both: tuple[Kernels, Kernels], text: str) -> None:
    pure, compiled = both
    assert compiled.decode_properties(text) == pure.decode_properties(text)


@given(st.dictionaries(_props_text, st.one_of(st.none(), _props_text), max_size=5), st.booleans())
def test_encode_properties_twins(
    both: tuple[Kernels, Kernels], props: dict[str, str | None], trailing: bool
) -> None:
    pure, compiled = both
    expected = outcome_of(pure.encode_properties, props, trailing)
    assert outcome_of(compiled.encode_properties, props, trailing) == expected


@given(
    st.builds(
        StoredMessage,
        topic=st.text(max_size=130),
        queue_id=st.integers(-(2**31), 2**31 - 1),
        body=st.binary(max_size=64),
        properties=st.text(max_size=40),
        flag=st.integers(-(2**32), 2**32),  # out of range too: struct.error both ways
        sys_flag=st.integers(0, 0xFF),
        born_timestamp=st.integers(-(2**63), 2**63 - 1),
        born_host=_hosts,
        reconsume_times=st.integers(0, 16),
        prepared_transaction_offset=st.integers(0, 2**40),
    ),
    st.integers(-(2**63), 2**63 - 1),
    _hosts,
)
def test_record_encoding_twins(
    both: tuple[Kernels, Kernels], msg: StoredMessage, offset: int, store: tuple[str, int]
) -> None:
    pure, compiled = both
    topic, props = msg.topic.encode(), msg.properties.encode()
    total = outcome_of(pure.checked_record_length, msg, topic, props)
    assert outcome_of(compiled.checked_record_length, msg, topic, props) == total
    if isinstance(total, int):
        args = (msg, topic, props, total, 7, offset, 1795262554349, store)
        assert outcome_of(compiled.record_parts, *args) == outcome_of(pure.record_parts, *args)
    assert compiled.create_offset_msg_id(store, offset) == pure.create_offset_msg_id(store, offset)


_RECORD = record.encode_record(
    StoredMessage("TopicTest", 3, b"hello world", "KEYS\x01k1\x02TAGS\x01a", born_host=("::1", 9))
)


@given(
    st.lists(st.tuples(st.integers(0, len(_RECORD) - 1), st.integers(0, 255)), max_size=4),
    st.integers(0, len(_RECORD)),
    st.integers(-2, 8),
    st.booleans(),
)
def test_decode_record_twins_on_mangled_records(
    both: tuple[Kernels, Kernels],
    edits: list[tuple[int, int]],
    cut: int,
    offset: int,
    check_crc: bool,
) -> None:
    pure, compiled = both
    buf = bytearray(b"\x00" * max(offset, 0) + _RECORD)
    for pos, value in edits:
        buf[max(offset, 0) + pos] = value
    data = bytes(buf[: max(offset, 0) + cut])
    expected = outcome_of(pure.decode_record, data, offset, check_crc)
    assert outcome_of(compiled.decode_record, data, offset, check_crc) == expected
    assert expected is not IndexError and expected is not struct.error


def _frames() -> list[bytes]:
    ext = {"topic": "TopicTest", "queueId": "3", "properties": "KEYS\x01k\x02é"}
    out = []
    for stype in (SerializeType.JSON, SerializeType.ROCKETMQ):
        cmd = RemotingCommand(310, "JAVA", 401, 77, 0, "a remark", ext, b"body", stype)
        out.append(encode(cmd))
    return out


_FRAMES = _frames()


@given(
    st.sampled_from(_FRAMES),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=3),
    st.integers(1, 64),
)
def test_frame_decoder_twins_on_mangled_frames(
    both: tuple[Kernels, Kernels], frame: bytes, edits: list[tuple[int, int]], chunk: int
) -> None:
    pure, compiled = both
    data = bytearray(frame * 2)
    for pos, value in edits:
        data[pos % len(data)] = value
    outcomes = []
    for impl in (pure, compiled):
        decoder = impl.FrameDecoder(max_frame_length=4096)
        got: list[Any] = []
        for i in range(0, len(data), chunk):
            outcome = outcome_of(decoder.feed, bytes(data[i : i + chunk]))
            got.append(outcome)
            if isinstance(outcome, type):
                break
        outcomes.append((got, decoder.buffered))
    assert outcomes[0] == outcomes[1]
    assert outcome_of(compiled.decode_frame, data[4:]) == outcome_of(pure.decode_frame, data[4:])


@given(
    st.builds(
        RemotingCommand,
        code=st.integers(-(2**16), 2**16),
        language=st.sampled_from(["JAVA", "CPP", "PYTHON", "NOPE"]),
        version=st.integers(-(2**15), 2**15 - 1),
        opaque=st.integers(-(2**31), 2**31 - 1),
        flag=st.integers(0, 3),
        remark=st.one_of(st.none(), st.text(max_size=10)),
        ext_fields=st.one_of(st.none(), st.dictionaries(st.text(max_size=8), st.text(max_size=8))),
        body=st.one_of(st.none(), st.binary(max_size=10)),
        serialize_type=st.sampled_from([SerializeType.JSON, SerializeType.ROCKETMQ]),
    )
)
def test_encode_parts_twins(both: tuple[Kernels, Kernels], cmd: RemotingCommand) -> None:
    pure, compiled = both
    assert outcome_of(compiled.encode_parts, cmd) == outcome_of(pure.encode_parts, cmd)


@given(
    st.integers(1, 9),
    st.integers(0, 120),
    st.integers(0, 12),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**31), 2**31 - 1),
    st.binary(min_size=0, max_size=4),
)
def test_put_index_entry_twins(
    both: tuple[Kernels, Kernels],
    slots: int,
    entries_base: int,
    count: int,
    key_hash: int,
    phy: int,
    diff: int,
    slot_bytes: bytes,
) -> None:
    pure, compiled = both
    results = []
    for impl in (pure, compiled):
        buf = bytearray(range(256)) + bytearray(40)  # old bytes in every slot
        buf[40 : 40 + len(slot_bytes)] = slot_bytes
        outcome = outcome_of(impl.put_index_entry, buf, slots, entries_base, count, key_hash,
                           phy, diff)  # fmt: skip
        results.append((outcome, bytes(buf)))
    assert results[0] == results[1]
    for impl in (pure, compiled):  # a value struct cannot pack: struct.error both ways
        with pytest.raises(struct.error):
            impl.put_index_entry(bytearray(200), slots, 40, 1, key_hash, phy, 2**31)


@given(
    st.integers(1, 4),
    st.lists(st.tuples(st.integers(0, 4 * len(_RECORD)), st.integers(0, 255)), max_size=2),
    st.integers(0, 4 * len(_RECORD)),
)
def test_decode_records_twins_on_mangled_pull_bodies(
    both: tuple[Kernels, Kernels], count: int, edits: list[tuple[int, int]], cut: int
) -> None:
    pure, compiled = both
    body = bytearray(_RECORD * count)
    for pos, value in edits:
        body[pos % len(body)] = value
    data = bytes(body[:cut])
    expected = outcome_of(pure.decode_records, data)
    assert outcome_of(compiled.decode_records, data) == expected
    assert outcome_of(compiled.decode_records, memoryview(data)) == expected


def test_decode_record_reads_every_buffer_kind(impl: Kernels) -> None:
    import mmap

    mapped = mmap.mmap(-1, len(_RECORD) + 5)
    mapped[5:] = _RECORD
    views = [_RECORD, bytearray(_RECORD), memoryview(_RECORD), mapped]
    records = [impl.decode_record(buf, 5 if buf is mapped else 0) for buf in views]
    assert all(rec == records[0] for rec in records)
    assert records[0].born_host == ("::1", 9) and records[0].sys_flag == 0x10
    mapped.close()  # no export left behind by the kernel's buffer view


def test_twins_raise_the_reference_errors(impl: Kernels) -> None:
    with pytest.raises(ValueError, match="value may not hold 0x02"):
        impl.encode_properties({"k": "v\x02"})
    for name in ("k\x01", "\x02k"):
        with pytest.raises(ValueError, match="name may not hold 0x01/0x02"):
            impl.encode_properties({name: "v"})
    with pytest.raises((TypeError, AttributeError)):  # a kernel checks its str argument
        impl.decode_properties(None)  # type: ignore[arg-type]
    msg = StoredMessage("T", 0, b"")
    with pytest.raises(struct.error):
        impl.record_parts(msg, b"T", b"", 2**31, 0, 0, 0, ("127.0.0.1", 1))
    with pytest.raises(RecordFormatError, match="IP"):
        impl.record_parts(msg, b"T", b"", 96, 0, 0, 0, ("not-an-ip", 1))
    with pytest.raises(RecordFormatError, match="no record header"):
        impl.decode_record(b"\x00" * 7)


def test_a_value_holding_0x01_round_trips_as_in_java(impl: Kernels) -> None:
    # Java writes it as it is and reads all after a pair's first 0x01 back as the value.
    props = {"KEYS": "a\x01b", "TAGS": "\x01", "UNIQ_KEY": "x"}
    text = impl.encode_properties(props)
    assert text == "KEYS\x01a\x01b\x02TAGS\x01\x01\x02UNIQ_KEY\x01x"
    assert impl.decode_properties(text) == props


def test_pure_modules_keep_their_reference_functions() -> None:
    # The names other modules import are the active ones; the reference stays reachable.
    assert message.decode_properties is (
        compiled_kernels().decode_properties if speedups.ACTIVE else speedups.REFERENCE[
            "decode_properties"]
    )  # fmt: skip
    assert speedups.REFERENCE["decode_properties"].__module__ == "rocketq.common.message"
