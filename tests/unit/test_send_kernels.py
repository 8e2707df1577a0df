"""``record.sent_message`` (the StoredMessage of a send) and its compiled twin build the
same message as ``StoredMessage(...)`` does (DESIGN principle 19)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocketq.common.record import StoredMessage
from tests.conftest import Kernels, twin_implementations

_ints = st.integers(-(2**63), 2**63 - 1)


@given(
    st.text(max_size=8), _ints, st.binary(max_size=8), st.text(max_size=8),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2), _ints, _ints, _ints,
    st.tuples(st.sampled_from(["127.0.0.1", "::1"]), st.integers(0, 65535)), _ints,
)  # fmt: skip
def test_sent_message_twins(
    topic: str, queue_id: int, body: bytes, properties: str, props: dict[str, str],
    flag: int, sys_flag: int, born: int, host: tuple[str, int], reconsume: int,
) -> None:  # fmt: skip
    expected = StoredMessage(
        topic=topic, queue_id=queue_id, body=body, properties=properties, flag=flag,
        sys_flag=sys_flag, born_timestamp=born, born_host=host, reconsume_times=reconsume,
        props=props,
    )  # fmt: skip
    for impl in twin_implementations():
        msg = impl.sent_message(topic, queue_id, body, properties, props, flag, sys_flag, born,
                                host, reconsume)  # fmt: skip
        assert type(msg) is StoredMessage
        assert dataclasses.astuple(msg) == dataclasses.astuple(expected)
        assert msg.props is props


def test_sent_message_is_a_frozen_stored_message(impl: Kernels) -> None:
    msg = impl.sent_message("T", 1, b"x", "a\x01b", {"a": "b"}, 0, 0, 5, ("127.0.0.1", 9), 0)
    assert msg == StoredMessage(topic="T", queue_id=1, body=b"x", properties="a\x01b",
                                born_timestamp=5, born_host=("127.0.0.1", 9))  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.topic = "U"  # type: ignore[misc]


_hosts = st.tuples(
    st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str), st.integers(-1, 65536)
)


@given(
    st.builds(
        StoredMessage,
        topic=st.just("T"),
        queue_id=st.integers(-(2**31), 2**31),
        body=st.binary(max_size=64),
        flag=st.integers(-(2**32), 2**32),  # out of range too: struct.error both ways
        sys_flag=st.integers(0, 0xFF),
        born_timestamp=st.integers(-(2**63), 2**63),
        born_host=_hosts,
        reconsume_times=st.integers(0, 16),
        prepared_transaction_offset=st.integers(0, 2**40),
    ),
    st.one_of(st.binary(max_size=8), st.binary(min_size=250, max_size=300)),
    st.one_of(st.binary(max_size=8), st.just(b"p" * 0x8000)),
    st.integers(-(2**31), 2**31),
    st.integers(-(2**63), 2**63),
    _hosts,
)
def test_record_bytes_twins_join_record_parts(
    msg: StoredMessage, topic: bytes, props: bytes, total: int, offset: int, store: Any
) -> None:
    pure, compiled = twin_implementations()
    args = (msg, topic, props, total, 7, offset, 1795262554349, store)
    expected = _outcome(lambda: b"".join(pure.record_parts(*args)))
    assert _outcome(lambda: pure.record_bytes(*args)) == expected
    assert _outcome(lambda: compiled.record_bytes(*args)) == expected


def _outcome(fn: Callable[[], Any]) -> Any:
    """The result, or the exception's type: what both implementations must agree on."""
    try:
        return fn()
    except Exception as exc:
        return type(exc)


def test_send_path_twins_are_the_module_functions() -> None:
    # What the CommitLog and the SEND processor call is the twin itself, nothing around it.
    from rocketq.common import record, speedups
    from rocketq.remoting import codec
    from rocketq.store import index_file

    for module, name in ((record, "record_bytes"), (record, "sent_message"),
                         (codec, "header_from_ext"), (index_file, "put_index_key")):  # fmt: skip
        active = getattr(module, name)
        reference = speedups.REFERENCE[name]
        if speedups.ACTIVE:
            assert active.__module__.endswith("._kernels"), name
        else:
            assert active is reference, name
