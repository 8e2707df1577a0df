"""A ``rocketq broker`` process killed with SIGKILL while 1,000 messages received over gRPC
are not acked: after the restart every one of them is delivered again, and the acked ones
are not (issue 13's crash acceptance; pop checkpoints and acks in the revive log)."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from rocketq.admin import AdminClient
from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.grpc.v2 import service_pb2 as svc
from rocketq.common.topic import TopicConfig
from rocketq.testing import BrokerProcess, NamesrvProcess

pytestmark = pytest.mark.slow  # a broker process is killed and restarted

_GRPC_READY = re.compile(r"gRPC for 5\.x clients on ([\d.]+):(\d+)")
PREFIX = "/apache.rocketmq.v2.MessagingService/"
TOPIC = "GrpcCrash"
GROUP = "grpc-crash-g"
UNACKED = 1000
ACKED = 200
# Long enough that no message comes back before the kill while 1,200 are received and
# acked; short enough that the restarted broker revives them within the test.
INVISIBLE_S = 15
SEND_BATCH = 50
# Upper bound for the restarted broker to hand out all 1,000 again (their invisible time
# plus revive and receive work; a miss fails, a pass ends as soon as all are in).
REDELIVERY_DEADLINE_S = 120


def _grpc_address(broker: BrokerProcess) -> str:
    found = [m for line in broker.output if (m := _GRPC_READY.search(line))]
    assert found, f"no gRPC address in the ready line: {broker.output}"
    return f"{found[0].group(1)}:{found[0].group(2)}"


class Client:
    """SendMessage, ReceiveMessage and AckMessage on one channel."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel

    async def call(self, method: str, request: Any, response_cls: Any) -> Any:
        fn = self.channel.unary_unary(
            PREFIX + method,
            request_serializer=type(request).SerializeToString,
            response_deserializer=response_cls.FromString,
        )
        return await fn(request, timeout=30)

    async def send(self, first: int, count: int) -> None:
        messages = []
        for i in range(first, first + count):
            msg = pb.Message(topic=pb.Resource(name=TOPIC), body=f"c{i}".encode())
            msg.system_properties.message_id = f"CRASH{i:06d}"
            msg.system_properties.message_type = pb.MessageType.NORMAL
            messages.append(msg)
        request = svc.SendMessageRequest(messages=messages)
        answer = await self.call("SendMessage", request, svc.SendMessageResponse)
        assert answer.status.code == pb.Code.OK, answer.status

    async def receive(self, polling_s: int = 2) -> list[pb.Message]:
        request = svc.ReceiveMessageRequest(
            group=pb.Resource(name=GROUP),
            message_queue=pb.MessageQueue(topic=pb.Resource(name=TOPIC), id=-1),
            filter_expression=pb.FilterExpression(type=pb.FilterType.TAG, expression="*"),
            batch_size=32,
            invisible_duration=Duration(seconds=INVISIBLE_S),
            long_polling_timeout=Duration(seconds=polling_s),
        )
        fn = self.channel.unary_stream(
            PREFIX + "ReceiveMessage",
            request_serializer=svc.ReceiveMessageRequest.SerializeToString,
            response_deserializer=svc.ReceiveMessageResponse.FromString,
        )
        answers = [a async for a in fn(request, timeout=polling_s + 30)]
        return [a.message for a in answers if a.HasField("message")]

    async def ack(self, messages: list[pb.Message]) -> None:
        request = svc.AckMessageRequest(
            group=pb.Resource(name=GROUP),
            topic=pb.Resource(name=TOPIC),
            entries=[
                svc.AckMessageEntry(message_id=m.system_properties.message_id,
                                    receipt_handle=m.system_properties.receipt_handle)
                for m in messages
            ],
        )  # fmt: skip
        answer = await self.call("AckMessage", request, svc.AckMessageResponse)
        assert answer.status.code == pb.Code.OK, answer.status
        assert all(e.status.code == pb.Code.OK for e in answer.entries), answer.entries


async def _receive_then_crash(broker: BrokerProcess, ns: NamesrvProcess) -> set[str]:
    """Send 1,200, receive them all, ack every 6th; return the acked message ids."""
    async with AdminClient(ns.addr) as admin:
        await admin.create_topic(broker.addr, TopicConfig(TOPIC, 4, 4))
    async with grpc.aio.insecure_channel(_grpc_address(broker)) as channel:
        client = Client(channel)
        for first in range(0, UNACKED + ACKED, SEND_BATCH):
            await client.send(first, SEND_BATCH)
        received: dict[str, pb.Message] = {}
        while len(received) < UNACKED + ACKED:
            got = await client.receive()
            assert got, f"receive ran dry after {len(received)} messages"
            for m in got:
                received.setdefault(m.system_properties.message_id, m)
        to_ack = [m for i, m in enumerate(sorted(received.values(), key=_index)) if i % 6 == 0]
        assert len(to_ack) == ACKED
        for start in range(0, ACKED, 50):
            await client.ack(to_ack[start : start + 50])
    return {m.system_properties.message_id for m in to_ack}


def _index(m: pb.Message) -> int:
    return int(m.body.decode()[1:])


async def test_sigkill_with_unacked_grpc_receives(tmp_path: Path, namesrv: NamesrvProcess) -> None:
    config = {"brokerName": "grpc-crash"}
    broker = BrokerProcess(tmp_path / "b", namesrv.addr, config).start()
    try:
        acked = await _receive_then_crash(broker, namesrv)
    finally:
        broker.stop(signal.SIGKILL)
    assert (broker.store_dir / "abort").exists()  # it really died

    all_ids = {f"CRASH{i:06d}" for i in range(UNACKED + ACKED)}
    unacked = all_ids - acked
    restarted = BrokerProcess(tmp_path / "b", namesrv.addr, config).start()
    try:
        async with grpc.aio.insecure_channel(_grpc_address(restarted)) as channel:
            client = Client(channel)
            again: dict[str, pb.Message] = {}
            deadline = time.monotonic() + REDELIVERY_DEADLINE_S
            while not unacked <= set(again) and time.monotonic() < deadline:
                got = await client.receive(polling_s=5)
                again.update((m.system_properties.message_id, m) for m in got)
                if got:
                    await client.ack(got)
            assert unacked <= set(again), f"{len(unacked - set(again))} never came back"
            # Acked ones shared checkpoints with the revived ones: by now they would be back.
            while got := await client.receive(polling_s=2):
                again.update((m.system_properties.message_id, m) for m in got)
                await client.ack(got)
    finally:
        restarted.stop()
    assert not acked & set(again), f"acked and delivered again: {sorted(acked & set(again))[:5]}"
    assert set(again) == unacked
    assert {m.system_properties.delivery_attempt for m in again.values()} == {2}
