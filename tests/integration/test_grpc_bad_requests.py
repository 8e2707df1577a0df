"""Hostile input over gRPC: every unary RPC of apache.rocketmq.v2.MessagingService called
with an empty request, and with requests whose fields are wrong, answers with a v2 Status
(never a gRPC error, never a hang); ReceiveMessage too; the server goes on serving."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message_factory import GetMessageClass

from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.grpc.v2 import service_pb2 as svc

from .test_grpc_server import Served, _message, served  # noqa: F401 (the fixture)

SERVICE = svc.DESCRIPTOR.services_by_name["MessagingService"]
UNARY = [m for m in SERVICE.methods if not m.client_streaming and not m.server_streaming]


async def test_empty_requests_get_a_status(served: Served) -> None:  # noqa: F811
    _broker, _server, client = served
    wrong: list[str] = []
    for method in UNARY:  # one cluster for all of them
        request = GetMessageClass(method.input_type)()
        answer = await client.call(method.name, request, GetMessageClass(method.output_type))
        if not answer.HasField("status"):
            wrong.append(f"{method.name}: no status")
        # nothing to do is fine for these two; every other RPC lacks what it needs
        elif answer.status.code == pb.Code.OK and method.name not in {
            "Heartbeat",
            "NotifyClientTermination",
        }:
            wrong.append(f"{method.name}: OK")
    assert wrong == []


async def test_wrong_fields_get_a_status_and_the_server_goes_on(served: Served) -> None:  # noqa: F811
    _broker, _server, client = served
    bad_send = svc.SendMessageRequest(
        messages=[pb.Message(topic=pb.Resource(name="GT\x00/../%"), body=b"x")]
    )
    answer = await client.call("SendMessage", bad_send, svc.SendMessageResponse)
    assert answer.status.code != pb.Code.OK
    huge = _message(1)
    huge.body = b"x" * (5 * 1024 * 1024)  # past maxMessageSize (4 MiB)
    answer = await client.call(
        "SendMessage", svc.SendMessageRequest(messages=[huge]), svc.SendMessageResponse
    )
    assert answer.status.code != pb.Code.OK
    ack = svc.AckMessageRequest(
        group=pb.Resource(name="g"),
        topic=pb.Resource(name="GT"),
        entries=[svc.AckMessageEntry(message_id="nope", receipt_handle="not-a-handle")],
    )
    answer = await client.call("AckMessage", ack, svc.AckMessageResponse)
    assert answer.status.code != pb.Code.OK or answer.entries[0].status.code != pb.Code.OK
    receive = svc.ReceiveMessageRequest(
        group=pb.Resource(name="g"),
        message_queue=pb.MessageQueue(topic=pb.Resource(name="NoSuchTopic"), id=-1),
        invisible_duration=Duration(seconds=-5),
        long_polling_timeout=Duration(seconds=1),
    )
    answers = await client.receive(receive)
    assert answers and answers[0].HasField("status") and answers[0].status.code != pb.Code.OK
    empty = await client.receive(svc.ReceiveMessageRequest())
    assert empty and empty[0].status.code != pb.Code.OK
    good = await client.call(
        "SendMessage", svc.SendMessageRequest(messages=[_message(2)]), svc.SendMessageResponse
    )
    assert good.status.code == pb.Code.OK


async def test_grpc_errors_are_not_raised(served: Served) -> None:  # noqa: F811
    # A request that is not protobuf at all: grpcio answers INTERNAL (it cannot decode);
    # the server stays up for the next call.
    _broker, _server, client = served
    raw = client.channel.unary_unary(
        "/apache.rocketmq.v2.MessagingService/QueryRoute",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    with pytest.raises(grpc.aio.AioRpcError):
        await raw(b"\xff\xff\xff\xff\x0f", timeout=10)
    route = await client.call(
        "QueryRoute", svc.QueryRouteRequest(topic=pb.Resource(name="GT")), svc.QueryRouteResponse
    )
    assert route.status.code == pb.Code.OK


async def test_property_control_characters_get_a_status(served: Served) -> None:  # noqa: F811
    # SendMessageActivity refuses a user property whose key or value holds a control
    # character with ILLEGAL_MESSAGE_PROPERTY_KEY (for a value too); a clean one is stored.
    _broker, _server, client = served
    cases = [({"a\x01b": "v"}, pb.Code.ILLEGAL_MESSAGE_PROPERTY_KEY),
             ({"k": "a\x01b"}, pb.Code.ILLEGAL_MESSAGE_PROPERTY_KEY),
             ({"k": "a\x02b"}, pb.Code.ILLEGAL_MESSAGE_PROPERTY_KEY),
             ({"color": "red"}, pb.Code.OK)]  # fmt: skip
    for i, (props, code) in enumerate(cases):
        msg = _message(10 + i)
        msg.user_properties.update(props)
        request = svc.SendMessageRequest(messages=[msg])
        answer = await client.call("SendMessage", request, svc.SendMessageResponse)
        assert (answer.status.code, answer.entries[0].status.code) == (code, code), props
        assert answer.entries[0].message_id == msg.system_properties.message_id


async def test_proxy_limits_get_a_status(served: Served) -> None:  # noqa: F811
    # ProxyConfig's userPropertyMaxNum (128), maxUserPropertySize (16 KiB) and
    # maxMessageGroupSize (64 bytes), and SendMessageActivity's whitespace-only key: each
    # refused message gets its code, the one at the limit is stored.
    _broker, _server, client = served
    many = {f"p{i}": "v" for i in range(129)}
    cases: list[tuple[Callable[[pb.Message], object], int]] = [
        (lambda m: m.user_properties.update(dict(list(many.items())[:128])), pb.Code.OK),
        (lambda m: m.user_properties.update(many), pb.Code.MESSAGE_PROPERTIES_TOO_LARGE),
        (lambda m: m.user_properties.update({"k": "v" * 16 * 1024}),
         pb.Code.MESSAGE_PROPERTIES_TOO_LARGE),
        (lambda m: m.system_properties.keys.append(" "), pb.Code.ILLEGAL_MESSAGE_KEY),
        (lambda m: setattr(m.system_properties, "message_group", "g" * 64),
         pb.Code.ILLEGAL_MESSAGE_GROUP),
    ]  # fmt: skip
    for i, (change, code) in enumerate(cases):
        msg = _message(20 + i)
        change(msg)
        request = svc.SendMessageRequest(messages=[msg])
        answer = await client.call("SendMessage", request, svc.SendMessageResponse)
        assert (answer.status.code, answer.entries[0].status.code) == (code, code), i
        assert answer.entries[0].message_id == msg.system_properties.message_id
