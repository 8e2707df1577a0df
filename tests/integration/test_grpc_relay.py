"""Admin requests relayed to a gRPC client over its Telemetry stream (rocketq.broker.grpc.
relay): a plain grpc.aio Telemetry stream plays the 5.x client, rocketq's AdminClient asks
the broker of an in-process cluster (GET_CONSUMER_RUNNING_INFO -> PrintThreadStackTraceCommand,
CONSUME_MESSAGE_DIRECTLY -> VerifyMessageCommand), and the answers are matched by nonce."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from rocketq import AsyncProducer, Message
from rocketq.admin import AdminClient
from rocketq.broker.controller import BrokerController
from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.grpc.v2 import service_pb2 as svc
from rocketq.common.errors import BrokerError
from rocketq.common.topic import TopicConfig
from rocketq.namesrv import NamesrvController
from rocketq.remoting.body import SubscriptionGroupConfig
from rocketq.remoting.codes import ResponseCode
from rocketq.testing import running_cluster

TELEMETRY = "/apache.rocketmq.v2.MessagingService/Telemetry"
TOPIC, GROUP, CLIENT_ID = "RelayT", "relay-g", "relay-client@1"
# A relayed request that must time out waits this long for the client (set through the
# registry; the broker's default is the proxy's 5 s).
SHORT_RELAY_TIMEOUT_S = 0.3


class TelemetryClient:
    """One 5.x client's Telemetry stream: settings out, commands in, answers out."""

    def __init__(self, channel: grpc.aio.Channel, client_id: str) -> None:
        open_stream = channel.stream_stream(
            TELEMETRY,
            request_serializer=svc.TelemetryCommand.SerializeToString,
            response_deserializer=svc.TelemetryCommand.FromString,
        )
        self.call: Any = open_stream(metadata=(("x-mq-client-id", client_id),))

    async def register(self) -> svc.TelemetryCommand:
        """A SimpleConsumer's settings; the broker's answer (it has registered us then)."""
        entry = pb.SubscriptionEntry(
            topic=pb.Resource(name=TOPIC),
            expression=pb.FilterExpression(type=pb.FilterType.TAG, expression="TagA || TagB"),
        )
        settings = pb.Settings(
            client_type=pb.ClientType.SIMPLE_CONSUMER,
            user_agent=pb.UA(language=pb.Language.PYTHON, version="5.1.2", hostname="h1"),
            subscription=pb.Subscription(group=pb.Resource(name=GROUP), subscriptions=[entry]),
        )
        await self.call.write(svc.TelemetryCommand(settings=settings))
        return await self.read()

    async def read(self) -> svc.TelemetryCommand:
        command: svc.TelemetryCommand = await asyncio.wait_for(self.call.read(), 20)
        return command

    async def answer_trace(self, nonce: str, text: str, code: int = pb.Code.OK) -> None:
        trace = svc.ThreadStackTrace(nonce=nonce, thread_stack_trace=text)
        status = pb.Status(code=code)  # type: ignore[arg-type]
        await self.call.write(svc.TelemetryCommand(status=status, thread_stack_trace=trace))

    async def answer_verify(self, nonce: str, code: int = pb.Code.OK) -> None:
        result = svc.VerifyMessageResult(nonce=nonce)
        status = pb.Status(code=code)  # type: ignore[arg-type]
        await self.call.write(svc.TelemetryCommand(status=status, verify_message_result=result))


Setup = tuple[NamesrvController, BrokerController, TelemetryClient, AdminClient]


async def _setup(tmp_path: Path, relay_timeout: float | None) -> AsyncIterator[Setup]:
    async with running_cluster(tmp_path / "store") as (namesrv, broker):
        broker.topic_config_manager.update(TopicConfig(TOPIC, 2, 2))
        broker.subscription_group_manager.update(SubscriptionGroupConfig(GROUP))
        server = broker.grpc_server
        assert server is not None and server.registry is not None
        if relay_timeout is not None:
            server.registry.relay_timeout = relay_timeout
        async with grpc.aio.insecure_channel(server.address) as channel:
            client = TelemetryClient(channel, CLIENT_ID)
            answer = await client.register()
            assert answer.WhichOneof("command") == "settings"
            async with AdminClient(namesrv.address) as admin:
                yield namesrv, broker, client, admin


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[Setup]:
    """A registered gRPC SimpleConsumer and an admin client; the proxy's relay timeout."""
    async for setup in _setup(tmp_path, None):
        yield setup


@pytest.fixture
async def quick_relay(tmp_path: Path) -> AsyncIterator[Setup]:
    """As ``relay``, with a short relay timeout (for the requests left unanswered)."""
    async for setup in _setup(tmp_path, SHORT_RELAY_TIMEOUT_S):
        yield setup


async def _send(namesrv: NamesrvController, body: bytes) -> str:
    """A message sent over remoting; its offset msgId (what queryMsgById takes)."""
    producer = AsyncProducer("relay-pg", namesrv.address)
    await producer.start()
    try:
        msg = Message(TOPIC, body, tags="TagA", keys="k1")
        result = await producer.send(msg)
    finally:
        await producer.aclose()
    return result.offset_msg_id


async def test_running_info_carries_the_clients_stack(relay: Setup) -> None:
    """consumerStatus -s: the client's ThreadStackTrace becomes ConsumerRunningInfo.jstack,
    beside the properties and subscriptions the broker knows from its settings."""
    _ns, _broker, client, admin = relay
    asked = asyncio.create_task(admin.consumer_running_info(GROUP, CLIENT_ID, jstack=True))
    command = await client.read()
    assert command.WhichOneof("command") == "print_thread_stack_trace_command"
    nonce = command.print_thread_stack_trace_command.nonce
    assert nonce
    await client.answer_trace(nonce, "Thread: main\n    at consume()")
    info = await asked
    assert info["jstack"] == "Thread: main\n    at consume()"
    props = info["properties"]
    assert props["consumerGroup"] == GROUP
    assert props["PROP_CONSUME_TYPE"] == "CONSUME_ACTIVELY"
    assert props["PROP_CLIENT_VERSION"] == "5.1.2"
    assert props["PROP_CONSUMEORDERLY"] == "false"
    assert props["language"] == "PYTHON"
    [sub] = info["subscriptionSet"]
    assert (sub["topic"], sub["subString"]) == (TOPIC, "TagA || TagB")
    assert sub["tagsSet"] == ["TagA", "TagB"]
    assert info["mqTable"] == {} and info["statusTable"] == {}


async def test_running_info_without_jstack_is_the_brokers_own(relay: Setup) -> None:
    """Without jstackEnable nothing is asked of the client (the proxy would let the admin
    time out); the broker answers from the settings at once."""
    _ns, _broker, _client, admin = relay
    info = await admin.consumer_running_info(GROUP, CLIENT_ID, jstack=False)
    assert "jstack" not in info
    assert info["properties"]["consumerGroup"] == GROUP
    assert [s["topic"] for s in info["subscriptionSet"]] == [TOPIC]


async def test_consume_message_directly_verifies_the_stored_message(relay: Setup) -> None:
    """queryMsgById -d: the stored message goes out as the v2 Message a receive hands out;
    the VerifyMessageResult's status becomes the ConsumeMessageDirectlyResult."""
    namesrv, _broker, client, admin = relay
    offset_msg_id = await _send(namesrv, b"verify me")
    outcomes = ((pb.Code.OK, "CR_SUCCESS"), (pb.Code.FAILED_TO_CONSUME_MESSAGE, "CR_LATER"))
    for code, expected in outcomes:
        asked = asyncio.create_task(admin.consume_message_directly(GROUP, CLIENT_ID, offset_msg_id))
        command = await client.read()
        assert command.WhichOneof("command") == "verify_message_command"
        verify = command.verify_message_command
        message = verify.message
        assert message.topic.name == TOPIC and message.body == b"verify me"
        assert message.system_properties.tag == "TagA"
        assert list(message.system_properties.keys) == ["k1"]
        assert message.system_properties.delivery_attempt == 1
        await client.answer_verify(verify.nonce, code)
        result = await asked
        assert result["consumeResult"] == expected
        assert result["remark"] == "from gRPC client"
        assert result["autoCommit"] is True and result["order"] is False


async def test_answers_are_matched_by_nonce(relay: Setup) -> None:
    """Two requests in flight, answered in reverse order, with a stray nonce between: each
    gets its own answer; the stray one is dropped."""
    namesrv, _broker, client, admin = relay
    offset_msg_id = await _send(namesrv, b"x")
    trace_task = asyncio.create_task(admin.consumer_running_info(GROUP, CLIENT_ID, jstack=True))
    first = await client.read()
    verify_task = asyncio.create_task(
        admin.consume_message_directly(GROUP, CLIENT_ID, offset_msg_id)
    )
    second = await client.read()
    trace_nonce = first.print_thread_stack_trace_command.nonce
    verify_nonce = second.verify_message_command.nonce
    assert trace_nonce and verify_nonce and trace_nonce != verify_nonce
    await client.answer_trace("no-such-nonce", "stray")
    await client.answer_verify(verify_nonce, pb.Code.MESSAGE_CORRUPTED)
    await client.answer_trace(trace_nonce, "mine")
    assert (await verify_task)["consumeResult"] == "CR_RETURN_NULL"
    assert (await trace_task)["jstack"] == "mine"


async def test_client_refusing_the_trace(relay: Setup) -> None:
    """A non-OK ThreadStackTrace is an error with the client's status (the proxy's mapping:
    VERIFY_FIFO_MESSAGE_UNSUPPORTED -> NO_PERMISSION, anything else -> SYSTEM_ERROR)."""
    _ns, _broker, client, admin = relay
    for code, expected in ((pb.Code.VERIFY_FIFO_MESSAGE_UNSUPPORTED, ResponseCode.NO_PERMISSION),
                           (pb.Code.NOT_IMPLEMENTED, ResponseCode.SYSTEM_ERROR)):  # fmt: skip
        asked = asyncio.create_task(admin.consumer_running_info(GROUP, CLIENT_ID, jstack=True))
        command = await client.read()
        await client.answer_trace(command.print_thread_stack_trace_command.nonce, "", code)
        with pytest.raises(BrokerError) as err:
            await asked
        assert err.value.code == expected


async def test_unanswered_request_times_out_with_a_clear_answer(quick_relay: Setup) -> None:
    """A client that never answers: SYSTEM_BUSY "call remote timeout" after the relay
    timeout (the proxy's expiry), never a hang; its late answer is dropped and the next
    request is served."""
    _ns, _broker, client, admin = quick_relay
    asked = asyncio.create_task(admin.consumer_running_info(GROUP, CLIENT_ID, jstack=True))
    command = await client.read()
    with pytest.raises(BrokerError) as err:
        await asked
    assert err.value.code == ResponseCode.SYSTEM_BUSY
    assert "call remote timeout" in (err.value.remark or "")
    assert "PrintThreadStackTraceCommand" in (err.value.remark or "")
    await client.answer_trace(command.print_thread_stack_trace_command.nonce, "late")
    asked = asyncio.create_task(admin.consumer_running_info(GROUP, CLIENT_ID, jstack=True))
    command = await client.read()
    await client.answer_trace(command.print_thread_stack_trace_command.nonce, "on time")
    assert (await asked)["jstack"] == "on time"


async def test_stream_closing_fails_the_waiting_request(relay: Setup) -> None:
    """The client goes away while a request waits: the admin gets SYSTEM_ERROR at once."""
    _ns, _broker, client, admin = relay
    asked = asyncio.create_task(admin.consumer_running_info(GROUP, CLIENT_ID, jstack=True))
    await client.read()
    client.call.cancel()
    with pytest.raises(BrokerError) as err:
        await asked
    assert err.value.code == ResponseCode.SYSTEM_ERROR
    assert CLIENT_ID in (err.value.remark or "")


async def test_consumer_status_skips_grpc_clients(relay: Setup) -> None:
    """INVOKE_BROKER_TO_GET_CONSUMER_STATUS: a gRPC client keeps no offsets to report; it
    is left out, the request still answers."""
    _ns, _broker, _client, admin = relay
    assert await admin.consumer_status(TOPIC, GROUP) == {}
