"""Hostile input to every request code the broker serves: each request with no header
fields, with every field a broker reads set to junk, and with a junk body, is answered with a
RocketMQ response code (never a hang, never a dropped connection), and the broker goes on
serving a normal client afterwards."""

from __future__ import annotations

from pathlib import Path

from rocketq.client import AsyncProducer, Message
from rocketq.common.errors import RemotingError
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import RequestCode
from rocketq.remoting.command import RemotingCommand
from rocketq.testing import running_cluster

# Field names the broker's headers use, each set to a value no field accepts.
JUNK_FIELDS = {
    name: "\x00junk\u00e9{[" for name in (
        "topic", "group", "consumerGroup", "producerGroup", "queueId", "queueOffset",
        "offset", "commitOffset", "maxMsgNums", "maxMsgNum", "bornTime", "invisibleTime",
        "pollTime", "extraInfo", "key", "msgId", "brokerName", "clientId", "timestamp",
        "sysFlag", "flag", "properties", "tranStateTableOffset", "commitLogOffset",
        "commitOrRollback", "transactionId", "beginTimestamp", "endTimestamp", "index",
        "consumeQueueOffset", "brokerId", "masterEpoch", "attributes", "order", "expType",
        "exp", "initMode", "mode", "popShareQueueNum",
    )
}  # fmt: skip
JUNK_BODY = b'\xff\xfe{"not": json' + bytes(range(256))
# Codes that end a conversation by design or hold the answer long: left out.
SKIPPED = {int(RequestCode.UNREGISTER_CLIENT)}
ANSWER_TIMEOUT_S = 20.0


async def test_every_code_answers_junk_and_the_broker_keeps_serving(tmp_path: Path) -> None:
    async with running_cluster(tmp_path) as (namesrv, broker):
        addr = f"127.0.0.1:{broker.port}"
        codes = [c for c in broker.server.processors.codes() if c not in SKIPPED]
        assert len(codes) > 50
        client = RemotingClient()
        unanswered: list[tuple[int, str]] = []
        try:
            for code in codes:
                for kind, fields, body in (
                    ("empty", {}, None),
                    ("junk fields", JUNK_FIELDS, None),
                    ("junk body", {}, JUNK_BODY),
                ):
                    cmd = RemotingCommand.request(code, dict(fields), body)
                    try:
                        answer = await client.invoke(addr, cmd, ANSWER_TIMEOUT_S)
                    except RemotingError as exc:
                        unanswered.append((code, f"{kind}: {exc}"))
                        continue
                    assert answer.is_response
        finally:
            await client.aclose()
        assert unanswered == []
        async with AsyncProducer("after-junk", namesrv.address) as producer:
            result = await producer.send(Message("AfterJunk", b"still serving"))
        assert result.queue_offset == 0
