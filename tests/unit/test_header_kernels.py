"""Typed headers from extFields: the generated per-class code, the generic pure-Python
reference ``codec.header_from_ext`` and its compiled twin give the same header, or the
same error, for the same extFields (DESIGN principle 19)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocketq.common.errors import BrokerError
from rocketq.remoting import headers
from rocketq.remoting.headers.base import CommandHeader, _compile, field_plan
from tests.conftest import Kernels

_CLASSES = sorted(
    (
        cls
        for cls in vars(headers).values()
        if isinstance(cls, type) and issubclass(cls, CommandHeader) and cls is not CommandHeader
    ),
    key=lambda c: c.__name__,
)
_texts = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["true", "false", "TRUE", "1", "0", "", " 12 ", "1_000", "+5", "x", "\u0661"]),
    st.text(max_size=8),
)


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        header = fn(*args)
    except BrokerError as exc:
        return (type(exc), exc.code, exc.remark)
    except Exception as exc:
        return type(exc)
    return (type(header), dataclasses.asdict(header))


def test_every_header_class_is_covered() -> None:
    assert len(_CLASSES) > 20
    assert headers.SendMessageRequestHeaderV2 in _CLASSES


@given(data=st.data())
def test_header_from_ext_twins(both: tuple[Kernels, Kernels], data: st.DataObject) -> None:
    pure, compiled = both
    cls = data.draw(st.sampled_from(_CLASSES))
    plan = field_plan(cls)
    keys = [key for _attr, key, *_rest in plan]
    ext = data.draw(st.dictionaries(st.sampled_from([*keys, "other"]), _texts))
    _compile(cls)
    generated = cls.__dict__["_generated_from_ext_fn"]
    expected = _outcome(generated, cls, ext)
    assert _outcome(pure.header_from_ext, plan, cls, ext) == expected
    assert _outcome(compiled.header_from_ext, plan, cls, ext) == expected
    assert _outcome(cls.from_ext, ext) == expected


def test_header_from_ext_fills_a_send_header(impl: Kernels) -> None:
    cls = headers.SendMessageRequestHeaderV2
    ext = {"a": "g", "b": "T", "c": "TBW102", "d": "4", "e": "1", "f": "0", "g": "17",
           "h": "0", "k": "TRUE", "m": "1", "j": "3"}  # fmt: skip
    header = impl.header_from_ext(field_plan(cls), cls, ext)
    assert header == cls(producer_group="g", topic="T", default_topic="TBW102",
                         default_topic_queue_nums=4, queue_id=1, sys_flag=0, born_timestamp=17,
                         flag=0, reconsume_times=3, unit_mode=True, batch=True)  # fmt: skip
    with pytest.raises(BrokerError, match="<b> is null"):
        impl.header_from_ext(field_plan(cls), cls, {"a": "g"})
    with pytest.raises(BrokerError, match="<d> has a bad value 'four'"):
        impl.header_from_ext(field_plan(cls), cls, {**ext, "d": "four"})
    assert impl.header_from_ext((), cls, None).__class__ is cls
