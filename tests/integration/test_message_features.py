"""Delay levels, retry and dead letters, queue scale-down and the consume timeout in the
in-process cluster (``rocketq.testing.running_cluster``); delayed messages across a broker
SIGKILL against real processes. How late a delayed message comes is measured by
``benchmarks/delay_precision.py``, not decided here."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.broker.controller import BrokerController
from rocketq.client.config import ClientConfig, ConsumerConfig
from rocketq.client.consume_service import ConsumeConcurrentlyStatus
from rocketq.client.message import Message, MessageExt
from rocketq.client.producer import AsyncProducer
from rocketq.client.push_consumer import AsyncPushConsumer
from rocketq.common.topic import TopicConfig
from rocketq.namesrv import NamesrvController
from rocketq.testing import BrokerProcess, NamesrvProcess, async_wait_until, running_cluster
from tests.integration.conftest import pull_all

# Levels 1-4 are 1-4 s (the delay test); every other level, and so every retry
# (level 3 + reconsumeTimes in the other tests' cluster), is 1 s.
LEVELS = "1s 2s 3s 4s " + " ".join(["1s"] * 14)
ONE_SECOND_LEVELS = " ".join(["1s"] * 18)
# Store timestamps are whole milliseconds: a message due at t may carry t - 1.
CLOCK_GRANULARITY_MS = 1

Cluster = tuple[NamesrvController, BrokerController]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path / "store", {"messageDelayLevel": ONE_SECOND_LEVELS}) as c:
        yield c


def client(namesrv_addr: str) -> ClientConfig:
    return ClientConfig(
        namesrv_addr=namesrv_addr, poll_name_server_interval=500, rebalance_interval=500
    )


def consumer_config(tmp_path: Path, **extra: object) -> ConsumerConfig:
    return ConsumerConfig(
        consume_from_where="CONSUME_FROM_FIRST_OFFSET", offset_store_dir=str(tmp_path), **extra
    )


@pytest.mark.slow  # the longest level is 4 s
async def test_delay_levels_are_never_early_and_keep_their_order(tmp_path: Path) -> None:
    async with (
        running_cluster(tmp_path / "store", {"messageDelayLevel": LEVELS}) as (ns, broker),
        AdminClient(ns.address) as admin,
    ):
        addr = broker.config.broker_addr
        await admin.create_topic(addr, TopicConfig("Delayed", 1, 1))
        scheduled_at: dict[bytes, int] = {}  # body -> store time in SCHEDULE_TOPIC_XXXX
        async with AsyncProducer("delay-pg", client_config=client(ns.address)) as producer:
            for level in (4, 3, 2, 1):
                for k in range(3):
                    body = f"{level}-{k}".encode()
                    sent = await producer.send(Message("Delayed", body, delay_time_level=level))
                    record = await admin.view_message(sent.offset_msg_id)
                    assert record.topic == "SCHEDULE_TOPIC_XXXX"
                    scheduled_at[body] = record.store_timestamp

        async def all_delivered() -> list | None:  # type: ignore[type-arg]
            got = await pull_all(admin, addr, "Delayed", 1)
            return got if len(got) == len(scheduled_at) else None

        delivered = await async_wait_until(all_delivered)
    for m in delivered:
        level = int(m.body.split(b"-")[0])
        due = scheduled_at[m.body] + level * 1000
        assert m.store_timestamp >= due - CLOCK_GRANULARITY_MS, f"{m.body!r} came early"
    bodies = [m.body for m in delivered]
    assert len(set(bodies)) == len(scheduled_at)
    for level in (1, 2, 3, 4):  # one level is one queue: first in, first out
        assert [b for b in bodies if b.startswith(b"%d-" % level)] == [
            b"%d-%d" % (level, k) for k in range(3)
        ]


async def test_always_failing_message_reaches_dlq_with_its_properties(
    cluster: Cluster, tmp_path: Path
) -> None:
    ns, broker = cluster
    addr = broker.config.broker_addr
    reconsumed: list[int] = []

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        reconsumed.extend(m.reconsume_times for m in msgs)
        return ConsumeConcurrentlyStatus.RECONSUME_LATER

    async with AdminClient(ns.address) as admin:
        await admin.create_topic(addr, TopicConfig("Poison", 1, 1))
        config = consumer_config(tmp_path, max_reconsume_times=3)
        consumer = AsyncPushConsumer("dlq-cg", config=config, client_config=client(ns.address))
        consumer.subscribe("Poison", "*")
        consumer.register_listener(listener)
        async with consumer, AsyncProducer("dlq-pg", client_config=client(ns.address)) as producer:
            sent = await producer.send(
                Message("Poison", b"bad", tags="TagP", keys="poison-1", properties={"k": "v"})
            )
            found = await async_wait_until(lambda: pull_all(admin, addr, "%DLQ%dlq-cg", 1))
    assert len(found) == 1
    assert reconsumed == [0, 1, 2, 3]  # maxReconsumeTimes = 3
    props = found[0].properties
    assert found[0].body == b"bad" and found[0].reconsume_times == 4
    assert props["TAGS"] == "TagP" and props["KEYS"] == "poison-1" and props["k"] == "v"
    assert props["RETRY_TOPIC"] == "Poison" and props["UNIQ_KEY"] == sent.msg_id
    assert props["ORIGIN_MESSAGE_ID"] == sent.offset_msg_id


async def test_queue_scale_down_loses_nothing(cluster: Cluster, tmp_path: Path) -> None:
    ns, broker = cluster
    addr = broker.config.broker_addr
    got: list[bytes] = []

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        got.extend(m.body for m in msgs)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    async with (
        AdminClient(ns.address) as admin,
        AsyncProducer("scale-pg", client_config=client(ns.address)) as producer,
    ):
        await admin.create_topic(addr, TopicConfig("Scale", 16, 16))
        for i in range(320):
            await producer.send(Message("Scale", f"a{i}".encode()))
        await admin.create_topic(addr, TopicConfig("Scale", 16, 8))  # write 16 -> 8
        # the producer's route refresh (shortened to 0.5 s) sees the 8 writable queues
        await async_wait_until(lambda: len(producer.publish_info["Scale"].message_queues) == 8)
        later = [await producer.send(Message("Scale", f"b{i}".encode())) for i in range(160)]
        assert {r.message_queue.queue_id for r in later} <= set(range(8))
        consumer = AsyncPushConsumer(
            "scale-cg", config=consumer_config(tmp_path), client_config=client(ns.address)
        )
        consumer.subscribe("Scale", "*")
        consumer.register_listener(listener)
        await consumer.start()
        await async_wait_until(lambda: len(set(got)) == 480)  # queues 8-15 drained too
        await admin.create_topic(addr, TopicConfig("Scale", 8, 8))  # then read 16 -> 8
        await async_wait_until(lambda: len(consumer.subscribe_info.get("Scale", ())) == 8)
        for i in range(80):
            await producer.send(Message("Scale", f"c{i}".encode()))
        await async_wait_until(lambda: len(set(got)) == 560)
        await consumer.aclose()
    assert len(got) == len(set(got)) == 560


@pytest.mark.slow
async def test_ten_thousand_delayed_messages_survive_sigkill_once(tmp_path: Path) -> None:
    config = {"messageDelayLevel": LEVELS}
    with NamesrvProcess(tmp_path / "ns") as ns:
        broker = BrokerProcess(tmp_path / "b", ns.addr, config).start()
        try:
            async with AsyncProducer("many-delay-pg", client_config=client(ns.addr)) as producer:
                await producer.send(Message("ManyDelayed", b"warm-up"))
                sem = asyncio.Semaphore(64)

                async def one(i: int) -> None:
                    async with sem:
                        await producer.send(
                            Message("ManyDelayed", f"d{i}".encode(), delay_time_level=2)
                        )

                await asyncio.gather(*(one(i) for i in range(10_000)))
            await asyncio.sleep(2.5)  # some are delivered, many are not yet
        finally:
            broker.stop(signal.SIGKILL)
        restarted = BrokerProcess(tmp_path / "b", ns.addr, config).start()
        try:
            async with AdminClient(ns.addr) as admin:

                async def all_delivered() -> bool:
                    return len(await pull_all(admin, restarted.addr, "ManyDelayed", 4)) >= 10_001

                await async_wait_until(all_delivered, timeout=60, interval=0.5)
                await asyncio.sleep(1.5)  # nothing more may come: no repeats
                bodies = [m.body for m in await pull_all(admin, restarted.addr, "ManyDelayed", 4)]
        finally:
            restarted.stop()
    delayed = [b for b in bodies if b != b"warm-up"]
    assert len(delayed) == len(set(delayed)) == 10_000


async def test_consume_timeout_sends_a_stuck_message_back(cluster: Cluster, tmp_path: Path) -> None:
    ns, broker = cluster
    deliveries: list[int] = []
    release = asyncio.Event()

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        deliveries.append(msgs[0].reconsume_times)
        if msgs[0].reconsume_times == 0:
            await release.wait()  # stuck far longer than the consume timeout
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    async with AdminClient(ns.address) as admin:
        await admin.create_topic(broker.config.broker_addr, TopicConfig("Stuck", 1, 1))
    config = consumer_config(tmp_path, consume_timeout=0.01)  # 0.6 s
    consumer = AsyncPushConsumer("stuck-cg", config=config, client_config=client(ns.address))
    consumer.subscribe("Stuck", "*")
    consumer.register_listener(listener)
    await consumer.start()
    try:
        async with AsyncProducer("stuck-pg", client_config=client(ns.address)) as producer:
            await producer.send(Message("Stuck", b"slow"))
        await async_wait_until(lambda: deliveries[-1:] == [1])  # sent back, came again
    finally:
        release.set()
        await consumer.aclose()
    assert deliveries == [0, 1]
