"""GrpcMessagingServer in an in-process cluster, driven by a plain grpc.aio channel:
what the 5.x SDKs rely on beyond the happy path (tests/interop has the real client)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from rocketq.broker.controller import BrokerController
from rocketq.broker.grpc import GrpcMessagingServer
from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.grpc.v2 import service_pb2 as svc
from rocketq.broker.timer import TIMER_TOPIC
from rocketq.common.topic import TopicConfig
from rocketq.remoting import RemotingClient, RemotingCommand, RequestCode
from rocketq.remoting.body import SubscriptionGroupConfig
from rocketq.testing import running_cluster

PREFIX = "/apache.rocketmq.v2.MessagingService/"


class Client:
    """Unary and server-streaming calls by method name."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel

    async def call(self, method: str, request: Any, response_cls: Any) -> Any:
        fn = self.channel.unary_unary(
            PREFIX + method,
            request_serializer=type(request).SerializeToString,
            response_deserializer=response_cls.FromString,
        )
        return await fn(request, timeout=10)

    async def receive(self, request: svc.ReceiveMessageRequest) -> list[Any]:
        fn = self.channel.unary_stream(
            PREFIX + "ReceiveMessage",
            request_serializer=svc.ReceiveMessageRequest.SerializeToString,
            response_deserializer=svc.ReceiveMessageResponse.FromString,
        )
        return [r async for r in fn(request, timeout=15)]


Served = tuple[BrokerController, GrpcMessagingServer, Client]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with running_cluster(tmp_path) as (_ns, broker):
        broker.topic_config_manager.update(TopicConfig("GT", 2, 2))
        server = GrpcMessagingServer(
            broker.config,
            broker.store,
            broker.topic_config_manager,
            broker.subscription_group_manager,
            broker.consumer_offset_manager,
            port=0,
            transactions=broker.transaction_service,
        )
        await server.start()
        try:
            async with grpc.aio.insecure_channel(server.address) as channel:
                yield broker, server, Client(channel)
        finally:
            await server.aclose()


def _message(i: int) -> pb.Message:
    msg = pb.Message(topic=pb.Resource(name="GT"), body=f"m{i}".encode())
    msg.system_properties.message_id = f"ID{i:04d}"
    msg.system_properties.message_type = pb.MessageType.NORMAL
    return msg


def _receive_request(invisible_s: int = 30, polling_s: int = 5) -> svc.ReceiveMessageRequest:
    return svc.ReceiveMessageRequest(
        group=pb.Resource(name="g"),
        message_queue=pb.MessageQueue(topic=pb.Resource(name="GT"), id=-1),
        filter_expression=pb.FilterExpression(type=pb.FilterType.TAG, expression="*"),
        batch_size=32,
        invisible_duration=Duration(seconds=invisible_s),
        long_polling_timeout=Duration(seconds=polling_s),
    )


async def test_query_route_names_broker_ip1_and_the_bound_port(served: Served) -> None:
    broker, server, client = served
    request = svc.QueryRouteRequest(topic=pb.Resource(name="GT"))
    answer = await client.call("QueryRoute", request, svc.QueryRouteResponse)
    assert answer.status.code == pb.Code.OK
    assert [q.id for q in answer.message_queues] == [0, 1]
    address = answer.message_queues[0].broker.endpoints.addresses[0]
    assert (address.host, address.port) == (broker.config.broker_ip1, server.port)
    assert server.port != 0
    missing = svc.QueryRouteRequest(topic=pb.Resource(name="Nope"))
    answer = await client.call("QueryRoute", missing, svc.QueryRouteResponse)
    assert answer.status.code == pb.Code.TOPIC_NOT_FOUND


@pytest.mark.parametrize(
    ("method", "request_cls", "response_cls"),
    [
        ("UpdateOffset", svc.UpdateOffsetRequest, svc.UpdateOffsetResponse),
    ],
)
async def test_unimplemented_rpcs_answer_not_implemented(
    served: Served, method: str, request_cls: Any, response_cls: Any
) -> None:
    _broker, _server, client = served
    answer = await client.call(method, request_cls(), response_cls)
    assert answer.status.code == pb.Code.NOT_IMPLEMENTED


async def test_long_poll_wakes_on_send_and_ack_rules(served: Served) -> None:
    _broker, _server, client = served
    polling = asyncio.create_task(client.receive(_receive_request(polling_s=10)))
    await asyncio.sleep(0)  # the poll is in flight (if not yet held, it finds the message)
    sent = await client.call(
        "SendMessage", svc.SendMessageRequest(messages=[_message(1)]), svc.SendMessageResponse
    )
    assert sent.status.code == pb.Code.OK and sent.entries[0].message_id == "ID0001"
    answers = await polling
    assert answers[0].status.code == pb.Code.OK
    (message,) = [a.message for a in answers if a.HasField("message")]
    assert message.system_properties.delivery_attempt == 1
    handle = message.system_properties.receipt_handle
    changed = await client.call(
        "ChangeInvisibleDuration",
        svc.ChangeInvisibleDurationRequest(
            group=pb.Resource(name="g"), topic=pb.Resource(name="GT"), receipt_handle=handle,
            invisible_duration=Duration(seconds=60), message_id="ID0001",
        ),
        svc.ChangeInvisibleDurationResponse,
    )  # fmt: skip
    assert changed.status.code == pb.Code.OK and changed.receipt_handle != handle

    async def ack(receipt: str) -> int:
        request = svc.AckMessageRequest(
            group=pb.Resource(name="g"),
            topic=pb.Resource(name="GT"),
            entries=[svc.AckMessageEntry(message_id="ID0001", receipt_handle=receipt)],
        )
        answer = await client.call("AckMessage", request, svc.AckMessageResponse)
        return int(answer.status.code)

    assert await ack(handle) == pb.Code.INVALID_RECEIPT_HANDLE  # replaced by the change
    assert await ack("not a handle") == pb.Code.INVALID_RECEIPT_HANDLE
    assert await ack(changed.receipt_handle) == pb.Code.OK
    empty = await client.receive(_receive_request(polling_s=1))
    assert [a.status.code for a in empty] == [pb.Code.MESSAGE_NOT_FOUND]


async def test_bad_receive_arguments(served: Served) -> None:
    _broker, _server, client = served
    request = _receive_request(invisible_s=0)
    answers = await client.receive(request)
    assert [a.status.code for a in answers] == [pb.Code.ILLEGAL_INVISIBLE_TIME]
    request = _receive_request()
    request.message_queue.topic.name = "Nope"
    answers = await client.receive(request)
    assert [a.status.code for a in answers] == [pb.Code.TOPIC_NOT_FOUND]


# -- message types, FIFO, DELAY, TRANSACTION, DLQ ------------------------------------------


def _typed(topic: str, i: int, kind: int, group: str | None = None) -> pb.Message:
    msg = _message(i)
    msg.topic.name = topic
    msg.system_properties.message_type = kind  # type: ignore[assignment]
    if group is not None:
        msg.system_properties.message_group = group
    return msg


def _receive_from(topic: str, group: str, invisible_s: int = 30, polling_s: int = 1) -> Any:
    request = _receive_request(invisible_s, polling_s)
    request.group.name = group
    request.message_queue.topic.name = topic
    return request


async def _send(client: Client, *messages: pb.Message) -> Any:
    request = svc.SendMessageRequest(messages=list(messages))
    return await client.call("SendMessage", request, svc.SendMessageResponse)


async def _ack_all(client: Client, topic: str, group: str, messages: list[Any]) -> None:
    request = svc.AckMessageRequest(
        group=pb.Resource(name=group),
        topic=pb.Resource(name=topic),
        entries=[
            svc.AckMessageEntry(message_id=m.system_properties.message_id,
                                receipt_handle=m.system_properties.receipt_handle)
            for m in messages
        ],
    )  # fmt: skip
    answer = await client.call("AckMessage", request, svc.AckMessageResponse)
    assert answer.status.code == pb.Code.OK


def _messages(answers: list[Any]) -> list[Any]:
    return [a.message for a in answers if a.HasField("message")]


def _topic(broker: BrokerController, name: str, kind: str, queues: int = 2) -> None:
    config = TopicConfig(name, queues, queues, attributes={"message.type": kind})
    broker.topic_config_manager.update(config)


async def test_topic_message_type_is_checked_and_routed(served: Served) -> None:
    broker, _server, client = served
    _topic(broker, "GF", "FIFO")
    route = await client.call(
        "QueryRoute", svc.QueryRouteRequest(topic=pb.Resource(name="GF")), svc.QueryRouteResponse
    )
    assert {tuple(q.accept_message_types) for q in route.message_queues} == {(pb.MessageType.FIFO,)}
    normal = _typed("GF", 0, pb.MessageType.NORMAL)
    fifo_on_normal = _typed("GT", 1, pb.MessageType.FIFO, "g1")
    for msg in (normal, fifo_on_normal):
        answer = await _send(client, msg)
        assert answer.entries[0].status.code == pb.Code.MESSAGE_PROPERTY_CONFLICT_WITH_TYPE
    _topic(broker, "GM", "MIXED")
    answer = await _send(client, _typed("GM", 2, pb.MessageType.FIFO, "g1"), _typed("GM", 3, 0))
    assert answer.status.code == pb.Code.OK


async def test_fifo_group_gets_each_message_group_in_order(served: Served) -> None:
    broker, _server, client = served
    _topic(broker, "GF", "FIFO", queues=4)
    group = SubscriptionGroupConfig("fifo-g", consume_message_orderly=True)
    broker.subscription_group_manager.update(group)
    sent = [_typed("GF", i, pb.MessageType.FIFO, f"order-{i % 3}") for i in range(12)]
    assert (await _send(client, *sent[:6])).status.code == pb.Code.OK
    first = _messages(await client.receive(_receive_from("GF", "fifo-g")))
    assert {m.system_properties.message_type for m in first} == {pb.MessageType.FIFO}
    by_group: dict[str, list[str]] = {}
    for m in first:
        by_group.setdefault(m.system_properties.message_group, []).append(
            m.system_properties.message_id
        )
    assert by_group == {f"order-{g}": [f"ID{i:04d}" for i in range(g, 6, 3)] for g in range(3)}
    # nothing more while the batch is in flight, even when more arrives
    assert (await _send(client, *sent[6:])).status.code == pb.Code.OK
    assert _messages(await client.receive(_receive_from("GF", "fifo-g"))) == []
    await _ack_all(client, "GF", "fifo-g", first)
    second = _messages(await client.receive(_receive_from("GF", "fifo-g")))
    assert sorted(m.system_properties.message_id for m in second) == [
        f"ID{i:04d}" for i in range(6, 12)
    ]
    assert {m.system_properties.delivery_attempt for m in second} == {1}


async def test_delay_message_waits_in_the_timer(served: Served) -> None:
    broker, _server, client = served
    _topic(broker, "GD", "DELAY")
    msg = _typed("GD", 0, pb.MessageType.DELAY)
    msg.system_properties.delivery_timestamp.seconds = int(time.time()) + 3600
    answer = await _send(client, msg)
    assert answer.status.code == pb.Code.OK
    assert broker.store.get_max_offset_in_queue(TIMER_TOPIC, 0) == 1
    assert _messages(await client.receive(_receive_from("GD", "g"))) == []
    late = _typed("GD", 1, pb.MessageType.DELAY)
    late.system_properties.delivery_timestamp.seconds = int(time.time()) + 10 * 86400
    answer = await _send(client, late)
    assert answer.entries[0].status.code == pb.Code.ILLEGAL_DELIVERY_TIME


async def test_transaction_commit_and_rollback(served: Served) -> None:
    broker, _server, client = served
    _topic(broker, "GX", "TRANSACTION")
    results = []
    for i in range(2):
        answer = await _send(client, _typed("GX", i, pb.MessageType.TRANSACTION))
        assert answer.status.code == pb.Code.OK
        results.append(answer.entries[0])
    assert all(r.transaction_id for r in results)
    assert _messages(await client.receive(_receive_from("GX", "g"))) == []
    for result, resolution in zip(
        results, (pb.TransactionResolution.COMMIT, pb.TransactionResolution.ROLLBACK), strict=True
    ):
        request = svc.EndTransactionRequest(
            topic=pb.Resource(name="GX"), message_id=result.message_id,
            transaction_id=result.transaction_id, resolution=resolution,
            source=pb.TransactionSource.SOURCE_CLIENT,
        )  # fmt: skip
        answer = await client.call("EndTransaction", request, svc.EndTransactionResponse)
        assert answer.status.code == pb.Code.OK
    got = _messages(await client.receive(_receive_from("GX", "g")))
    assert [m.system_properties.message_id for m in got] == ["ID0000"]
    bad = svc.EndTransactionRequest(topic=pb.Resource(name="GX"), transaction_id="nope")
    answer = await client.call("EndTransaction", bad, svc.EndTransactionResponse)
    assert answer.status.code == pb.Code.INVALID_TRANSACTION_ID


async def test_dead_letters_forwarded_and_after_max_attempts(served: Served) -> None:
    broker, _server, client = served
    broker.subscription_group_manager.update(SubscriptionGroupConfig("dlq-g", retry_max_times=0))
    assert (await _send(client, _message(1), _message(2))).status.code == pb.Code.OK
    got = _messages(await client.receive(_receive_from("GT", "dlq-g", invisible_s=1)))
    assert len(got) == 2
    forward = svc.ForwardMessageToDeadLetterQueueRequest(
        group=pb.Resource(name="dlq-g"), topic=pb.Resource(name="GT"),
        receipt_handle=got[0].system_properties.receipt_handle,
        message_id=got[0].system_properties.message_id, delivery_attempt=1,
        max_delivery_attempts=1,
    )  # fmt: skip
    answer = await client.call(
        "ForwardMessageToDeadLetterQueue", forward, svc.ForwardMessageToDeadLetterQueueResponse
    )
    assert answer.status.code == pb.Code.OK
    dlq = "%DLQ%dlq-g"
    assert broker.store.get_max_offset_in_queue(dlq, 0) == 1
    # the other one is not acked: revived after 1 s with attempt 2 > 1 -> the DLQ as well
    for _ in range(5):  # each receive waits for the revival (or 2 s)
        assert _messages(await client.receive(_receive_from("GT", "dlq-g", polling_s=2))) == []
        if broker.store.get_max_offset_in_queue(dlq, 0) == 2:
            break
    assert broker.store.get_max_offset_in_queue(dlq, 0) == 2
    assert broker.topic_config_manager.select(dlq) is not None


async def test_update_topic_attributes_set_the_message_type(served: Served) -> None:
    """UPDATE_AND_CREATE_TOPIC's ``attributes`` (``+message.type=FIFO``) reach the topic
    table and so the routes the 5.x SDKs get; bad modifications are refused."""
    broker, _server, client = served
    header = {"topic": "GA", "readQueueNums": "2", "writeQueueNums": "2", "perm": "6"}
    remoting = RemotingClient()
    try:

        async def update(attributes: str) -> RemotingCommand:
            ext = {**header, "attributes": attributes}
            request = RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_TOPIC, ext)
            return await remoting.invoke(broker.config.broker_addr, request, 5.0)

        assert (await update("+message.type=FIFO")).code == 0
        config = broker.topic_config_manager.select("GA")
        assert config is not None and config.attributes == {"message.type": "FIFO"}
        route = await client.call(
            "QueryRoute", svc.QueryRouteRequest(topic=pb.Resource(name="GA")),
            svc.QueryRouteResponse,
        )  # fmt: skip
        assert route.message_queues[0].accept_message_types == [pb.MessageType.FIFO]
        assert (await update("")).code == 0  # no modification: the attributes stay
        assert broker.topic_config_manager.select("GA").attributes == {"message.type": "FIFO"}  # type: ignore[union-attr]
        for bad in ("+message.type=SOON", "message.type=FIFO", "+nope=1", "-absent"):
            answer = await update(bad)
            assert answer.code == 1 and answer.remark
        assert (await update("-message.type")).code == 0
        assert broker.topic_config_manager.select("GA").attributes == {}  # type: ignore[union-attr]
    finally:
        await remoting.aclose()
