"""The EndTransaction trace (``EndTransactionTraceHookImpl``, issue 14): a transaction
producer with ``enable_msg_trace`` writes an EndTransaction record when it ends a
transaction, after its local transaction (fromTransactionCheck false) and after a
check-back (true); the admin API and ``rocketq admin queryMsgTraceById`` read it back.
In-process cluster with ``traceTopicEnable`` and short check-back timers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from rocketq.admin import AdminClient
from rocketq.admin.trace import query_msg_trace_by_id
from rocketq.broker.controller import BrokerController
from rocketq.cli import main
from rocketq.client import (
    AsyncTransactionProducer,
    ClientConfig,
    LocalTransactionState,
    Message,
    MessageExt,
    ProducerConfig,
)
from rocketq.client.trace import TraceView
from rocketq.common.topic import TopicConfig
from rocketq.namesrv import NamesrvController
from rocketq.testing import async_wait_until, running_cluster

Cluster = tuple[NamesrvController, BrokerController]
TOPIC = "TxTraceT"
BROKER = {
    "traceTopicEnable": "true",
    # Check a half message 0.5 s after it was stored, every 0.5 s (Java: 6 s / 60 s).
    "transactionTimeOut": "500",
    "transactionCheckInterval": "500",
}


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path / "store", BROKER) as c:
        yield c


async def end_records(admin: AdminClient, msg_id: str, count: int) -> list[TraceView]:
    """The EndTransaction records of ``msg_id`` once there are ``count``, oldest first."""

    async def ready() -> list[TraceView] | None:
        views = await query_msg_trace_by_id(admin, msg_id)
        ends = [v for v in views if v.msg_type == "EndTransaction"]
        return sorted(ends, key=lambda v: v.time_stamp) if len(ends) >= count else None

    return await async_wait_until(ready, timeout=20, message=f"EndTransaction of {msg_id}")


async def test_end_transaction_traces(cluster: Cluster) -> None:
    ns, broker = cluster
    config = ClientConfig(namesrv_addr=ns.address, poll_name_server_interval=500)

    def execute(msg: Message, arg: object) -> LocalTransactionState:
        if msg.tags == "commit":
            return LocalTransactionState.COMMIT_MESSAGE
        return LocalTransactionState.UNKNOW  # decided by the check-back

    def check(msg: MessageExt) -> LocalTransactionState:
        return LocalTransactionState.ROLLBACK_MESSAGE

    producer = AsyncTransactionProducer(
        "tx-trace-pg",
        execute_local_transaction=execute,
        check_local_transaction=check,
        config=ProducerConfig(enable_msg_trace=True),
        client_config=config,
    )
    async with AdminClient(ns.address) as admin:
        await admin.create_topic(broker.config.broker_addr, TopicConfig(TOPIC, 1, 1))
        async with producer:
            committed = await producer.send_message_in_transaction(
                Message(TOPIC, b"c", tags="commit", keys="order-1")
            )
            unknown = await producer.send_message_in_transaction(
                Message(TOPIC, b"u", tags="later", keys="order-2")
            )
            (ok,) = await end_records(admin, committed.msg_id, 1)
            # UNKNOW when the local transaction ended, ROLLBACK when the check-back did.
            first, checked = await end_records(admin, unknown.msg_id, 2)
        assert ok.transaction_state == "COMMIT_MESSAGE" and not ok.from_transaction_check
        assert ok.topic == TOPIC and ok.tags == "commit" and ok.keys == "order-1"
        assert ok.group_name == "tx-trace-pg" and ok.store_host == broker.config.broker_addr
        assert ok.transaction_id == committed.msg_id
        assert first.transaction_state == "UNKNOW" and not first.from_transaction_check
        assert checked.transaction_state == "ROLLBACK_MESSAGE"
        assert checked.from_transaction_check and checked.tags == "later"
        views = await query_msg_trace_by_id(admin, unknown.msg_id)
        assert "Pub" in {v.msg_type for v in views}  # the half message's send
    args = ["admin", "queryMsgTraceById", "-n", ns.address, "-i", committed.msg_id]
    text = (await asyncio.to_thread(CliRunner().invoke, main, args)).output
    assert "#EndTime" in text and "EndTx" in text and "COMMIT_MESSAGE" in text
    out = await asyncio.to_thread(CliRunner().invoke, main, [*args, "--json"])
    records = json.loads(out.output)
    end = next(r for r in records if r["msg_type"] == "EndTransaction")
    assert end["transaction_state"] == "COMMIT_MESSAGE" and end["from_transaction_check"] is False
