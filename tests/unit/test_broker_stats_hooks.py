"""BrokerStatsManager's remaining counting hooks (issue 14), driven by a fake clock: the
delay-topic per-queue puts of a send-back, the delay service's deliveries, the broker's own
reads (transaction checks, POP), and the sets 4.9.4 keeps but never counts."""

from __future__ import annotations

from datetime import UTC, datetime

from rocketq.broker.stats import (
    BROKER_GET_FROM_DISK_NUMS,
    BROKER_GET_NUMS,
    BROKER_PUT_NUMS,
    GROUP_GET_FROM_DISK_NUMS,
    GROUP_GET_FROM_DISK_SIZE,
    GROUP_GET_LATENCY,
    GROUP_GET_NUMS,
    GROUP_GET_SIZE,
    MINUTE,
    QUEUE_GET_NUMS,
    QUEUE_GET_SIZE,
    QUEUE_PUT_NUMS,
    QUEUE_PUT_SIZE,
    SCHEDULE_CONSUMER_GROUP,
    SNDBCK_PUT_NUMS,
    TOPIC_PUT_NUMS,
    TOPIC_PUT_SIZE,
    BrokerStatsManager,
)
from rocketq.common.topic import SCHEDULE_TOPIC

NOON = int(datetime(2024, 3, 5, 12, tzinfo=UTC).timestamp() * 1000)


class FakeClock:
    def __init__(self, now: int = NOON) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def minute(m: BrokerStatsManager, name: str, key: str) -> tuple[int, float, float]:
    windows = m.stats_item(name, key)
    assert windows is not None, (name, key)
    return windows.minute.sum, windows.minute.tps, windows.minute.avgpt


def test_send_back_to_the_delay_topic_counts_its_queue() -> None:
    clock = FakeClock()
    m = BrokerStatsManager("C", clock=clock, tz=UTC)
    m.on_send_back("G", "T", SCHEDULE_TOPIC, 200, queue_id=2)
    m.on_send_back("G", "T", SCHEDULE_TOPIC, 100, queue_id=2)
    m.on_send_back("G", "T", "%DLQ%G", 50)  # to the DLQ: only the send-back itself
    clock.now += 10_000
    m.sample(MINUTE)
    assert minute(m, SNDBCK_PUT_NUMS, "T@G")[0] == 3
    assert minute(m, TOPIC_PUT_NUMS, SCHEDULE_TOPIC)[0] == 2
    assert minute(m, TOPIC_PUT_SIZE, SCHEDULE_TOPIC)[0] == 300
    assert minute(m, QUEUE_PUT_NUMS, f"{SCHEDULE_TOPIC}@2")[0] == 2
    assert minute(m, QUEUE_PUT_SIZE, f"{SCHEDULE_TOPIC}@2")[0] == 300
    assert m.stats_item(TOPIC_PUT_NUMS, "%DLQ%G") is None


def test_send_back_without_detail_stats_keeps_no_queue_items() -> None:
    m = BrokerStatsManager("C", enable_detail_stat=False, clock=FakeClock(), tz=UTC)
    m.on_send_back("G", "T", SCHEDULE_TOPIC, 200, queue_id=2)
    assert QUEUE_PUT_NUMS not in m.sets
    assert m.get_stats_item(TOPIC_PUT_NUMS, SCHEDULE_TOPIC) is not None


def test_schedule_delivery_is_a_get_of_the_schedule_group_and_a_put() -> None:
    clock = FakeClock()
    m = BrokerStatsManager("C", clock=clock, tz=UTC)
    for _ in range(6):
        m.on_schedule_delivered(3, "Orders", 1, 120)
    clock.now += 10_000
    m.sample(MINUTE)
    key = f"{SCHEDULE_TOPIC}@{SCHEDULE_CONSUMER_GROUP}"
    assert minute(m, GROUP_GET_NUMS, key)[:2] == (6, 0.6)  # 6 in the 10 s window
    assert minute(m, GROUP_GET_SIZE, key)[0] == 720
    queue_key = f"{SCHEDULE_TOPIC}@2@{SCHEDULE_CONSUMER_GROUP}"
    assert minute(m, QUEUE_GET_NUMS, queue_key)[0] == 6
    assert minute(m, QUEUE_GET_SIZE, queue_key)[0] == 720
    assert minute(m, TOPIC_PUT_NUMS, "Orders")[0] == 6
    assert minute(m, TOPIC_PUT_SIZE, "Orders")[0] == 720
    assert minute(m, BROKER_PUT_NUMS, "C")[0] == 6
    assert minute(m, BROKER_GET_NUMS, "C")[0] == 6


def test_internal_gets_and_pull_latency() -> None:
    clock = FakeClock()
    m = BrokerStatsManager("C", enable_detail_stat=False, clock=clock, tz=UTC)
    m.on_internal_get("CID_RMQ_SYS_TRANS", "RMQ_SYS_TRANS_HALF_TOPIC", 4, 400)
    m.on_get("G", "T", 1, 10, 1000, latency_ms=4)
    m.on_get("G", "T", 1, 10, 1000, latency_ms=8)
    clock.now += 10_000
    m.sample(MINUTE)
    assert minute(m, GROUP_GET_NUMS, "RMQ_SYS_TRANS_HALF_TOPIC@CID_RMQ_SYS_TRANS")[0] == 4
    assert minute(m, BROKER_GET_NUMS, "C")[0] == 24
    assert m.get_stats_item(GROUP_GET_LATENCY, "RMQ_SYS_TRANS_HALF_TOPIC@CID_RMQ_SYS_TRANS") is None
    assert minute(m, GROUP_GET_LATENCY, "T@G") == (12, 1.2, 6.0)  # mean latency 6 ms


def test_from_disk_sets_exist_and_stay_empty_as_in_java() -> None:
    m = BrokerStatsManager("C", clock=FakeClock(), tz=UTC)
    m.on_get("G", "T", 0, 1, 10, 1)
    for name in (GROUP_GET_FROM_DISK_NUMS, GROUP_GET_FROM_DISK_SIZE, BROKER_GET_FROM_DISK_NUMS):
        assert name in m.sets and not m.sets[name].items
