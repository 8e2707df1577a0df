"""rocketq's own SimpleConsumer over remoting POP against an in-process broker (gRPC off):
produced with rocketq's producer, received with a receipt handle, acked, made invisible
for a short time and delivered again with a higher delivery attempt."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rocketq.client import AsyncProducer, AsyncSimpleConsumer, Message, SimpleConsumer
from rocketq.client.simple_consumer import ReceivedMessage
from rocketq.common.topic import TopicConfig
from rocketq.remoting.body import SubscriptionGroupConfig
from rocketq.testing import running_cluster

TOPIC, GROUP = "SimpleConsumerT", "simple-consumer-g"
# Long enough never to end inside the test / the shortest the broker allows (1 s).
LONG_S, SHORT_S = 60.0, 1.0
# How long one receive waits on the broker for messages (long polling).
AWAIT_S = 2.0


async def _receive_all(
    consumer: AsyncSimpleConsumer, count: int, invisible: float
) -> list[ReceivedMessage]:
    got: list[ReceivedMessage] = []
    async with asyncio.timeout(60):
        while len(got) < count:
            got += await consumer.receive(32, invisible)
    return got


async def test_receive_ack_and_redelivery(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, {"grpcServerPort": "-1"}) as (namesrv, broker):
        broker.topic_config_manager.update(TopicConfig(TOPIC, 2, 2))
        broker.subscription_group_manager.update(SubscriptionGroupConfig(GROUP))
        await broker.register_broker_all()
        async with AsyncProducer("simple-consumer-p", namesrv.address) as producer:
            for i in range(10):
                msg = Message(TOPIC, f"m{i}".encode(), tags="A" if i % 2 else "B", keys=f"k{i}")
                msg.properties["n"] = str(i)
                await producer.send(msg)
        consumer = AsyncSimpleConsumer(GROUP, namesrv.address, {TOPIC: "*"}, await_duration=AWAIT_S)
        async with consumer:
            first = await _receive_all(consumer, 10, LONG_S)
            assert sorted(m.body for m in first) == sorted(f"m{i}".encode() for i in range(10))
            for m in first:
                i = int(m.properties["n"])
                assert (m.topic, m.tags, m.keys, m.delivery_attempt) == (
                    TOPIC, "A" if i % 2 else "B", f"k{i}", 1,
                )  # fmt: skip
                assert m.receipt_handle.split(" ")[5] == "broker-a" and m.msg_id
            # POP reads count as the group's gets (consumerProgress's TPS, VIEW_BROKER_STATS)
            gets = broker.broker_stats_manager.get_stats_item("GROUP_GET_NUMS", f"{TOPIC}@{GROUP}")
            assert gets is not None and gets.value == 10
            acked, left = first[:5], first[5:]
            for m in acked:
                await consumer.ack(m)
            # the others: invisible for a short time only, then delivered again
            for m in left:
                old = m.receipt_handle
                await consumer.change_invisible_duration(m, SHORT_S)
                assert m.receipt_handle != old and m.receipt_handle.split(" ")[2] == "1000"
            second = await _receive_all(consumer, 5, LONG_S)
            assert sorted(m.body for m in second) == sorted(m.body for m in left)
            assert {m.delivery_attempt for m in second} == {2}
            assert {m.topic for m in second} == {TOPIC}  # not the pop retry topic
            for m in second[1:]:
                await consumer.ack(m)  # acked from the retry topic
            # received with a 1 s invisible time and not acked: delivered again
            await consumer.change_invisible_duration(second[0], SHORT_S)
            (third,) = await _receive_all(consumer, 1, SHORT_S)
            (fourth,) = await _receive_all(consumer, 1, LONG_S)
            assert third.body == fourth.body == second[0].body
            assert (third.delivery_attempt, fourth.delivery_attempt) == (3, 4)
            await consumer.ack(fourth)
            assert await consumer.receive(32, LONG_S) == []


async def test_blocking_simple_consumer(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, {"grpcServerPort": "-1"}) as (namesrv, broker):
        broker.topic_config_manager.update(TopicConfig(TOPIC, 1, 1))
        broker.subscription_group_manager.update(SubscriptionGroupConfig(GROUP))
        await broker.register_broker_all()
        async with AsyncProducer("simple-consumer-p", namesrv.address) as producer:
            await producer.send(Message(TOPIC, b"blocking", tags="T"))

        def consume() -> list[bytes]:
            # the broker runs on this test's loop: the blocking calls run in a thread
            with SimpleConsumer(GROUP, namesrv.address, {TOPIC: "T"}, await_duration=AWAIT_S) as c:
                got: list[ReceivedMessage] = []
                while not got:
                    got = c.receive(4, LONG_S)
                for m in got:
                    c.ack(m)
                return [m.body for m in got]

        assert await asyncio.wait_for(asyncio.to_thread(consume), 60) == [b"blocking"]
