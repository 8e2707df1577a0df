"""Delay levels, retry and dead letters, queue scale-down — against real processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.client.config import ClientConfig, ConsumerConfig
from rocketq.client.consume_service import ConsumeConcurrentlyStatus
from rocketq.client.message import Message, MessageExt
from rocketq.client.producer import AsyncProducer
from rocketq.client.push_consumer import AsyncPushConsumer
from rocketq.common.topic import TopicConfig
from rocketq.testing import BrokerProcess, NamesrvProcess
from tests.integration.conftest import ConsumerProcess

LEVELS = "1s 2s 3s 4s " + " ".join(["1s"] * 14)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[NamesrvProcess, BrokerProcess]]:
    with (
        NamesrvProcess(tmp_path / "ns") as ns,
        BrokerProcess(tmp_path / "b", ns.addr, {"messageDelayLevel": LEVELS}) as broker,
    ):
        yield ns, broker


def client(ns: NamesrvProcess) -> ClientConfig:
    return ClientConfig(namesrv_addr=ns.addr, poll_name_server_interval=500, rebalance_interval=500)


async def wait_for(predicate: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_delay_levels_arrive_on_time(
    cluster: tuple[NamesrvProcess, BrokerProcess], tmp_path: Path
) -> None:
    ns, _ = cluster
    arrivals: dict[int, float] = {}

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        for m in msgs:
            arrivals[int(m.body)] = time.time()
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    config = ConsumerConfig(
        consume_from_where="CONSUME_FROM_FIRST_OFFSET", offset_store_dir=str(tmp_path)
    )
    consumer = AsyncPushConsumer("delay-cg", config=config, client_config=client(ns))
    consumer.subscribe("Delayed", "*")
    consumer.register_listener(listener)
    async with AsyncProducer("delay-pg", client_config=client(ns)) as producer:
        await producer.send(Message("Delayed", b"0"))  # create the topic first
        await consumer.start()
        await wait_for(lambda: 0 in arrivals)
        await asyncio.sleep(1.2)  # the schedule service's first check is 1 s after start
        sent: dict[int, float] = {}
        for level in (1, 2, 3, 4):
            sent[level] = time.time()
            await producer.send(Message("Delayed", str(level).encode(), delay_time_level=level))
        await wait_for(lambda: all(level in arrivals for level in (1, 2, 3, 4)), timeout=15)
    await consumer.aclose()
    for level in (1, 2, 3, 4):
        late = arrivals[level] - sent[level] - level
        assert -0.05 <= late <= 0.2, f"level {level} came {late:+.3f} s off its delay"


async def test_always_failing_message_reaches_dlq_with_its_properties(
    cluster: tuple[NamesrvProcess, BrokerProcess], consumers: list[ConsumerProcess]
) -> None:
    ns, broker = cluster
    async with AdminClient(ns.addr) as admin:
        await admin.create_topic(broker.addr, TopicConfig("Poison", 1, 1))
    consumer = ConsumerProcess(
        ns.addr, "dlq-cg", "Poison", "--fail-times", "100", "--max-reconsume", "3"
    )
    consumers.append(consumer)
    async with AsyncProducer("dlq-pg", client_config=client(ns)) as producer:
        sent = await producer.send(
            Message("Poison", b"bad", tags="TagP", keys="poison-1", properties={"k": "v"})
        )
    async with AdminClient(ns.addr) as admin:

        async def dlq() -> list:  # type: ignore[type-arg]
            try:
                return (await admin.pull(broker.addr, "%DLQ%dlq-cg", 0, 0)).messages
            except Exception:
                return []

        deadline = time.monotonic() + 30
        found: list = []  # type: ignore[type-arg]
        while not found and time.monotonic() < deadline:
            found = await dlq()
            await asyncio.sleep(0.2)
    assert len(found) == 1
    assert [m["reconsume"] for m in consumer.messages] == [0, 1, 2, 3]  # maxReconsumeTimes = 3
    props = found[0].properties_map()
    assert found[0].body == b"bad" and found[0].reconsume_times == 4
    assert props["TAGS"] == "TagP" and props["KEYS"] == "poison-1" and props["k"] == "v"
    assert props["RETRY_TOPIC"] == "Poison" and props["UNIQ_KEY"] == sent.msg_id
    assert props["ORIGIN_MESSAGE_ID"] == sent.offset_msg_id


async def test_queue_scale_down_loses_nothing(
    cluster: tuple[NamesrvProcess, BrokerProcess], tmp_path: Path
) -> None:
    ns, broker = cluster
    got: list[bytes] = []

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        got.extend(m.body for m in msgs)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    async with (
        AdminClient(ns.addr) as admin,
        AsyncProducer("scale-pg", client_config=client(ns)) as producer,
    ):
        await admin.create_topic(broker.addr, TopicConfig("Scale", 16, 16))
        for i in range(320):
            await producer.send(Message("Scale", f"a{i}".encode()))
        await admin.create_topic(broker.addr, TopicConfig("Scale", 16, 8))  # write 16 -> 8
        await asyncio.sleep(1.5)  # the producer's route refresh (shortened to 0.5 s)
        later = [await producer.send(Message("Scale", f"b{i}".encode())) for i in range(160)]
        assert {r.message_queue.queue_id for r in later} <= set(range(8))
        config = ConsumerConfig(
            consume_from_where="CONSUME_FROM_FIRST_OFFSET", offset_store_dir=str(tmp_path)
        )
        consumer = AsyncPushConsumer("scale-cg", config=config, client_config=client(ns))
        consumer.subscribe("Scale", "*")
        consumer.register_listener(listener)
        await consumer.start()
        await wait_for(lambda: len(set(got)) == 480)  # queues 8-15 drained too
        await admin.create_topic(broker.addr, TopicConfig("Scale", 8, 8))  # then read 16 -> 8
        await asyncio.sleep(1.5)
        for i in range(80):
            await producer.send(Message("Scale", f"c{i}".encode()))
        await wait_for(lambda: len(set(got)) == 560)
        await consumer.aclose()
    assert len(got) == len(set(got)) == 560


async def test_ten_thousand_delayed_messages_survive_sigkill_once(tmp_path: Path) -> None:
    import signal

    config = {"messageDelayLevel": LEVELS}
    with NamesrvProcess(tmp_path / "ns") as ns:
        broker = BrokerProcess(tmp_path / "b", ns.addr, config).start()
        try:
            async with AsyncProducer("many-delay-pg", client_config=client(ns)) as producer:
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

                async def delivered() -> list[bytes]:
                    out = []
                    for qid in range(4):
                        offset = 0
                        while True:
                            result = await admin.pull(restarted.addr, "ManyDelayed", qid, offset)
                            if not result.messages:
                                break
                            out += [m.body for m in result.messages]
                            offset = result.next_begin_offset
                    return out

                deadline = time.monotonic() + 60
                bodies = await delivered()
                while len(bodies) < 10_001 and time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                    bodies = await delivered()
                await asyncio.sleep(1.5)  # nothing more may come: no repeats
                bodies = await delivered()
        finally:
            restarted.stop()
    delayed = [b for b in bodies if b != b"warm-up"]
    assert len(delayed) == len(set(delayed)) == 10_000


async def test_consume_timeout_sends_a_stuck_message_back(
    cluster: tuple[NamesrvProcess, BrokerProcess], tmp_path: Path
) -> None:
    ns, broker = cluster
    deliveries: list[int] = []
    release = asyncio.Event()

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        deliveries.append(msgs[0].reconsume_times)
        if msgs[0].reconsume_times == 0:
            await release.wait()  # stuck far longer than the consume timeout
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    async with AdminClient(ns.addr) as admin:
        await admin.create_topic(broker.addr, TopicConfig("Stuck", 1, 1))
    config = ConsumerConfig(
        consume_from_where="CONSUME_FROM_FIRST_OFFSET",
        offset_store_dir=str(tmp_path),
        consume_timeout=0.01,  # 0.6 s
    )
    consumer = AsyncPushConsumer("stuck-cg", config=config, client_config=client(ns))
    consumer.subscribe("Stuck", "*")
    consumer.register_listener(listener)
    await consumer.start()
    try:
        async with AsyncProducer("stuck-pg", client_config=client(ns)) as producer:
            await producer.send(Message("Stuck", b"slow"))
        await wait_for(lambda: deliveries[-1:] == [1], timeout=20)  # sent back, came again
    finally:
        release.set()
        await consumer.aclose()
    assert deliveries == [0, 1]
