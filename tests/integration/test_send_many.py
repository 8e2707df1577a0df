"""Sends that arrive in one read are stored together (``SendMessageProcessor.handle_many``):
every frame still gets its own answer, refusals and the special kinds (transaction half,
delay level, another request code between them) are answered as they would be alone, and
the stored order is the arrival order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rocketq.client import AsyncPullConsumer
from rocketq.common.message import MessageConst, SysFlag, encode_properties
from rocketq.remoting.codec import FrameDecoder, encode
from rocketq.remoting.codes import RequestCode, ResponseCode, SerializeType
from rocketq.remoting.command import FLAG_ONEWAY, RemotingCommand
from rocketq.testing import running_cluster
from tests.integration.raw_frames import ANSWER_TIMEOUT_S, exchange

TOPIC = "ManyTopic"


def _send(
    opaque: int, topic: str, body: bytes, props: dict[str, str], sys_flag: int = 0
) -> RemotingCommand:
    # SEND_MESSAGE_V2's one-letter fields, as Java and C++ clients send them
    fields = {
        "a": "many-group", "b": topic, "c": "TBW102", "d": "4", "e": "0",
        "f": str(sys_flag), "g": "1700000000000", "h": "0", "i": encode_properties(props),
        "j": "0", "k": "false",
    }  # fmt: skip
    cmd = RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, fields, body)
    cmd.opaque = opaque
    return cmd


@pytest.mark.parametrize("flush", ["ASYNC_FLUSH", "SYNC_FLUSH"])
async def test_sends_of_one_read_each_answered_in_arrival_order(tmp_path: Path, flush: str) -> None:
    async with running_cluster(tmp_path, {"flushDiskType": flush}) as (namesrv, broker):
        plain = {MessageConst.TAGS: "T", MessageConst.KEYS: "k"}
        frames = [
            _send(1, TOPIC, b"a", plain),
            _send(2, TOPIC, b"b", plain),
            _send(3, "bad topic!", b"x", plain),  # an illegal name: refused alone
            _send(4, TOPIC, b"c", plain),
            RemotingCommand.request(RequestCode.GET_BROKER_CONFIG, {}),  # another code
            _send(6, TOPIC, b"d", {**plain, MessageConst.DELAY_TIME_LEVEL: "1"}),
            _send(
                7,
                TOPIC,
                b"half",
                {**plain, MessageConst.TRANSACTION_PREPARED: "true"},
                SysFlag.TRANSACTION_PREPARED_TYPE,
            ),
            _send(8, TOPIC, b"e", {**plain, MessageConst.WAIT_STORE_MSG_OK: "false"}),
            _send(9, TOPIC, b"f", plain),
            _send(10, TOPIC, b"g", plain),  # answered in RocketMQ's binary header
        ]
        frames[4].opaque = 5
        frames[9].serialize_type = SerializeType.ROCKETMQ
        answers = await exchange(broker.port, frames)
        assert sorted(answers) == list(range(1, 11))
        assert answers[10].serialize_type == SerializeType.ROCKETMQ
        assert answers[9].serialize_type == SerializeType.JSON
        assert answers[3].code == ResponseCode.SYSTEM_ERROR
        assert answers[5].code == ResponseCode.SUCCESS and answers[5].body
        for opaque in (1, 2, 4, 6, 7, 8, 9, 10):
            assert answers[opaque].code == ResponseCode.SUCCESS, answers[opaque]
        # the plain ones took queue 0's offsets in the order they arrived
        offsets = [int(answers[o].ext_fields["queueOffset"]) for o in (1, 2, 4, 8, 9, 10)]
        assert offsets == [0, 1, 2, 3, 4, 5]
        assert {answers[o].ext_fields["queueId"] for o in (1, 2, 4, 8, 9, 10)} == {"0"}
        msg_ids = {answers[o].ext_fields["msgId"] for o in (1, 2, 4, 6, 7, 8, 9, 10)}
        assert len(msg_ids) == 8
        async with AsyncPullConsumer("many-reader", namesrv.address) as consumer:
            queues = await consumer.fetch_subscribe_message_queues(TOPIC)
            queue = next(q for q in queues if q.queue_id == 0)
            result = await consumer.pull(queue, "*", 0, 32)
        assert [m.body for m in result.messages] == [b"a", b"b", b"c", b"e", b"f", b"g"]


async def test_sends_a_stopped_store_refuses_are_answered_at_once(tmp_path: Path) -> None:
    # Refused by the store as a whole (not running; also a slave, a full disk): every send
    # of the read gets SERVICE_NOT_AVAILABLE at once, so its client tries another broker.
    async with running_cluster(tmp_path) as (_namesrv, broker):
        plain = {MessageConst.TAGS: "T"}
        first = await exchange(broker.port, [_send(1, TOPIC, b"a", plain)])
        assert first[1].code == ResponseCode.SUCCESS  # the topic exists: the plain path
        await broker.store.aclose()
        frames = [_send(opaque, TOPIC, b"b", plain) for opaque in (2, 3, 4)]
        frames[2].serialize_type = SerializeType.ROCKETMQ
        answers = await exchange(broker.port, frames)
        assert sorted(answers) == [2, 3, 4]
        for answer in answers.values():
            assert answer.code == ResponseCode.SERVICE_NOT_AVAILABLE, answer


async def test_a_failure_after_the_answers_began_answers_no_send_twice(tmp_path: Path) -> None:
    # A read's stored sends are answered before the store's dispatch pass; when that pass
    # then fails, those answers stand: each send is answered once, and the broker goes on.
    async with running_cluster(tmp_path) as (_namesrv, broker):
        plain = {MessageConst.TAGS: "T"}
        first = await exchange(broker.port, [_send(1, TOPIC, b"a", plain)])
        assert first[1].code == ResponseCode.SUCCESS  # the topic exists: the plain path

        def broken(arrivals: list[tuple[str, int, int, int]]) -> None:
            raise RuntimeError("arrival listener broke")

        broker.store.messages_arriving_listener = broken
        frames = [_send(opaque, TOPIC, b"b", plain) for opaque in (2, 3, 4)]
        frames.append(RemotingCommand.request(RequestCode.GET_BROKER_CONFIG, {}))
        frames[3].opaque = 5  # answered after anything the sends' run answered
        reader, writer = await asyncio.open_connection("127.0.0.1", broker.port)
        try:
            writer.write(b"".join(encode(cmd) for cmd in frames))
            decoder, answers = FrameDecoder(), []
            while not answers or answers[-1].opaque != 5:
                data = await asyncio.wait_for(reader.read(65536), ANSWER_TIMEOUT_S)
                assert data, "connection closed"
                answers.extend(decoder.feed(data))
        finally:
            writer.close()
        assert [a.opaque for a in answers] == [2, 3, 4, 5]
        assert all(a.code == ResponseCode.SUCCESS for a in answers)


async def test_one_way_sends_of_a_read_are_stored_and_not_answered(tmp_path: Path) -> None:
    async with running_cluster(tmp_path) as (namesrv, broker):
        plain = {MessageConst.TAGS: "T"}
        frames = [_send(1, TOPIC, b"a", plain), _send(2, TOPIC, b"b", plain),
                  _send(3, TOPIC, b"c", plain),
                  RemotingCommand.request(RequestCode.GET_BROKER_CONFIG, {})]  # fmt: skip
        frames[1].flag |= FLAG_ONEWAY
        frames[3].opaque = 4
        reader, writer = await asyncio.open_connection("127.0.0.1", broker.port)
        try:
            writer.write(b"".join(encode(cmd) for cmd in frames))
            decoder, answers = FrameDecoder(), {}
            while 4 not in answers:  # the last request's answer comes after the sends'
                data = await asyncio.wait_for(reader.read(65536), ANSWER_TIMEOUT_S)
                assert data
                answers.update((cmd.opaque, cmd) for cmd in decoder.feed(data))
        finally:
            writer.close()
        assert sorted(answers) == [1, 3, 4]
        async with AsyncPullConsumer("oneway-reader", namesrv.address) as consumer:
            queues = await consumer.fetch_subscribe_message_queues(TOPIC)
            queue = next(q for q in queues if q.queue_id == 0)
            result = await consumer.pull(queue, "*", 0, 32)
        assert [m.body for m in result.messages] == [b"a", b"b", b"c"]
