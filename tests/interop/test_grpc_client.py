"""The official RocketMQ 5.x Python client (``rocketmq-python-client`` 5.1.2, gRPC) against
rocketq's gRPC front end, served from an in-process broker (``running_cluster``) by
``GrpcMessagingServer`` built from the broker's parts.

The client runs as a subprocess of its own venv (``.cache/interop/grpc-venv``; its import
name ``rocketmq`` must not meet the project's interpreter); see clients/grpc_client.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rocketq import AsyncProducer, Message
from rocketq.broker.config import load_broker_conf
from rocketq.broker.controller import BrokerController
from rocketq.broker.grpc import GrpcMessagingServer
from rocketq.broker.grpc.registry import ClientTables
from rocketq.broker.grpc.v2 import definition_pb2, service_pb2
from rocketq.broker.timer import TIMER_TOPIC
from rocketq.common.topic import TopicConfig
from rocketq.namesrv import NamesrvController
from rocketq.remoting.body import SubscriptionGroupConfig
from rocketq.testing import running_cluster

pytestmark = pytest.mark.interop

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
GRPC_PYTHON = ROOT / ".cache" / "interop" / "grpc-venv" / "bin" / "python"
GRPC_DRIVER = HERE / "clients" / "grpc_client.py"
# A driver that has not finished by then is stuck (each does a few seconds of work).
DRIVER_TIMEOUT_S = 120

sys.path.insert(0, str(HERE / "clients"))
from grpc_client import _schema_facts  # noqa: E402


@pytest.fixture(scope="session")
def grpc_python() -> Path:
    """The 5.x client's venv python (``make test`` installs it)."""
    if not GRPC_PYTHON.exists():
        setup = [sys.executable, str(HERE / "setup_clients.py"), "--grpc-only"]
        subprocess.run(setup, check=True)
    return GRPC_PYTHON


Served = tuple[NamesrvController, BrokerController, GrpcMessagingServer]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """A NameServer, a broker and its gRPC front end on a free port."""
    async with running_cluster(tmp_path / "store") as (namesrv, broker):
        server = GrpcMessagingServer(
            broker.config,
            broker.store,
            broker.topic_config_manager,
            broker.subscription_group_manager,
            broker.consumer_offset_manager,
            port=0,
            transactions=broker.transaction_service,
            client_tables=ClientTables(broker.consumer_manager, broker.producer_manager, broker),
        )
        await server.start()
        try:
            yield namesrv, broker, server
        finally:
            await server.aclose()


async def drive(python: Path, home: Path, *args: str) -> tuple[list[dict[str, Any]], str]:
    """Run the driver; its JSON lines and stderr. Fails when it does not end well."""
    proc = await asyncio.create_subprocess_exec(
        str(python), str(GRPC_DRIVER), "--home", str(home), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), DRIVER_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    done = [line for line in lines if "done" in line]
    assert done and done[-1]["done"], f"driver failed: {lines[-3:]} {err.decode()[-2000:]}"
    return lines, err.decode()


def create_topic(
    broker: BrokerController, topic: str, queues: int = 4, message_type: str = "NORMAL"
) -> None:
    """Create a topic on the broker (as UPDATE_AND_CREATE_TOPIC does)."""
    attributes = {"message.type": message_type}
    broker.topic_config_manager.update(TopicConfig(topic, queues, queues, attributes=attributes))


async def test_schema_is_the_clients(grpc_python: Path, tmp_path: Path) -> None:
    """rocketq's own .proto states the same wire facts as the client's generated code."""
    lines, _ = await drive(grpc_python, tmp_path, "schema")
    ours: dict[str, Any] = {}
    for fd in (definition_pb2.DESCRIPTOR, service_pb2.DESCRIPTOR):
        _schema_facts(fd, ours)
    theirs = lines[-1]["schema"]
    assert json.loads(json.dumps(ours)) == theirs


async def test_produce_and_simple_consume(
    grpc_python: Path, served: Served, tmp_path: Path
) -> None:
    """20 messages with tags, keys and properties go through gRPC both ways; remoting's
    store has them too."""
    _ns, broker, server = served
    create_topic(broker, "GrpcT")
    produce = ["produce", "--endpoints", server.address, "--topic", "GrpcT", "--count", "20",
               "--tag", "TagA,TagB", "--keys-prefix", "key-", "--prop", "color=red",
               "--prop", "size=9"]  # fmt: skip
    sent, _ = await drive(grpc_python, tmp_path, *produce)
    ids = {line["msg_id"] for line in sent if "msg_id" in line}
    assert len(ids) == 20
    stored = sum(broker.store.get_max_offset_in_queue("GrpcT", q) for q in range(4))
    assert stored == 20
    consume = ["consume", "--endpoints", server.address, "--topic", "GrpcT", "--group",
               "grpc-g1", "--expect", "20"]  # fmt: skip
    got, _ = await drive(grpc_python, tmp_path, *consume)
    messages = {m["msg_id"]: m for m in got if "body" in m}
    assert set(messages) == ids
    for m in messages.values():
        i = json.loads(m["body"])["i"]
        assert m["tags"] == ("TagA" if i % 2 == 0 else "TagB")
        assert m["keys"] == [f"key-{i}"]
        assert m["properties"] == {"color": "red", "size": "9"}
        assert m["delivery_attempt"] == 1 and not m["corrupted"]
    # progress is the group's consumer offset, as remoting consumers keep it
    offsets = broker.consumer_offset_manager.query_all("grpc-g1", "GrpcT")
    assert sum(offsets.values()) == 20


async def test_unacked_message_comes_back_with_attempt_2(
    grpc_python: Path, served: Served, tmp_path: Path
) -> None:
    """A received, not acked message is received again after its invisible time."""
    _ns, broker, server = served
    create_topic(broker, "GrpcRetry", 1)
    produce = ["produce", "--endpoints", server.address, "--topic", "GrpcRetry", "--count", "3"]
    await drive(grpc_python, tmp_path, *produce)
    consume = ["consume", "--endpoints", server.address, "--topic", "GrpcRetry",
               "--group", "grpc-retry", "--expect", "3", "--invisible", "1",
               "--no-ack-first", "1"]  # fmt: skip
    got, _ = await drive(grpc_python, tmp_path, *consume)
    deliveries = [m for m in got if "body" in m]
    first = deliveries[0]
    assert not first["acked"] and first["delivery_attempt"] == 1
    again = [m for m in deliveries if m["msg_id"] == first["msg_id"] and m["acked"]]
    assert [m["delivery_attempt"] for m in again] == [2]
    assert sorted(m["delivery_attempt"] for m in deliveries if m["acked"]) == [1, 1, 2]


async def test_remoting_producer_to_grpc_consumer(
    grpc_python: Path, served: Served, tmp_path: Path
) -> None:
    """A message sent with rocketq's remoting producer reaches the gRPC SimpleConsumer."""
    namesrv, broker, server = served
    create_topic(broker, "CrossT")
    await broker.register_broker_all()
    async with AsyncProducer("cross-producer", namesrv.address) as producer:
        for i in range(5):
            msg = Message("CrossT", f"remoting-{i}".encode(), tags="TagR", keys=[f"rk{i}"],
                          properties={"origin": "remoting"})  # fmt: skip
            await producer.send(msg)
    consume = ["consume", "--endpoints", server.address, "--topic", "CrossT", "--group",
               "grpc-cross", "--expect", "5", "--expression", "TagR"]  # fmt: skip
    got, _ = await drive(grpc_python, tmp_path, *consume)
    messages = sorted((m for m in got if "body" in m), key=lambda m: m["body"])
    assert [m["body"] for m in messages] == [f"remoting-{i}" for i in range(5)]
    for i, m in enumerate(messages):
        assert m["tags"] == "TagR" and m["keys"] == [f"rk{i}"]
        assert m["properties"] == {"origin": "remoting"}


async def test_fifo_order_per_message_group(
    grpc_python: Path, served: Served, tmp_path: Path
) -> None:
    """FIFO messages of 3 message groups reach a FIFO group's SimpleConsumer in send order
    per message group."""
    _ns, broker, server = served
    create_topic(broker, "GrpcFifo", 4, "FIFO")
    group = SubscriptionGroupConfig("grpc-fifo", consume_message_orderly=True)
    broker.subscription_group_manager.update(group)
    produce = ["produce", "--endpoints", server.address, "--topic", "GrpcFifo", "--count",
               "30", "--message-groups", "3"]  # fmt: skip
    await drive(grpc_python, tmp_path, *produce)
    consume = ["consume", "--endpoints", server.address, "--topic", "GrpcFifo", "--group",
               "grpc-fifo", "--expect", "30", "--batch", "8"]  # fmt: skip
    got, _ = await drive(grpc_python, tmp_path, *consume)
    order: dict[str, list[int]] = {}
    for m in got:
        if "body" in m:
            order.setdefault(m["message_group"], []).append(json.loads(m["body"])["i"])
    assert order == {f"g{g}": list(range(g, 30, 3)) for g in range(3)}
    assert {m["delivery_attempt"] for m in got if "body" in m} == {1}


async def test_delayed_message_not_delivered_before_its_time(
    grpc_python: Path, served: Served, tmp_path: Path
) -> None:
    """A DELAY message (delivery timestamp in ms, as 5.1.2 sends it in ``seconds``) waits in
    the timer and is received at or after its delivery time."""
    _ns, broker, server = served
    create_topic(broker, "GrpcDelay", 2, "DELAY")
    produce = ["produce", "--endpoints", server.address, "--topic", "GrpcDelay", "--count",
               "2", "--deliver-in", "3"]  # fmt: skip
    sent, _ = await drive(grpc_python, tmp_path, *produce)
    assert broker.store.get_max_offset_in_queue(TIMER_TOPIC, 0) == 2
    deliver_at = {line["msg_id"]: line["deliver_at_ms"] for line in sent if "msg_id" in line}
    consume = ["consume", "--endpoints", server.address, "--topic", "GrpcDelay", "--group",
               "grpc-delay", "--expect", "2", "--timeout", "30"]  # fmt: skip
    got, _ = await drive(grpc_python, tmp_path, *consume)
    received = [m for m in got if "body" in m]
    assert {m["msg_id"] for m in received} == set(deliver_at)
    for m in received:
        assert m["received_at_ms"] >= deliver_at[m["msg_id"]]


async def test_transaction_commit_and_rollback(
    grpc_python: Path, served: Served, tmp_path: Path
) -> None:
    """Committed half messages reach consumers; rolled-back ones never do."""
    _ns, broker, server = served
    create_topic(broker, "GrpcTx", 2, "TRANSACTION")
    tx = ["transaction", "--endpoints", server.address, "--topic", "GrpcTx", "--commit", "2",
          "--rollback", "2"]  # fmt: skip
    ended, _ = await drive(grpc_python, tmp_path, *tx)
    assert [line["ok"] for line in ended if "ok" in line] == [True] * 4
    committed = {line["msg_id"] for line in ended if line.get("commit")}
    assert sum(broker.store.get_max_offset_in_queue("GrpcTx", q) for q in range(2)) == 2
    consume = ["consume", "--endpoints", server.address, "--topic", "GrpcTx", "--group",
               "grpc-tx", "--expect", "2"]  # fmt: skip
    got, _ = await drive(grpc_python, tmp_path, *consume)
    assert {m["msg_id"] for m in got if "body" in m} == committed


async def test_push_consumer_round_trip(grpc_python: Path, served: Served, tmp_path: Path) -> None:
    """The PushConsumer (QueryAssignment, then auto-renewed receives) consumes every message;
    one its listener fails comes back after the retry policy's first delay with attempt 2."""
    _ns, broker, server = served
    create_topic(broker, "GrpcPush")
    produce = ["produce", "--endpoints", server.address, "--topic", "GrpcPush", "--count", "10"]
    sent, _ = await drive(grpc_python, tmp_path, *produce)
    ids = {line["msg_id"] for line in sent if "msg_id" in line}
    consume = ["push-consume", "--endpoints", server.address, "--topic", "GrpcPush",
               "--group", "grpc-push", "--expect", "10", "--fail-first", "1"]  # fmt: skip
    got, _ = await drive(grpc_python, tmp_path, *consume)
    deliveries = [m for m in got if "body" in m]
    assert {m["msg_id"] for m in deliveries if m["acked"]} == ids
    failed = [m for m in deliveries if not m["acked"]]
    assert len(failed) == 1 and failed[0]["delivery_attempt"] == 1
    again = [m for m in deliveries if m["msg_id"] == failed[0]["msg_id"] and m["acked"]]
    assert [m["delivery_attempt"] for m in again] == [2]
    offsets = broker.consumer_offset_manager.query_all("grpc-push", "GrpcPush")
    assert sum(offsets.values()) == 10


async def _admin(namesrv: NamesrvController, *args: str) -> str:
    """``rocketq admin ARGS -n NAMESRV``: its stdout (fails on a non-zero exit)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rocketq", "admin", *args, "-n", namesrv.address,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), DRIVER_TIMEOUT_S)
    assert proc.returncode == 0, f"rocketq admin {args}: {err.decode()[-2000:]}"
    return out.decode()


async def test_grpc_clients_in_the_broker_tables(
    grpc_python: Path, served: Served, tmp_path: Path
) -> None:
    """A gRPC PushConsumer is in the broker's consumer table while it runs (its group's
    subscription, %RETRY%group created): ``consumerConnection`` lists it and
    ``consumerProgress`` shows the group's offsets; a gRPC producer is registered under its
    topic while it runs; both leave the tables when they shut down."""
    namesrv, broker, server = served
    create_topic(broker, "GrpcReg")
    await broker.register_broker_all()
    produce = ["produce", "--endpoints", server.address, "--topic", "GrpcReg", "--count", "6"]
    await drive(grpc_python, tmp_path, *produce)
    assert "GrpcReg" not in broker.producer_manager.groups  # gone at shutdown
    proc = await asyncio.create_subprocess_exec(
        str(grpc_python), str(GRPC_DRIVER), "--home", str(tmp_path), "push-consume",
        "--endpoints", server.address, "--topic", "GrpcReg", "--group", "grpc-reg",
        "--expect", "6", "--hold",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdin is not None
    try:
        while b'"all-in"' not in await asyncio.wait_for(proc.stdout.readline(), 60):
            pass
        group = broker.consumer_manager.groups["grpc-reg"]
        assert list(group.subscriptions) == ["GrpcReg"]
        assert group.consume_type == "CONSUME_PASSIVELY"
        assert broker.topic_config_manager.select("%RETRY%grpc-reg") is not None
        connection = await _admin(namesrv, "consumerConnection", "-g", "grpc-reg")
        assert "PYTHON" in connection and "GrpcReg" in connection
        progress = await _admin(namesrv, "consumerProgress", "-g", "grpc-reg")
        rows = [line.split() for line in progress.splitlines() if line.split()[:1] == ["GrpcReg"]]
        assert len(rows) == 4, progress
        # topic, broker, queue, broker offset, consumer offset, ...: all 6 consumed
        assert sum(int(r[3]) for r in rows) == sum(int(r[4]) for r in rows) == 6
    finally:
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), 60)
    assert "grpc-reg" not in broker.consumer_manager.groups


async def test_orphaned_transaction_checked_back_over_telemetry(
    grpc_python: Path, tmp_path: Path
) -> None:
    """Half messages their producer never ends are checked back over the producer's
    Telemetry stream (RecoverOrphanedTransactionCommand); its checker's COMMIT, sent with
    EndTransaction, makes them consumable."""
    fast_check = {"transactionTimeOut": "1000", "transactionCheckInterval": "500"}
    async with running_cluster(tmp_path / "store", fast_check) as (_namesrv, broker):
        server = GrpcMessagingServer(
            broker.config, broker.store, broker.topic_config_manager,
            broker.subscription_group_manager, broker.consumer_offset_manager, port=0,
            transactions=broker.transaction_service,
            client_tables=ClientTables(broker.consumer_manager, broker.producer_manager, broker),
        )  # fmt: skip
        await server.start()
        try:
            await _orphans_committed(grpc_python, broker, server, tmp_path)
        finally:
            await server.aclose()


async def _orphans_committed(
    python: Path, broker: BrokerController, server: GrpcMessagingServer, home: Path
) -> None:
    create_topic(broker, "GrpcOrphan", 2, "TRANSACTION")
    proc = await asyncio.create_subprocess_exec(
        str(python), str(GRPC_DRIVER), "--home", str(home), "orphan", "--endpoints",
        server.address, "--topic", "GrpcOrphan", "--count", "3",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdin is not None
    lines: list[dict[str, Any]] = []
    try:
        while not lines or lines[-1].get("event") != "all-checked":
            raw = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert raw, f"driver ended early: {lines}"
            lines.append(json.loads(raw))
        sent = {line["msg_id"] for line in lines if "msg_id" in line}
        assert {line["checked"] for line in lines if "checked" in line} == sent
        assert {line["topic"] for line in lines if "checked" in line} == {"GrpcOrphan"}
        consume = ["consume", "--endpoints", server.address, "--topic", "GrpcOrphan",
                   "--group", "grpc-orphan", "--expect", "3"]  # fmt: skip
        got, _ = await drive(python, home, *consume)
        assert {m["msg_id"] for m in got if "body" in m} == sent
    finally:
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), 60)


@contextlib.asynccontextmanager
async def second_broker(
    namesrv: NamesrvController, store_dir: Path
) -> AsyncIterator[BrokerController]:
    """broker-b in the NameServer's cluster, serving gRPC on its own free port."""
    overrides = {"brokerName": "broker-b", "namesrvAddr": namesrv.address, "listenPort": "0",
                 "bindAddress": "127.0.0.1", "storePathRootDir": str(store_dir)}  # fmt: skip
    config, store_config, _unknown = load_broker_conf(None, overrides)
    config.broker_ip1 = "127.0.0.1"
    broker = BrokerController(config, store_config)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.aclose()


async def test_two_brokers_through_one_endpoint(grpc_python: Path, tmp_path: Path) -> None:
    """Two brokers on one host, each serving gRPC on its own port: the client, given one
    broker's endpoint, gets both brokers' queues from QueryRoute, sends to both, and a
    SimpleConsumer and a PushConsumer each receive every message from both."""
    async with (
        running_cluster(tmp_path / "a") as (namesrv, broker_a),
        second_broker(namesrv, tmp_path / "b") as broker_b,
    ):
        for broker in (broker_a, broker_b):
            create_topic(broker, "TwoB", 2)
            await broker.register_broker_all()
        assert broker_a.grpc_server is not None and broker_b.grpc_server is not None
        endpoint = broker_a.grpc_server.address
        produce = ["produce", "--endpoints", endpoint, "--topic", "TwoB", "--count", "24"]
        sent, _ = await drive(grpc_python, tmp_path, *produce)
        ids = {line["msg_id"] for line in sent if "msg_id" in line}
        assert len(ids) == 24
        stored = [sum(b.store.get_max_offset_in_queue("TwoB", q) for q in range(2))
                  for b in (broker_a, broker_b)]  # fmt: skip
        assert sum(stored) == 24 and min(stored) > 0, stored
        consume = ["consume", "--endpoints", endpoint, "--topic", "TwoB", "--group",
                   "two-simple", "--expect", "24", "--await", "1"]  # fmt: skip
        got, _ = await drive(grpc_python, tmp_path, *consume)
        assert {m["msg_id"] for m in got if "body" in m and m["acked"]} == ids
        push = ["push-consume", "--endpoints", endpoint, "--topic", "TwoB", "--group",
                "two-push", "--expect", "24"]  # fmt: skip
        got, _ = await drive(grpc_python, tmp_path, *push)
        assert {m["msg_id"] for m in got if "body" in m and m["acked"]} == ids
        for group in ("two-simple", "two-push"):
            acked = [sum(b.consumer_offset_manager.query_all(group, "TwoB").values())
                     for b in (broker_a, broker_b)]  # fmt: skip
            assert acked == stored, (group, acked)
