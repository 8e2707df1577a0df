"""What a rocketq push consumer answers when the broker relays an admin's request to it
(issue 14): GET_CONSUMER_RUNNING_INFO with real process queues and pull/consume figures,
CONSUME_MESSAGE_DIRECTLY through its listener, GET_CONSUMER_STATUS_FROM_CLIENT with its
offsets. Real ``rocketq namesrv`` + ``rocketq broker`` processes; the consumer and the admin
API run on the test's loop, ``rocketq admin consumerStatus`` in a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rocketq.admin import AdminClient
from rocketq.admin.consumers import mq_of
from rocketq.cli import main
from rocketq.client import (
    AsyncLitePullConsumer,
    AsyncProducer,
    AsyncPushConsumer,
    ClientConfig,
    ConsumeConcurrentlyStatus,
    ConsumerConfig,
    LitePullConsumerConfig,
    Message,
    MessageExt,
)
from rocketq.common.errors import BrokerError
from rocketq.common.topic import TopicConfig
from rocketq.remoting import RemotingCommand, RequestCode
from rocketq.remoting.fastjson import ObjectKey, loads
from rocketq.testing import BrokerProcess, NamesrvProcess, async_wait_until

TOPIC, GROUP = "RunInfoT", "RunInfoG"
SENT = 20
# Java's field names (ProcessQueueInfo, ConsumeStatus, ConsumeMessageDirectlyResult).
PROCESS_QUEUE_INFO_FIELDS = {
    "commitOffset",
    "cachedMsgMinOffset",
    "cachedMsgMaxOffset",
    "cachedMsgCount",
    "cachedMsgSizeInMiB",
    "transactionMsgMinOffset",
    "transactionMsgMaxOffset",
    "transactionMsgCount",
    "locked",
    "tryUnlockTimes",
    "lastLockTimestamp",
    "droped",
    "lastPullTimestamp",
    "lastConsumeTimestamp",
}
CONSUME_STATUS_FIELDS = {
    "pullRT",
    "pullTPS",
    "consumeRT",
    "consumeOKTPS",
    "consumeFailedTPS",
    "consumeFailedMsgs",
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    root = tmp_path_factory.mktemp("runinfo")
    with (
        NamesrvProcess(root / "ns") as ns,
        BrokerProcess(root / "broker", ns.addr, {"brokerName": "broker-r"}) as broker,
    ):
        yield ns.addr, broker.addr


def listener(seen: list[MessageExt]) -> Any:
    def consume(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        seen.extend(msgs)
        if msgs[0].tags == "boom":
            raise ValueError("listener refused")
        if msgs[0].tags == "later":
            return ConsumeConcurrentlyStatus.RECONSUME_LATER
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    return consume


async def test_running_info_direct_consume_and_status(
    cluster: tuple[str, str], tmp_path: Path
) -> None:
    ns, broker = cluster
    config = ClientConfig(namesrv_addr=ns, poll_name_server_interval=500, rebalance_interval=500)
    seen: list[MessageExt] = []
    async with AdminClient(ns) as admin:
        await admin.create_topic(broker, TopicConfig(TOPIC, 4, 4))
        consumer = AsyncPushConsumer(
            GROUP,
            config=ConsumerConfig(
                consume_from_where="CONSUME_FROM_FIRST_OFFSET", offset_store_dir=str(tmp_path)
            ),
            client_config=config,
        )
        consumer.subscribe(TOPIC, "*")
        consumer.register_listener(listener(seen))
        async with consumer, AsyncProducer("RunInfoP", client_config=config) as producer:
            sent = [await producer.send(Message(TOPIC, b"m%d" % i)) for i in range(SENT)]
            await async_wait_until(lambda: len(seen) >= SENT, timeout=30)
            cid = consumer.instance.client_id
            await _check_running_info(admin, cid)
            await _check_raw_layout(admin, broker, cid)
            await _check_consume_directly(admin, producer, cid, sent[0].offset_msg_id, seen)
            await _check_consumer_status(admin, cid)
            await _check_cli(ns, cid)


async def _check_running_info(admin: AdminClient, cid: str) -> None:
    # The commit offsets reach SENT once the consume results are in.
    async def committed() -> bool:
        info = await admin.consumer_running_info(GROUP, cid)
        table = info["mqTable"].items()
        return sum(v["commitOffset"] for k, v in table if mq_of(k).topic == TOPIC) == SENT

    await async_wait_until(committed, timeout=20)
    info = await admin.consumer_running_info(GROUP, cid, jstack=True)
    props = info["properties"]
    assert props["PROP_CONSUME_TYPE"] == "CONSUME_PASSIVELY"
    assert props["PROP_CONSUMEORDERLY"] == "false"
    assert props["PROP_CLIENT_VERSION"] == "V4_9_4"
    assert props["PROP_NAMESERVER_ADDR"].rstrip(";") == admin.api.namesrv_addrs[0]
    assert int(props["PROP_THREADPOOL_CORE_SIZE"]) == 20
    started = int(props["PROP_CONSUMER_START_TIMESTAMP"])
    assert 0 < started <= int(time.time() * 1000)
    assert props["consumerGroup"] == GROUP and props["messageModel"] == "CLUSTERING"
    topics = {s["topic"] for s in info["subscriptionSet"]}
    assert topics == {TOPIC, f"%RETRY%{GROUP}"}
    queues = {mq_of(k): v for k, v in info["mqTable"].items()}
    mine = {mq: pq for mq, pq in queues.items() if mq.topic == TOPIC}
    assert len(mine) == 4 and all(set(pq) == PROCESS_QUEUE_INFO_FIELDS for pq in mine.values())
    assert sum(pq["commitOffset"] for pq in mine.values()) == SENT
    assert all(pq["cachedMsgCount"] == 0 and not pq["droped"] for pq in mine.values())
    assert all(pq["lastPullTimestamp"] >= started for pq in mine.values())
    status = info["statusTable"][TOPIC]
    assert set(status) == CONSUME_STATUS_FIELDS
    assert status["pullTPS"] > 0 and status["consumeOKTPS"] > 0
    assert status["pullRT"] >= 0 and status["consumeRT"] >= 0
    assert status["consumeFailedTPS"] == 0 and status["consumeFailedMsgs"] == 0
    assert "Thread: MainThread" in info["jstack"] and "Task: " in info["jstack"]


async def _check_raw_layout(admin: AdminClient, broker: str, cid: str) -> None:
    """The body as the broker relays it: fastjson's object keys in mqTable (Java reads
    ``TreeMap<MessageQueue, ProcessQueueInfo>`` from that form)."""
    ext = {"consumerGroup": GROUP, "clientId": cid, "jstackEnable": "false"}
    cmd = RemotingCommand.request(RequestCode.GET_CONSUMER_RUNNING_INFO, ext)
    resp = await admin.api.request(broker, cmd)
    assert resp.body is not None
    text = resp.body.decode()
    assert text.startswith('{"mqTable":{{"brokerName":"broker-r","queueId":0,"topic":')
    assert '{"brokerName":"broker-r","queueId":0,"topic":"RunInfoT"}:{"cachedMsgCount":' in text
    body = loads(resp.body)
    assert set(body) == {"properties", "subscriptionSet", "mqTable", "statusTable"}
    assert all(isinstance(k, ObjectKey) for k in body["mqTable"])


async def _check_consume_directly(
    admin: AdminClient, producer: AsyncProducer, cid: str, msg_id: str, seen: list[MessageExt]
) -> None:
    before = len(seen)
    ok = await admin.consume_message_directly(GROUP, cid, msg_id)
    assert ok["consumeResult"] == "CR_SUCCESS" and ok["order"] is False
    assert ok["autoCommit"] is True and ok["spentTimeMills"] >= 0
    assert len(seen) == before + 1 and seen[-1].body == b"m0" and seen[-1].topic == TOPIC
    later = await producer.send(Message(TOPIC, b"later", tags="later"))
    boom = await producer.send(Message(TOPIC, b"boom", tags="boom"))
    result = await admin.consume_message_directly(GROUP, cid, later.offset_msg_id)
    assert result["consumeResult"] == "CR_LATER"
    result = await admin.consume_message_directly(GROUP, cid, boom.offset_msg_id)
    assert result["consumeResult"] == "CR_THROW_EXCEPTION"
    assert result["remark"].startswith("ValueError: listener refused")


async def _check_consumer_status(admin: AdminClient, cid: str) -> None:
    status = await admin.consumer_status(TOPIC, GROUP)
    offsets = status[cid]
    assert {mq.topic for mq in offsets} == {TOPIC} and len(offsets) == 4
    assert sum(offsets.values()) >= SENT


async def _check_cli(ns: str, cid: str) -> None:
    args = ["admin", "consumerStatus", "-n", ns, "-g", GROUP, "-i", cid]
    result = await asyncio.to_thread(CliRunner().invoke, main, args)
    out = result.output
    assert result.exit_code == 0, out
    assert "#Consumer Properties#" in out and "PROP_CONSUMEORDERLY" in out
    assert f"Topic: {TOPIC:<40s} ClassFilter: false    SubExpression: *" in out
    assert "ProcessQueueInfo [commitOffset=" in out
    rt = out.split("#Consumer RT&TPS#")[1].splitlines()
    assert rt[1].startswith("#Topic") and "#ConsumeFailedMsgsInHour" in rt[1]
    line = next(ln for ln in rt if ln.startswith(TOPIC))
    figures = line.split()[1:]
    assert len(figures) == 6 and float(figures[1]) > 0  # pull TPS


async def test_lite_pull_consumer_running_info(cluster: tuple[str, str], tmp_path: Path) -> None:
    """``DefaultLitePullConsumerImpl#consumerRunningInfo``: settings, start time (mqadmin's
    analyzeSubscription parses it) and subscriptions; no queue or status tables."""
    ns, broker = cluster
    config = ClientConfig(namesrv_addr=ns, poll_name_server_interval=500, rebalance_interval=500)
    async with AdminClient(ns) as admin:
        await admin.create_topic(broker, TopicConfig("RunInfoLiteT", 2, 2))
        lite = AsyncLitePullConsumer(
            "RunInfoLiteG",
            config=LitePullConsumerConfig(offset_store_dir=str(tmp_path)),
            client_config=config,
        )
        async with lite:
            lite.subscribe("RunInfoLiteT", "TagA")
            await lite.instance.send_heartbeat_to_all_brokers()
            cid = lite.instance.client_id

            async def info_of_lite() -> dict[str, Any] | None:
                try:  # once the broker's %RETRY% topic of the group is routed
                    return await admin.consumer_running_info("RunInfoLiteG", cid)
                except BrokerError:
                    return None

            info = await async_wait_until(info_of_lite, timeout=20)
    props = info["properties"]
    assert props["PROP_CONSUME_TYPE"] == "CONSUME_ACTIVELY"
    assert props["consumerGroup"] == "RunInfoLiteG" and props["messageModel"] == "CLUSTERING"
    assert 0 < int(props["PROP_CONSUMER_START_TIMESTAMP"]) <= int(time.time() * 1000)
    assert [(s["topic"], s["subString"]) for s in info["subscriptionSet"]] == [
        ("RunInfoLiteT", "TagA")
    ]
    assert info["mqTable"] == {} and info["statusTable"] == {}
