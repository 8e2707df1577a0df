"""``ClientConfig.namespace`` on the pull consumers (issue 14): the lite pull consumer and the
plain pull consumer put their group, topics and queues in the namespace on the wire, as
``DefaultLitePullConsumer``/``DefaultMQPullConsumer`` do, and hand back plain names. In the
in-process cluster; the broker's own tables show the wire names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.broker.controller import BrokerController
from rocketq.client import (
    AsyncLitePullConsumer,
    AsyncProducer,
    AsyncPullConsumer,
    ClientConfig,
    LitePullConsumerConfig,
    Message,
    MessageExt,
    MessageQueue,
    PullConsumerConfig,
    PullStatus,
)
from rocketq.common.topic import TopicConfig
from rocketq.namesrv import NamesrvController
from rocketq.testing import async_wait_until, running_cluster

Cluster = tuple[NamesrvController, BrokerController]
NS, TOPIC, WIRE = "tenant7", "Ledger", "tenant7%Ledger"


def client(ns: NamesrvController) -> ClientConfig:
    return ClientConfig(
        namesrv_addr=ns.address, poll_name_server_interval=500, rebalance_interval=500, namespace=NS
    )


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path / "store") as c:
        async with AdminClient(c[0].address) as admin:
            await admin.create_topic(c[1].config.broker_addr, TopicConfig(WIRE, 2, 2))
        async with AsyncProducer("ns-pull-pg", client_config=client(c[0])) as producer:
            for i in range(4):
                await producer.send(
                    Message(TOPIC, b"n%d" % i), queue=MessageQueue(TOPIC, "broker-a", i % 2)
                )
        yield c


async def test_lite_pull_consumer_in_a_namespace(cluster: Cluster, tmp_path: Path) -> None:
    ns, broker = cluster
    config = LitePullConsumerConfig(
        consume_from_where="CONSUME_FROM_FIRST_OFFSET", offset_store_dir=str(tmp_path)
    )
    got: list[MessageExt] = []
    async with AsyncLitePullConsumer("lite-g", config=config, client_config=client(ns)) as c:
        assert c.group == f"{NS}%lite-g"
        c.subscribe(TOPIC, "*")

        async def polled() -> bool:
            got.extend(await c.poll(timeout=0.2))
            return len(got) >= 4

        await async_wait_until(polled, timeout=20)
        assert {m.topic for m in got} == {TOPIC}
        assert sorted(m.body for m in got) == [b"n0", b"n1", b"n2", b"n3"]
        mine = c.assignment()
        assert mine == {MessageQueue(TOPIC, "broker-a", 0), MessageQueue(TOPIC, "broker-a", 1)}
        queues = await c.fetch_message_queues(TOPIC)
        assert [q.topic for q in queues] == [TOPIC, TOPIC]
        q0 = MessageQueue(TOPIC, "broker-a", 0)
        assert await c.max_offset(q0) == 2
        await c.commit()
        assert await c.committed(q0) == 2
        await c.seek(q0, 1)  # plain queue names are accepted everywhere
        again = await c.poll(timeout=5)
        assert [m.body for m in again] == [b"n2"] and again[0].topic == TOPIC
        assert f"{NS}%lite-g" in broker.consumer_manager.groups
    stored = broker.consumer_offset_manager.query(f"{NS}%lite-g", WIRE, 0)
    assert stored == 2


async def test_pull_consumer_in_a_namespace(cluster: Cluster, tmp_path: Path) -> None:
    ns, broker = cluster
    config = PullConsumerConfig(offset_store_dir=str(tmp_path))
    consumer = AsyncPullConsumer(
        "pull-g", config=config, client_config=client(ns), register_topics=[TOPIC]
    )
    async with consumer as c:
        assert c.group == f"{NS}%pull-g" and c.topics == {WIRE}
        queues = await c.fetch_subscribe_message_queues(TOPIC)
        assert queues == [MessageQueue(TOPIC, "broker-a", 0), MessageQueue(TOPIC, "broker-a", 1)]
        result = await c.pull(queues[1], "*", 0, 32)
        assert result.status is PullStatus.FOUND
        assert [(m.topic, m.body) for m in result.messages] == [(TOPIC, b"n1"), (TOPIC, b"n3")]
        c.update_consume_offset(queues[1], result.next_begin_offset)
        assert await c.fetch_consume_offset(queues[1]) == 2
        assert await c.min_offset(queues[1]) == 0 and await c.max_offset(queues[1]) == 2
        await c.persist_offsets()
        assert f"{NS}%pull-g" in broker.consumer_manager.groups
    assert broker.consumer_offset_manager.query(f"{NS}%pull-g", WIRE, 1) == 2
