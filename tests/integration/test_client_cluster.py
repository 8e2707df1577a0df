"""The Python client against real NameServer and broker processes: clustering, rebalance
after a SIGKILL, orderly per-key order across restarts, broadcasting, retries."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.client.config import ClientConfig
from rocketq.client.message import Message
from rocketq.client.producer import AsyncProducer, SelectMessageQueueByHash
from rocketq.common.topic import TopicConfig
from rocketq.testing import BrokerProcess, NamesrvProcess, async_wait_until
from tests.integration.conftest import ConsumerProcess

# Short delay levels so that retries come back within a second.
FAST_LEVELS = " ".join(["1s"] * 18)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[NamesrvProcess, BrokerProcess]]:
    with (
        NamesrvProcess(tmp_path / "ns") as ns,
        BrokerProcess(tmp_path / "b", ns.addr, {"messageDelayLevel": FAST_LEVELS}) as broker,
    ):
        yield ns, broker


async def create_topic(ns: NamesrvProcess, broker: BrokerProcess, topic: str, queues: int) -> None:
    async with AdminClient(ns.addr) as admin:
        await admin.create_topic(broker.addr, TopicConfig(topic, queues, queues))


async def produce(ns: str, topic: str, count: int, keys: int = 0, prefix: str = "m") -> None:
    config = ClientConfig(namesrv_addr=ns)
    async with AsyncProducer("test-producer", client_config=config) as producer:
        for i in range(count):
            if keys:
                key = f"key{i % keys}"
                msg = Message(topic, f"{key}:{i // keys}".encode(), keys=key)
                await producer.send(msg, selector=SelectMessageQueueByHash, arg=key)
            else:
                await producer.send(Message(topic, f"{prefix}{i}".encode(), keys=f"k{i}"))


def bodies(consumers: list[ConsumerProcess]) -> Counter[str]:
    return Counter(str(m["body"]) for c in consumers for m in c.messages)


@pytest.mark.slow
async def test_three_consumers_exactly_once_and_takeover_after_sigkill(
    cluster: tuple[NamesrvProcess, BrokerProcess], consumers: list[ConsumerProcess]
) -> None:
    ns, broker = cluster
    await create_topic(ns, broker, "Orders8", 8)
    consumers += [ConsumerProcess(ns.addr, "g3", "Orders8", name=f"c{i}") for i in range(3)]
    await produce(ns.addr, "Orders8", 300)
    await async_wait_until(lambda: len(bodies(consumers)) == 300)
    await asyncio.sleep(1)
    counts = bodies(consumers)
    assert set(counts) == {f"m{i}" for i in range(300)}
    assert max(counts.values()) == 1  # no failure: exactly once
    queues = [{m["queue_id"] for m in c.messages} for c in consumers]
    assert all(queues) and not (queues[0] & queues[1]) and not (queues[1] & queues[2])

    consumers[0].kill()  # its queues must move to the two others
    before = sum(len(c.messages) for c in consumers[1:])
    await produce(ns.addr, "Orders8", 300, prefix="n")
    survivors = consumers[1:]
    await async_wait_until(lambda: {f"n{i}" for i in range(300)} <= set(bodies(survivors)))
    assert sum(len(c.messages) for c in survivors) - before >= 300


@pytest.mark.slow
async def test_orderly_keeps_per_key_order_across_restarts(
    cluster: tuple[NamesrvProcess, BrokerProcess], consumers: list[ConsumerProcess]
) -> None:
    ns, broker = cluster
    await create_topic(ns, broker, "Ordered", 4)
    keys, per_key = 10, 1000
    first = ConsumerProcess(ns.addr, "gord", "Ordered", "--orderly", name="o1")
    consumers.append(first)
    producing = asyncio.create_task(produce(ns.addr, "Ordered", keys * per_key, keys=keys))
    await async_wait_until(lambda: len(first.messages) > 2000)
    first.stop()  # restart in the middle of the stream
    second = ConsumerProcess(ns.addr, "gord", "Ordered", "--orderly", name="o2")
    consumers.append(second)
    await producing
    await async_wait_until(
        lambda: len({str(m["body"]) for m in first.messages + second.messages}) == keys * per_key
    )
    for run in (first.messages, second.messages):
        last: dict[str, int] = {}
        for m in run:
            key, seq = str(m["body"]).split(":")
            assert int(seq) >= last.get(key, -1), f"{key} went back from {last.get(key)} to {seq}"
            last[key] = int(seq)


async def test_broadcasting_delivers_to_every_consumer(
    cluster: tuple[NamesrvProcess, BrokerProcess], consumers: list[ConsumerProcess]
) -> None:
    ns, broker = cluster
    await create_topic(ns, broker, "Bcast", 4)
    consumers += [
        ConsumerProcess(ns.addr, "gb", "Bcast", "--broadcast", name=f"b{i}") for i in range(2)
    ]
    await produce(ns.addr, "Bcast", 100)
    expected = {f"m{i}" for i in range(100)}
    await async_wait_until(
        lambda: all({str(m["body"]) for m in c.messages} >= expected for c in consumers)
    )


@pytest.mark.slow
async def test_listener_failing_three_times_gets_four_deliveries(
    cluster: tuple[NamesrvProcess, BrokerProcess], consumers: list[ConsumerProcess]
) -> None:
    ns, broker = cluster
    await create_topic(ns, broker, "Flaky", 1)
    consumer = ConsumerProcess(ns.addr, "gflaky", "Flaky", "--fail-times", "3", name="f")
    consumers.append(consumer)
    await produce(ns.addr, "Flaky", 1)
    await async_wait_until(lambda: len(consumer.messages) >= 4)
    await asyncio.sleep(1.5)
    assert [m["reconsume"] for m in consumer.messages] == [0, 1, 2, 3]
    assert {m["topic"] for m in consumer.messages} == {"Flaky"}  # retry topic hidden
    assert {m["body"] for m in consumer.messages} == {"m0"}
