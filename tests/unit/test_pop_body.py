"""The bodies of BATCH_ACK_MESSAGE, QUERY_ASSIGNMENT and SET_MESSAGE_REQUEST_MODE as Java
5.3.1's fastjson writes and reads them."""

from __future__ import annotations

import orjson
import pytest

from rocketq.common.errors import ProtocolError
from rocketq.remoting.pop_body import (
    BatchAck,
    BatchAckMessageRequestBody,
    MessageQueueAssignment,
    MessageRequestModeSerializeWrapper,
    QueryAssignmentRequestBody,
    QueryAssignmentResponseBody,
    SetMessageRequestModeRequestBody,
    bitset_from_bytes,
    bitset_to_bytes,
)


@pytest.mark.parametrize(
    ("bits", "data"),
    [
        ((), b""),
        ((0,), b"\x01"),
        ((1, 3, 5), b"\x2a"),  # BatchAckTest's offsets start+1, +3, +5
        ((0, 9), b"\x01\x02"),
        ((15,), b"\x00\x80"),
    ],
)
def test_bitset_is_java_to_byte_array(bits: tuple[int, ...], data: bytes) -> None:
    assert bitset_to_bytes(bits) == data
    assert bitset_from_bytes(data) == bits


def test_batch_ack_reads_java_short_names_and_base64_bitset() -> None:
    java = (
        b'{"acks":[{"b":"Kg==","c":"g","it":5000,"pt":1700000000000,"q":1,"r":"0",'
        b'"rq":2,"so":100,"t":"myTopic"}],"brokerName":"broker-a"}'
    )
    body = BatchAckMessageRequestBody.decode(java)
    assert body.broker_name == "broker-a"
    (ack,) = body.acks
    assert ack == BatchAck("g", "myTopic", "0", 100, 1, 2, 1_700_000_000_000, 5000, (1, 3, 5))
    assert ack.offsets() == [101, 103, 105]
    assert orjson.loads(body.encode()) == orjson.loads(java)


def test_batch_ack_reads_long_names_and_byte_arrays() -> None:
    obj = {
        "consumerGroup": "g", "topic": "T", "retry": "1", "startOffset": 7, "queueId": 0,
        "reviveQueueId": 3, "popTime": 5, "invisibleTime": 60000, "bitSet": [1, -128],
    }  # fmt: skip
    ack = BatchAck.from_obj(obj)
    assert (ack.retry, ack.revive_queue_id, ack.bits) == ("1", 3, (0, 15))


def test_bad_batch_ack_body_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        BatchAckMessageRequestBody.decode(b'{"acks":[{"b":"not base64!"}]}')
    with pytest.raises(ProtocolError):
        BatchAckMessageRequestBody.decode(b"[1]")


def test_query_assignment_bodies() -> None:
    request = QueryAssignmentRequestBody.decode(
        b'{"clientId":"c1","consumerGroup":"g","messageModel":"CLUSTERING",'
        b'"strategyName":"AVG","topic":"T"}'
    )
    assert request == QueryAssignmentRequestBody("T", "g", "c1", "AVG", "CLUSTERING")
    # fastjson reads an enum from its ordinal too
    assert QueryAssignmentRequestBody.decode(
        b'{"consumerGroup":"g","messageModel":0,"topic":"T"}'
    ).message_model == "BROADCASTING"
    answer = QueryAssignmentResponseBody([MessageQueueAssignment("T", "b", -1, "POP")])
    assert orjson.loads(answer.encode()) == {
        "messageQueueAssignments": [
            {"messageQueue": {"brokerName": "b", "queueId": -1, "topic": "T"}, "mode": "POP"}
        ]
    }
    assert QueryAssignmentResponseBody.decode(answer.encode()) == answer
    assert QueryAssignmentResponseBody(None).encode() == b"{}"


def test_request_mode_bodies() -> None:
    mode = SetMessageRequestModeRequestBody.decode(
        b'{"consumerGroup":"g","mode":"POP","popShareQueueNum":2,"topic":"T"}'
    )
    assert mode == SetMessageRequestModeRequestBody("T", "g", "POP", 2)
    assert SetMessageRequestModeRequestBody.decode(
        b'{"consumerGroup":"g","mode":1,"topic":"T"}'
    ) == SetMessageRequestModeRequestBody("T", "g", "POP", 0)
    with pytest.raises(ProtocolError):
        SetMessageRequestModeRequestBody.decode(b'{"consumerGroup":"g","mode":"PUSH","topic":"T"}')
    wrapper = MessageRequestModeSerializeWrapper({"T": {"g": mode}})
    assert wrapper.to_obj() == {
        "messageRequestModeMap": {
            "T": {"g": {"consumerGroup": "g", "mode": "POP", "popShareQueueNum": 2, "topic": "T"}}
        }
    }
    assert MessageRequestModeSerializeWrapper.from_obj(wrapper.to_obj()) == wrapper
