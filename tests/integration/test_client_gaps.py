"""The client API beyond plain sends, in the in-process cluster: a queue or selector for
``send_async``, ``send_oneway`` and ``send_batch``; ``send_batch_async``; the random and
machine-room selectors; the producer's ``view_message``, ``query_message`` and
``search_offset``; the push consumer's ``suspend``/``resume`` and
``fetch_subscribe_message_queues``; namespaces (``ClientConfig.namespace``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.broker.controller import BrokerController
from rocketq.client import (
    AsyncProducer,
    AsyncPushConsumer,
    ClientConfig,
    ConsumeConcurrentlyStatus,
    ConsumerConfig,
    Message,
    MessageExt,
    MessageQueue,
    SelectMessageQueueByHash,
    SelectMessageQueueByMachineRoom,
    SelectMessageQueueByRandom,
    SendResult,
)
from rocketq.client.namespace import with_namespace, without_namespace
from rocketq.common.errors import ClientError
from rocketq.common.topic import TopicConfig
from rocketq.namesrv import NamesrvController
from rocketq.testing import async_wait_until, running_cluster
from tests.integration.conftest import pull_all

Cluster = tuple[NamesrvController, BrokerController]
QUEUES = 4


def client(ns: NamesrvController, namespace: str = "") -> ClientConfig:
    return ClientConfig(
        namesrv_addr=ns.address,
        poll_name_server_interval=500,
        rebalance_interval=500,
        namespace=namespace,
    )


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path / "store") as c:
        yield c


def last(mqs: list[MessageQueue], msg: Message, arg: object) -> MessageQueue:
    """A selector: the last queue."""
    return mqs[-1]


async def test_queue_and_selector_for_every_send_and_async_batches(cluster: Cluster) -> None:
    ns, broker = cluster
    addr = broker.config.broker_addr
    q1 = MessageQueue("Gaps", "broker-a", 1)
    callbacks: list[SendResult | None] = []
    async with AdminClient(ns.address) as admin:
        await admin.create_topic(addr, TopicConfig("Gaps", QUEUES, QUEUES))
        async with AsyncProducer("gaps-pg", client_config=client(ns)) as p:
            r1 = await p.send_async(Message("Gaps", b"async-q"), queue=q1)
            r2 = await p.send_async(
                Message("Gaps", b"async-sel"), selector=SelectMessageQueueByHash, arg=2
            )
            await p.send_oneway(Message("Gaps", b"oneway-q"), queue=q1)
            await p.send_oneway(Message("Gaps", b"oneway-sel"), selector=last)
            batch = [Message("Gaps", b"batch-%d" % i) for i in range(3)]
            r3 = await p.send_batch(batch, queue=MessageQueue("Gaps", "broker-a", 2))
            more = [Message("Gaps", b"abatch-%d" % i) for i in range(2)]
            r4 = await p.send_batch_async(more, lambda r, e: callbacks.append(r), selector=last)
            r5 = await p.send_batch_async([Message("Gaps", b"abatch-rr")])
        stored = await async_wait_until(
            lambda: _when_count(pull_all(admin, addr, "Gaps", QUEUES), 10)
        )
    queue_of = {m.body: m.queue_id for m in stored}
    assert r1.message_queue == q1 and r2.message_queue.queue_id == 2
    assert queue_of[b"async-q"] == 1 and queue_of[b"async-sel"] == 2
    assert queue_of[b"oneway-q"] == 1 and queue_of[b"oneway-sel"] == QUEUES - 1
    assert [queue_of[b"batch-%d" % i] for i in range(3)] == [2, 2, 2]
    assert r3.message_queue.queue_id == 2 and len(r3.msg_id.split(",")) == 3
    assert r4.message_queue.queue_id == QUEUES - 1 and callbacks == [r4]
    assert queue_of[b"abatch-rr"] == r5.message_queue.queue_id


async def _when_count(pending: object, count: int) -> list[MessageExt] | None:
    got: list[MessageExt] = await pending  # type: ignore[misc]
    return got if len(got) >= count else None


def test_random_and_machine_room_selectors() -> None:
    mqs = [MessageQueue("T", b, i) for b in ("room1@a", "room2@b", "plain") for i in range(2)]
    msg = Message("T", b"x")
    by_random = SelectMessageQueueByRandom(seed=1)
    picks = {by_random(mqs, msg, None) for _ in range(200)}
    assert picks == set(mqs)  # every queue may be chosen
    room = SelectMessageQueueByMachineRoom(["room2"], seed=1)
    assert {room(mqs, msg, None).broker_name for _ in range(50)} == {"room2@b"}
    assert SelectMessageQueueByMachineRoom()(mqs, msg, None) in mqs
    with pytest.raises(ClientError, match="machine rooms"):
        SelectMessageQueueByMachineRoom(["room9"])(mqs, msg, None)


async def test_producer_lookups(cluster: Cluster) -> None:
    ns, broker = cluster
    async with AdminClient(ns.address) as admin:
        await admin.create_topic(broker.config.broker_addr, TopicConfig("Look", 1, 1))
    async with AsyncProducer("look-pg", client_config=client(ns)) as p:
        sent = [await p.send(Message("Look", b"m%d" % i, keys=f"key-{i} shared")) for i in range(3)]
        by_offset_id = await p.view_message(sent[1].offset_msg_id)
        by_uniq_id = await p.view_message(sent[2].msg_id, "Look")
        shared = await p.query_message("Look", "shared")
        one = await p.query_message("Look", "key-0")
        mq = MessageQueue("Look", "broker-a", 0)
        at_zero = await p.search_offset(mq, 0)
        in_future = await p.search_offset(mq, 2**41)  # far in the future
        with pytest.raises(ClientError, match="give the topic"):
            await p.view_message(sent[0].msg_id)
    assert by_offset_id.body == b"m1" and by_uniq_id.body == b"m2"
    assert [m.body for m in shared] == [b"m0", b"m1", b"m2"]
    assert [m.body for m in one] == [b"m0"] and one[0].topic == "Look"
    assert at_zero == 0 and in_future == 3


async def test_suspend_resume_and_fetch_subscribe_queues(cluster: Cluster, tmp_path: Path) -> None:
    ns, broker = cluster
    got: list[bytes] = []

    async def listener(msgs: list[MessageExt], ctx: object) -> ConsumeConcurrentlyStatus:
        got.extend(m.body for m in msgs)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    async with AdminClient(ns.address) as admin:
        await admin.create_topic(broker.config.broker_addr, TopicConfig("Pausable", 2, 2))
    config = ConsumerConfig(
        consume_from_where="CONSUME_FROM_FIRST_OFFSET",
        offset_store_dir=str(tmp_path),
        broker_suspend_max_time_millis=200,  # pulls in flight end soon after suspend()
    )
    consumer = AsyncPushConsumer("pause-cg", config=config, client_config=client(ns))
    consumer.subscribe("Pausable", "*")
    consumer.register_listener(listener)
    async with consumer, AsyncProducer("pause-pg", client_config=client(ns)) as p:
        assert await consumer.fetch_subscribe_message_queues("Pausable") == [
            MessageQueue("Pausable", "broker-a", 0),
            MessageQueue("Pausable", "broker-a", 1),
        ]
        await p.send(Message("Pausable", b"before"))
        await async_wait_until(lambda: b"before" in got)
        loops = len(consumer.process_queues)  # Pausable's 2 queues and %RETRY%pause-cg's
        consumer.suspend()
        assert consumer.suspended
        await async_wait_until(lambda: consumer.parked_pull_loops == loops)
        await p.send(Message("Pausable", b"while-suspended"))
        await asyncio.sleep(0.3)  # every pull loop is parked: nothing can pull it
        assert got == [b"before"]
        consumer.resume()
        await async_wait_until(lambda: b"while-suspended" in got)
    assert got == [b"before", b"while-suspended"]


def test_namespace_wrapping() -> None:
    assert with_namespace("ns", "T") == "ns%T"
    assert with_namespace("ns", "ns%T") == "ns%T"
    assert with_namespace("ns", "%RETRY%g") == "%RETRY%ns%g"
    assert with_namespace("ns", "%DLQ%g") == "%DLQ%ns%g"
    assert with_namespace("ns", "RMQ_SYS_TRACE_TOPIC") == "RMQ_SYS_TRACE_TOPIC"
    assert with_namespace("ns", "TBW102") == "TBW102"
    assert with_namespace("", "T") == "T"
    assert without_namespace("ns", "%RETRY%ns%g") == "%RETRY%g"
    assert without_namespace("ns", "other%T") == "other%T"
    assert without_namespace("ns", "ns%T") == "T"


async def test_namespace_wraps_topics_and_groups_on_the_wire(
    cluster: Cluster, tmp_path: Path
) -> None:
    ns, broker = cluster
    addr = broker.config.broker_addr
    got: list[MessageExt] = []

    async def listener(msgs: list[MessageExt], ctx: object) -> ConsumeConcurrentlyStatus:
        got.extend(msgs)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    config = ConsumerConfig(
        consume_from_where="CONSUME_FROM_FIRST_OFFSET", offset_store_dir=str(tmp_path)
    )
    consumer = AsyncPushConsumer("ns-cg", config=config, client_config=client(ns, "tenant1"))
    consumer.subscribe("Orders", "*")
    consumer.register_listener(listener)
    async with AdminClient(ns.address) as admin:
        await admin.create_topic(addr, TopicConfig("tenant1%Orders", 1, 1))
        producer = AsyncProducer("ns-pg", client_config=client(ns, "tenant1"))
        async with producer, consumer:
            sent = await producer.send(Message("Orders", b"o1"))
            looked_up = await producer.query_message("Orders", sent.msg_id)
            await async_wait_until(lambda: got)
            await producer.instance.send_heartbeat_to_all_brokers()  # not due for 30 s
            groups = set(broker.consumer_manager.groups)
            producers = set(broker.producer_manager.groups)
        stored = await pull_all(admin, addr, "tenant1%Orders", 1)
    assert sent.message_queue.topic == "Orders"
    assert [m.body for m in stored] == [b"o1"]
    assert got[0].topic == "Orders" and got[0].body == b"o1"
    assert "tenant1%ns-cg" in groups and "tenant1%ns-pg" in producers
    assert broker.topic_config_manager.select("%RETRY%tenant1%ns-cg") is not None
    assert looked_up == []  # a msgId is no KEYS entry
