"""BrokerStatsManager's windows, rates and midnight roll, driven by a fake clock with known
counts (RocketMQ ``StatsItem``, ``StoreStatsService``, ``BrokerStats``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rocketq.broker.stats import (
    BROKER_GET_NUMS,
    BROKER_PUT_NUMS,
    GROUP_GET_LATENCY,
    GROUP_GET_NUMS,
    GROUP_GET_SIZE,
    SNDBCK_PUT_NUMS,
    TOPIC_PUT_NUMS,
    TOPIC_PUT_SIZE,
    BrokerStatsManager,
    StatsItem,
    next_morning_ms,
)
from rocketq.common.topic import SCHEDULE_TOPIC

SECOND = 1000
MINUTE_MS = 60 * SECOND
HOUR_MS = 60 * MINUTE_MS
# 2024-03-05 12:00:00 UTC
NOON = int(datetime(2024, 3, 5, 12, tzinfo=UTC).timestamp() * 1000)


class FakeClock:
    """Epoch milliseconds that move only when told."""

    def __init__(self, now: int = NOON) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def manager(clock: FakeClock, **kw: object) -> BrokerStatsManager:
    return BrokerStatsManager("C", clock=clock, tz=UTC, **kw)  # type: ignore[arg-type]


def run(m: BrokerStatsManager, clock: FakeClock, seconds: int, per_second: int = 0) -> None:
    """``seconds`` ticks one second apart, ``per_second`` puts of 100 bytes before each."""
    for _ in range(seconds):
        clock.now += SECOND
        for _ in range(per_second):
            m.on_put("T", 0, 1, 100)
        m.tick()


def test_item_windows_from_snapshots() -> None:
    item = StatsItem(TOPIC_PUT_NUMS, "T")
    assert item.windows().minute.sum == 0  # no sample yet: zeros, as Java
    item.add(30, 3)
    item.sample(0, 100_000)  # first sample: a zero snapshot 10 s earlier, then this one
    snap = item.snapshot(0)
    assert (snap.sum, snap.tps, snap.avgpt, snap.times) == (30, 3.0, 10.0, 3)
    for i in range(1, 10):  # 9 more samples 10 s apart, 10 messages between each
        item.add(10, 1)
        item.sample(0, 100_000 + i * 10_000)
    # 7 snapshots kept: the last 60 s hold 6 x 10 messages
    snap = item.snapshot(0)
    assert (snap.sum, snap.tps, snap.times) == (60, 1.0, 6)


def test_minute_hour_day_windows_over_a_day() -> None:
    clock = FakeClock()
    m = manager(clock)
    m.tick()  # t0: every window samples (nothing counted yet)
    run(m, clock, 3 * 3600, per_second=2)  # three hours at 2 msgs/s
    w = m.stats_item(TOPIC_PUT_NUMS, "T")
    assert w is not None
    # the item was made by the first put, so its windows start with a zero snapshot
    assert w.minute.sum == 120 and w.minute.tps == pytest.approx(2.0)
    assert w.hour.sum == 7200 and w.hour.tps == pytest.approx(2.0)
    # hourly samples at 1 h, 2 h, 3 h after t0 (+ the zero one): all three hours
    assert w.day.sum == 3 * 7200 and w.day.tps == pytest.approx(2.0)
    size = m.stats_item(TOPIC_PUT_SIZE, "T")
    assert size is not None and size.minute.sum == 120 * 100 and size.minute.avgpt == 100.0
    broker = m.stats_item(BROKER_PUT_NUMS, "C")
    assert broker is not None and broker.day.sum == 3 * 7200
    assert broker.day.avgpt == 0.0  # incBrokerPutNums counts no calls


def test_rate_drops_when_traffic_stops() -> None:
    clock = FakeClock()
    m = manager(clock)
    run(m, clock, 120, per_second=5)
    run(m, clock, 30)  # 30 quiet seconds: half the minute window is quiet
    w = m.stats_item(TOPIC_PUT_NUMS, "T")
    assert w is not None and w.minute.sum == 150 and w.minute.tps == pytest.approx(2.5)
    run(m, clock, 60)
    w = m.stats_item(TOPIC_PUT_NUMS, "T")
    assert w is not None and w.minute.sum == 0 and w.minute.tps == 0.0


def test_get_send_back_keys_and_consume_tps() -> None:
    clock = FakeClock()
    m = manager(clock)
    m.tick()
    for _ in range(10):
        m.on_get("G", "T", 3, 4, 400, latency_ms=2)
        m.on_store_get(True, 4)
    m.on_store_get(False, 0)
    m.on_send_back("G", "T", SCHEDULE_TOPIC, 150)
    clock.now += 10 * SECOND
    m.tick()
    nums = m.stats_item(GROUP_GET_NUMS, "T@G")
    assert nums is not None and nums.minute.sum == 40 and nums.minute.avgpt == 4.0
    assert m.tps_group_get_nums("G", "T") == pytest.approx(40 / 10)
    assert m.tps_group_get_nums("G", "Other") == 0.0
    size = m.stats_item(GROUP_GET_SIZE, "T@G")
    assert size is not None and size.minute.sum == 4000
    latency = m.stats_item(GROUP_GET_LATENCY, "3@T@G")  # enableDetailStat: queueId@topic@group
    assert latency is not None and latency.minute.avgpt == 2.0
    broker = m.stats_item(BROKER_GET_NUMS, "C")
    assert broker is not None and broker.minute.sum == 40
    back = m.stats_item(SNDBCK_PUT_NUMS, "T@G")
    assert back is not None and back.minute.sum == 1
    delayed = m.stats_item(TOPIC_PUT_NUMS, SCHEDULE_TOPIC)
    assert delayed is not None and delayed.minute.sum == 1
    assert m.stats_item(GROUP_GET_NUMS, "T@Nobody") is None
    assert m.stats_item("NO_SUCH_STATS", "T") is None
    without_detail = manager(clock, enable_detail_stat=False)
    without_detail.on_get("G", "T", 3, 1, 1, latency_ms=5)
    assert without_detail.get_stats_item(GROUP_GET_LATENCY, "T@G") is not None


def test_store_rates_over_10_60_600_seconds() -> None:
    clock = FakeClock()
    puts = [0]
    m = manager(clock, put_total=lambda: puts[0])
    m.tick()
    info = m.runtime_info()
    assert info["putTps"] == "  "  # too few samples: empty figures, as Java prints them
    assert info["getTotalTps"] == "0.0 0.0 0.0"
    for second in range(1, 61):
        clock.now += SECOND
        puts[0] += 100 if second > 50 else 10  # last 10 s: 100/s; before: 10/s
        m.on_store_get(True, 3)
        m.on_store_get(False, 0)
        m.tick()
    info = m.runtime_info()
    assert info["putTps"] == "100.0 25.0 "
    assert info["getFoundTps"] == "1.0 1.0 " and info["getMissTps"] == "1.0 1.0 "
    assert info["getTotalTps"] == "2.0 2.0 0.0"
    assert info["getTransferedTps"] == "3.0 3.0 "
    run(m, clock, 540)  # 601 samples: the 600 s rate is known, over all 1500 puts
    assert m.runtime_info()["putTps"] == f"0.0 0.0 {1500 / 600!r}"
    run(m, clock, 1)  # the oldest sample falls out
    assert m.runtime_info()["putTps"] == f"0.0 0.0 {1490 / 600!r}"


def test_today_and_yesterday_roll_at_midnight() -> None:
    clock = FakeClock()
    puts = [0]
    m = manager(clock, put_total=lambda: puts[0])
    puts[0] = 500
    m.on_store_get(True, 70)
    m.tick()
    info = m.runtime_info()
    assert info["msgPutTotalTodayNow"] == "500" and info["msgPutTotalTodayMorning"] == "0"
    assert info["msgGetTotalTodayNow"] == "70"
    clock.now = NOON + 12 * HOUR_MS  # midnight UTC
    m.tick()
    puts[0] = 800
    info = m.runtime_info()
    assert info["msgPutTotalTodayMorning"] == "500" and info["msgPutTotalYesterdayMorning"] == "0"
    assert info["msgGetTotalTodayMorning"] == "70" and info["msgPutTotalTodayNow"] == "800"
    clock.now += 12 * HOUR_MS  # noon: no roll
    m.tick()
    assert m.runtime_info()["msgPutTotalTodayMorning"] == "500"
    clock.now += 12 * HOUR_MS  # the next midnight
    m.tick()
    info = m.runtime_info()
    assert info["msgPutTotalYesterdayMorning"] == "500"
    assert info["msgPutTotalTodayMorning"] == "800"


def test_next_morning() -> None:
    assert next_morning_ms(NOON, UTC) == NOON + 12 * HOUR_MS
    assert next_morning_ms(NOON + 12 * HOUR_MS, UTC) == NOON + 36 * HOUR_MS
    local = next_morning_ms(NOON)  # this machine's local time
    assert NOON < local <= NOON + 24 * HOUR_MS + HOUR_MS


def test_deleting_topics_and_groups_forgets_their_items() -> None:
    clock = FakeClock()
    m = manager(clock)
    m.on_put("T", 0, 1, 10)
    m.on_get("G", "T", 0, 1, 10, 0)
    m.on_get("H", "T", 0, 1, 10, 0)
    m.on_get("G", "U", 0, 1, 10, 0)
    m.on_topic_deleted("T")
    assert m.get_stats_item(TOPIC_PUT_NUMS, "T") is None
    assert m.get_stats_item(GROUP_GET_NUMS, "T@G") is None
    assert m.get_stats_item(GROUP_GET_LATENCY, "0@T@H") is None
    assert m.get_stats_item(GROUP_GET_NUMS, "U@G") is not None
    m.on_group_deleted("G")
    assert m.get_stats_item(GROUP_GET_NUMS, "U@G") is None
    m.on_put("T", 0, 2, 10)  # counted again from zero on a fresh item
    item = m.get_stats_item(TOPIC_PUT_NUMS, "T")
    assert item is not None and item.value == 2


def test_a_run_of_sends_counts_as_each_send_would() -> None:
    # on_put_run(topic, k, bytes) is k on_put calls of one message each, in one call
    clock = FakeClock()
    each, run_ = manager(clock), manager(clock)
    for size in (100, 250, 7):
        each.on_put("T", 1, 1, size)
    run_.on_put_run("T", 3, 357)
    for kind in (TOPIC_PUT_NUMS, TOPIC_PUT_SIZE):
        a, b = each.get_stats_item(kind, "T"), run_.get_stats_item(kind, "T")
        assert a is not None and b is not None
        assert (a.value, a.times) == (b.value, b.times)
    a, b = each.get_stats_item(BROKER_PUT_NUMS, "C"), run_.get_stats_item(BROKER_PUT_NUMS, "C")
    assert a is not None and b is not None and a.value == b.value == 3
    with pytest.raises(ValueError):  # the delay topic is counted per queue too: on_put
        run_.on_put_run(SCHEDULE_TOPIC, 1, 1)
