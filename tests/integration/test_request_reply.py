"""Request-reply (RocketMQ 4.6+) in the in-process cluster: a producer's ``request`` is
answered by a push consumer that sends ``create_reply_message`` with its own producer; the
broker pushes the reply to the requester (PUSH_REPLY_MESSAGE_TO_CLIENT) and stores it in
``<cluster>_REPLY_TOPIC`` unless ``storeReplyMessageEnable=false``. The blocking facade's
``request`` from a plain thread, with a selector, a queue and a callback."""

from __future__ import annotations

import asyncio
import threading
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
    Producer,
    RequestTimeoutError,
    SelectMessageQueueByHash,
    create_reply_message,
)
from rocketq.client.background import BackgroundLoop
from rocketq.common.errors import BrokerError, ClientError
from rocketq.common.topic import TopicConfig
from rocketq.namesrv import NamesrvController
from rocketq.remoting.codes import ResponseCode
from rocketq.testing import async_wait_until, running_cluster
from tests.integration.conftest import pull_all

Cluster = tuple[NamesrvController, BrokerController]
REPLY_TOPIC = "DefaultCluster_REPLY_TOPIC"


def client(ns: NamesrvController) -> ClientConfig:
    return ClientConfig(
        namesrv_addr=ns.address, poll_name_server_interval=500, rebalance_interval=500
    )


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path / "store") as c:
        yield c


class Replier:
    """A push consumer of ``topic`` that answers every request with ``b"re:" + body``."""

    def __init__(self, ns: NamesrvController, topic: str, tmp_path: Path) -> None:
        self.replies = AsyncProducer("reply-pg", client_config=client(ns))
        config = ConsumerConfig(
            consume_from_where="CONSUME_FROM_FIRST_OFFSET", offset_store_dir=str(tmp_path)
        )
        self.consumer = AsyncPushConsumer("reply-cg", config=config, client_config=client(ns))
        self.consumer.subscribe(topic, "*")
        self.consumer.register_listener(self._on_requests)
        self.requests: list[MessageExt] = []

    async def _on_requests(self, msgs: list[MessageExt], ctx: object) -> ConsumeConcurrentlyStatus:
        for msg in msgs:
            self.requests.append(msg)
            await self.replies.send(create_reply_message(msg, b"re:" + msg.body))
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    async def __aenter__(self) -> Replier:
        await self.replies.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.aclose()
        await self.replies.aclose()


async def test_request_gets_the_reply_which_is_also_stored(
    cluster: Cluster, tmp_path: Path
) -> None:
    ns, broker = cluster
    addr = broker.config.broker_addr
    async with AdminClient(ns.address) as admin:
        await admin.create_topic(addr, TopicConfig("Rpc", 2, 2))
        async with (
            Replier(ns, "Rpc", tmp_path) as replier,
            AsyncProducer("req-pg", client_config=client(ns)) as requester,
        ):
            reply = await requester.request(Message("Rpc", b"ping", keys="k1"), timeout=10)
            second = await requester.request(
                Message("Rpc", b"pong"), timeout=10, selector=SelectMessageQueueByHash, arg=7
            )
            third = await requester.request(
                Message("Rpc", b"pang"), timeout=10, queue=MessageQueue("Rpc", "broker-a", 0)
            )
            assert len(requester.instance.request_futures) == 0
        stored = await pull_all(admin, addr, REPLY_TOPIC, 1)
    assert (reply.body, second.body, third.body) == (b"re:ping", b"re:pong", b"re:pang")
    request = replier.requests[0]
    props = reply.properties
    assert props["CORRELATION_ID"] == request.properties["CORRELATION_ID"]
    assert props["REPLY_TO_CLIENT"] == request.properties["REPLY_TO_CLIENT"]
    assert props["MSG_TYPE"] == "reply" and "PUSH_REPLY_TIME" in props and "ARRIVE_TIME" in props
    assert request.properties["TTL"] == "10000"
    assert request.properties["CLUSTER"] == "DefaultCluster"
    assert reply.topic == REPLY_TOPIC and reply.born_host[0] == "127.0.0.1"
    assert [m.queue_id for m in replier.requests[1:]] == [7 % 2, 0]
    assert sorted(m.body for m in stored) == [b"re:pang", b"re:ping", b"re:pong"]
    # each stored reply is a put of the reply topic (ReplyMessageProcessor's statistics)
    put = broker.broker_stats_manager.get_stats_item("TOPIC_PUT_NUMS", REPLY_TOPIC)
    assert put is not None and put.value == 3


async def test_reply_not_stored_when_disabled_and_refused_for_a_gone_requester(
    tmp_path: Path,
) -> None:
    async with (
        running_cluster(tmp_path / "store", {"storeReplyMessageEnable": "false"}) as (ns, b),
        AdminClient(ns.address) as admin,
    ):
        addr = b.config.broker_addr
        await admin.create_topic(addr, TopicConfig("Rpc", 1, 1))
        async with (
            Replier(ns, "Rpc", tmp_path) as replier,
            AsyncProducer("req-pg", client_config=client(ns)) as requester,
        ):
            reply = await requester.request(Message("Rpc", b"ping"), timeout=10)
            orphan = create_reply_message(replier.requests[0], b"late")
            orphan.properties["REPLY_TO_CLIENT"] = "10.0.0.1@gone"
            with pytest.raises(BrokerError) as refused:
                await replier.replies.send(orphan)
        assert await pull_all(admin, addr, REPLY_TOPIC, 1) == []
    assert reply.body == b"re:ping"
    assert refused.value.code == ResponseCode.SYSTEM_ERROR
    assert "channel of <10.0.0.1@gone> not found" in refused.value.remark


async def test_request_without_replier_times_out_and_callback_sees_the_error(
    cluster: Cluster,
) -> None:
    ns, broker = cluster
    async with AdminClient(ns.address) as admin:
        await admin.create_topic(broker.config.broker_addr, TopicConfig("Silent", 1, 1))
    got: list[tuple[MessageExt | None, BaseException | None]] = []
    async with AsyncProducer("req-pg", client_config=client(ns)) as requester:
        with pytest.raises(RequestTimeoutError, match="wait reply message timeout"):
            await requester.request(Message("Silent", b"anyone?"), timeout=0.3)
        future = requester.request_async(
            Message("Silent", b"x"), lambda r, e: got.append((r, e)), timeout=0.3
        )
        with pytest.raises(RequestTimeoutError):
            await future
        too_long = "T" * 200  # refused before it is sent
        with pytest.raises(ClientError, match="send request message to <TTT"):
            await requester.request(Message(too_long, b"x"), timeout=2)
        assert len(requester.instance.request_futures) == 0
    assert len(got) == 1 and got[0][0] is None and isinstance(got[0][1], RequestTimeoutError)


async def test_create_reply_message_needs_a_received_request() -> None:
    with pytest.raises(ClientError, match="CLUSTER"):
        create_reply_message(Message("T", b"not received"), b"x")


async def test_blocking_request_and_request_async_from_a_thread(
    cluster: Cluster, tmp_path: Path
) -> None:
    ns, broker = cluster
    async with AdminClient(ns.address) as admin:
        await admin.create_topic(broker.config.broker_addr, TopicConfig("Rpc", 1, 1))
    loop = BackgroundLoop("test-request")
    results: list[object] = []
    try:
        async with Replier(ns, "Rpc", tmp_path):

            def blocking() -> None:
                with Producer("sync-req-pg", client_config=client(ns), loop=loop) as p:
                    results.append(p.request(Message("Rpc", b"one"), timeout=10).body)
                    called = threading.Event()
                    future = p.request_async(
                        Message("Rpc", b"two"), lambda r, e: called.set(), timeout=10
                    )
                    results.append(future.result(15).body)
                    results.append(called.wait(15))

            await asyncio.to_thread(blocking)
    finally:
        loop.stop()
    assert results == [b"re:one", b"re:two", True]


async def test_reply_reaches_a_requester_known_only_as_consumer(
    cluster: Cluster, tmp_path: Path
) -> None:
    """The broker looks the requester up among consumer channels too (a client id that
    heartbeats only a consumer group can still get replies)."""
    from rocketq.broker.processor.reply import find_client_connection

    ns, broker = cluster
    async with AdminClient(ns.address) as admin:
        await admin.create_topic(broker.config.broker_addr, TopicConfig("Rpc", 1, 1))
    async with Replier(ns, "Rpc", tmp_path) as replier:
        cid = replier.consumer.instance.client_id
        await async_wait_until(
            lambda: find_client_connection(cid, broker.producer_manager, broker.consumer_manager)
        )
