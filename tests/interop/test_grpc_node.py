"""The official RocketMQ 5.x Node.js client (npm ``rocketmq-client-nodejs`` 1.0.8, gRPC)
sends and receives through the gRPC port of a ``rocketq broker`` process (js/grpc_client.js);
and the gRPC and remoting sides meet: the C++ client's messages reach a gRPC SimpleConsumer,
the Python 5.x client's reach an ali-ons consumer."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.common.topic import TopicConfig
from rocketq.testing import BrokerProcess, NamesrvProcess
from tests.interop.conftest import CPP_DRIVER, HERE, NODE_MODULES, ONS_DRIVER, Driver

pytestmark = pytest.mark.interop

NODE_DRIVER = HERE / "js" / "grpc_client.js"
GRPC_PYTHON = HERE.parent.parent / ".cache" / "interop" / "grpc-venv" / "bin" / "python"
GRPC_DRIVER = HERE / "clients" / "grpc_client.py"
_GRPC_READY = re.compile(r"gRPC for 5\.x clients on ([\d.]+):(\d+)")


@pytest.fixture(scope="session")
def node_grpc(node: str) -> str:
    """node, with rocketmq-client-nodejs installed (``make test`` installs it)."""
    if not (NODE_MODULES / "rocketmq-client-nodejs").exists():
        subprocess.run([sys.executable, str(HERE / "setup_clients.py"), "--js-only"], check=True)
    return node


@pytest.fixture(scope="session")
def grpc_python() -> Path:
    """The Python 5.x client's venv python."""
    if not GRPC_PYTHON.exists():
        setup = [sys.executable, str(HERE / "setup_clients.py"), "--grpc-only"]
        subprocess.run(setup, check=True)
    return GRPC_PYTHON


def grpc_address(broker: BrokerProcess) -> str:
    """The broker's gRPC address, from its ready line."""
    found = [m for line in broker.output if (m := _GRPC_READY.search(line))]
    assert found, f"no gRPC address in the ready line: {broker.output}"
    return f"{found[0].group(1)}:{found[0].group(2)}"


async def create_topic(namesrv: NamesrvProcess, broker: BrokerProcess, topic: str) -> None:
    """UPDATE_AND_CREATE_TOPIC on the broker (which registers it with the NameServer before
    answering, so ali-ons and the C++ client find its route)."""
    async with AdminClient(namesrv.addr) as admin:
        await admin.create_topic(broker.addr, TopicConfig(topic, 4, 4))


def _messages(driver: Driver) -> dict[str, dict[str, object]]:
    return {str(m["msg_id"]): m for m in driver.lines if "body" in m}


@pytest.mark.parametrize("push", [False, True], ids=["simple", "push"])
async def test_node_client_send_and_receive(
    node_grpc: str, cluster: tuple[NamesrvProcess, BrokerProcess], tmp_path: Path, push: bool,
    drivers: list[Driver],
) -> None:  # fmt: skip
    """10 messages with a tag and keys: Node producer -> rocketq gRPC -> Node consumer."""
    ns, broker = cluster
    await create_topic(ns, broker, "NodeT")
    endpoints = grpc_address(broker)
    env = {"HOME": str(tmp_path)}
    produce = [node_grpc, str(NODE_DRIVER), "produce", "--endpoints", endpoints, "--topic",
               "NodeT", "--count", "10", "--tag", "TagN", "--keys-prefix", "nk"]  # fmt: skip
    producer = Driver(produce, env)
    drivers.append(producer)
    assert (await asyncio.to_thread(producer.wait))["done"], producer.stderr[-20:]
    sent = {str(m["msg_id"]): m for m in producer.lines if "msg_id" in m}
    assert len(sent) == 10
    consume = [node_grpc, str(NODE_DRIVER), "consume", "--endpoints", endpoints, "--topic",
               "NodeT", "--group", f"node-g-{push}", "--expect", "10"]  # fmt: skip
    consumer = Driver(consume + (["--push"] if push else []), env)
    drivers.append(consumer)
    assert (await asyncio.to_thread(consumer.wait))["done"], consumer.stderr[-20:]
    got = _messages(consumer)
    assert set(got) == set(sent)
    for m in got.values():
        i = json.loads(str(m["body"]))["i"]
        assert m["tags"] == "TagN" and m["keys"] == [f"nk{i}"] and not m["corrupted"]


async def test_cpp_producer_to_grpc_simple_consumer(
    cpp_python: Path,
    grpc_python: Path,
    cluster: tuple[NamesrvProcess, BrokerProcess],
    tmp_path: Path,
    drivers: list[Driver],
) -> None:
    """The C++ client (remoting) sends; the Python 5.x SimpleConsumer (gRPC) receives."""
    ns, broker = cluster
    await create_topic(ns, broker, "CppToGrpc")
    produce = [str(cpp_python), str(CPP_DRIVER), "produce", "--namesrv", ns.addr, "--topic",
               "CppToGrpc", "--group", "cpp-pg", "--count", "8", "--tag", "TagC"]  # fmt: skip
    producer = Driver(produce, {"HOME": str(tmp_path)})
    drivers.append(producer)
    assert (await asyncio.to_thread(producer.wait))["done"], producer.stderr[-20:]
    consume = [str(grpc_python), str(GRPC_DRIVER), "--home", str(tmp_path), "consume",
               "--endpoints", grpc_address(broker), "--topic", "CppToGrpc", "--group",
               "grpc-from-cpp", "--expect", "8", "--expression", "TagC"]  # fmt: skip
    consumer = Driver(consume)
    drivers.append(consumer)
    assert (await asyncio.to_thread(consumer.wait))["done"], consumer.stderr[-20:]
    got = _messages(consumer)
    assert len(got) == 8
    assert {m["tags"] for m in got.values()} == {"TagC"}


async def test_grpc_producer_to_ons_consumer(
    node: str, grpc_python: Path, cluster: tuple[NamesrvProcess, BrokerProcess], tmp_path: Path,
    drivers: list[Driver],
) -> None:  # fmt: skip
    """The Python 5.x producer (gRPC) sends; an ali-ons push consumer (remoting) receives."""
    ns, broker = cluster
    await create_topic(ns, broker, "GrpcToOns")
    consume = [node, str(ONS_DRIVER), "consume", "--namesrv", ns.addr, "--topic", "GrpcToOns",
               "--group", "ons-from-grpc", "--expect", "8", "--from", "first"]  # fmt: skip
    consumer = Driver(consume, {"HOME": str(tmp_path)})
    drivers.append(consumer)
    produce = [str(grpc_python), str(GRPC_DRIVER), "--home", str(tmp_path), "produce",
               "--endpoints", grpc_address(broker), "--topic", "GrpcToOns", "--count", "8",
               "--tag", "TagG", "--keys-prefix", "gk"]  # fmt: skip
    producer = Driver(produce)
    drivers.append(producer)
    assert (await asyncio.to_thread(producer.wait))["done"], producer.stderr[-20:]
    sent = {str(m["msg_id"]) for m in producer.lines if "msg_id" in m}
    assert (await asyncio.to_thread(consumer.wait))["done"], consumer.stderr[-20:]
    bodies = sorted(json.loads(str(m["body"]))["i"] for m in consumer.messages)
    assert sorted(set(bodies)) == list(range(8))
    assert len(sent) == 8
