"""The admin request codes beyond the basic ones (issue 14) against the in-process cluster
(``rocketq.testing.running_cluster``): the requests relayed to a client (307, 309, 223),
consume statistics (317, 315, 303, 300, 308), producers (328), raw ConsumeQueue entries
(321), system topics (305), store maintenance (306, 329, 316), offset cloning (314),
resumed half messages (323) and RocketMQ 5's list and group codes (18, 225, 352).

A "consumer" here is a raw RemotingClient that heartbeats and answers the broker's
requests, so what the broker relays and how it relays it is visible.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from rocketq.admin import AdminClient
from rocketq.broker.controller import BrokerController
from rocketq.broker.stats import DAY
from rocketq.client.message import MessageQueue
from rocketq.common.errors import BrokerError
from rocketq.common.topic import TopicConfig
from rocketq.namesrv import NamesrvController
from rocketq.remoting import RemotingClient, RemotingCommand, RequestCode
from rocketq.remoting.body import SubscriptionGroupConfig
from rocketq.remoting.connection import Connection, ProcessorTable
from rocketq.remoting.fastjson import ObjectKey, dumps_java
from rocketq.testing import async_wait_until, running_cluster
from tests.integration.brokers import call

Cluster = tuple[NamesrvController, BrokerController]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path / "store") as c:
        yield c


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


class FakeConsumer:
    """A client connection that heartbeats as a consumer and answers 307, 309 and 221."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.received: list[RemotingCommand] = []
        table = ProcessorTable()
        table.register(RequestCode.GET_CONSUMER_RUNNING_INFO, self._running_info)
        table.register(RequestCode.CONSUME_MESSAGE_DIRECTLY, self._consume_directly)
        table.register(RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT, self._status)
        self.remoting = RemotingClient(table)

    def _running_info(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        self.received.append(req)
        body = {"properties": {"PROP_CLIENT_VERSION": "V4_9_4"}, "subscriptionSet": []}
        return req.make_response(body=orjson.dumps(body))

    def _consume_directly(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        self.received.append(req)
        body = {"consumeResult": "CR_SUCCESS", "order": False, "spentTimeMills": 1}
        return req.make_response(body=orjson.dumps(body))

    def _status(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        self.received.append(req)
        mq = ObjectKey((("brokerName", "broker-a"), ("queueId", 0), ("topic", req.ext("topic"))))
        return req.make_response(body=dumps_java({"messageQueueTable": {mq: 7}}))


async def _online(addr: str, group: str, topic: str, client_id: str = "cid-1") -> FakeConsumer:
    fake = FakeConsumer(client_id)
    hb = await call(
        fake.remoting, addr, RequestCode.HEART_BEAT, None, _heartbeat(client_id, group, topic)
    )
    assert hb.code == 0
    return fake


async def _routed(admin: AdminClient, topic: str) -> None:
    async def ok() -> bool:
        try:
            await admin.topic_route(topic)
        except BrokerError:
            return False
        return True

    await async_wait_until(ok)


async def test_relayed_to_the_client(cluster: Cluster) -> None:
    ns, broker = cluster
    addr = broker.config.broker_addr
    async with AdminClient(ns.address) as admin:
        await admin.create_topic(addr, TopicConfig("RelayT", 2, 2))
        sent = await admin.send_message("RelayT", b"direct", broker_name="broker-a", queue_id=0)
        fake = await _online(addr, "RelayG", "RelayT")
        try:
            await _routed(admin, "%RETRY%RelayG")
            info = await admin.consumer_running_info("RelayG", "cid-1", jstack=True)
            assert info["properties"]["PROP_CLIENT_VERSION"] == "V4_9_4"
            asked = fake.received[-1]
            assert asked.ext_fields is not None
            assert asked.ext_fields["clientId"] == "cid-1"
            assert asked.ext_fields["jstackEnable"] == "true"
            result = await admin.consume_message_directly("RelayG", "cid-1", sent.offset_msg_id)
            assert result["consumeResult"] == "CR_SUCCESS"
            relayed = fake.received[-1]
            assert relayed.ext("brokerName") == "broker-a"
            assert relayed.body is not None and b"direct" in relayed.body  # the stored record
            status = await admin.consumer_status("RelayT", "RelayG")
            assert status == {"cid-1": {MessageQueue("RelayT", "broker-a", 0): 7}}
            # a client id that is not online: Java's remark
            with pytest.raises(BrokerError) as err:
                await admin.consumer_running_info("RelayG", "nobody")
            assert err.value.code == 1 and "not online" in err.value.remark
        finally:
            await fake.remoting.aclose()
        resp = await call(
            admin.remoting,
            addr,
            RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS,
            {"topic": "RelayT", "group": "NoSuchG"},
        )
        assert resp.code == 1 and "No Any Consumer online" in (resp.remark or "")


async def test_consume_statistics(cluster: Cluster) -> None:
    ns, broker = cluster
    addr = broker.config.broker_addr
    async with AdminClient(ns.address) as admin:
        await admin.create_topic(addr, TopicConfig("StatT", 2, 2, order=True))
        await admin.create_subscription_group(addr, SubscriptionGroupConfig("StatG"))
        await admin.create_subscription_group(addr, SubscriptionGroupConfig("OtherG"))
        for i in range(5):
            await admin.send_message("StatT", b"s%d" % i, broker_name="broker-a", queue_id=0)
        mq0 = MessageQueue("StatT", "broker-a", 0)
        await admin.update_consumer_offset(addr, "StatG", mq0, 2)
        await admin.update_consumer_offset(addr, "OtherG", mq0, 4)
        stats = await admin.broker_all_consume_stats(addr)
        assert stats["brokerAddr"] == addr and stats["totalDiff"] == 3 + 1
        by_group = {k: v for entry in stats["consumeStatsList"] for k, v in entry.items()}
        (stat_g,) = by_group["StatG"]
        offsets = {k.as_dict()["queueId"]: v for k, v in stat_g["offsetTable"].items()}
        assert offsets[0]["brokerOffset"] == 5 and offsets[0]["consumerOffset"] == 2
        assert offsets[0]["lastTimestamp"] > 0 and offsets[1]["brokerOffset"] == 0
        ordered = await admin.broker_all_consume_stats(addr, order_only=True)
        assert ordered["totalDiff"] == 4
        # time span, who consumes, correction offsets
        await _routed(admin, "StatT")
        spans = await admin.consume_time_span("StatT", "StatG")
        span0 = next(s for s in spans if s["messageQueue"]["queueId"] == 0)
        assert span0["minTimeStamp"] <= span0["consumeTimeStamp"] <= span0["maxTimeStamp"]
        assert span0["delayTime"] >= 0
        assert await admin.topic_consumed_by("StatT") == ["OtherG", "StatG"]
        assert await admin.correction_offsets(addr, "StatT", "StatG") == {0: 2}
        assert await admin.correction_offsets(addr, "StatT", "StatG", "StatG") == {0: (1 << 63) - 1}
        # VIEW_BROKER_STATS_DATA: the broker-wide put count exists, unknown items do not;
        # the day window counts from its next hourly sample (taken here, not waited for)
        broker.broker_stats_manager.sample(DAY)
        data = await admin.broker_stats_data(addr, "BROKER_PUT_NUMS", "DefaultCluster")
        assert data["statsDay"]["sum"] >= 5
        with pytest.raises(BrokerError) as err:
            await admin.broker_stats_data(addr, "TOPIC_PUT_NUMS", "NoSuchTopic")
        assert err.value.code == 1
        assert err.value.remark == "The stats <TOPIC_PUT_NUMS> <NoSuchTopic> not exist"


async def test_queues_producers_and_system_topics(cluster: Cluster) -> None:
    ns, broker = cluster
    addr = broker.config.broker_addr
    async with AdminClient(ns.address) as admin:
        await admin.create_topic(addr, TopicConfig("CqT", 1, 1))
        for i in range(3):
            await admin.send_message("CqT", b"q%d" % i, tags="TagA")
        body, remark = await admin.query_consume_queue(addr, "CqT", 0, 1, 5, group="CqG")
        assert (body["minQueueIndex"], body["maxQueueIndex"]) == (0, 3)
        assert body["filterData"] == "CqG@CqT is not online!"
        assert len(body["queueData"]) == 2
        assert body["queueData"][0]["physicSize"] > 0 and remark is None
        _body, remark = await admin.query_consume_queue(addr, "CqT", 0, 9, 1)
        assert remark == "Index 9 of 0@CqT is not exist!"
        with pytest.raises(BrokerError) as err:
            await admin.query_consume_queue(addr, "CqT", 5, 0, 1)
        assert err.value.remark == "5@CqT is not exist!"
        # a producer heartbeat shows up in GET_ALL_PRODUCER_INFO
        producer = RemotingClient()
        try:
            hb = {
                "clientID": "pid-1",
                "consumerDataSet": [],
                "producerDataSet": [{"groupName": "PG"}],
            }
            resp = await call(producer, addr, RequestCode.HEART_BEAT, None, orjson.dumps(hb))
            assert resp.code == 0
            info = await admin.all_producer_info(addr)
            assert [p["clientId"] for p in info["PG"]] == ["pid-1"]
            assert info["PG"][0]["language"] == "PYTHON"  # the LanguageCode it sent
        finally:
            await producer.aclose()
        topics = await admin.system_topics_of_broker(addr)
        assert {"SCHEDULE_TOPIC_XXXX", "DefaultCluster", "broker-a", "TBW102"} <= set(topics)


async def test_store_maintenance(cluster: Cluster) -> None:
    ns, broker = cluster
    addr = broker.config.broker_addr
    async with AdminClient(ns.address) as admin:
        await admin.create_topic(addr, TopicConfig("GoneT", 1, 1))
        await admin.send_message("GoneT", b"x")
        assert ("GoneT", 0) in broker.store.consume_queues
        await admin.delete_topic_in_broker(addr, "GoneT")
        assert await admin.clean_unused_topic(addr)
        assert ("GoneT", 0) not in broker.store.consume_queues
        assert await admin.clean_expired_consume_queue(addr)
        assert await admin.delete_expired_commit_log(addr)
        # executeDeleteFilesManually: the next clean round deletes whatever the hour
        result = await broker.store.clean_service.run_once()
        assert result.manual


async def test_offsets_half_messages_and_lists(cluster: Cluster) -> None:
    ns, broker = cluster
    addr = broker.config.broker_addr
    async with AdminClient(ns.address) as admin:
        configs = [TopicConfig("ListA", 2, 2), TopicConfig("ListB", 1, 1, perm=4)]
        await admin.create_topic_list(addr, configs)
        table = (await admin.all_topic_config(addr)).topic_config_table
        assert table["ListA"].write_queue_nums == 2 and table["ListB"].perm == 4
        await _routed(admin, "ListA")
        with pytest.raises(BrokerError) as err:
            await admin.create_topic_list(addr, [TopicConfig("SCHEDULE_TOPIC_XXXX")])
        assert "system topic" in err.value.remark
        groups = [SubscriptionGroupConfig("LG1"), SubscriptionGroupConfig("LG2", retry_max_times=3)]
        await admin.create_subscription_group_list(addr, groups)
        assert (await admin.subscription_group_config(addr, "LG2")).retry_max_times == 3
        with pytest.raises(BrokerError) as err:
            await admin.subscription_group_config(addr, "NoSuchGroup")
        assert err.value.remark == "No group in this broker"
        # clone offsets
        await admin.update_consumer_offset(addr, "LG1", MessageQueue("ListA", "broker-a", 1), 9)
        await admin.clone_group_offset("LG1", "LG2", "ListA", offline=True)
        assert (await admin.all_consumer_offsets(addr))["ListA@LG2"] == {1: 9}
        # a message parked after too many checks goes back to the half topic
        sent = await admin.send_message("ListA", b"half?", broker_name="broker-a", queue_id=0)
        before = broker.store.get_max_offset_in_queue("RMQ_SYS_TRANS_HALF_TOPIC", 0)
        assert await admin.resume_check_half_message(addr, sent.offset_msg_id)
        after = broker.store.get_max_offset_in_queue("RMQ_SYS_TRANS_HALF_TOPIC", 0)
        assert after == max(before, 0) + 1
        with pytest.raises(BrokerError):
            await admin.resume_check_half_message(addr, "not-a-msg-id")
        resp = await call(
            admin.remoting, addr, RequestCode.UPDATE_AND_CREATE_TOPIC_LIST, None, b"[]"
        )
        assert resp.code == 1
