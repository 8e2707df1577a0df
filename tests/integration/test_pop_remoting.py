"""POP over remoting (RocketMQ 5's POP_MESSAGE, ACK_MESSAGE, CHANGE_MESSAGE_INVISIBLETIME
as a Java 5 client in pop mode sends them), raw requests to an in-process cluster: the
checkpoints, acks and revive are the broker's one PopService, shared with gRPC."""

from __future__ import annotations

from pathlib import Path

import pytest

from rocketq.client import AsyncProducer, Message
from rocketq.common.record import MessageRecord, decode_records
from rocketq.common.topic import TopicConfig
from rocketq.remoting import RemotingClient, RemotingCommand, RequestCode, ResponseCode
from rocketq.remoting.body import SubscriptionGroupConfig
from rocketq.remoting.headers.pop import PopMessageResponseHeader
from rocketq.testing import async_wait_until, running_cluster

TOPIC, GROUP = "PopRemoting", "pop-remoting-g"


def _pop(max_nums: int, invisible_ms: int, poll_ms: int = 0) -> RemotingCommand:
    ext = {
        "consumerGroup": GROUP, "topic": TOPIC, "queueId": "-1", "maxMsgNums": str(max_nums),
        "invisibleTime": str(invisible_ms), "pollTime": str(poll_ms), "bornTime": "0",
        "initMode": "0", "expType": "TAG", "exp": "*",
    }  # fmt: skip
    return RemotingCommand.request(RequestCode.POP_MESSAGE, ext)


def _handle_request(code: int, record: MessageRecord, **more: str) -> RemotingCommand:
    ext = {
        "consumerGroup": GROUP, "topic": TOPIC, "queueId": str(record.queue_id),
        "extraInfo": record.properties_map()["POP_CK"], "offset": str(record.queue_offset),
        **more,
    }  # fmt: skip
    return RemotingCommand.request(code, ext)


@pytest.mark.parametrize("grpc_port", ["0", "-1"], ids=["grpc-on", "grpc-off"])
async def test_pop_ack_revive_over_remoting(tmp_path: Path, grpc_port: str) -> None:
    # The broker owns the PopService: POP over remoting needs no gRPC server.
    async with running_cluster(tmp_path, {"grpcServerPort": grpc_port}) as (namesrv, broker):
        assert (broker.grpc_server is None) == (grpc_port == "-1")
        broker.topic_config_manager.update(TopicConfig(TOPIC, 2, 2))
        broker.subscription_group_manager.update(SubscriptionGroupConfig(GROUP))
        addr = f"127.0.0.1:{broker.config.listen_port}"
        async with AsyncProducer("pop-remoting-p", namesrv.address) as producer:
            for i in range(10):
                await producer.send(Message(TOPIC, f"m{i}".encode()))
        client = RemotingClient()
        try:
            popped: list[MessageRecord] = []
            while len(popped) < 10:
                answer = await client.invoke(addr, _pop(10 - len(popped), 1000, 1000))
                assert answer.code == ResponseCode.SUCCESS, answer.remark
                header = PopMessageResponseHeader.from_ext(answer.ext_fields)
                assert header.invisible_time == 1000 and header.start_offset_info
                popped += decode_records(answer.body or b"")
            assert sorted(r.body for r in popped) == [f"m{i}".encode() for i in range(10)]
            assert all(r.reconsume_times == 0 for r in popped)
            acked, left = popped[:5], popped[5:]
            for record in acked:
                answer = await client.invoke(addr, _handle_request(RequestCode.ACK_MESSAGE, record))
                assert answer.code == ResponseCode.SUCCESS, answer.remark
            # After the invisible time the 5 un-acked ones come back, one attempt later.
            back: list[MessageRecord] = []

            async def revived_all() -> bool:
                answer = await client.invoke(addr, _pop(10, 60_000, 500))
                back.extend(decode_records(answer.body or b""))
                return len(back) >= 5

            await async_wait_until(revived_all, timeout=30)
            assert sorted(r.body for r in back) == sorted(r.body for r in left)
            assert all(r.reconsume_times == 1 for r in back)
            # The acked ones never come back, nor do the revived ones within 60 s.
            again = await client.invoke(addr, _pop(10, 60_000, 200))
            assert again.code == ResponseCode.POLLING_TIMEOUT
            await _change_then_ack(client, addr, back[0])
        finally:
            await client.aclose()


async def _change_then_ack(client: RemotingClient, addr: str, record: MessageRecord) -> None:
    """A change of invisible time answers the new checkpoint; the old handle goes stale."""
    change = _handle_request(
        RequestCode.CHANGE_MESSAGE_INVISIBLETIME, record, invisibleTime="30000"
    )
    answer = await client.invoke(addr, change)
    assert answer.code == ResponseCode.SUCCESS, answer.remark
    assert int(answer.ext_fields["invisibleTime"]) == 30000
    again = await client.invoke(addr, change)
    assert again.code == ResponseCode.NO_MESSAGE  # the old handle moved
