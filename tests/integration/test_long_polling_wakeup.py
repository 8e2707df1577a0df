"""A real broker wakes a held (long-polling) pull as soon as a send reaches its queue: the
store's dispatch pass reports its arrivals once, and the broker's listener must still find
each held pull (BrokerController wiring, not only the processors alone)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rocketq.broker.processor.pull import FLAG_SUBSCRIPTION, FLAG_SUSPEND
from rocketq.common.message import encode_properties
from rocketq.common.record import decode_records
from rocketq.common.topic import TopicConfig
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.headers import PullMessageRequestHeader, SendMessageRequestHeaderV2
from rocketq.testing import running_cluster

TOPIC = "HeldTopic"
# The pull may be held this long; the answer must come long before (the send wakes it).
SUSPEND_MS = 60_000
ANSWER_WITHIN_S = 20.0


def _pull(queue_id: int) -> RemotingCommand:
    header = PullMessageRequestHeader(
        consumer_group="held-group",
        topic=TOPIC,
        queue_id=queue_id,
        queue_offset=0,
        max_msg_nums=32,
        sys_flag=FLAG_SUSPEND | FLAG_SUBSCRIPTION,
        commit_offset=0,
        suspend_timeout_millis=SUSPEND_MS,
        subscription="*",
    )
    return RemotingCommand.request(RequestCode.PULL_MESSAGE, header.to_ext())


def _send(queue_id: int) -> RemotingCommand:
    header = SendMessageRequestHeaderV2(
        producer_group="held-producer",
        topic=TOPIC,
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=queue_id,
        sys_flag=0,
        born_timestamp=1,
        flag=0,
        properties=encode_properties({"TAGS": "t", "WAIT": "true"}),
    )
    body = f"for {queue_id}".encode()
    return RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header.to_ext(), body)


async def test_a_send_wakes_the_held_pull_of_its_queue(tmp_path: Path) -> None:
    async with running_cluster(tmp_path) as (_namesrv, broker):
        broker.topic_config_manager.update(TopicConfig(TOPIC, 2, 2))
        addr = f"127.0.0.1:{broker.port}"
        client = RemotingClient()
        try:
            held = [
                asyncio.ensure_future(client.invoke(addr, _pull(q), SUSPEND_MS / 1000 + 10))
                for q in (0, 1)
            ]
            while len(broker.pull_processor.hold_service) < 2:
                await asyncio.sleep(0.01)
            for queue_id in (1, 0):
                sent = await client.invoke(addr, _send(queue_id), ANSWER_WITHIN_S)
                assert sent.code == ResponseCode.SUCCESS, sent.remark
            answers = await asyncio.wait_for(asyncio.gather(*held), ANSWER_WITHIN_S)
        finally:
            await client.aclose()
        for queue_id, answer in enumerate(answers):
            assert answer.code == ResponseCode.SUCCESS, answer.remark
            bodies = [r.body for r in decode_records(answer.body or b"")]
            assert bodies == [f"for {queue_id}".encode()]
