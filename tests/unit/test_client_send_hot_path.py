"""The producer's written-out send path (issue 11) against real RemotingServers: the
request it writes, the result it reads, the retry on another broker, round robin, the
message checks; and UNIQ_KEY ids that share their millisecond's head.

The NameServer address is not reachable, so the route is put in by hand (as a route
answer would set it) and no NameServer round trip is involved.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from rocketq.client.config import ClientConfig
from rocketq.client.instance import TopicPublishInfo
from rocketq.client.message import Message, MessageQueue, SendStatus
from rocketq.client.producer import AsyncProducer
from rocketq.common.errors import BrokerError, ClientError
from rocketq.common.ids import UniqIdGenerator
from rocketq.common.message import MessageConst, decode_properties
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection, ProcessorTable
from rocketq.remoting.server import RemotingServer

TOPIC = "HotTopic"


class Broker:
    """A RemotingServer answering SEND_MESSAGE_V2 with ``codes`` in turn (then SUCCESS),
    keeping every request it got."""

    def __init__(self, name: str, codes: list[int] | None = None) -> None:
        self.name = name
        self.codes = list(codes or [])
        self.requests: list[RemotingCommand] = []
        table = ProcessorTable()
        table.register(RequestCode.SEND_MESSAGE_V2, self._send)
        self.server = RemotingServer(table, host="127.0.0.1", port=0)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def _send(self, _conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        self.requests.append(cmd)
        code = self.codes.pop(0) if self.codes else ResponseCode.SUCCESS
        ext = cmd.ext_fields or {}
        answer = {"msgId": f"OFFSET{len(self.requests)}", "queueId": ext["e"]}
        answer["queueOffset"] = str(100 + len(self.requests))
        return cmd.make_response(code, "busy" if code else None, answer)


@pytest.fixture
async def brokers() -> AsyncIterator[list[Broker]]:
    made = [Broker("broker-a"), Broker("broker-b")]
    for b in made:
        await b.server.start()
    yield made
    for b in made:
        await b.server.aclose()


async def started_producer(brokers: list[Broker]) -> AsyncProducer:
    producer = AsyncProducer("hot_pg", client_config=ClientConfig(namesrv_addr="127.0.0.1:1"))
    await producer.start()
    queues = [MessageQueue(TOPIC, b.name, q) for b in brokers for q in range(2)]
    producer.publish_info[TOPIC] = TopicPublishInfo(message_queues=queues)
    for b in brokers:
        producer.instance.broker_addrs[b.name] = {0: b.addr}
    return producer


async def test_send_writes_the_v2_header_and_reads_the_result(brokers: list[Broker]) -> None:
    producer = await started_producer(brokers)
    try:
        result = await producer.send(Message(TOPIC, b"hello", tags="TagA"))
    finally:
        await producer.aclose()
    (request,) = brokers[0].requests + brokers[1].requests
    ext = request.ext_fields or {}
    props = decode_properties(ext["i"])
    assert props[MessageConst.TAGS] == "TagA"
    assert result.msg_id == props[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX]
    mq = result.message_queue
    expected = producer._send_ext(mq, 0, 0, ext["i"], int(ext["g"]))
    assert list(ext.items()) == list(expected.items())  # the same keys, in the same order
    assert (result.status, result.offset_msg_id, result.queue_offset) == (
        SendStatus.SEND_OK,
        "OFFSET1",
        101,
    )
    assert request.body == b"hello"
    assert request.code == RequestCode.SEND_MESSAGE_V2


async def test_sends_go_round_robin_over_the_queues(brokers: list[Broker]) -> None:
    producer = await started_producer(brokers)
    try:
        results = [await producer.send(Message(TOPIC, b"x")) for _ in range(8)]
    finally:
        await producer.aclose()
    queues = producer.publish_info[TOPIC].message_queues
    start = queues.index(results[0].message_queue)
    assert [r.message_queue for r in results] == [
        queues[(start + i) % len(queues)] for i in range(8)
    ]


async def test_a_retriable_error_retries_on_the_other_broker(brokers: list[Broker]) -> None:
    brokers[0].codes = [ResponseCode.SYSTEM_BUSY]
    producer = await started_producer(brokers)
    producer.publish_info[TOPIC].send_which_queue = 0  # the first attempt: broker-a, queue 1
    msg = Message(TOPIC, b"x")
    try:
        result = await producer.send(msg)
    finally:
        await producer.aclose()
    # SYSTEM_BUSY from broker-a; the retry skipped broker-a for the next queue, on broker-b.
    assert result.message_queue == MessageQueue(TOPIC, "broker-b", 0)
    assert [len(b.requests) for b in brokers] == [1, 1]
    assert (brokers[0].requests[0].ext_fields or {})["e"] == "1"
    # The same message both times: the same UNIQ_KEY, set on the message as Java's
    # MessageClientIDSetter does (a consumer can tell the retry is not a new message).
    first, retried = ((b.requests[0].ext_fields or {})["i"] for b in brokers)
    assert first == retried
    assert result.msg_id == msg.properties[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX]


async def test_a_non_retriable_error_is_raised_at_once(brokers: list[Broker]) -> None:
    for b in brokers:
        b.codes = [ResponseCode.MESSAGE_ILLEGAL]
    producer = await started_producer(brokers)
    try:
        with pytest.raises(BrokerError) as info:
            await producer.send(Message(TOPIC, b"x"))
    finally:
        await producer.aclose()
    assert info.value.code == ResponseCode.MESSAGE_ILLEGAL
    assert len(brokers[0].requests) + len(brokers[1].requests) == 1


@pytest.mark.parametrize(
    ("msg", "says"),
    [
        (Message("  ", b"x"), "blank"),
        (Message("", b"x"), "blank"),
        (Message("t" * 128, b"x"), "longer than 127"),
        (Message(TOPIC, b""), "body is empty"),
        (Message(TOPIC, b"x" * 11), "11 bytes, over the 10 limit"),
    ],
)
async def test_bad_messages_are_refused_before_any_request(
    brokers: list[Broker], msg: Message, says: str
) -> None:
    producer = await started_producer(brokers)
    producer.config.max_message_size = 10
    try:
        with pytest.raises(ClientError, match=says):
            await producer.send(msg)
    finally:
        await producer.aclose()
    assert brokers[0].requests == brokers[1].requests == []


async def test_remoting_invoke_connects_once_then_uses_the_open_connection(
    brokers: list[Broker],
) -> None:
    remoting = RemotingClient()
    try:
        cmd = RemotingCommand(RequestCode.SEND_MESSAGE_V2, ext_fields={"e": "1"})
        first = await remoting.invoke(brokers[0].addr, cmd)  # connects
        conn = await remoting.connection(brokers[0].addr)
        cmd = RemotingCommand(RequestCode.SEND_MESSAGE_V2, ext_fields={"e": "2"})
        second = await remoting.invoke(brokers[0].addr, cmd)  # the open connection
        assert await remoting.connection(brokers[0].addr) is conn
    finally:
        await remoting.aclose()
    assert [(first.ext_fields or {})["queueId"], (second.ext_fields or {})["queueId"]] == [
        "1",
        "2",
    ]


def test_uniq_ids_of_one_millisecond_share_its_head() -> None:
    gen = UniqIdGenerator("10.1.2.3")
    now = gen._month_start + 0x1234
    a, b = gen.next_id(now), gen.next_id(now)
    later = gen.next_id(now + 1)
    assert a[:28] == b[:28] == f"{a[:20]}{0x1234:08X}"
    assert later[:28] == f"{a[:20]}{0x1235:08X}"
    assert [int(i[-4:], 16) for i in (a, b, later)] == [1, 2, 3]
    assert all(re.fullmatch(r"0A010203[0-9A-F]{24}", i) for i in (a, b, later))
    assert gen.next_id(gen._month_start - 5)[20:28] == "00000000"  # a clock step back
