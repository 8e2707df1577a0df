"""gRPC sends, pure parts: Java's String#hashCode, Guava's consistentHash, message types."""

from __future__ import annotations

from rocketq.broker.grpc.convert import message_type_of
from rocketq.broker.grpc.producer import (
    accepted_message_types,
    consistent_hash,
    java_string_hash,
)
from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.common.topic import TopicConfig


def test_java_string_hash() -> None:
    assert java_string_hash("") == 0
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -(2**31)  # the famous overflow


def test_consistent_hash_is_a_jump_hash() -> None:
    for value in (-5, 0, 1, 99162322, 2**31 - 1):
        previous = 0
        for buckets in range(1, 40):
            bucket = consistent_hash(value, buckets)
            assert 0 <= bucket < buckets
            # growing by one bucket moves an item only into the new bucket
            assert bucket in (previous, buckets - 1)
            previous = bucket


def test_message_types() -> None:
    assert message_type_of({}) == "NORMAL"
    assert message_type_of({"__SHARDINGKEY": "g"}) == "FIFO"
    assert message_type_of({"TIMER_DELIVER_MS": "1", "__SHARDINGKEY": "g"}) == "DELAY"
    assert message_type_of({"TRAN_MSG": "true", "DELAY": "3"}) == "TRANSACTION"
    assert accepted_message_types(TopicConfig("T")) == [pb.MessageType.NORMAL]
    mixed = TopicConfig("T", attributes={"message.type": "MIXED"})
    assert len(accepted_message_types(mixed)) == 4


def test_delivery_timestamp_in_ms_in_the_seconds_field() -> None:
    from google.protobuf.timestamp_pb2 import Timestamp

    from rocketq.broker.grpc.producer import delivery_ms

    assert delivery_ms(Timestamp(seconds=1_700_000_000, nanos=5_000_000)) == 1_700_000_000_005
    assert delivery_ms(Timestamp(seconds=1_700_000_000_123)) == 1_700_000_000_123
