"""KV config, NameServer config, real-client wire quirks and the admin CLI, against a
NameServer in the test's event loop (``running_namesrv``) or, where it must restart or read
its config file, a NameServer process."""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from rocketq.namesrv import NamesrvController
from rocketq.remoting import RemotingClient, RemotingCommand, RequestCode, SerializeType, fastjson
from rocketq.testing import NamesrvProcess
from tests.integration.brokers import call, java_register_body, register_request, route_json

BROKER_A = "127.0.0.1:10911"


@pytest.mark.slow  # runs the rocketq CLI in many child processes
async def test_kv_config_put_get_delete_list_and_persistence(tmp_path: Path) -> None:
    workdir = tmp_path / "ns"
    with NamesrvProcess(workdir) as ns:
        client = RemotingClient()
        try:
            put = {"namespace": "NS1", "key": "k1", "value": "v1"}
            assert (await call(client, ns.addr, RequestCode.PUT_KV_CONFIG, put)).code == 0
            resp = await call(
                client, ns.addr, RequestCode.GET_KV_CONFIG, {"namespace": "NS1", "key": "k1"}
            )
            assert resp.code == 0 and resp.ext_fields == {"value": "v1"}
            resp = await call(
                client, ns.addr, RequestCode.GET_KVLIST_BY_NAMESPACE, {"namespace": "NS1"}
            )
            assert orjson.loads(resp.body or b"") == {"table": {"k1": "v1"}}
            resp = await call(
                client, ns.addr, RequestCode.GET_KV_CONFIG, {"namespace": "NS1", "key": "missing"}
            )
            assert resp.code == 22
            missing_key = {"namespace": "NS1"}
            resp = await call(client, ns.addr, RequestCode.PUT_KV_CONFIG, missing_key)
            assert resp.code == 1 and "<key>" in (resp.remark or "")
            put2 = {"namespace": "NS1", "key": "k2", "value": "v2"}
            assert (await call(client, ns.addr, RequestCode.PUT_KV_CONFIG, put2)).code == 0
            resp = await call(
                client, ns.addr, RequestCode.DELETE_KV_CONFIG, {"namespace": "NS1", "key": "k1"}
            )
            assert resp.code == 0
        finally:
            await client.aclose()
    assert json.loads((workdir / "kvConfig.json").read_text()) == {
        "configTable": {"NS1": {"k2": "v2"}}
    }
    with NamesrvProcess(workdir) as ns:  # restart: the KV table comes back
        client = RemotingClient()
        try:
            resp = await call(
                client, ns.addr, RequestCode.GET_KV_CONFIG, {"namespace": "NS1", "key": "k2"}
            )
            assert resp.ext_fields == {"value": "v2"}
        finally:
            await client.aclose()


async def test_order_topic_config_in_route_and_register_response(tmp_path: Path) -> None:
    with NamesrvProcess(tmp_path / "ns", {"orderMessageEnable": "true"}) as ns:
        client = RemotingClient()
        try:
            put = {"namespace": "ORDER_TOPIC_CONFIG", "key": "Ordered", "value": "broker-o:4"}
            assert (await call(client, ns.addr, RequestCode.PUT_KV_CONFIG, put)).code == 0
            body = java_register_body({"Ordered": (4, 4, 6)})
            resp = await client.invoke(ns.addr, register_request("broker-o", BROKER_A, body=body))
            assert orjson.loads(resp.body or b"") == {"table": {"Ordered": "broker-o:4"}}
            route = await route_json(client, ns.addr, "Ordered")
            assert route is not None and route["orderTopicConf"] == "broker-o:4"
        finally:
            await client.aclose()


async def test_namesrv_config_get_and_update(loop_namesrv: NamesrvController) -> None:
    client = RemotingClient()
    try:
        resp = await call(client, loop_namesrv.address, RequestCode.GET_NAMESRV_CONFIG)
        text = (resp.body or b"").decode()
        assert "orderMessageEnable=false\n" in text
        assert f"listenPort={loop_namesrv.port}\n" in text
        resp = await call(
            client,
            loop_namesrv.address,
            RequestCode.UPDATE_NAMESRV_CONFIG,
            body=b"orderMessageEnable=true\n",
        )
        assert resp.code == 0
        resp = await call(client, loop_namesrv.address, RequestCode.GET_NAMESRV_CONFIG)
        assert "orderMessageEnable=true\n" in (resp.body or b"").decode()
        resp = await call(
            client,
            loop_namesrv.address,
            RequestCode.UPDATE_NAMESRV_CONFIG,
            body=b"kvConfigPath=/etc/passwd\n",
        )
        assert resp.code == 16  # NO_PERMISSION: black-listed key
    finally:
        await client.aclose()


def _frame(header: bytes, body: bytes = b"", stype: int = 0) -> bytes:
    return (
        struct.pack(">II", 4 + len(header) + len(body), (stype << 24) | len(header)) + header + body
    )


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes, bytes]:
    total, word = struct.unpack(">II", await reader.readexactly(8))
    rest = await reader.readexactly(total - 4)
    hlen = word & 0xFFFFFF
    return word >> 24, rest[:hlen], rest[hlen:]


async def test_cpp_client_style_request(loop_namesrv: NamesrvController) -> None:
    """Written by hand as librocketmq 1.2.3 sends it: trailing newline, remark "", credentials."""
    client = RemotingClient()
    await client.invoke(
        loop_namesrv.address,
        register_request("broker-cpp", BROKER_A, body=java_register_body({"CppTopic": (4, 4, 6)})),
    )
    header = (
        b'{"code":105,"extFields":{"AccessKey":"","OnsChannel":"ALIYUN","Signature":"abc=",'
        b'"topic":"CppTopic"},"flag":0,"language":"CPP","opaque":0,"remark":"","version":63}\n'
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", loop_namesrv.port)
    try:
        writer.write(_frame(header))
        stype, head, body = await _read_frame(reader)
        assert stype == 0
        h = orjson.loads(head)
        assert h["flag"] == 1 and h["opaque"] == 0 and h["code"] == 0
        # version 63 < 401: Java answers with fastjson's bare keys, and so do we
        assert b'"brokerAddrs":{0:"127.0.0.1:10911"}' in body
        route = fastjson.loads(body)
        assert route["brokerDatas"][0]["brokerAddrs"] == {"0": BROKER_A}
        assert isinstance(route["queueDatas"][0]["readQueueNums"], int)  # C++ needs numbers
    finally:
        writer.close()
        await client.aclose()  # the broker's connection: closing it drops the route


async def test_ali_ons_style_numbers_and_booleans(loop_namesrv: NamesrvController) -> None:
    """ali-ons keeps JS types in extFields: numbers and true/false must be accepted."""
    reader, writer = await asyncio.open_connection("127.0.0.1", loop_namesrv.port)
    try:
        put = (
            b'{"code":100,"language":"JAVA","version":121,"opaque":1,"flag":0,'
            b'"extFields":{"namespace":"N","key":7,"value":true}}'
        )
        writer.write(_frame(put))
        _, head, _ = await _read_frame(reader)
        assert orjson.loads(head)["code"] == 0
        get = (
            b'{"code":101,"language":"JAVA","version":121,"opaque":2,"flag":0,'
            b'"extFields":{"namespace":"N","key":7}}'
        )
        writer.write(_frame(get))
        _, head, _ = await _read_frame(reader)
        h = orjson.loads(head)
        assert h["opaque"] == 2 and h["extFields"] == {"value": "true"}  # strings out
    finally:
        writer.close()


async def test_rocketmq_binary_header_answered_in_kind(loop_namesrv: NamesrvController) -> None:
    """The ROCKETMQ header example of remoting.md §3 (GET_ROUTEINFO_BY_TOPIC, topic "T")."""
    frame = bytes.fromhex(
        "00000027010000230069000191000000070000000000000002726b0000000c0005746f7069630000000154"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", loop_namesrv.port)
    try:
        writer.write(frame)
        stype, head, _ = await _read_frame(reader)
        assert stype == SerializeType.ROCKETMQ
        code, _lang, _ver, opaque, flag = struct.unpack_from(">hBhii", head)
        assert (code, opaque, flag) == (17, 7, 1)  # TOPIC_NOT_EXIST for "T"
    finally:
        writer.close()


async def test_garbage_closes_only_that_connection(
    loop_namesrv: NamesrvController, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="rocketq.remoting")
    good = RemotingClient()
    try:
        assert (
            await call(good, loop_namesrv.address, RequestCode.GET_BROKER_CLUSTER_INFO)
        ).code == 0
        for junk in (
            b"\x7f\xff\xff\xff garbage",
            b"GET / HTTP/1.1\r\n\r\n" * 3,
            struct.pack(">II", 100, 0x05000004) + b"x" * 96,
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", loop_namesrv.port)
            writer.write(junk)
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
            writer.close()
        assert (
            await call(good, loop_namesrv.address, RequestCode.GET_BROKER_CLUSTER_INFO)
        ).code == 0
        unknown = await good.invoke(loop_namesrv.address, RemotingCommand.request(9999), 5)
        assert unknown.code == 3 and "9999" in (unknown.remark or "")
    finally:
        await good.aclose()
    assert "closing connection" in caplog.text and "frame length" in caplog.text


def _admin(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "rocketq", "admin", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow  # runs the rocketq CLI in many child processes
async def test_admin_cli_prints_routes(loop_namesrv: NamesrvController) -> None:
    client = RemotingClient()
    try:
        body = java_register_body({"CliTopic": (4, 4, 6)})
        await client.invoke(
            loop_namesrv.address, register_request("broker-cli", BROKER_A, body=body)
        )
        n = loop_namesrv.address
        out = await asyncio.to_thread(_admin, "clusterList", "-n", n)
        assert "DefaultCluster" in out and "broker-cli" in out and BROKER_A in out
        out = await asyncio.to_thread(_admin, "topicList", "-n", n)
        assert out.split() == ["CliTopic"]
        out = await asyncio.to_thread(_admin, "topicRoute", "-n", n, "-t", "CliTopic")
        assert orjson.loads(out)["queueDatas"][0]["brokerName"] == "broker-cli"
        await asyncio.to_thread(_admin, "updateKvConfig", "-n", n, "-s", "S", "-k", "K", "-v", "V")
        out = await asyncio.to_thread(_admin, "getKvConfig", "-n", n, "-s", "S", "-k", "K")
        assert out.strip() == "V"
        out = await asyncio.to_thread(_admin, "getNamesrvConfig", "-n", n)
        assert f"============{n}============" in out and "kvConfigPath" in out
    finally:
        await client.aclose()


def test_admin_cli_explains_unreachable_namesrv() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rocketq", "admin", "topicList", "-n", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "is the NameServer at 127.0.0.1:1 running?" in result.stderr


@pytest.mark.slow  # runs the rocketq CLI in many child processes
def test_cli_help_explains_each_command() -> None:
    for args in ([], ["namesrv"], ["admin"], ["admin", "clusterList"]):
        result = subprocess.run(
            [sys.executable, "-m", "rocketq", *args, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0 and "Usage:" in result.stdout
    assert "NameServer" in result.stdout or "broker" in result.stdout
