"""Admin, query and lock requests against real ``rocketq namesrv`` + ``rocketq broker``
processes, through AdminClient, raw RemotingClient requests and the ``rocketq admin`` CLI.

One NameServer and one broker serve the whole module (autoCreateTopicEnable=false and a
4 KiB maxMessageSize, for the error paths); each test uses its own topic and group names.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from rocketq.admin.api import AdminClient
from rocketq.broker.subscription_group import SubscriptionGroupConfig
from rocketq.client.message import MessageQueue, PullStatus
from rocketq.common.errors import BrokerError
from rocketq.common.topic import TopicConfig
from rocketq.remoting import RemotingClient, RemotingCommand, RequestCode
from rocketq.remoting.connection import Connection, ProcessorTable
from rocketq.remoting.fastjson import loads
from rocketq.testing import BrokerProcess, NamesrvProcess
from tests.integration.brokers import call, wait_until

MAX_MESSAGE_SIZE = 4096


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[NamesrvProcess, BrokerProcess]]:
    root = tmp_path_factory.mktemp("admin")
    conf = {
        "brokerName": "broker-x",
        "autoCreateTopicEnable": "false",
        "maxMessageSize": str(MAX_MESSAGE_SIZE),
    }
    ns_conf = {"brokerChannelExpiredTime": "600000"}
    with (
        NamesrvProcess(root / "ns", ns_conf) as ns,
        BrokerProcess(root / "broker", ns.addr, conf) as broker,
    ):
        yield ns, broker


async def _create(
    admin: AdminClient, addr: str, topic: str, queues: int = 2, perm: int = 6
) -> None:
    await admin.create_topic(addr, TopicConfig(topic, queues, queues, perm))

    async def routed() -> bool:
        try:
            route = await admin.topic_route(topic)
        except BrokerError:
            return False
        return any(q.perm == perm for q in route.queue_datas)

    await wait_until(routed)


def _heartbeat(client_id: str, group: str, topic: str) -> bytes:
    sub = {"subString": "*", "subVersion": 1, "topic": topic, "tagsSet": [], "codeSet": []}
    consumer = {
        "groupName": group,
        "consumeType": "CONSUME_PASSIVELY",
        "messageModel": "CLUSTERING",
        "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
        "subscriptionDataSet": [sub],
        "unitMode": False,
    }
    body = {"clientID": client_id, "consumerDataSet": [consumer], "producerDataSet": []}
    return orjson.dumps(body)


async def test_topic_create_stats_config_and_delete(
    cluster: tuple[NamesrvProcess, BrokerProcess],
) -> None:
    ns, broker = cluster
    async with AdminClient(ns.addr) as admin:
        assert await admin.broker_addrs("DefaultCluster") == {broker.addr: "broker-x"}
        await _create(admin, broker.addr, "AdmTopic", queues=3)
        wrapper = await admin.all_topic_config(broker.addr)
        assert wrapper.topic_config_table["AdmTopic"].write_queue_nums == 3
        sent = [
            await admin.send_message("AdmTopic", b"m%d" % i, broker_name="broker-x", queue_id=1)
            for i in range(3)
        ]
        assert [s.queue_offset for s in sent] == [0, 1, 2]
        stats = await admin.topic_stats("AdmTopic")
        mq1 = MessageQueue("AdmTopic", "broker-x", 1)
        assert list(stats) == [MessageQueue("AdmTopic", "broker-x", i) for i in range(3)]
        assert (stats[mq1].min_offset, stats[mq1].max_offset) == (0, 3)
        assert stats[mq1].last_update_timestamp >= sent[0].queue_offset
        # raw body is fastjson's object-key form
        client = admin.remoting
        resp = await call(
            client, broker.addr, RequestCode.GET_TOPIC_STATS_INFO, {"topic": "AdmTopic"}
        )
        assert resp.body is not None and resp.body.startswith(
            b'{"offsetTable":{{"brokerName":"broker-x"'
        )
        resp = await call(client, broker.addr, RequestCode.GET_TOPIC_CONFIG, {"topic": "AdmTopic"})
        assert orjson.loads(resp.body or b"")["readQueueNums"] == 3
        # errors: unknown topic, bad name, system topic
        resp = await call(client, broker.addr, RequestCode.GET_TOPIC_STATS_INFO, {"topic": "Nope"})
        assert resp.code == 17
        bad = {"topic": "bad topic!", "readQueueNums": "1", "writeQueueNums": "1", "perm": "6"}
        assert (await call(client, broker.addr, RequestCode.UPDATE_AND_CREATE_TOPIC, bad)).code == 1
        sys_topic = {**bad, "topic": "SCHEDULE_TOPIC_XXXX"}
        resp = await call(client, broker.addr, RequestCode.UPDATE_AND_CREATE_TOPIC, sys_topic)
        assert resp.code == 1 and "system topic" in (resp.remark or "")
        # delete drops offsets too
        await admin.update_consumer_offset(broker.addr, "AdmGroup", mq1, 2)
        assert (await admin.all_consumer_offsets(broker.addr))["AdmTopic@AdmGroup"] == {1: 2}
        resp = await call(client, broker.addr, RequestCode.GET_ALL_CONSUMER_OFFSET)
        assert b'"AdmTopic@AdmGroup":{1:2}' in (resp.body or b"")
        await admin.delete_topic_in_broker(broker.addr, "AdmTopic")
        await admin.delete_topic_in_namesrv("AdmTopic")
        assert "AdmTopic" not in (await admin.all_topic_config(broker.addr)).topic_config_table
        assert "AdmTopic@AdmGroup" not in await admin.all_consumer_offsets(broker.addr)
        with pytest.raises(BrokerError) as err:
            await admin.topic_route("AdmTopic")
        assert err.value.code == 17


async def test_send_errors_and_pull_offset_moved(
    cluster: tuple[NamesrvProcess, BrokerProcess],
) -> None:
    ns, broker = cluster
    async with AdminClient(ns.addr) as admin:
        await _create(admin, broker.addr, "ReadOnly", queues=1, perm=4)
        await _create(admin, broker.addr, "Pulled", queues=1)
        # unknown topic, autoCreateTopicEnable=false: TBW102 is absent too
        with pytest.raises(BrokerError) as err:
            await admin.send_message("NoSuchTopic", b"x")
        assert err.value.code == 17
        ext = {
            "a": "g",
            "b": "NoSuchTopic",
            "c": "TBW102",
            "d": "4",
            "e": "0",
            "f": "0",
            "g": "0",
            "h": "0",
        }
        resp = await call(admin.remoting, broker.addr, RequestCode.SEND_MESSAGE_V2, ext, b"x")
        assert resp.code == 17
        ext["b"] = "ReadOnly"
        resp = await call(admin.remoting, broker.addr, RequestCode.SEND_MESSAGE_V2, ext, b"x")
        assert resp.code == 16
        with pytest.raises(BrokerError) as err:
            await admin.send_message("Pulled", b"x" * (MAX_MESSAGE_SIZE + 1))
        assert err.value.code == 13
        for i in range(2):
            await admin.send_message("Pulled", b"p%d" % i)
        result = await admin.pull(broker.addr, "Pulled", 0, 0)
        assert result.status is PullStatus.FOUND
        assert [m.body for m in result.messages] == [b"p0", b"p1"]
        assert result.next_begin_offset == 2
        assert (await admin.pull(broker.addr, "Pulled", 0, 2)).status is PullStatus.NO_NEW_MSG
        moved = await admin.pull(broker.addr, "Pulled", 0, 50)
        assert (moved.status, moved.next_begin_offset) == (PullStatus.OFFSET_ILLEGAL, 2)
        # offset lookups
        assert await admin.max_offset(broker.addr, "Pulled", 0) == 2
        assert await admin.min_offset(broker.addr, "Pulled", 0) == 0
        first = result.messages[0].store_timestamp
        assert await admin.earliest_msg_store_time(broker.addr, "Pulled", 0) == first
        assert await admin.search_offset(broker.addr, "Pulled", 0, first) == 0
        future = int(time.time() * 1000) + 60_000
        assert await admin.search_offset(broker.addr, "Pulled", 0, future) == 2


async def test_query_and_view_message(cluster: tuple[NamesrvProcess, BrokerProcess]) -> None:
    ns, broker = cluster
    async with AdminClient(ns.addr) as admin:
        await _create(admin, broker.addr, "QueryT", queues=1)
        sent = await admin.send_message("QueryT", b"findme", tags="T1", keys="orderA orderB")
        record = await admin.view_message(sent.offset_msg_id)
        assert (record.body, record.topic) == (b"findme", "QueryT")
        assert [r.body for r in await admin.query_message("QueryT", "orderB")] == [b"findme"]
        by_uniq = await admin.query_message("QueryT", sent.msg_id, unique=True)
        assert [r.body for r in by_uniq] == [b"findme"]
        assert await admin.query_message("QueryT", "nothing") == []
        ext = {
            "topic": "QueryT",
            "key": "nothing",
            "maxNum": "32",
            "beginTimestamp": "0",
            "endTimestamp": str(1 << 62),
        }
        resp = await call(admin.remoting, broker.addr, RequestCode.QUERY_MESSAGE, ext)
        assert resp.code == 22 and resp.ext_fields is not None
        assert "indexLastUpdateTimestamp" in resp.ext_fields
        resp = await call(
            admin.remoting, broker.addr, RequestCode.VIEW_MESSAGE_BY_ID, {"offset": str(1 << 40)}
        )
        assert resp.code == 1 and resp.remark == f"can not find message by the offset, {1 << 40}"


async def test_subscription_groups_consumers_and_reset_offset(
    cluster: tuple[NamesrvProcess, BrokerProcess],
) -> None:
    ns, broker = cluster
    async with AdminClient(ns.addr) as admin:
        await _create(admin, broker.addr, "ResetT", queues=2)
        await admin.create_subscription_group(
            broker.addr, SubscriptionGroupConfig("ResetG", retry_max_times=3)
        )
        groups = await admin.all_subscription_groups(broker.addr)
        assert groups["ResetG"].retry_max_times == 3
        for i in range(4):
            await admin.send_message("ResetT", b"r%d" % i, broker_name="broker-x", queue_id=0)
        mq0, mq1 = MessageQueue("ResetT", "broker-x", 0), MessageQueue("ResetT", "broker-x", 1)
        await admin.update_consumer_offset(broker.addr, "ResetG", mq0, 3)
        await admin.update_consumer_offset(broker.addr, "ResetG", mq1, 0)
        stats = await admin.broker_consume_stats(broker.addr, "ResetG", "ResetT")
        assert (stats.offset_table[mq0].broker_offset, stats.offset_table[mq0].consumer_offset) == (
            4,
            3,
        )
        assert stats.offset_table[mq0].last_timestamp > 0 and stats.diff_total() == 1
        client = admin.remoting
        resp = await call(
            client,
            broker.addr,
            RequestCode.GET_CONSUMER_CONNECTION_LIST,
            {"consumerGroup": "ResetG"},
        )
        assert resp.code == 206
        ext = {"topic": "ResetT", "group": "ResetG", "timestamp": "0", "isForce": "true"}
        resp = await call(client, broker.addr, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, ext)
        assert resp.code == 206
        # a consumer comes online (a heartbeat over a connection that takes broker requests)
        received: list[RemotingCommand] = []
        table = ProcessorTable()

        def on_reset(conn: Connection, req: RemotingCommand) -> None:
            received.append(req)

        table.register(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, on_reset)
        consumer = RemotingClient(table)
        try:
            hb = await call(
                consumer,
                broker.addr,
                RequestCode.HEART_BEAT,
                None,
                _heartbeat("cid-1", "ResetG", "ResetT"),
            )
            assert hb.code == 0
            conn_info = await admin.consumer_connection("ResetG", broker.addr)
            assert [c["clientId"] for c in conn_info["connectionSet"]] == ["cid-1"]
            assert (
                conn_info["messageModel"] == "CLUSTERING"
                and "ResetT" in conn_info["subscriptionTable"]
            )
            await _wait_route(ns, "%RETRY%ResetG")  # created by the heartbeat, registered soon
            assert (await admin.consume_stats("ResetG")).offset_table[mq0].consumer_offset == 3
            offsets = await admin.reset_offset_by_time("ResetT", "ResetG", 0, force=True)
            assert offsets == {mq0: 0, mq1: 0}
            await wait_until(lambda: _true(bool(received)))
            body = loads(received[0].body or b"")
            assert received[0].ext_fields == {
                "topic": "ResetT",
                "group": "ResetG",
                "timestamp": "0",
                "isForce": "true",
            }
            assert sorted(k.as_dict()["queueId"] for k in body["offsetTable"]) == [0, 1]
            assert (await admin.all_consumer_offsets(broker.addr))["ResetT@ResetG"] == {0: 0, 1: 0}
            to_end = await admin.reset_offset_by_time("ResetT", "ResetG", -1, force=True)
            assert to_end == {mq0: 4, mq1: 0}
            cpp = await admin.reset_offset_by_time("ResetT", "ResetG", 0, force=False, cpp=True)
            assert cpp == {mq0: 0, mq1: 0}
            await wait_until(lambda: _true(len(received) == 3))
            c_body = orjson.loads(received[2].body or b"")
            assert {
                "brokerName": "broker-x",
                "offset": 0,
                "queueId": 0,
                "topic": "ResetT",
            } in c_body["offsetTable"]
        finally:
            await consumer.aclose()
        await admin.delete_subscription_group(broker.addr, "ResetG", clean_offset=True)
        assert "ResetG" not in await admin.all_subscription_groups(broker.addr)
        assert "ResetT@ResetG" not in await admin.all_consumer_offsets(broker.addr)
        resp = await call(
            client, broker.addr, RequestCode.GET_PRODUCER_CONNECTION_LIST, {"producerGroup": "none"}
        )
        assert resp.code == 1


async def _true(value: bool) -> bool:
    return value


async def test_locks_runtime_info_and_broker_config(
    cluster: tuple[NamesrvProcess, BrokerProcess],
) -> None:
    ns, broker = cluster
    async with AdminClient(ns.addr) as admin:
        mqs = [MessageQueue("LockT", "broker-x", i) for i in range(2)]
        assert await admin.lock_batch_mq(broker.addr, "LockG", "c1", mqs) == mqs
        assert await admin.lock_batch_mq(broker.addr, "LockG", "c2", mqs) == []
        assert await admin.lock_batch_mq(broker.addr, "LockG", "c1", mqs[:1]) == mqs[:1]
        await admin.unlock_batch_mq(broker.addr, "LockG", "c1", mqs[1:])
        assert await admin.lock_batch_mq(broker.addr, "LockG", "c2", mqs) == mqs[1:]
        # the C++ client's body: numeric queueId, no onlyThisBroker
        cpp_body = (
            b'{"consumerGroup":"LockG","clientId":"c3",'
            b'"mqSet":[{"topic":"LockT","brokerName":"broker-x","queueId":5}]}\n'
        )
        resp = await call(admin.remoting, broker.addr, RequestCode.LOCK_BATCH_MQ, None, cpp_body)
        assert orjson.loads(resp.body or b"") == {
            "lockOKMQSet": [{"brokerName": "broker-x", "queueId": 5, "topic": "LockT"}]
        }
        resp = await call(admin.remoting, broker.addr, RequestCode.LOCK_BATCH_MQ, None, b"not json")
        assert resp.code == 1
        info = await admin.broker_runtime_info(broker.addr)
        assert info["brokerVersionDesc"] == "V4_9_4" and info["brokerVersion"] == "401"
        assert int(info["commitLogMaxOffset"]) >= int(info["commitLogMinOffset"]) >= 0
        assert len(info["putTps"].split(" ")) == 3 and int(info["bootTimestamp"]) > 0
        config = await admin.broker_config(broker.addr)
        assert config["brokerName"] == "broker-x" and config["autoCreateTopicEnable"] == "false"
        resp = await call(admin.remoting, broker.addr, RequestCode.GET_BROKER_CONFIG)
        version = json.loads((resp.ext_fields or {})["version"])
        await admin.update_broker_config(broker.addr, {"maxMessageSize": "5000", "noSuchKey": "1"})
        assert (await admin.broker_config(broker.addr))["maxMessageSize"] == "5000"
        resp = await call(admin.remoting, broker.addr, RequestCode.GET_BROKER_CONFIG)
        assert json.loads((resp.ext_fields or {})["version"])["counter"] == version["counter"] + 1
        with pytest.raises(BrokerError):
            await admin.update_broker_config(broker.addr, {"maxMessageSize": "lots"})
        await admin.update_broker_config(broker.addr, {"maxMessageSize": str(MAX_MESSAGE_SIZE)})
        # read at start only: left as the broker runs (Java's store would switch the value
        # under its running flush service)
        await admin.update_broker_config(broker.addr, {"flushDiskType": "SYNC_FLUSH"})
        assert (await admin.broker_config(broker.addr))["flushDiskType"] == "ASYNC_FLUSH"


def _cli(ns: NamesrvProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rocketq", "admin", args[0], "-n", ns.addr, *args[1:]],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_commands(cluster: tuple[NamesrvProcess, BrokerProcess]) -> None:
    ns, broker = cluster
    out = _cli(ns, "updateTopic", "-c", "DefaultCluster", "-t", "CliT", "-r", "2", "-w", "2")
    assert out.returncode == 0 and f"create topic to {broker.addr} success." in out.stdout
    assert "TopicConfig [topicName=CliT, readQueueNums=2, writeQueueNums=2, perm=RW-," in out.stdout
    asyncio.run(_wait_route(ns, "CliT"))
    out = _cli(
        ns,
        "sendMessage",
        "-t",
        "CliT",
        "-p",
        "hello cli",
        "-k",
        "ck1",
        "-c",
        "tagX",
        "-b",
        "broker-x",
        "-i",
        "1",
    )
    assert out.returncode == 0 and "SEND_OK" in out.stdout, out.stderr
    msg_id = out.stdout.split()[-1]
    out = _cli(ns, "topicStatus", "-t", "CliT")
    assert "#Broker Name" in out.stdout and "broker-x" in out.stdout
    out = _cli(ns, "queryMsgByKey", "-t", "CliT", "-k", "ck1")
    assert msg_id in out.stdout
    out = _cli(ns, "queryMsgByOffset", "-t", "CliT", "-b", "broker-x", "-i", "1", "-o", "0")
    assert "hello cli" in out.stdout and "[tagX]" in out.stdout
    offset_id = next(
        line.split()[1] for line in out.stdout.splitlines() if line.startswith("OffsetID:")
    )
    out = _cli(ns, "queryMsgById", "-i", offset_id)
    assert "hello cli" in out.stdout and "CommitLog Offset:" in out.stdout
    out = _cli(ns, "consumeMessage", "-t", "CliT")
    assert "BODY: hello cli" in out.stdout, out.stderr
    out = _cli(ns, "brokerStatus", "-b", broker.addr)
    assert "brokerVersionDesc" in out.stdout and "V4_9_4" in out.stdout
    out = _cli(ns, "updateSubGroup", "-b", broker.addr, "-g", "CliG", "-r", "5")
    assert out.returncode == 0 and "success" in out.stdout
    assert "SubscriptionGroupConfig [groupName=CliG, consumeEnable=true," in out.stdout
    asyncio.run(_commit(ns, broker, "CliG", "CliT", 2))  # no consumer online: the old way
    out = _cli(ns, "resetOffsetByTime", "-g", "CliG", "-t", "CliT", "-s", "now")
    assert out.returncode == 0 and "#resetOffset" in out.stdout, out.stderr
    out = _cli(ns, "updateBrokerConfig", "-b", broker.addr, "-k", "maxMessageSize", "-v", "4096")
    assert "update broker config success" in out.stdout
    out = _cli(ns, "getBrokerConfig", "-c", "DefaultCluster")
    assert "maxMessageSize" in out.stdout and "============" in out.stdout
    out = _cli(ns, "consumerProgress", "-g", "CliG")  # %RETRY%CliG has no route: no consumer
    assert out.returncode != 0 and "17" in out.stderr
    out = _cli(ns, "deleteTopic", "-t", "CliT", "-c", "DefaultCluster")
    assert out.returncode == 0 and "from NameServer success" in out.stdout
    out = _cli(ns, "topicStatus", "-t", "CliT")
    assert out.returncode != 0 and "17" in out.stderr


async def _commit(
    ns: NamesrvProcess, broker: BrokerProcess, group: str, topic: str, n: int
) -> None:
    async with AdminClient(ns.addr) as admin:
        for qid in range(n):
            await admin.update_consumer_offset(
                broker.addr, group, MessageQueue(topic, "broker-x", qid), 0
            )


async def _wait_route(ns: NamesrvProcess, topic: str) -> None:
    async with AdminClient(ns.addr) as admin:

        async def routed() -> bool:
            try:
                await admin.topic_route(topic)
            except BrokerError:
                return False
            return True

        await wait_until(routed)


def test_broker_process_reports_its_store(
    tmp_path: Path, cluster: tuple[NamesrvProcess, BrokerProcess]
) -> None:
    _ns, broker = cluster
    assert broker.broker_name == "broker-x" and broker.port > 0
    assert (broker.store_dir / "config" / "topics.json").exists()
