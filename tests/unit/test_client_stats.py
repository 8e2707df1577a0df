"""The client's ConsumerStatsManager (statusTable of ConsumerRunningInfo) and the running-info
bodies, driven by a fake clock: known counts give known RT, TPS and failed-in-hour figures."""

from __future__ import annotations

from rocketq.client.message import MessageQueue
from rocketq.client.process_queue import ProcessQueue
from rocketq.client.running_info import (
    CMResult,
    ConsumeMessageDirectlyResult,
    ConsumerRunningInfo,
    consumer_status_body,
    process_queue_info,
    settings_properties,
)
from rocketq.client.stats import ConsumerStatsManager, ConsumeStatus
from rocketq.common.stats import MINUTE, StatsItem
from rocketq.remoting.fastjson import ObjectKey, loads


class Clock:
    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_figures_over_the_minute_up_to_now() -> None:
    clock = Clock()
    stats = ConsumerStatsManager(clock)
    stats.inc_pull_rt("G", "T", 10)
    stats.inc_pull_rt("G", "T", 30)
    stats.inc_pull_tps("G", "T", 32)
    stats.inc_pull_tps("G", "T", 8)
    stats.inc_consume_rt("G", "T", 5)
    stats.inc_consume_ok_tps("G", "T", 38)
    stats.inc_consume_failed_tps("G", "T", 2)
    clock.now += 4_000
    s = stats.consume_status("G", "T")
    assert s.pull_rt == 20.0 and s.pull_tps == 10.0  # 40 msgs in 4 s
    assert s.consume_rt == 5.0 and s.consume_ok_tps == 9.5 and s.consume_failed_tps == 0.5
    assert s.consume_failed_msgs == 2
    assert stats.consume_status("G", "other") == ConsumeStatus()


def test_kept_consume_counters_count_as_the_inc_methods() -> None:
    clock = Clock()
    by_method, by_counters = ConsumerStatsManager(clock), ConsumerStatsManager(clock)
    by_method.inc_consume_rt("G", "T", 5)
    by_method.inc_consume_ok_tps("G", "T", 38)
    by_method.inc_consume_failed_tps("G", "T", 0)
    counters = by_counters.consume_counters("G", "T")
    counters.rt.add(5)
    counters.ok_tps.add(38)
    counters.failed_tps.add(0)
    assert by_counters.consume_counters("G", "T").rt is counters.rt  # the same items
    clock.now += 2_000
    assert by_counters.consume_status("G", "T") == by_method.consume_status("G", "T")
    assert by_counters.consume_status("G", "T").consume_ok_tps == 19.0


def test_minute_window_slides_and_hour_keeps_failures() -> None:
    clock = Clock()
    stats = ConsumerStatsManager(clock)
    stats.inc_consume_failed_tps("G", "T", 6)
    stats.inc_consume_rt("G", "T", 40)
    for _ in range(9):  # 90 s of ticks: the minute window's first snapshots drop out
        clock.now += 10_000
        stats.tick()
    s = stats.consume_status("G", "T")
    assert s.consume_failed_tps == 0.0  # nothing failed in the last minute
    assert s.consume_failed_msgs == 6  # but within the hour
    assert s.consume_rt == 40.0  # the minute saw no batch: the hour's mean


def test_live_snapshot_of_a_stats_item() -> None:
    item = StatsItem("X", "k")
    item.begin(1_000)
    item.add(30, 3)
    snap = item.live_snapshot(MINUTE, 4_000)
    assert (snap.sum, snap.tps, snap.avgpt, snap.times) == (30, 10.0, 10.0, 3)


def test_bodies_use_java_field_names() -> None:
    pq = ProcessQueue(clock=lambda: 5)
    info = ConsumerRunningInfo(
        properties=settings_properties([("unitMode", False), ("consumeTimeout", 15.0)]),
        mq_table={MessageQueue("T", "b", 1): process_queue_info(7, pq.stats())},
        status_table={"T": ConsumeStatus(pull_tps=1.5)},
    )
    body = loads(info.encode())
    assert body["properties"] == {"consumeTimeout": "15", "unitMode": "false"}
    ((key, value),) = body["mqTable"].items()
    assert key == ObjectKey((("brokerName", "b"), ("queueId", 1), ("topic", "T")))
    assert value["commitOffset"] == 7 and value["droped"] is False
    assert value["lastPullTimestamp"] == 5
    assert body["statusTable"]["T"]["pullTPS"] == 1.5
    direct = loads(ConsumeMessageDirectlyResult(consume_result=CMResult.CR_LATER).encode())
    assert direct == {
        "autoCommit": True,
        "consumeResult": "CR_LATER",
        "order": False,
        "spentTimeMills": 0,
    }
    status = loads(consumer_status_body({MessageQueue("T", "b", 0): 3}))
    assert list(status["messageQueueTable"].values()) == [3] and status["consumerTable"] == {}
