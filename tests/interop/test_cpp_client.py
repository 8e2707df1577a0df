"""The Apache RocketMQ C++ client (PyPI rocketmq 0.4.4, librocketmq 1.2.3) against rocketq."""

from __future__ import annotations

import json
from pathlib import Path

from rocketq.admin import AdminClient
from rocketq.common.topic import TopicConfig
from rocketq.testing import BrokerProcess, NamesrvProcess
from tests.interop.conftest import CPP_DRIVER, Driver


def cpp(python: Path, home: Path, *args: str) -> Driver:
    return Driver([str(python), str(CPP_DRIVER), *args], env={"HOME": str(home)})


async def test_cpp_produce_sync_and_oneway_then_push_consume_intact(
    cluster: tuple[NamesrvProcess, BrokerProcess], cpp_python: Path, tmp_path: Path,
    drivers: list[Driver],
) -> None:  # fmt: skip
    ns, _broker = cluster
    producer = cpp(cpp_python, tmp_path, "produce", "--namesrv", ns.addr, "--topic", "CppTopic",
                   "--group", "cpp-pg", "--count", "1000", "--tag", "TagA", "--keys-prefix", "key-",
                   "--prop", "color=red", "--prop", "size=9", "--oneway", "100")  # fmt: skip
    drivers.append(producer)
    done = producer.wait(180)
    assert done["done"] is True and done["sent"] == 1000 and done["failed"] == 0, done

    consumer = cpp(cpp_python, tmp_path, "consume", "--namesrv", ns.addr, "--topic", "CppTopic",
                   "--group", "cpp-cg", "--expect", "1100", "--timeout", "120",
                   "--prop-names", "color,size")  # fmt: skip
    drivers.append(consumer)
    result = consumer.wait(180)
    assert result["received"] == 1100 and result["duplicates"] == 0, result
    by_i = {}
    for m in consumer.messages:
        body = json.loads(str(m["body"]))
        by_i[body["i"]] = m
    assert set(by_i) == set(range(1100))
    sample = by_i[123]
    assert sample["tags"] == "TagA" and sample["keys"] == "key-123"
    assert sample["properties"] == {"color": "red", "size": "9"}

    async with AdminClient(ns.addr) as admin:
        found = await admin.query_message("CppTopic", "key-777")
    assert [json.loads(r.body)["i"] for r in found] == [777]


async def test_cpp_consumer_receives_rocketq_producer_messages(
    cluster: tuple[NamesrvProcess, BrokerProcess], cpp_python: Path, tmp_path: Path,
    drivers: list[Driver],
) -> None:  # fmt: skip
    from rocketq.client.config import ClientConfig
    from rocketq.client.message import Message
    from rocketq.client.producer import AsyncProducer

    ns, broker = cluster
    async with AdminClient(ns.addr) as admin:
        await admin.create_topic(broker.addr, TopicConfig("PyToCpp", 4, 4))
    async with AsyncProducer("py-pg", client_config=ClientConfig(namesrv_addr=ns.addr)) as p:
        for i in range(50):
            body = json.dumps({"i": i, "src": "py", "props": {"lang": "python"}}).encode()
            await p.send(
                Message("PyToCpp", body, tags="TagB", keys=f"py-{i}", properties={"lang": "python"})
            )
        big = json.dumps({"i": 50, "src": "py", "pad": "x" * 8000}).encode()  # compressed body
        await p.send(Message("PyToCpp", big, tags="TagB", keys="py-50"))
    consumer = cpp(cpp_python, tmp_path, "consume", "--namesrv", ns.addr, "--topic", "PyToCpp",
                   "--group", "cpp-from-py", "--expression", "TagB", "--expect", "51",
                   "--timeout", "90", "--prop-names", "lang")  # fmt: skip
    drivers.append(consumer)
    result = consumer.wait(120)
    assert result["received"] == 51, result
    msgs = {json.loads(str(m["body"]))["i"]: m for m in consumer.messages}
    assert msgs[3]["keys"] == "py-3" and msgs[3]["properties"] == {"lang": "python"}
    assert len(json.loads(str(msgs[50]["body"]))["pad"]) == 8000
