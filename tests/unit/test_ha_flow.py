"""FlowMeter: bytes of the last whole second, with an injected clock."""

from __future__ import annotations

from rocketq.store.ha.flow import FlowMeter


def test_counts_the_last_complete_second() -> None:
    now = [100.2]
    meter = FlowMeter(clock=lambda: now[0])
    meter.add(300)
    meter.add(700)
    assert meter.per_second() == 0  # second 100 is not over yet
    now[0] = 101.5
    assert meter.per_second() == 1000
    meter.add(5)
    now[0] = 102.0
    assert meter.per_second() == 5


def test_an_idle_gap_reads_zero() -> None:
    now = [10.0]
    meter = FlowMeter(clock=lambda: now[0])
    meter.add(4096)
    now[0] = 13.0  # seconds 11 and 12 moved nothing
    assert meter.per_second() == 0
