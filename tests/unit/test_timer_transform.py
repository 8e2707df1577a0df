"""Send-side diversion of timer messages (HookUtils#transformTimerMessage)."""

from __future__ import annotations

import pytest

from rocketq.broker.timer import TIMER_TOPIC, strip_timer_properties, to_timer
from rocketq.common.errors import BrokerError
from rocketq.remoting.codes import ResponseCode
from rocketq.store.config import StoreConfig

NOW = 1_700_000_000_123


@pytest.mark.parametrize(
    ("key", "value", "expect"),
    [
        ("TIMER_DELIVER_MS", str(NOW + 2500), NOW + 2500),
        ("TIMER_DELAY_SEC", "3", NOW + 3000),
        ("TIMER_DELAY_MS", "1500", NOW + 1500),
    ],
)
def test_future_timer_is_parked(key: str, value: str, expect: int) -> None:
    props = {key: value, "TAGS": "a"}
    assert to_timer(props, "T", 3, StoreConfig(), NOW) == (TIMER_TOPIC, 0)
    assert props["TIMER_OUT_MS"] == str(expect)  # exact, not rounded to the tick
    assert props["REAL_TOPIC"] == "T" and props["REAL_QID"] == "3"


def test_due_or_plain_or_converted_messages_stay() -> None:
    config = StoreConfig()
    assert to_timer({"TIMER_DELIVER_MS": str(NOW)}, "T", 1, config, NOW) == ("T", 1)
    assert to_timer({"TAGS": "x"}, "T", 1, config, NOW) == ("T", 1)
    converted = {"TIMER_DELAY_SEC": "5", "TIMER_OUT_MS": str(NOW + 5000)}
    assert to_timer(converted, "T", 1, config, NOW) == ("T", 1)


def test_too_far_or_unreadable_is_illegal() -> None:
    config = StoreConfig(timer_max_delay_sec=60)
    with pytest.raises(BrokerError) as info:
        to_timer({"TIMER_DELAY_SEC": "61"}, "T", 0, config, NOW)
    assert info.value.code == ResponseCode.MESSAGE_ILLEGAL and "60000ms" in info.value.remark
    with pytest.raises(BrokerError) as info:
        to_timer({"TIMER_DELIVER_MS": "soon"}, "T", 0, config, NOW)
    assert info.value.code == ResponseCode.MESSAGE_ILLEGAL


def test_disabled_wheel_refuses_like_5x() -> None:
    with pytest.raises(BrokerError) as info:
        to_timer({"TIMER_DELAY_MS": "10"}, "T", 0, StoreConfig(timer_wheel_enable=False), NOW)
    assert info.value.code == ResponseCode.SYSTEM_ERROR
    assert "timerWheelEnable is false" in info.value.remark


def test_a_delay_level_wins() -> None:
    props = {"DELAY": "2", "TIMER_DELAY_MS": "10", "TIMER_DELIVER_MS": "1"}
    strip_timer_properties(props)
    assert props == {"DELAY": "2"}
