"""Cross-client interop: messages from the C++ client and ali-ons reach rocketq's
consumer intact, and rocketq's producer reaches ali-ons' consumer (rocketq -> C++ is in
test_cpp_client.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from rocketq.admin import AdminClient
from rocketq.client.config import ClientConfig, ConsumerConfig
from rocketq.client.consume_service import ConsumeConcurrentlyStatus
from rocketq.client.message import Message, MessageExt
from rocketq.client.producer import AsyncProducer
from rocketq.client.push_consumer import AsyncPushConsumer
from rocketq.common.topic import TopicConfig
from rocketq.testing import BrokerProcess, NamesrvProcess, async_wait_until
from tests.interop.conftest import CPP_DRIVER, ONS_DRIVER, Driver


async def consume_with_rocketq(
    ns: str, topic: str, group: str, expect: int, tmp: Path
) -> list[MessageExt]:
    got: list[MessageExt] = []

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        got.extend(msgs)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    config = ConsumerConfig(
        consume_from_where="CONSUME_FROM_FIRST_OFFSET", offset_store_dir=str(tmp)
    )
    consumer = AsyncPushConsumer(group, config=config, client_config=ClientConfig(namesrv_addr=ns))
    consumer.subscribe(topic, "*")
    consumer.register_listener(listener)
    await consumer.start()
    try:
        with contextlib.suppress(AssertionError):  # the caller checks what came
            await async_wait_until(lambda: len(got) >= expect, timeout=60, interval=0.1)
        await asyncio.sleep(0.5)  # and nothing more
    finally:
        await consumer.aclose()
    return got


async def test_cpp_producer_to_rocketq_consumer(
    cluster: tuple[NamesrvProcess, BrokerProcess], cpp_python: Path, tmp_path: Path,
    drivers: list[Driver],
) -> None:  # fmt: skip
    ns, _ = cluster
    producer = Driver([str(cpp_python), str(CPP_DRIVER), "produce", "--namesrv", ns.addr,
                       "--topic", "CppToPy", "--group", "cpp-pg", "--count", "200", "--tag", "TagC",
                       "--keys-prefix", "c-", "--prop", "origin=cpp"],
                      env={"HOME": str(tmp_path)})  # fmt: skip
    drivers.append(producer)
    assert producer.wait(120)["sent"] == 200
    got = await consume_with_rocketq(ns.addr, "CppToPy", "py-from-cpp", 200, tmp_path)
    by_i = {json.loads(m.body)["i"]: m for m in got}
    assert set(by_i) == set(range(200)) and len(got) == 200
    m = by_i[42]
    assert m.tags == "TagC" and m.keys == "c-42" and m.user_properties == {"origin": "cpp"}


async def test_ons_producer_to_rocketq_consumer_and_back(
    cluster: tuple[NamesrvProcess, BrokerProcess], node: str, tmp_path: Path, drivers: list[Driver]
) -> None:
    ns, broker = cluster
    async with AdminClient(ns.addr) as admin:
        for topic in ("OnsToPy", "PyToOns"):
            await admin.create_topic(broker.addr, TopicConfig(topic, 4, 4))
    producer = Driver([node, str(ONS_DRIVER), "produce", "--namesrv", ns.addr, "--topic", "OnsToPy",
                       "--group", "ons-pg", "--count", "100", "--tag", "TagO",
                       "--prop", "origin=ons"])  # fmt: skip
    drivers.append(producer)
    assert producer.wait(60)["sent"] == 100
    got = await consume_with_rocketq(ns.addr, "OnsToPy", "py-from-ons", 100, tmp_path)
    by_i = {json.loads(m.body)["i"]: m for m in got}
    assert set(by_i) == set(range(100)) and len(got) == 100
    assert by_i[7].tags == "TagO" and by_i[7].user_properties == {"origin": "ons"}

    async with AsyncProducer("py-pg", client_config=ClientConfig(namesrv_addr=ns.addr)) as p:
        for i in range(60):
            body = json.dumps({"i": i, "src": "py"}).encode()
            await p.send(Message("PyToOns", body, tags="TagA" if i % 2 else "TagZ", keys=f"p{i}",
                                 properties={"origin": "py"}))  # fmt: skip
    consumer = Driver([node, str(ONS_DRIVER), "consume", "--namesrv", ns.addr, "--topic", "PyToOns",
                       "--group", "ons-from-py", "--expression", "TagA", "--expect", "30",
                       "--timeout", "60", "--linger", "2"])  # fmt: skip
    drivers.append(consumer)
    result = consumer.wait(90)
    assert result["received"] == 30 and result["duplicates"] == 0, result
    received = {json.loads(str(m["body"]))["i"] for m in consumer.messages}
    assert received == {i for i in range(60) if i % 2}
    assert consumer.messages[0]["properties"] == {"origin": "py"}
