"""RocketMQ 5 timer messages: arbitrary delivery times on a persistent timing wheel.

Modules: :mod:`.format` (on-disk layouts), :mod:`.wheel` (the slot file), :mod:`.log`
(the unit log), :mod:`.checkpoint` (progress), :mod:`.store` (wheel + log, clock-free),
:mod:`.transform` (send-side diversion), :mod:`.service` (the broker's tasks).
"""

from rocketq.broker.timer.format import TIMER_TOPIC
from rocketq.broker.timer.service import TimerMessageService, TimerStats
from rocketq.broker.timer.store import TimerStore
from rocketq.broker.timer.transform import strip_timer_properties, to_timer

__all__ = [
    "TIMER_TOPIC",
    "TimerMessageService",
    "TimerStats",
    "TimerStore",
    "strip_timer_properties",
    "to_timer",
]
