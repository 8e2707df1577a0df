"""The public client API against real NameServer and broker processes: the blocking
facades from plain (non-async) functions, the lite pull consumer (subscribe, rebalance,
poll, commit, assign, seek, offsets by time) and the plain pull consumer."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

import rocketq
from rocketq import (
    AsyncLitePullConsumer,
    AsyncProducer,
    ClientError,
    ConsumeConcurrentlyStatus,
    LitePullConsumer,
    LitePullConsumerConfig,
    Message,
    MessageExt,
    MessageQueue,
    Producer,
    PullConsumer,
    PullStatus,
    PushConsumer,
    SendResult,
    SendStatus,
)
from rocketq.admin import AdminClient
from rocketq.common.topic import TopicConfig
from rocketq.testing import BrokerProcess, NamesrvProcess

Cluster = tuple[NamesrvProcess, BrokerProcess]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One NameServer and one broker for the whole module (every test has its own topics
    and groups)."""
    base: Path = tmp_path_factory.mktemp("client-api")
    with (
        NamesrvProcess(base / "ns", {"brokerChannelExpiredTime": "600000"}) as ns,
        BrokerProcess(base / "b", ns.addr) as broker,
    ):
        yield ns, broker


def create_topic(cluster: Cluster, topic: str, queues: int) -> None:
    """UPDATE_AND_CREATE_TOPIC from a plain function (the admin client is asyncio)."""
    ns, broker = cluster

    async def create() -> None:
        async with AdminClient(ns.addr) as admin:
            await admin.create_topic(broker.addr, TopicConfig(topic, queues, queues))

    asyncio.run(create())


def wait_until(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def poll_until(consumer: LitePullConsumer, count: int, timeout: float = 30) -> list[MessageExt]:
    """Poll until ``count`` messages came (fails on more or on timeout)."""
    got: list[MessageExt] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += consumer.poll(0.5)
    assert len(got) == count, [m.body for m in got]
    return got


def test_top_level_names_are_the_client_classes() -> None:
    assert rocketq.Producer is rocketq.client.sync.Producer
    assert rocketq.AsyncPushConsumer is rocketq.client.push_consumer.AsyncPushConsumer


# -- blocking producer and push consumer ----------------------------------------------------


def test_blocking_producer_and_push_consumer_round_trip(cluster: Cluster) -> None:
    ns, _ = cluster
    create_topic(cluster, "SyncRoundTrip", 4)
    create_topic(cluster, "SyncEcho", 2)
    received: list[MessageExt] = []
    lock = threading.Lock()
    echo = Producer("sync-echo", ns.addr)
    echo.start()

    def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        # a plain listener runs on the consume thread pool: blocking calls are fine here
        for msg in msgs:
            if msg.topic == "SyncRoundTrip":
                echo.send(Message("SyncEcho", msg.body))
            with lock:
                received.append(msg)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    consumer = PushConsumer("sync-consumers", ns.addr)
    consumer.subscribe("SyncRoundTrip", "*")
    consumer.subscribe("SyncEcho", "*")
    consumer.register_listener(listener)
    consumer.start()
    try:
        with Producer("sync-producers", ns.addr) as producer:
            results = [producer.send(Message("SyncRoundTrip", f"s{i}".encode())) for i in range(5)]
            producer.send_oneway(Message("SyncRoundTrip", b"oneway"))
            called: Future[SendResult] = Future()
            future = producer.send_async(
                Message("SyncRoundTrip", b"async"),
                lambda result, error: (
                    called.set_result(result)
                    if result
                    else called.set_exception(error or RuntimeError())
                ),
            )
            batch = producer.send_batch(
                [Message("SyncRoundTrip", f"b{i}".encode()) for i in (0, 1)]
            )
            assert future.result(10).status is SendStatus.SEND_OK
            assert called.result(10).msg_id == future.result().msg_id
        assert {r.status for r in results} == {SendStatus.SEND_OK}
        assert batch.msg_id.count(",") == 1
        expected = {f"s{i}" for i in range(5)} | {"oneway", "async", "b0", "b1"}
        wait_until(lambda: len(received) >= 2 * len(expected))
        bodies = sorted((m.topic, m.body.decode()) for m in received)
        assert bodies == sorted(
            [("SyncRoundTrip", b) for b in expected] + [("SyncEcho", b) for b in expected]
        )
    finally:
        consumer.shutdown()
        echo.shutdown()


def test_async_listener_and_blocking_call_on_the_loop_thread(cluster: Cluster) -> None:
    ns, _ = cluster
    create_topic(cluster, "SyncAsyncListener", 1)
    seen: list[bytes] = []

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        seen.extend(m.body for m in msgs)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    consumer = PushConsumer("sync-async-listener", ns.addr)
    consumer.subscribe("SyncAsyncListener")
    consumer.register_listener(listener)
    with consumer, Producer("sync-loop-thread", ns.addr) as producer:
        with pytest.raises(ClientError):
            consumer.register_listener(listener)  # only before start, as in the async core
        errors: Future[BaseException | None] = Future()

        def callback(result: SendResult | None, error: BaseException | None) -> None:
            try:  # callbacks run on the loop thread, where blocking calls would deadlock
                producer.send(Message("SyncAsyncListener", b"from-callback"))
            except ClientError as exc:
                errors.set_result(exc)
            else:
                errors.set_result(None)

        producer.send_async(Message("SyncAsyncListener", b"a1"), callback).result(10)
        assert isinstance(errors.result(10), ClientError)
        wait_until(lambda: seen == [b"a1"])


# -- lite pull consumer ---------------------------------------------------------------------


def manual_commit() -> LitePullConsumerConfig:
    return LitePullConsumerConfig(auto_commit=False)


def test_lite_pull_subscribe_poll_commit_and_resume(cluster: Cluster) -> None:
    ns, _ = cluster
    create_topic(cluster, "LiteSub", 4)
    with Producer("lite-sub-producer", ns.addr) as producer:
        sent = [producer.send(Message("LiteSub", f"m{i}".encode(), tags="T")) for i in range(40)]
        producer.send(Message("LiteSub", b"other-tag", tags="X"))

    consumer = LitePullConsumer("lite-sub", ns.addr, config=manual_commit())
    consumer.subscribe("LiteSub", "T")
    consumer.start()
    try:
        got = poll_until(consumer, 40)
        assert sorted(m.body for m in got) == sorted(f"m{i}".encode() for i in range(40))
        mqs = consumer.fetch_message_queues("LiteSub")
        assert consumer.assignment() == set(mqs) and len(mqs) == 4
        consumer.commit()
        ends = {mq: max(r.queue_offset for r in sent if r.message_queue == mq) + 1 for mq in mqs}
        # the X-tagged message was filtered out but lies after the last T of its queue
        for mq in mqs:
            assert ends[mq] <= consumer.committed(mq) <= ends[mq] + 1
    finally:
        consumer.shutdown()

    with Producer("lite-sub-producer", ns.addr) as producer:
        producer.send(Message("LiteSub", b"after-restart", tags="T"))
    with LitePullConsumer("lite-sub", ns.addr) as again:
        again.subscribe("LiteSub", "T")
        assert [m.body for m in poll_until(again, 1)] == [b"after-restart"]
        assert again.poll(0.3) == []


def test_lite_pull_consumers_of_one_group_split_the_queues(cluster: Cluster) -> None:
    ns, _ = cluster
    create_topic(cluster, "LiteSplit", 4)
    first = LitePullConsumer("lite-split", ns.addr)
    first.subscribe("LiteSplit")
    first.start()
    try:
        wait_until(lambda: len(first.assignment()) == 4)
        with LitePullConsumer("lite-split", ns.addr) as second:
            second.subscribe("LiteSplit")
            wait_until(lambda: len(first.assignment()) == 2 and len(second.assignment()) == 2)
            assert not first.assignment() & second.assignment()
        wait_until(lambda: len(first.assignment()) == 4)  # the queues came back
    finally:
        first.shutdown()


def test_lite_pull_assign_seek_and_offsets_by_time(cluster: Cluster) -> None:
    ns, _ = cluster
    create_topic(cluster, "LiteAssign", 2)
    mq = MessageQueue("LiteAssign", cluster[1].broker_name, 1)
    with Producer("lite-assign-producer", ns.addr) as producer:
        for i in range(10):
            producer.send(Message("LiteAssign", f"q1-{i}".encode()), queue=mq)
        producer.send(Message("LiteAssign", b"q0"), queue=MessageQueue(mq.topic, mq.broker_name, 0))

    consumer = LitePullConsumer("lite-assign", ns.addr, config=manual_commit())
    consumer.assign([mq])
    with pytest.raises(ClientError):
        consumer.subscribe("LiteAssign")  # subscribe and assign are exclusive
    consumer.start()
    try:
        first = poll_until(consumer, 10)
        assert [m.queue_offset for m in first] == list(range(10))
        assert consumer.assignment() == {mq}

        consumer.seek(mq, 7)
        assert [m.body for m in poll_until(consumer, 3)] == [b"q1-7", b"q1-8", b"q1-9"]
        consumer.seek_to_begin(mq)
        assert [m.queue_offset for m in poll_until(consumer, 10)] == list(range(10))
        consumer.seek_to_end(mq)
        assert consumer.poll(0.3) == []
        with pytest.raises(ClientError):
            consumer.seek(mq, 11)  # past the max offset
        with pytest.raises(ClientError):
            consumer.seek(MessageQueue(mq.topic, mq.broker_name, 0), 0)  # not assigned

        assert consumer.offset_for_timestamp(mq, 0) == 0
        for msg in first:
            offset = consumer.offset_for_timestamp(mq, msg.store_timestamp)
            assert offset <= msg.queue_offset
            assert all(m.store_timestamp < msg.store_timestamp for m in first[:offset])
        assert consumer.offset_for_timestamp(mq, first[-1].store_timestamp + 1) == 10

        consumer.seek(mq, 4)
        consumer.commit()  # a seek moves the consume offset, also backwards
        assert consumer.committed(mq) == 4
        consumer.commit({mq: 6})
        assert consumer.committed(mq) == 6
    finally:
        consumer.shutdown()
    with LitePullConsumer("lite-assign", ns.addr) as again:
        again.assign([mq])
        assert again.committed(mq) == 6
        assert [m.queue_offset for m in poll_until(again, 4)] == [6, 7, 8, 9]


def test_lite_pull_auto_commit_at_close(cluster: Cluster) -> None:
    ns, _ = cluster
    create_topic(cluster, "LiteAuto", 1)
    with Producer("lite-auto-producer", ns.addr) as producer:
        for i in range(3):
            producer.send(Message("LiteAuto", f"a{i}".encode()))
    with LitePullConsumer("lite-auto", ns.addr) as consumer:
        consumer.subscribe("LiteAuto")
        poll_until(consumer, 3)
    with LitePullConsumer("lite-auto", ns.addr) as again:
        again.subscribe("LiteAuto")
        assert again.poll(0.5) == []
        (mq,) = again.fetch_message_queues("LiteAuto")
        assert again.committed(mq) == 3


async def test_async_lite_pull_consumer(cluster: Cluster) -> None:
    ns, broker = cluster
    async with AdminClient(ns.addr) as admin:
        await admin.create_topic(broker.addr, TopicConfig("LiteAsync", 2, 2))
    async with AsyncProducer("lite-async-producer", ns.addr) as producer:
        for i in range(6):
            await producer.send(Message("LiteAsync", f"x{i}".encode()))
    async with AsyncLitePullConsumer("lite-async", ns.addr) as consumer:
        consumer.subscribe("LiteAsync")
        got: list[MessageExt] = []
        deadline = time.monotonic() + 30
        while len(got) < 6 and time.monotonic() < deadline:
            got += await consumer.poll(timeout=0.5)
        assert sorted(m.body for m in got) == [f"x{i}".encode() for i in range(6)]
        await consumer.commit()


# -- pull consumer --------------------------------------------------------------------------


def test_pull_consumer(cluster: Cluster) -> None:
    ns, _ = cluster
    create_topic(cluster, "PullTopic", 1)
    with Producer("pull-producer", ns.addr) as producer:
        for i in range(5):
            producer.send(
                Message("PullTopic", f"p{i}".encode(), tags="even" if i % 2 == 0 else "odd")
            )

    with PullConsumer("pull-group", ns.addr) as consumer:
        (mq,) = consumer.fetch_subscribe_message_queues("PullTopic")
        result = consumer.pull(mq, "*", 0, 32)
        assert result.status is PullStatus.FOUND
        assert [m.body for m in result.messages] == [f"p{i}".encode() for i in range(5)]
        assert (result.next_begin_offset, result.min_offset, result.max_offset) == (5, 0, 5)
        assert [m.body for m in consumer.pull(mq, "even", 0, 32).messages] == [b"p0", b"p2", b"p4"]
        assert [m.queue_offset for m in consumer.pull(mq, "*", 3, 1).messages] == [3]
        assert consumer.pull(mq, "*", 5, 32).status is PullStatus.NO_NEW_MSG
        assert consumer.pull(mq, "*", 50, 32).status is PullStatus.OFFSET_ILLEGAL
        assert (consumer.min_offset(mq), consumer.max_offset(mq)) == (0, 5)

        # the broker holds a blocking pull until the next message arrives
        with Producer("pull-producer", ns.addr) as producer:
            timer = threading.Timer(0.3, producer.send, [Message("PullTopic", b"late")])
            timer.start()
            held = consumer.pull_block_if_not_found(mq, "*", 5, 32)
            timer.join()
        assert [m.body for m in held.messages] == [b"late"]

        consumer.update_consume_offset(mq, 6)
        assert consumer.fetch_consume_offset(mq) == 6
    with PullConsumer("pull-group", ns.addr) as again:
        assert again.fetch_consume_offset(mq, from_store=True) == 6
