"""Send-side diversion of timer messages (RocketMQ 5 ``HookUtils#checkIfTimerMessage`` and
``transformTimerMessage``).

A message with ``TIMER_DELIVER_MS`` (epoch ms), ``TIMER_DELAY_SEC`` or ``TIMER_DELAY_MS``
due in the future is stored in ``rmq_sys_wheel_timer`` queue 0 with ``TIMER_OUT_MS`` (its
delivery time) and ``REAL_TOPIC``/``REAL_QID``. Unlike Java, the time is not rounded
down to the tick: rocketq fires each message at its own millisecond.
"""

from __future__ import annotations

from collections.abc import MutableMapping

from rocketq.broker.timer.format import TIMER_TOPIC
from rocketq.common.errors import BrokerError
from rocketq.common.message import MessageConst
from rocketq.remoting.codes import ResponseCode
from rocketq.store.config import StoreConfig

__all__ = ["TIMER_PROPERTIES", "strip_timer_properties", "to_timer"]

TIMER_PROPERTIES = (
    MessageConst.TIMER_DELIVER_MS,
    MessageConst.TIMER_DELAY_SEC,
    MessageConst.TIMER_DELAY_MS,
)


def strip_timer_properties(props: MutableMapping[str, str]) -> None:
    """A delay level wins over a timer: drop the timer properties (``checkIfTimerMessage``)."""
    for key in TIMER_PROPERTIES:
        props.pop(key, None)


def _deliver_ms(props: MutableMapping[str, str], now_ms: int) -> int:
    """The absolute delivery time the properties ask for (ValueError when not a number)."""
    if MessageConst.TIMER_DELAY_SEC in props:
        return now_ms + int(props[MessageConst.TIMER_DELAY_SEC]) * 1000
    if MessageConst.TIMER_DELAY_MS in props:
        return now_ms + int(props[MessageConst.TIMER_DELAY_MS])
    return int(props[MessageConst.TIMER_DELIVER_MS])


def _illegal(config: StoreConfig, why: str) -> BrokerError:
    return BrokerError(
        ResponseCode.MESSAGE_ILLEGAL,
        f"timer message illegal, the delay time should not be bigger than the max delay "
        f"{config.timer_max_delay_sec * 1000}ms (timerMaxDelaySec); {why}",
    )


def to_timer(
    props: MutableMapping[str, str],
    topic: str,
    queue_id: int,
    config: StoreConfig,
    now_ms: int,
) -> tuple[str, int]:
    """Where to store the message: the timer topic for a future timer message (properties
    updated), else ``(topic, queue_id)`` unchanged. Raises :class:`BrokerError` as 5.x
    answers: ``MESSAGE_ILLEGAL`` for a bad or too distant time, ``SYSTEM_ERROR`` when the
    wheel is disabled."""
    if topic == TIMER_TOPIC or MessageConst.TIMER_OUT_MS in props:
        return topic, queue_id  # already converted (a rolled copy, a forwarded delivery)
    if not any(key in props for key in TIMER_PROPERTIES):
        return topic, queue_id
    if not config.timer_wheel_enable:
        raise BrokerError(
            ResponseCode.SYSTEM_ERROR,
            "accurate timer message is not enabled, timerWheelEnable is false",
        )
    try:
        deliver = _deliver_ms(props, now_ms)
    except ValueError as exc:
        raise _illegal(config, f"cannot read the delivery time: {exc}") from exc
    if deliver <= now_ms:
        return topic, queue_id  # due already: stored as an ordinary message
    if deliver - now_ms > config.timer_max_delay_sec * 1000:
        raise _illegal(config, f"asked for {deliver - now_ms}ms")
    props[MessageConst.TIMER_OUT_MS] = str(deliver)
    props[MessageConst.REAL_TOPIC] = topic
    props[MessageConst.REAL_QUEUE_ID] = str(queue_id)
    return TIMER_TOPIC, 0
