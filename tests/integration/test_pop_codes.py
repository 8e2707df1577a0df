"""RocketMQ 5's remaining POP and server-side rebalance codes over remoting, raw requests
as a Java 5 client sends them to an in-process broker (real sockets, real store):
NOTIFICATION (200054), BATCH_ACK_MESSAGE (200151), QUERY_ASSIGNMENT (400),
SET_MESSAGE_REQUEST_MODE (401) and GET_ALL_MESSAGE_REQUEST_MODE (402)."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import orjson

from rocketq.broker.controller import BrokerController
from rocketq.client import AsyncProducer, Message
from rocketq.common.record import MessageRecord, decode_record, decode_records
from rocketq.common.topic import TopicConfig
from rocketq.remoting import RemotingClient, RemotingCommand, RequestCode, ResponseCode
from rocketq.remoting.body import SubscriptionGroupConfig
from rocketq.testing import async_wait_until, running_cluster

TOPIC, GROUP = "PopCodes", "pop-codes-g"
# A pop long enough never to end inside a test, and one that ends at once.
HOLD_MS, NO_WAIT = 30_000, 0


def _pop(max_nums: int, invisible_ms: int, poll_ms: int = 0) -> RemotingCommand:
    ext = {
        "consumerGroup": GROUP, "topic": TOPIC, "queueId": "-1", "maxMsgNums": str(max_nums),
        "invisibleTime": str(invisible_ms), "pollTime": str(poll_ms), "bornTime": "0",
        "initMode": "0", "expType": "TAG", "exp": "*",
    }  # fmt: skip
    return RemotingCommand.request(RequestCode.POP_MESSAGE, ext)


def _notification(poll_ms: int, queue_id: int = -1, born: int = 0, **more: str) -> RemotingCommand:
    ext = {
        "consumerGroup": GROUP, "topic": TOPIC, "queueId": str(queue_id),
        "pollTime": str(poll_ms), "bornTime": str(born), **more,
    }  # fmt: skip
    return RemotingCommand.request(RequestCode.NOTIFICATION, ext)


async def _setup(broker: BrokerController, queues: int) -> str:
    broker.topic_config_manager.update(TopicConfig(TOPIC, queues, queues))
    broker.subscription_group_manager.update(SubscriptionGroupConfig(GROUP))
    await broker.register_broker_all()
    return f"127.0.0.1:{broker.config.listen_port}"


async def _send(namesrv_addr: str, count: int) -> None:
    async with AsyncProducer("pop-codes-p", namesrv_addr) as producer:
        for i in range(count):
            await producer.send(Message(TOPIC, f"m{i}".encode()))


# -- NOTIFICATION ------------------------------------------------------------------------------


async def test_notification_long_polls_until_a_message_arrives(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, {"grpcServerPort": "-1"}) as (namesrv, broker):
        addr = await _setup(broker, 2)
        client = RemotingClient()
        try:
            empty = await client.invoke(addr, _notification(NO_WAIT))
            assert (empty.code, empty.ext_fields) == (ResponseCode.SUCCESS, {"hasMsg": "false"})
            # born long ago: its deadline has passed, answered at once
            born = int(time.time() * 1000) - HOLD_MS
            late = await client.invoke(addr, _notification(HOLD_MS, born=born), 10)
            assert late.ext_fields == {"hasMsg": "false"}
            held = asyncio.ensure_future(client.invoke(addr, _notification(HOLD_MS), 40))
            await _send(namesrv.address, 1)
            answer = await asyncio.wait_for(held, 20)
            assert (answer.code, answer.ext_fields) == (ResponseCode.SUCCESS, {"hasMsg": "true"})
            # a queue id of the topic, one that is not, a topic that is not
            one = await client.invoke(addr, _notification(NO_WAIT, queue_id=0))
            assert one.code == ResponseCode.SUCCESS and one.ext_fields["hasMsg"] in (
                "true",
                "false",
            )
            bad = await client.invoke(addr, _notification(NO_WAIT, queue_id=2))
            assert bad.code == ResponseCode.SYSTEM_ERROR and "queueId[2] is illegal" in (
                bad.remark or ""
            )
            unknown = _notification(NO_WAIT)
            unknown.ext_fields["topic"] = "NoSuchTopic"
            missing = await client.invoke(addr, unknown)
            assert missing.code == ResponseCode.TOPIC_NOT_EXIST
            # popped: nothing left to notify about
            popped = await client.invoke(addr, _pop(32, 60_000))
            assert len(decode_records(popped.body or b"")) == 1
            after = await client.invoke(addr, _notification(NO_WAIT))
            assert after.ext_fields == {"hasMsg": "false"}
        finally:
            await client.aclose()


# -- BATCH_ACK_MESSAGE -------------------------------------------------------------------------


def _batch_ack(records: list[MessageRecord], broker_name: str) -> bytes:
    """The body a Java 5 client builds (MQClientAPIImpl#batchAckMessageAsync): one BatchAck
    per checkpoint, bit = queue offset - checkpoint start offset, fastjson's short names."""
    acks: dict[tuple[str, ...], dict[str, Any]] = {}
    for record in records:
        start, pop_time, invisible, revive, retry, _b, queue, offset = record.properties_map()[
            "POP_CK"
        ].split(" ")
        ack = acks.setdefault(
            (retry, queue, start, pop_time),
            {"c": GROUP, "t": TOPIC, "r": retry, "so": int(start), "q": int(queue),
             "rq": int(revive), "pt": int(pop_time), "it": int(invisible), "bits": 0},
        )  # fmt: skip
        ack["bits"] |= 1 << (int(offset) - int(start))
    for ack in acks.values():
        bits = ack.pop("bits")
        ack["b"] = base64.b64encode(bits.to_bytes((bits.bit_length() + 7) // 8, "little")).decode()
    return orjson.dumps({"acks": list(acks.values()), "brokerName": broker_name})


async def test_batch_ack_acks_by_bitset(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, {"grpcServerPort": "-1"}) as (namesrv, broker):
        addr = await _setup(broker, 1)
        await _send(namesrv.address, 6)
        client = RemotingClient()
        try:
            answer = await client.invoke(addr, _pop(6, 1000))
            popped = decode_records(answer.body or b"")
            assert len(popped) == 6
            acked, left = [popped[i] for i in (0, 2, 3, 5)], [popped[1], popped[4]]
            # a single ack outside the queue (AckMessageProcessor's checks)
            bad_queue = _ack_request(popped[0], TOPIC)
            bad_queue.ext_fields["queueId"] = "1"  # the topic has one queue
            refused = await client.invoke(addr, bad_queue)
            assert refused.code == ResponseCode.MESSAGE_ILLEGAL
            assert "queueId[1] is illegal" in (refused.remark or "")
            bad_offset = _ack_request(popped[0], TOPIC)
            bad_offset.ext_fields["offset"] = "99"
            refused = await client.invoke(addr, bad_offset)
            assert refused.code == ResponseCode.NO_MESSAGE
            assert refused.remark == f"offset is illegal, key:{TOPIC}@0, commit:99, store:0~6"
            body = _batch_ack(acked, broker.config.broker_name)
            assert (
                orjson.loads(body)["acks"][0]["b"] == base64.b64encode(bytes([0b101101])).decode()
            )
            reply = await client.invoke(
                addr, RemotingCommand.request(RequestCode.BATCH_ACK_MESSAGE, body=body)
            )
            assert (reply.code, reply.remark) == (ResponseCode.SUCCESS, None)
            _assert_batch_ack_record(broker, [r.queue_offset for r in acked])
            nothing = RemotingCommand.request(RequestCode.BATCH_ACK_MESSAGE, body=b'{"acks":[]}')
            assert (await client.invoke(addr, nothing)).code == ResponseCode.NO_MESSAGE
            no_body = RemotingCommand.request(RequestCode.BATCH_ACK_MESSAGE)
            assert (await client.invoke(addr, no_body)).code == ResponseCode.NO_MESSAGE
            # the two not acked come back after their invisible time, the four never
            back: list[MessageRecord] = []

            async def revived() -> bool:
                again = await client.invoke(addr, _pop(6, 60_000, 500))
                back.extend(decode_records(again.body or b""))
                return len(back) >= 2

            await async_wait_until(revived, timeout=30)
            assert sorted(r.body for r in back) == sorted(r.body for r in left)
            assert all(r.reconsume_times == 1 for r in back)
            # revived: read from the retry topic (type "1"); one acked as a Java client does
            # (ACK_MESSAGE naming the real topic, getRealTopic), the other in a batch
            assert {r.properties_map()["POP_CK"].split(" ")[4] for r in back} == {"1"}
            single = _ack_request(back[0], f"%RETRY%{GROUP}_{TOPIC}")
            reply = await client.invoke(addr, single)
            assert (reply.code, reply.remark) == (ResponseCode.SUCCESS, None)
            acks = _revive_records(broker, "ack")
            assert [(a["t"], a["ao"]) for a in acks] == [
                (single.ext_fields["topic"], back[0].queue_offset)
            ]
            body = _batch_ack(back[1:], "broker-a")
            batch = RemotingCommand.request(RequestCode.BATCH_ACK_MESSAGE, body=body)
            reply = await client.invoke(addr, batch)
            assert (reply.code, reply.remark) == (ResponseCode.SUCCESS, None)
            last = await client.invoke(addr, _pop(6, 60_000, 200))
            assert last.code == ResponseCode.POLLING_TIMEOUT
        finally:
            await client.aclose()


def _ack_request(record: MessageRecord, topic: str) -> RemotingCommand:
    ext = {
        "consumerGroup": GROUP, "topic": topic, "queueId": str(record.queue_id),
        "extraInfo": record.properties_map()["POP_CK"], "offset": str(record.queue_offset),
    }  # fmt: skip
    return RemotingCommand.request(RequestCode.ACK_MESSAGE, ext)


def _revive_records(broker: BrokerController, tag: str) -> list[dict[str, Any]]:
    """The bodies of the revive topic's records with ``tag`` (``ack``, ``bAck``, ``ck``)."""
    store, revive = broker.store, broker.pop_service.revive.topic
    found = []
    for queue_id in range(broker.pop_service.revive.queue_nums):
        result = store.get_message("t", revive, queue_id, 0, 64)
        for view in result.buffers:
            record = decode_record(view)
            if record.properties_map().get("TAGS") == tag:
                found.append(orjson.loads(record.body))
            view.release()
    return found


def _assert_batch_ack_record(broker: BrokerController, offsets: list[int]) -> None:
    """The revive topic holds one ``bAck`` record listing the acked offsets (``aol``)."""
    # (the revive closes a revived checkpoint with a bAck of its own: match the offsets)
    (record,) = [r for r in _revive_records(broker, "bAck") if r["aol"] == offsets]
    assert record["c"] == GROUP and record["t"] == TOPIC
    assert record["bn"] == broker.config.broker_name


# -- QUERY_ASSIGNMENT / SET_MESSAGE_REQUEST_MODE / GET_ALL_MESSAGE_REQUEST_MODE ---------------


def _heartbeat(client_id: str) -> RemotingCommand:
    """HEART_BEAT of a Java consumer of GROUP on TOPIC (fastjson's form)."""
    body = {
        "clientID": client_id,
        "consumerDataSet": [
            {
                "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET", "consumeType": "CONSUME_PASSIVELY",
                "groupName": GROUP, "messageModel": "CLUSTERING", "unitMode": False,
                "subscriptionDataSet": [
                    {"classFilterMode": False, "codeSet": [], "expressionType": "TAG",
                     "subString": "*", "subVersion": 1, "tagsSet": [], "topic": TOPIC}
                ],
            }
        ],
        "producerDataSet": [],
    }  # fmt: skip
    return RemotingCommand.request(RequestCode.HEART_BEAT, body=orjson.dumps(body))


async def _assignment(
    client: RemotingClient,
    addr: str,
    client_id: str,
    strategy: str = "AVG",
    model: str = "CLUSTERING",
) -> list[tuple[int, str]] | None:
    """(queueId, mode) of each assignment, sorted; None when the answer has none."""
    body = {"clientId": client_id, "consumerGroup": GROUP, "messageModel": model,
            "strategyName": strategy, "topic": TOPIC}  # fmt: skip
    request = RemotingCommand.request(RequestCode.QUERY_ASSIGNMENT, body=orjson.dumps(body))
    answer = await client.invoke(addr, request)
    assert (answer.code, answer.remark) == (ResponseCode.SUCCESS, None)
    obj = orjson.loads(answer.body or b"")
    if "messageQueueAssignments" not in obj:
        assert obj == {}
        return None
    out = []
    for item in obj["messageQueueAssignments"]:
        assert set(item) == {"messageQueue", "mode"}
        assert set(item["messageQueue"]) == {"brokerName", "queueId", "topic"}
        assert (item["messageQueue"]["topic"], item["messageQueue"]["brokerName"]) == (
            TOPIC, "broker-a",
        )  # fmt: skip
        out.append((item["messageQueue"]["queueId"], item["mode"]))
    return sorted(out)


async def _set_mode(client: RemotingClient, addr: str, topic: str, mode: str, share: int) -> int:
    body = {"consumerGroup": GROUP, "mode": mode, "popShareQueueNum": share, "topic": topic}
    request = RemotingCommand.request(RequestCode.SET_MESSAGE_REQUEST_MODE, body=orjson.dumps(body))
    return (await client.invoke(addr, request)).code


async def test_query_assignment_honours_the_request_mode(tmp_path: Path) -> None:
    ids = ["cid-a", "cid-b", "cid-c"]
    async with running_cluster(tmp_path, {"grpcServerPort": "-1"}) as (_namesrv, broker):
        addr = await _setup(broker, 4)
        clients = [RemotingClient() for _ in ids]  # one connection per consumer
        try:
            for client, cid in zip(clients, ids, strict=True):
                assert (await client.invoke(addr, _heartbeat(cid))).code == ResponseCode.SUCCESS
            query = clients[0]
            # PULL (the default): AVG over 4 queues and 3 consumers -> 2, 1, 1
            assert await _assignment(query, addr, "cid-a") == [(0, "PULL"), (1, "PULL")]
            assert await _assignment(query, addr, "cid-b") == [(2, "PULL")]
            assert await _assignment(query, addr, "cid-c", "AVG_BY_CIRCLE") == [(2, "PULL")]
            assert await _assignment(query, addr, "cid-a", model="BROADCASTING") == [
                (q, "PULL") for q in range(4)
            ]
            # no valid answer: unknown strategy, a client that is not in the group
            assert await _assignment(query, addr, "cid-a", "NO_SUCH_STRATEGY") is None
            assert await _assignment(query, addr, "cid-x") == []
            # POP sharing one consumer's queues: its own and the next one's
            assert await _set_mode(query, addr, TOPIC, "POP", 1) == ResponseCode.SUCCESS
            assert await _assignment(query, addr, "cid-a") == [(q, "POP") for q in (0, 1, 2)]
            assert await _assignment(query, addr, "cid-c") == [(q, "POP") for q in (0, 1, 3)]
            # POP without sharing limits: every consumer pops the whole broker (queue -1)
            assert await _set_mode(query, addr, TOPIC, "POP", 0) == ResponseCode.SUCCESS
            assert await _assignment(query, addr, "cid-b") == [(-1, "POP")]
            retry = await _set_mode(query, addr, f"%RETRY%{GROUP}", "POP", 0)
            assert retry == ResponseCode.NO_PERMISSION
            assert await _all_modes(query, addr) == _expected_modes()
        finally:
            for client in clients:
                await client.aclose()
        saved = tmp_path / "config" / "messageRequestMode.json"
        assert orjson.loads(saved.read_bytes()) == _expected_modes()
    # the mode survives a restart
    async with running_cluster(tmp_path, {"grpcServerPort": "-1"}) as (_namesrv, broker):
        addr = f"127.0.0.1:{broker.config.listen_port}"
        client = RemotingClient()
        try:
            assert await _all_modes(client, addr) == _expected_modes()
            await client.invoke(addr, _heartbeat("cid-a"))
            await broker.register_broker_all()
            assert await _assignment(client, addr, "cid-a") == [(-1, "POP")]
        finally:
            await client.aclose()


def _expected_modes() -> dict[str, Any]:
    mode = {"consumerGroup": GROUP, "mode": "POP", "popShareQueueNum": 0, "topic": TOPIC}
    return {"messageRequestModeMap": {TOPIC: {GROUP: mode}}}


async def _all_modes(client: RemotingClient, addr: str) -> dict[str, Any]:
    answer = await client.invoke(
        addr, RemotingCommand.request(RequestCode.GET_ALL_MESSAGE_REQUEST_MODE)
    )
    assert answer.code == ResponseCode.SUCCESS
    result: dict[str, Any] = orjson.loads(answer.body or b"")
    return result


async def _register(broker: BrokerController, ids: list[str]) -> list[RemotingClient]:
    """Consumers ``ids`` of GROUP heartbeating to the broker, one connection each."""
    addr = await _setup(broker, 4)
    clients = [RemotingClient() for _ in ids]
    for client, cid in zip(clients, ids, strict=True):
        assert (await client.invoke(addr, _heartbeat(cid))).code == ResponseCode.SUCCESS
    return clients


async def test_query_assignment_follows_the_broker_defaults(tmp_path: Path) -> None:
    """defaultMessageRequestMode / defaultPopShareQueueNum answer for a group that set no
    mode; serverLoadBalancerEnable=false gives each consumer every queue."""
    ids = ["cid-a", "cid-b", "cid-c"]
    keys = {"grpcServerPort": "-1", "defaultMessageRequestMode": "POP",
            "defaultPopShareQueueNum": "1"}  # fmt: skip
    async with running_cluster(tmp_path / "pop", keys) as (_namesrv, broker):
        clients = await _register(broker, ids)
        addr = f"127.0.0.1:{broker.config.listen_port}"
        try:  # POP sharing with the next consumer, as if SET_MESSAGE_REQUEST_MODE had said so
            assert await _assignment(clients[0], addr, "cid-a") == [(q, "POP") for q in (0, 1, 2)]
            # the default answers; it is not written into the table
            assert await _all_modes(clients[0], addr) == {"messageRequestModeMap": {}}
        finally:
            for client in clients:
                await client.aclose()
    keys = {"grpcServerPort": "-1", "serverLoadBalancerEnable": "false"}
    async with running_cluster(tmp_path / "nolb", keys) as (_namesrv, broker):
        clients = await _register(broker, ids)
        addr = f"127.0.0.1:{broker.config.listen_port}"
        try:
            for cid in ids:
                assert await _assignment(clients[0], addr, cid) == [(q, "PULL") for q in range(4)]
        finally:
            for client in clients:
                await client.aclose()
