"""``record.sent_message`` (the StoredMessage of a send) and its compiled twin build the
same message as ``StoredMessage(...)`` does (DESIGN principle 19)."""

from __future__ import annotations

import dataclasses

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
