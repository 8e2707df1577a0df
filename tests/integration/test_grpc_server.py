"""GrpcMessagingServer in an in-process cluster, driven by a plain grpc.aio channel:
what the 5.x SDKs rely on beyond the happy path (tests/interop has the real client)."""

from __future__ import annotations

import asyncio
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
from rocketq.common.topic import TopicConfig
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
        ("EndTransaction", svc.EndTransactionRequest, svc.EndTransactionResponse),
        ("UpdateOffset", svc.UpdateOffsetRequest, svc.UpdateOffsetResponse),
        (
            "ForwardMessageToDeadLetterQueue",
            svc.ForwardMessageToDeadLetterQueueRequest,
            svc.ForwardMessageToDeadLetterQueueResponse,
        ),
    ],
)
async def test_unimplemented_rpcs_answer_not_implemented(
    served: Served, method: str, request_cls: Any, response_cls: Any
) -> None:
    _broker, _server, client = served
    answer = await client.call(method, request_cls(), response_cls)
    assert answer.status.code == pb.Code.NOT_IMPLEMENTED


async def test_fifo_send_is_refused_for_now(served: Served) -> None:
    _broker, _server, client = served
    msg = _message(0)
    msg.system_properties.message_type = pb.MessageType.FIFO
    answer = await client.call(
        "SendMessage", svc.SendMessageRequest(messages=[msg]), svc.SendMessageResponse
    )
    assert answer.entries[0].status.code == pb.Code.NOT_IMPLEMENTED


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
