"""RocketMQ's system topics: which ones producers may write to (TopicValidator)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rocketq import AsyncProducer, Message, MessageQueue
from rocketq.common.errors import BrokerError
from rocketq.common.topic import NOT_ALLOWED_SEND_TOPICS, TRACE_TOPIC
from rocketq.remoting.codes import ResponseCode
from rocketq.testing import running_cluster


async def test_trace_topic_takes_sends_as_java_allows(tmp_path: Path) -> None:
    # A Java client with enableMsgTrace writes its trace records to RMQ_SYS_TRACE_TOPIC.
    async with (
        running_cluster(tmp_path) as (namesrv, _broker),
        AsyncProducer("_INNER_TRACE_PRODUCER-test", namesrv.address) as producer,
    ):
        result = await producer.send(Message(TRACE_TOPIC, b"Pub\x01trace-data\x02"))
    assert result.message_queue.topic == TRACE_TOPIC
    assert result.queue_offset == 0


@pytest.mark.parametrize("topic", sorted(NOT_ALLOWED_SEND_TOPICS))
async def test_not_allowed_topics_refuse_sends(tmp_path: Path, topic: str) -> None:
    async with (
        running_cluster(tmp_path) as (namesrv, _broker),
        AsyncProducer("forbidden-sender", namesrv.address) as producer,
    ):
        with pytest.raises(BrokerError) as info:
            await producer.send(Message(topic, b"x"), queue=MessageQueue(topic, "broker-a", 0))
    assert info.value.code == ResponseCode.NO_PERMISSION
    assert f"topic[{topic}] is forbidden" in info.value.remark
