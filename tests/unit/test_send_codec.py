"""``send_v2_command`` and ``slotted_instance`` (remoting/send_codec.py): the compiled twins
against their pure-Python references, and the request against the header object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocketq.client.message import MessageQueue, SendResult, SendStatus
from rocketq.common import speedups
from rocketq.remoting import send_codec
from rocketq.remoting.codes import RequestCode
from rocketq.remoting.headers import SendMessageRequestHeaderV2
from tests.conftest import compiled_kernels, outcome_of

_numbers = st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.just("7"),
)


def _pair(name: str) -> tuple[Any, Any]:
    """(pure reference, compiled kernel) of the twin ``name``."""
    return speedups.REFERENCE[name], getattr(compiled_kernels("rocketq.remoting._kernels"), name)


@given(
    code=st.sampled_from([RequestCode.SEND_MESSAGE_V2, RequestCode.SEND_BATCH_MESSAGE, 999]),
    group=st.text(max_size=6),
    topic=st.one_of(st.text(max_size=8), st.just("%RETRY%g"), st.just("%RETRY%")),
    nums=_numbers,
    queue_id=_numbers,
    sys_flag=_numbers,
    born=_numbers,
    flag=_numbers,
    properties=st.text(max_size=10),
    batch=st.one_of(st.booleans(), st.just(0), st.just("x")),
    body=st.one_of(st.none(), st.binary(max_size=8)),
)
def test_send_v2_command_twins(
    code: int,
    group: str,
    topic: str,
    nums: Any,
    queue_id: Any,
    sys_flag: Any,
    born: Any,
    flag: Any,
    properties: str,
    batch: Any,
    body: bytes | None,
) -> None:
    pure, compiled = _pair("send_v2_command")
    args = (code, group, topic, "TBW102", nums, queue_id, sys_flag, born, flag, properties,
            batch, body)  # fmt: skip
    expected = outcome_of(pure, *args)
    got = outcome_of(compiled, *args)
    assert got == expected
    if not isinstance(expected, type):  # the same extFields in the same order, as written
        assert list(got.ext_fields.items()) == list(expected.ext_fields.items())


@pytest.mark.parametrize("topic", ["TopicA", "%RETRY%group"])
def test_send_v2_command_is_the_header_object(topic: str) -> None:
    cmd = send_codec.send_v2_command(
        RequestCode.SEND_MESSAGE_V2, "pg", topic, "TBW102", 4, 3, 4, 1765, 7, "a\x01b\x02",
        False, b"body",
    )  # fmt: skip
    header = SendMessageRequestHeaderV2(
        producer_group="pg",
        topic=topic,
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=3,
        sys_flag=4,
        born_timestamp=1765,
        flag=7,
        properties="a\x01b\x02",
        reconsume_times=0 if topic.startswith("%RETRY%") else None,
        unit_mode=False,
        batch=False,
    )
    assert cmd.ext_fields is not None
    assert list(cmd.ext_fields.items()) == list(header.to_ext().items())
    assert (cmd.code, cmd.body, cmd.opaque) == (RequestCode.SEND_MESSAGE_V2, b"body", 0)


@dataclass(frozen=True, slots=True)
class _Base:
    a: int
    b: str


@dataclass(frozen=True, slots=True)
class _Child(_Base):
    c: float


class _OwnNew:
    __slots__ = ("x",)

    def __new__(cls) -> _OwnNew:
        return super().__new__(cls)


class _OneSlot:
    __slots__ = "x"


_RESULT = (SendStatus.SEND_OK, "U", "O", MessageQueue("t", "b", 1), 5, None, "R", True)


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (SendResult, _RESULT),
        (SendResult, _RESULT[:-1]),
        (SendResult, (*_RESULT, 1)),
        (_Base, (1, "b")),
        (_Child, (1, "b", 2.5)),
        (_OwnNew, (3,)),
        (_OneSlot, (3,)),
        (dict, ()),
        (3, (1,)),
    ],
)
def test_slotted_instance_twins(cls: Any, values: tuple[Any, ...]) -> None:
    pure, compiled = _pair("slotted_instance")
    expected, got = outcome_of(pure, cls, values), outcome_of(compiled, cls, values)
    if isinstance(expected, type):
        assert got is expected
        return
    assert type(got) is type(expected)
    slots = [n for k in type(expected).__mro__ for n in getattr(k, "__slots__", ())]
    assert [getattr(got, n) for n in slots] == [getattr(expected, n) for n in slots]


def test_a_filled_send_result_is_the_dataclass() -> None:
    made = send_codec.slotted_instance(SendResult, _RESULT)
    assert made == SendResult(*_RESULT)
    assert hash(made) == hash(SendResult(*_RESULT))


_texts = st.one_of(
    st.sampled_from(["3", "-3", "0", " 3", "+3", "٣", "3_0", "", "-", "03", "9" * 19, "x"]),
    st.integers(-5, 5).map(str),
    st.none(),
    st.integers(0, 5),
)


@given(
    st.dictionaries(
        st.sampled_from(["msgId", "queueId", "queueOffset", "transactionId", "MSG_REGION",
                         "TRACE_ON", "other"]),
        _texts,
    ),
    st.integers(-1, 5),
)  # fmt: skip
def test_send_result_of_twins(ext: dict[str, Any], queue_id: int) -> None:
    pure, compiled = _pair("send_result_of")
    mq = MessageQueue("t", "b", queue_id)
    args = (SendResult, SendStatus.SEND_OK, "UNIQ", ext, mq)
    expected, got = outcome_of(pure, *args), outcome_of(compiled, *args)
    assert got == expected
    assert type(got) is type(expected)


def test_send_result_of_reads_a_stored_sends_answer() -> None:
    mq = MessageQueue("t", "b", 3)
    ext = {"msgId": "OFF", "queueId": "3", "queueOffset": "42", "TRACE_ON": "false"}
    for fill in _pair("send_result_of"):
        result = fill(SendResult, SendStatus.FLUSH_DISK_TIMEOUT, "U", ext, mq)
        assert result == SendResult(
            SendStatus.FLUSH_DISK_TIMEOUT, "U", "OFF", mq, 42, None, "DefaultRegion", False
        )
        assert result.message_queue is mq
        assert fill(SendResult, SendStatus.SEND_OK, "U", {**ext, "queueId": "1"}, mq) is None
        assert fill(SendResult, SendStatus.SEND_OK, "U", {"msgId": "OFF"}, mq) is None
