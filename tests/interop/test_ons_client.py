"""The JavaScript client ali-ons 3.12.0 against rocketq: tag filters, two consumers of a
group splitting the queues, take-over when one stops, resume from the committed offset."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

from rocketq.admin import AdminClient
from rocketq.common.topic import TopicConfig
from rocketq.testing import BrokerProcess, NamesrvProcess, async_wait_until
from tests.interop.conftest import ONS_DRIVER, Driver

ONS_TIMEOUT_S = 90.0


def ons(node: str, *args: str) -> Driver:
    return Driver([node, str(ONS_DRIVER), *args])


async def create_topic(ns: NamesrvProcess, broker: BrokerProcess, topic: str, queues: int) -> None:
    async with AdminClient(ns.addr) as admin:
        await admin.create_topic(broker.addr, TopicConfig(topic, queues, queues))


def ids(driver: Driver) -> Counter[int]:
    return Counter(json.loads(str(m["body"]))["i"] for m in driver.messages)


async def wait_for(predicate: Callable[[], bool]) -> None:
    # ali-ons rebalances every 20 s (RocketMQ's default), so allow several rounds.
    await async_wait_until(predicate, timeout=ONS_TIMEOUT_S, interval=0.2)


async def test_ons_produce_and_tag_filtered_consume(
    cluster: tuple[NamesrvProcess, BrokerProcess], node: str, drivers: list[Driver]
) -> None:
    ns, broker = cluster
    await create_topic(ns, broker, "OnsTags", 4)
    producer = ons(node, "produce", "--namesrv", ns.addr, "--topic", "OnsTags", "--group", "ons-pg",
                   "--count", "30", "--tag", "TagA,TagB,TagC", "--prop", "color=red")  # fmt: skip
    drivers.append(producer)
    done = producer.wait(60)
    assert done["done"] is True and done["sent"] == 30, done
    consumer = ons(node, "consume", "--namesrv", ns.addr, "--topic", "OnsTags", "--group", "ons-cg",
                   "--expression", "TagA || TagB", "--expect", "20", "--timeout", "60",
                   "--linger", "2")  # fmt: skip
    drivers.append(consumer)
    result = consumer.wait(90)
    assert result["received"] == 20 and result["duplicates"] == 0, result
    assert {m["tags"] for m in consumer.messages} == {"TagA", "TagB"}
    assert sorted(ids(consumer)) == [i for i in range(30) if i % 3 != 2]
    assert consumer.messages[0]["properties"] == {"color": "red"}


async def test_two_ons_consumers_split_queues_and_take_over(
    cluster: tuple[NamesrvProcess, BrokerProcess], node: str, drivers: list[Driver]
) -> None:
    ns, broker = cluster
    await create_topic(ns, broker, "OnsGroup", 8)
    args = ["consume", "--namesrv", ns.addr, "--topic", "OnsGroup", "--group", "ons-two",
            "--timeout", "120", "--queue-events"]  # fmt: skip
    first, second = ons(node, *args), ons(node, *args)
    drivers += [first, second]

    def queues(d: Driver) -> set[int]:
        events = [m for m in d.lines if m.get("event") == "queues"]
        return set(events[-1]["queues"]) if events else set()  # type: ignore[arg-type]

    await wait_for(lambda: len(queues(first)) == 4 and len(queues(second)) == 4)
    assert not queues(first) & queues(second)
    producer = ons(node, "produce", "--namesrv", ns.addr, "--topic", "OnsGroup", "--group",
                   "ons-pg2", "--count", "80", "--tag", "TagA")  # fmt: skip
    drivers.append(producer)
    assert producer.wait(60)["sent"] == 80
    await wait_for(lambda: sum((ids(first) + ids(second)).values()) >= 80)
    both = ids(first) + ids(second)
    assert set(both) == set(range(80)) and max(both.values()) == 1
    assert ids(first) and ids(second)

    second.terminate()  # clean stop: its queues go to the first consumer
    second.wait(60)
    await wait_for(lambda: len(queues(first)) == 8)
    producer = ons(node, "produce", "--namesrv", ns.addr, "--topic", "OnsGroup", "--group",
                   "ons-pg3", "--count", "40", "--tag", "TagA", "--start", "80")  # fmt: skip
    drivers.append(producer)
    assert producer.wait(60)["sent"] == 40
    await wait_for(lambda: set(range(80, 120)) <= set(ids(first)))


async def test_ons_consumer_resumes_from_committed_offset(
    cluster: tuple[NamesrvProcess, BrokerProcess], node: str, drivers: list[Driver]
) -> None:
    ns, broker = cluster
    await create_topic(ns, broker, "OnsResume", 2)
    producer = ons(node, "produce", "--namesrv", ns.addr, "--topic", "OnsResume", "--group",
                   "ons-pg4", "--count", "20", "--tag", "TagA")  # fmt: skip
    drivers.append(producer)
    assert producer.wait(60)["sent"] == 20
    args = ["consume", "--namesrv", ns.addr, "--topic", "OnsResume", "--group", "ons-resume",
            "--timeout", "60"]  # fmt: skip
    first = ons(node, *args, "--expect", "20", "--linger", "6")  # > 5 s: offsets persisted
    drivers.append(first)
    assert first.wait(90)["received"] == 20
    producer = ons(node, "produce", "--namesrv", ns.addr, "--topic", "OnsResume", "--group",
                   "ons-pg5", "--count", "10", "--tag", "TagA", "--start", "20")  # fmt: skip
    drivers.append(producer)
    assert producer.wait(60)["sent"] == 10
    again = ons(node, *args, "--expect", "10", "--linger", "2")
    drivers.append(again)
    result = again.wait(90)
    assert sorted(ids(again)) == list(range(20, 30)), result
