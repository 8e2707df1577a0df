"""NameServer registrations and routes over real sockets, in RocketMQ's JSON shapes: in the
test's event loop (``running_namesrv``), and two NameServer processes side by side."""

from __future__ import annotations

import asyncio
import time
import zlib
from pathlib import Path

import orjson

from rocketq.namesrv import NamesrvController
from rocketq.remoting import RemotingClient, RequestCode, fastjson
from rocketq.remoting.body import DataVersion, RegisterBrokerBody
from rocketq.testing import NamesrvProcess, async_wait_until
from tests.integration.brokers import call, java_register_body, register_request, route_json

BROKER_A = "127.0.0.1:10911"
# A broker re-registering every 0.3 s, ten times, outlives the 1.5 s expiry twice over.
RE_REGISTER_EVERY_S = 0.3
RE_REGISTRATIONS = 10


async def test_registration_shows_in_route_and_cluster_info(
    loop_namesrv: NamesrvController,
) -> None:
    client = RemotingClient()
    try:
        body = java_register_body({"OrderTopic": (8, 4, 6), "TBW102": (8, 8, 7)})
        resp = await client.invoke(
            loop_namesrv.address, register_request("broker-a", BROKER_A, body=body)
        )
        assert resp.code == 0 and resp.flag & 1

        route = await route_json(client, loop_namesrv.address, "OrderTopic")
        # TopicRouteData exactly as RocketMQ shapes it, broker-id keys quoted.
        assert route == {
            "brokerDatas": [
                {
                    "brokerAddrs": {"0": BROKER_A},
                    "brokerName": "broker-a",
                    "cluster": "DefaultCluster",
                }
            ],
            "filterServerTable": {},
            "queueDatas": [
                {
                    "brokerName": "broker-a",
                    "perm": 6,
                    "readQueueNums": 8,
                    "topicSysFlag": 0,
                    "writeQueueNums": 4,
                }
            ],
        }
        tbw = await route_json(client, loop_namesrv.address, "TBW102")
        assert tbw is not None and tbw["queueDatas"][0]["perm"] == 7

        resp = await call(client, loop_namesrv.address, RequestCode.GET_BROKER_CLUSTER_INFO)
        assert resp.code == 0
        # Java's fastjson form: bare broker-id keys (``{0:"..."}``), which every client reads.
        assert b'"brokerAddrs":{0:"127.0.0.1:10911"}' in (resp.body or b"")
        assert fastjson.loads(resp.body or b"") == {
            "brokerAddrTable": {
                "broker-a": {
                    "brokerAddrs": {"0": BROKER_A},
                    "brokerName": "broker-a",
                    "cluster": "DefaultCluster",
                }
            },
            "clusterAddrTable": {"DefaultCluster": ["broker-a"]},
        }

        resp = await call(
            client, loop_namesrv.address, RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER
        )
        assert orjson.loads(resp.body or b"") == {"topicList": ["OrderTopic", "TBW102"]}
        resp = await call(
            client,
            loop_namesrv.address,
            RequestCode.GET_TOPICS_BY_CLUSTER,
            {"cluster": "DefaultCluster"},
        )
        assert orjson.loads(resp.body or b"")["topicList"] == ["OrderTopic", "TBW102"]
    finally:
        await client.aclose()


async def test_unknown_topic_is_topic_not_exist(loop_namesrv: NamesrvController) -> None:
    client = RemotingClient()
    try:
        resp = await call(
            client,
            loop_namesrv.address,
            RequestCode.GET_ROUTEINFO_BY_TOPIC,
            {"topic": "NoSuchTopic"},
        )
        assert resp.code == 17
        assert resp.body is None
        assert (resp.remark or "").startswith(
            "No topic route info in name server for the topic: NoSuchTopic\n"
        )
        resp = await call(client, loop_namesrv.address, RequestCode.GET_ROUTEINFO_BY_TOPIC, {})
        assert resp.code == 17  # Java: topic null -> TOPIC_NOT_EXIST, not SYSTEM_ERROR
    finally:
        await client.aclose()


async def test_broker_expires_after_shortened_timeout(
    fast_expiry_namesrv: NamesrvController,
) -> None:
    ns = fast_expiry_namesrv
    client = RemotingClient()
    try:
        body = java_register_body({"ExpiringTopic": (4, 4, 6)})
        registered = time.monotonic()
        resp = await client.invoke(ns.address, register_request("broker-x", BROKER_A, body=body))
        assert resp.code == 0
        assert await route_json(client, ns.address, "ExpiringTopic") is not None

        async def gone() -> bool:
            return await route_json(client, ns.address, "ExpiringTopic") is None

        await async_wait_until(gone)
        # Expiry (1.5 s), not anything earlier, removed it: the connection stayed open.
        assert time.monotonic() - registered >= 1.5
        info = await call(client, ns.address, RequestCode.GET_BROKER_CLUSTER_INFO)
        assert fastjson.loads(info.body or b"") == {"brokerAddrTable": {}, "clusterAddrTable": {}}
    finally:
        await client.aclose()


async def test_re_registration_keeps_broker_alive(
    fast_expiry_namesrv: NamesrvController,
) -> None:
    ns = fast_expiry_namesrv
    client = RemotingClient()
    try:
        body = java_register_body({"LiveTopic": (4, 4, 6)})
        for _ in range(RE_REGISTRATIONS):  # at least twice the expiry in all
            resp = await client.invoke(
                ns.address, register_request("broker-l", BROKER_A, body=body)
            )
            assert resp.code == 0
            assert await route_json(client, ns.address, "LiveTopic") is not None
            await asyncio.sleep(RE_REGISTER_EVERY_S)
    finally:
        await client.aclose()


async def test_connection_close_removes_broker_at_once(loop_namesrv: NamesrvController) -> None:
    broker = RemotingClient()
    observer = RemotingClient()
    try:
        body = java_register_body({"CloseTopic": (4, 4, 6)})
        resp = await broker.invoke(
            loop_namesrv.address, register_request("broker-c", BROKER_A, body=body)
        )
        assert resp.code == 0
        assert await route_json(observer, loop_namesrv.address, "CloseTopic") is not None
        await broker.aclose()  # the broker's channel closes; expiry is 10 minutes here

        async def gone() -> bool:
            return await route_json(observer, loop_namesrv.address, "CloseTopic") is None

        await async_wait_until(gone)  # long before the 10 minutes
    finally:
        await observer.aclose()


async def test_two_namesrvs_hold_routes_independently(tmp_path: Path) -> None:
    base = tmp_path
    with NamesrvProcess(base / "ns1") as ns1, NamesrvProcess(base / "ns2") as ns2:
        client = RemotingClient()
        try:
            both = java_register_body({"Shared": (4, 4, 6)})
            only2 = java_register_body({"OnlyTwo": (2, 2, 6)})
            for addr in (ns1.addr, ns2.addr):
                resp = await client.invoke(addr, register_request("broker-a", BROKER_A, body=both))
                assert resp.code == 0
            resp = await client.invoke(
                ns2.addr, register_request("broker-b", "127.0.0.1:10921", body=only2)
            )
            assert resp.code == 0
            assert await route_json(client, ns1.addr, "Shared") is not None
            assert await route_json(client, ns2.addr, "Shared") is not None
            assert await route_json(client, ns1.addr, "OnlyTwo") is None
            assert await route_json(client, ns2.addr, "OnlyTwo") is not None

            unregister = {
                "brokerName": "broker-a",
                "brokerAddr": BROKER_A,
                "clusterName": "DefaultCluster",
                "brokerId": "0",
            }
            resp = await call(client, ns1.addr, RequestCode.UNREGISTER_BROKER, unregister)
            assert resp.code == 0
            assert await route_json(client, ns1.addr, "Shared") is None
            assert await route_json(client, ns2.addr, "Shared") is not None
        finally:
            await client.aclose()


async def test_slave_learns_master_and_route_lists_both(loop_namesrv: NamesrvController) -> None:
    client = RemotingClient()
    try:
        body = java_register_body({"HaTopic": (4, 4, 6)})
        await client.invoke(loop_namesrv.address, register_request("broker-h", BROKER_A, body=body))
        slave = await client.invoke(
            loop_namesrv.address, register_request("broker-h", "127.0.0.1:10931", 1, body=body)
        )
        assert slave.code == 0
        assert slave.ext_fields == {"masterAddr": BROKER_A, "haServerAddr": "127.0.0.1:10912"}
        route = await route_json(client, loop_namesrv.address, "HaTopic")
        assert route is not None
        assert route["brokerDatas"][0]["brokerAddrs"] == {"0": BROKER_A, "1": "127.0.0.1:10931"}
        # A slave's registration does not change the queues; only the master's does.
        assert route["queueDatas"][0]["writeQueueNums"] == 4
    finally:
        await client.aclose()


async def test_unchanged_data_version_skips_topic_update(loop_namesrv: NamesrvController) -> None:
    client = RemotingClient()
    try:
        v1 = java_register_body({"VerTopic": (4, 4, 6)}, counter=5)
        await client.invoke(loop_namesrv.address, register_request("broker-v", BROKER_A, body=v1))
        same_version = java_register_body({"VerTopic": (8, 8, 6)}, counter=5)
        await client.invoke(
            loop_namesrv.address, register_request("broker-v", BROKER_A, body=same_version)
        )
        route = await route_json(client, loop_namesrv.address, "VerTopic")
        assert route is not None and route["queueDatas"][0]["readQueueNums"] == 4

        dv = DataVersion(timestamp=1_700_000_000_000, counter=5).encode()
        ext = {
            "brokerName": "broker-v",
            "brokerAddr": BROKER_A,
            "clusterName": "DefaultCluster",
            "brokerId": "0",
        }
        resp = await call(client, loop_namesrv.address, RequestCode.QUERY_DATA_VERSION, ext, dv)
        assert resp.code == 0 and resp.ext_fields == {"changed": "false"}

        new_version = java_register_body({"VerTopic": (8, 8, 6)}, counter=6)
        await client.invoke(
            loop_namesrv.address, register_request("broker-v", BROKER_A, body=new_version)
        )
        route = await route_json(client, loop_namesrv.address, "VerTopic")
        assert route is not None and route["queueDatas"][0]["readQueueNums"] == 8
        resp = await call(client, loop_namesrv.address, RequestCode.QUERY_DATA_VERSION, ext, dv)
        assert resp.ext_fields == {"changed": "true"}
        assert orjson.loads(resp.body or b"")["counter"] == 6
    finally:
        await client.aclose()


async def test_compressed_registration_and_crc(loop_namesrv: NamesrvController) -> None:
    client = RemotingClient()
    try:
        body = RegisterBrokerBody.decode(java_register_body({"Zipped": (3, 3, 6)}))
        data = body.encode_compressed()
        crc = str(zlib.crc32(data) & 0x7FFFFFFF)
        bad = register_request("broker-z", BROKER_A, body=data, compressed="true", bodyCrc32="12")
        resp = await client.invoke(loop_namesrv.address, bad)
        assert resp.code == 1 and resp.remark == "crc32 not match"
        good = register_request("broker-z", BROKER_A, body=data, compressed="true", bodyCrc32=crc)
        assert (await client.invoke(loop_namesrv.address, good)).code == 0
        route = await route_json(client, loop_namesrv.address, "Zipped")
        assert route is not None and route["queueDatas"][0]["readQueueNums"] == 3
    finally:
        await client.aclose()


async def test_write_perm_wipe_and_add(loop_namesrv: NamesrvController) -> None:
    client = RemotingClient()
    try:
        body = java_register_body({"PermA": (4, 4, 6), "PermB": (4, 4, 6), "TBW102": (8, 8, 7)})
        await client.invoke(loop_namesrv.address, register_request("broker-p", BROKER_A, body=body))
        resp = await call(
            client,
            loop_namesrv.address,
            RequestCode.WIPE_WRITE_PERM_OF_BROKER,
            {"brokerName": "broker-p"},
        )
        assert resp.code == 0 and resp.ext_fields == {"wipeTopicCount": "3"}
        route = await route_json(client, loop_namesrv.address, "PermA")
        assert route is not None and route["queueDatas"][0]["perm"] == 4
        resp = await call(
            client,
            loop_namesrv.address,
            RequestCode.ADD_WRITE_PERM_OF_BROKER,
            {"brokerName": "broker-p"},
        )
        assert resp.ext_fields == {"addTopicCount": "3"}
        route = await route_json(client, loop_namesrv.address, "PermA")
        assert route is not None and route["queueDatas"][0]["perm"] == 6
        # Like Java's operateWritePermOfBroker, adding gives READ|WRITE, not the old perm 7.
        await call(
            client,
            loop_namesrv.address,
            RequestCode.WIPE_WRITE_PERM_OF_BROKER,
            {"brokerName": "broker-p"},
        )
        await call(
            client,
            loop_namesrv.address,
            RequestCode.ADD_WRITE_PERM_OF_BROKER,
            {"brokerName": "broker-p"},
        )
        route = await route_json(client, loop_namesrv.address, "TBW102")
        assert route is not None and route["queueDatas"][0]["perm"] == 6
    finally:
        await client.aclose()


async def test_delete_topic(loop_namesrv: NamesrvController) -> None:
    client = RemotingClient()
    try:
        body = java_register_body({"Doomed": (4, 4, 6)})
        await client.invoke(loop_namesrv.address, register_request("broker-d", BROKER_A, body=body))
        resp = await call(
            client, loop_namesrv.address, RequestCode.DELETE_TOPIC_IN_NAMESRV, {"topic": "Doomed"}
        )
        assert resp.code == 0
        assert await route_json(client, loop_namesrv.address, "Doomed") is None
    finally:
        await client.aclose()


async def test_bad_registration_gets_system_error(loop_namesrv: NamesrvController) -> None:
    client = RemotingClient()
    try:
        req = register_request("broker-e", BROKER_A, body=b"{not json")
        resp = await client.invoke(loop_namesrv.address, req)
        assert resp.code == 1 and "bad register body" in (resp.remark or "")
        ext = {"brokerName": "broker-e", "clusterName": "c", "brokerId": "0"}
        resp = await call(client, loop_namesrv.address, RequestCode.REGISTER_BROKER, ext)
        assert resp.code == 1 and resp.remark == "the custom field <brokerAddr> is null"
        # the NameServer still serves
        resp = await call(client, loop_namesrv.address, RequestCode.GET_BROKER_CLUSTER_INFO)
        assert resp.code == 0
    finally:
        await client.aclose()
