"""SQL92 filtering in the in-process cluster with ``enablePropertyFilter=true``: a push
consumer receives exactly the matching messages; a selector that does not parse is refused
with SUBSCRIPTION_PARSE_FAILED by PULL_MESSAGE and CHECK_CLIENT_CONFIG."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from rocketq.admin import AdminClient
from rocketq.broker.controller import BrokerController
from rocketq.client.config import ClientConfig, ConsumerConfig
from rocketq.client.consume_service import ConsumeConcurrentlyStatus
from rocketq.client.message import Message, MessageExt, MessageQueue
from rocketq.client.producer import AsyncProducer
from rocketq.client.push_consumer import AsyncPushConsumer
from rocketq.common.topic import TopicConfig
from rocketq.namesrv import NamesrvController
from rocketq.remoting import RemotingCommand, RequestCode
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.headers import PullMessageRequestHeader
from rocketq.testing import async_wait_until, running_cluster

SELECTOR = "n >= 10 AND color = 'red' OR vip IS NOT NULL"


def _expected(i: int) -> bool:
    return (i >= 10 and i % 2 == 0) or i % 7 == 0


def _message(topic: str, i: int) -> Message:
    props = {"n": str(i), "color": "red" if i % 2 == 0 else "blue"}
    if i % 7 == 0:
        props["vip"] = "yes"
    return Message(topic, f"m{i}".encode(), tags="T", properties=props)


Cluster = tuple[NamesrvController, BrokerController]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path / "store", {"enablePropertyFilter": "true"}) as c:
        yield c


async def test_push_consumer_receives_exactly_the_matching_messages(
    cluster: Cluster, tmp_path: Path
) -> None:
    ns, broker = cluster
    async with AdminClient(ns.address) as admin:
        # 4 queues: a producer that looks the route up before the broker re-registered
        # uses the default topic's 4 queues.
        await admin.create_topic(broker.config.broker_addr, TopicConfig("Sql", 4, 4))
    client = ClientConfig(namesrv_addr=ns.address, rebalance_interval=1000)
    received: list[str] = []

    async def listener(msgs: list[MessageExt], context: object) -> object:
        received.extend(m.body.decode() for m in msgs)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    config = ConsumerConfig(
        consume_from_where="CONSUME_FROM_FIRST_OFFSET",
        offset_store_dir=str(tmp_path / "offsets"),
    )
    async with AsyncProducer("sql-producer", client_config=client) as producer:
        for i in range(30):  # before the consumer starts: read from the store
            await producer.send(_message("Sql", i))
        consumer = AsyncPushConsumer("gsql", config=config, client_config=client)
        consumer.subscribe("Sql", SELECTOR, expression_type="SQL92")
        consumer.register_listener(listener)
        async with consumer:
            for i in range(30, 60):  # while it waits: long polling wakes it
                await producer.send(_message("Sql", i))
            expected = {f"m{i}" for i in range(60) if _expected(i)}
            await async_wait_until(lambda: set(received) >= expected)
            await asyncio.sleep(1)  # nothing else may come
    assert sorted(received) == sorted(expected)


def _pull_header(topic: str, expression: str) -> dict[str, str]:
    return PullMessageRequestHeader(
        consumer_group="gbad",
        topic=topic,
        queue_id=0,
        queue_offset=0,
        max_msg_nums=32,
        sys_flag=0x4,  # subscription in the request
        commit_offset=0,
        suspend_timeout_millis=0,
        subscription=expression,
        sub_version=0,
        expression_type="SQL92",
    ).to_ext()


async def test_bad_selector_is_refused_with_subscription_parse_failed(cluster: Cluster) -> None:
    ns, broker = cluster
    addr = broker.config.broker_addr
    async with AdminClient(ns.address) as admin:
        await admin.create_topic(addr, TopicConfig("SqlBad", 4, 4))
        client = ClientConfig(namesrv_addr=ns.address)
        queue = MessageQueue("SqlBad", broker.config.broker_name, 0)
        async with AsyncProducer("sql-producer", client_config=client) as producer:
            await producer.send(Message("SqlBad", b"x", properties={"b": "1"}), queue=queue)
        remoting = admin.remoting

        async def pull(expression: str) -> RemotingCommand:
            req = RemotingCommand.request(
                RequestCode.PULL_MESSAGE, _pull_header("SqlBad", expression)
            )
            return await remoting.invoke(addr, req, 5.0)

        bad = await pull("a > 'x'")
        assert bad.code == ResponseCode.SUBSCRIPTION_PARSE_FAILED
        assert "cannot be compared with >" in (bad.remark or "")
        good = await pull("a IS NULL")
        assert good.code == ResponseCode.SUCCESS
        none = await pull("a = 1")
        assert none.code == ResponseCode.PULL_RETRY_IMMEDIATELY  # read past, nothing matched

        async def check(expression: str) -> RemotingCommand:
            sub = {"topic": "SqlBad", "subString": expression, "expressionType": "SQL92"}
            body = orjson.dumps({"clientId": "c", "group": "gbad", "subscriptionData": sub})
            req = RemotingCommand.request(RequestCode.CHECK_CLIENT_CONFIG, {}, body)
            return await remoting.invoke(addr, req, 5.0)

        refused = await check("a = ")
        assert refused.code == ResponseCode.SUBSCRIPTION_PARSE_FAILED
        assert "expected a value" in (refused.remark or "")
        assert (await check("a BETWEEN 1 AND 2")).code == ResponseCode.SUCCESS
