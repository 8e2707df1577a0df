"""The send and pull path pieces that are written out for speed (issue 11) give what the
generic code they replace gives: the SEND_MESSAGE_V2 extFields, the SendResult of a
response, UNIQ_KEY ids, the messages of a pull body."""

from __future__ import annotations

import re
import zlib

import pytest

from rocketq.client.api import MQClientAPI, process_send_response
from rocketq.client.message import (
    MessageExt,
    MessageQueue,
    PullStatus,
    SendResult,
    SendStatus,
    new_send_result,
)
from rocketq.client.producer import AsyncProducer
from rocketq.client.pull_wrapper import pull_request_ext
from rocketq.common.errors import BrokerError
from rocketq.common.ids import UniqIdGenerator
from rocketq.common.message import SysFlag, encode_properties
from rocketq.common.record import (
    StoredMessage,
    decode_records,
    encode_record,
    messages_of_pull_body,
)
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection, ProcessorTable
from rocketq.remoting.headers import PullMessageRequestHeader, SendMessageRequestHeaderV2
from rocketq.remoting.heartbeat import build_subscription
from rocketq.remoting.server import RemotingServer

MQ = MessageQueue("TopicA", "broker-a", 3)


@pytest.mark.parametrize("topic", ["TopicA", "%RETRY%group"])
@pytest.mark.parametrize(("flag", "sys_flag", "props"), [(0, 0, "a\x01b\x02"), (7, 4, "")])
async def test_send_ext_is_the_header_to_ext(
    topic: str, flag: int, sys_flag: int, props: str
) -> None:
    producer = AsyncProducer("pg", "127.0.0.1:1")
    mq = MessageQueue(topic, "broker-a", 3)
    ext = producer._send_ext(mq, flag, sys_flag, props)
    header = SendMessageRequestHeaderV2(
        producer_group="pg",
        topic=topic,
        default_topic=producer.config.create_topic_key,
        default_topic_queue_nums=producer.config.default_topic_queue_nums,
        queue_id=3,
        sys_flag=sys_flag,
        born_timestamp=int(ext["g"]),
        flag=flag,
        properties=props,
        reconsume_times=0 if topic.startswith("%RETRY%") else None,
        unit_mode=False,
        batch=False,
    )
    assert list(ext.items()) == list(header.to_ext().items())  # same keys, same order
    assert SendMessageRequestHeaderV2.from_ext(ext) == header


def response(ext: dict[str, str], code: int = ResponseCode.SUCCESS) -> RemotingCommand:
    return RemotingCommand(code, flag=1, ext_fields=ext)


def test_send_response_read_from_ext() -> None:
    ext = {"msgId": "7F000001000027100000000000000ABC", "queueId": "3", "queueOffset": "42"}
    result = process_send_response(response(ext), MQ, "UNIQ")
    assert result == SendResult(SendStatus.SEND_OK, "UNIQ", ext["msgId"], MQ, 42)
    assert result.message_queue is MQ  # the same queue: not built again
    ext |= {"queueId": "1", "transactionId": "tx", "MSG_REGION": "r1", "TRACE_ON": "false"}
    flushed = process_send_response(response(ext, ResponseCode.FLUSH_DISK_TIMEOUT), MQ, "U")
    assert flushed == SendResult(
        SendStatus.FLUSH_DISK_TIMEOUT,
        "U",
        ext["msgId"],
        MessageQueue("TopicA", "broker-a", 1),
        42,
        transaction_id="tx",
        region_id="r1",
        trace_on=False,
    )


@pytest.mark.parametrize(
    ("ext", "named"),
    [
        ({"queueId": "3", "queueOffset": "1"}, "msgId"),
        ({"msgId": "x", "queueId": "3", "queueOffset": "z"}, "queueOffset"),
    ],
)
def test_bad_send_response_names_the_field(ext: dict[str, str], named: str) -> None:
    with pytest.raises(BrokerError, match=named) as info:
        process_send_response(response(ext), MQ, "U")
    assert info.value.code == ResponseCode.SYSTEM_ERROR


def test_new_send_result_equals_the_dataclass() -> None:
    args = (SendStatus.SEND_OK, "u", "o", MQ, 9, None, "DefaultRegion", True)
    made = new_send_result(*args)
    assert made == SendResult(*args)
    assert hash(made) == hash(SendResult(*args))


def test_uniq_ids_count_up_under_one_prefix() -> None:
    gen = UniqIdGenerator("10.1.2.3")
    ids = [gen.next_id() for _ in range(3)]
    assert all(re.fullmatch(r"0A010203[0-9A-F]{24}", i) for i in ids)
    assert len({i[:20] for i in ids}) == 1
    assert [int(i[-4:], 16) for i in ids] == [1, 2, 3]


def test_pulled_messages_are_from_record_with_the_offset_properties() -> None:
    stored = [
        (b"plain", {"UNIQ_KEY": "AB12", "TAGS": "a"}, 0),
        (zlib.compress(b"zipped"), {}, SysFlag.COMPRESSED),
    ]
    body = b"".join(
        encode_record(
            StoredMessage(
                "T",
                1,
                data,
                encode_properties(props),
                queue_offset=7 + i,
                sys_flag=flag,
                physical_offset=100 * i,
                store_host=("127.0.0.1", 10911),
            )
        )
        for i, (data, props, flag) in enumerate(stored)
    )
    expected = []
    for record in decode_records(body):
        m = MessageExt.from_record(record, "broker-a")
        m.properties |= {"MIN_OFFSET": "0", "MAX_OFFSET": "9"}
        expected.append(m)
    got = messages_of_pull_body(body, MessageExt, "broker-a", 0, 9)
    assert got == expected
    assert [m.body for m in got] == [b"plain", b"zipped"]
    assert got[0].msg_id == "AB12"
    assert got[1].msg_id == got[1].offset_msg_id


@pytest.mark.parametrize(("expression", "kind"), [("TagA || TagB", "TAG"), ("a > 1", "SQL92")])
def test_pull_request_ext_is_the_header_to_ext(expression: str, kind: str) -> None:
    sub = build_subscription("TopicA", expression, kind)
    ext = pull_request_ext("cg", MQ, 40, 32, 7, 12, 15000, sub)
    header = PullMessageRequestHeader(
        consumer_group="cg",
        topic="TopicA",
        queue_id=3,
        queue_offset=40,
        max_msg_nums=32,
        sys_flag=7,
        commit_offset=12,
        suspend_timeout_millis=15000,
        subscription=sub.sub_string,
        sub_version=sub.sub_version,
        expression_type=sub.expression_type,
    )
    assert list(ext.items()) == list(header.to_ext().items())
    assert PullMessageRequestHeader.from_ext(ext) == header


async def test_pull_response_read_from_ext_and_a_bad_one_named() -> None:
    """PULL_MESSAGE answered by a real RemotingServer: the four offsets are read from
    extFields; a missing one is the SYSTEM_ERROR from_ext gives, naming the field."""
    answers = [
        {"suggestWhichBrokerId": "1", "nextBeginOffset": "9", "minOffset": "0", "maxOffset": "9"},
        {"suggestWhichBrokerId": "1", "nextBeginOffset": "9", "minOffset": "0"},
    ]

    def pull(_conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        assert (cmd.ext_fields or {})["consumerGroup"] == "cg"
        return cmd.make_response(ResponseCode.PULL_NOT_FOUND, ext_fields=answers.pop(0))

    table = ProcessorTable()
    table.register(RequestCode.PULL_MESSAGE, pull)
    server = RemotingServer(table, host="127.0.0.1", port=0)
    await server.start()
    remoting = RemotingClient()
    try:
        api = MQClientAPI(remoting, [])
        ext = pull_request_ext("cg", MQ, 0, 32, 0, 0, 0, build_subscription("TopicA", "*"))
        addr = f"127.0.0.1:{server.port}"
        result = await api.pull_message(addr, ext, 3.0, "broker-a")
        assert (result.status, result.next_begin_offset, result.max_offset) == (
            PullStatus.NO_NEW_MSG,
            9,
            9,
        )
        assert result.suggest_which_broker_id == 1
        with pytest.raises(BrokerError, match="maxOffset"):
            await api.pull_message(addr, ext, 3.0, "broker-a")
    finally:
        await remoting.aclose()
        await server.aclose()
