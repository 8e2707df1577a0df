"""Admin requests relayed to real 5.x gRPC clients over their Telemetry stream: ``rocketq
admin consumerStatus`` (GET_CONSUMER_RUNNING_INFO -> PrintThreadStackTraceCommand) and
``queryMsgByUniqueKey -g -d`` (CONSUME_MESSAGE_DIRECTLY -> VerifyMessageCommand), as the Java
proxy relays them.

What the clients do with those commands (facts of their source):

* ``rocketmq-python-client`` 5.1.2 reads only ``settings`` and
  ``recover_orphaned_transaction_command`` from its stream and drops the rest unanswered:
  the admin gets the proxy's SYSTEM_BUSY "call remote timeout" after the relay timeout,
  and the client goes on working.
* ``rocketmq-client-nodejs`` 1.0.8 answers PrintThreadStackTraceCommand with
  ``ThreadStackTrace{"mock stack"}`` (status OK), which becomes the jstack; it answers
  VerifyMessageCommand with another VerifyMessageCommand (NOT_IMPLEMENTED), not a
  VerifyMessageResult, which the proxy (and rocketq) do not take as an answer: a timeout.

tests/integration/test_grpc_relay.py checks the answered paths with a raw Telemetry stream.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from rocketq import AsyncProducer, Message
from rocketq.admin import AdminClient
from rocketq.broker.controller import BrokerController
from rocketq.common.topic import TopicConfig
from rocketq.namesrv import NamesrvController
from rocketq.remoting.body import SubscriptionGroupConfig
from rocketq.testing import running_cluster
from tests.interop.conftest import HERE, NODE_MODULES

pytestmark = pytest.mark.interop

GRPC_PYTHON = HERE.parent.parent / ".cache" / "interop" / "grpc-venv" / "bin" / "python"
GRPC_DRIVER = HERE / "clients" / "grpc_client.py"
NODE_DRIVER = HERE / "js" / "grpc_client.js"
# How long the broker waits for a client's answer here (the proxy's 5 s made shorter:
# these clients never answer some commands, and each such request waits this long).
RELAY_TIMEOUT_S = 1.0
# A driver or CLI step that has not got there by then is stuck (each takes seconds).
STEP_TIMEOUT_S = 90

Served = tuple[NamesrvController, BrokerController, str]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """A NameServer and a broker serving gRPC (its own server, a short relay timeout)."""
    async with running_cluster(tmp_path / "store") as (namesrv, broker):
        server = broker.grpc_server
        assert server is not None and server.registry is not None
        server.registry.relay_timeout = RELAY_TIMEOUT_S
        yield namesrv, broker, server.address


class Running:
    """A client driver running in the background; its JSON lines as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, *argv: str) -> Running:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        return cls(proc)

    async def until(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first line (seen or to come) that ``match`` accepts."""
        assert self.proc.stdout is not None
        for line in self.lines:
            if match(line):
                return line
        while raw := await asyncio.wait_for(self.proc.stdout.readline(), STEP_TIMEOUT_S):
            if not raw.startswith(b"{"):
                continue
            line = json.loads(raw)
            self.lines.append(line)
            if match(line):
                return line
        raise AssertionError(f"driver ended without the line: {self.lines[-3:]}")

    async def finish(self) -> dict[str, Any]:
        """Close its stdin (a holding driver stops) and wait for its ``done`` line."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        done = await self.until(lambda line: "done" in line)
        await asyncio.wait_for(self.proc.wait(), STEP_TIMEOUT_S)
        return done

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def cli(namesrv: NamesrvController, command: str, *args: str) -> tuple[int, str, str]:
    """``rocketq admin <command> -n <namesrv> ...`` in a subprocess (the CLI runs its own
    event loop; this one serves the cluster): exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rocketq", "admin", command, "-n", namesrv.address, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), STEP_TIMEOUT_S)
    return proc.returncode or 0, out.decode(), err.decode()


def prepare(broker: BrokerController, topic: str, group: str) -> None:
    broker.topic_config_manager.update(TopicConfig(topic, 2, 2))
    broker.subscription_group_manager.update(SubscriptionGroupConfig(group))


async def send(namesrv: NamesrvController, topic: str) -> str:
    """One message over remoting; its UNIQ_KEY msgId."""
    producer = AsyncProducer("tele-pg", namesrv.address)
    await producer.start()
    try:
        result = await producer.send(Message(topic, b"hello telemetry", tags="TagA", keys="k1"))
    finally:
        await producer.aclose()
    return result.msg_id


async def member(namesrv: NamesrvController, group: str) -> str:
    """The client id of the group's one member (as consumerConnection lists it)."""
    async with AdminClient(namesrv.address) as admin:
        for _ in range(STEP_TIMEOUT_S * 10):
            try:
                conns = (await admin.consumer_connection(group)).get("connectionSet") or []
            except Exception:  # the group's retry topic is not routed yet
                conns = []
            if conns:
                return str(conns[0]["clientId"])
            await asyncio.sleep(0.1)
    raise AssertionError(f"no member of {group} registered")


async def test_python_client_leaves_the_commands_unanswered(served: Served) -> None:
    """The 5.1.2 Python PushConsumer: consumerStatus without -s is the broker's own view of
    it; with -s and queryMsgByUniqueKey -d the client stays silent and the admin gets
    "call remote timeout" (never a hang); the client keeps its registration."""
    if not GRPC_PYTHON.exists():
        pytest.skip("run tests/interop/setup_clients.py --grpc-only")
    namesrv, broker, address = served
    topic, group = "TeleT", "tele-g"
    prepare(broker, topic, group)
    driver = await Running.start(
        str(GRPC_PYTHON), str(GRPC_DRIVER), "push-consume", "--endpoints", address,
        "--topic", topic, "--group", group, "--expect", "1", "--hold",
    )  # fmt: skip
    try:
        await driver.until(lambda line: line.get("event") == "started")
        msg_id = await send(namesrv, topic)
        await driver.until(lambda line: line.get("event") == "all-in")
        client_id = await member(namesrv, group)

        code, out, err = await cli(namesrv, "consumerStatus", "-g", group, "-i", client_id)
        assert code == 0, err
        assert "PROP_CONSUME_TYPE" in out and "CONSUME_PASSIVELY" in out
        assert f"Topic: {topic}" in out and "#Consumer jstack#" not in out

        code, out, err = await cli(namesrv, "consumerStatus", "-g", group, "-i", client_id, "-s")
        assert code != 0
        assert "code 2" in err and "call remote timeout" in err
        assert "PrintThreadStackTraceCommand" in err

        code, out, err = await cli(
            namesrv, "queryMsgByUniqueKey", "-i", msg_id, "-t", topic, "-g", group,
            "-d", client_id,
        )  # fmt: skip
        assert code != 0
        assert "call remote timeout" in err and "VerifyMessageCommand" in err

        assert await member(namesrv, group) == client_id
        done = await driver.finish()
        assert done["done"] and done["received"] == 1
    finally:
        await driver.kill()


async def test_node_client_answers_with_its_stack(served: Served) -> None:
    """The Node 1.0.8 SimpleConsumer answers PrintThreadStackTraceCommand ("mock stack"):
    consumerStatus -s prints it as the jstack; its VerifyMessageCommand echo is no
    VerifyMessageResult, so queryMsgByUniqueKey -d times out as with the proxy."""
    node = shutil.which("node")
    if node is None or not (NODE_MODULES / "rocketmq-client-nodejs").exists():
        pytest.skip("node and rocketmq-client-nodejs are needed (setup_clients.py --js-only)")
    namesrv, broker, address = served
    topic, group = "TeleNodeT", "tele-node-g"
    prepare(broker, topic, group)
    driver = await Running.start(
        node, str(NODE_DRIVER), "consume", "--endpoints", address, "--topic", topic,
        "--group", group, "--expect", "2", "--timeout", str(STEP_TIMEOUT_S),
    )  # fmt: skip
    try:
        await driver.until(lambda line: line.get("event") == "started")
        msg_id = await send(namesrv, topic)
        await driver.until(lambda line: line.get("msg_id") == msg_id)
        client_id = await member(namesrv, group)

        code, out, err = await cli(namesrv, "consumerStatus", "-g", group, "-i", client_id, "-s")
        assert code == 0, err
        assert "#Consumer jstack#\nmock stack" in out
        assert "CONSUME_ACTIVELY" in out and f"Topic: {topic}" in out

        code, out, err = await cli(
            namesrv, "queryMsgByUniqueKey", "-i", msg_id, "-t", topic, "-g", group,
            "-d", client_id,
        )  # fmt: skip
        assert code != 0
        assert "call remote timeout" in err and "VerifyMessageCommand" in err

        await send(namesrv, topic)
        done = await driver.until(lambda line: "done" in line)
        assert done["done"] and done["received"] == 2
    finally:
        await driver.kill()
