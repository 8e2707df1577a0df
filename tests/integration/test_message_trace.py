"""Message trace in the in-process cluster: a producer and a push consumer with
``enable_msg_trace`` write Pub, SubBefore and SubAfter records to RMQ_SYS_TRACE_TOPIC
(created at start by ``traceTopicEnable``) or to a customized trace topic; the admin API
and ``rocketq admin queryMsgTraceById`` find them by the message's msgId and print them
as mqadmin does."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from rocketq.admin import AdminClient
from rocketq.admin.trace import query_msg_trace_by_id
from rocketq.broker.controller import BrokerController
from rocketq.cli import main
from rocketq.client import (
    AsyncProducer,
    AsyncPushConsumer,
    ClientConfig,
    ConsumeConcurrentlyStatus,
    ConsumerConfig,
    Message,
    MessageExt,
    ProducerConfig,
)
from rocketq.client.trace import TraceView, decode_trace_data
from rocketq.common.topic import TopicConfig
from rocketq.namesrv import NamesrvController
from rocketq.testing import async_wait_until, running_cluster
from tests.integration.conftest import pull_all

Cluster = tuple[NamesrvController, BrokerController]
TRACE_TOPIC = "RMQ_SYS_TRACE_TOPIC"


def client(ns: NamesrvController) -> ClientConfig:
    return ClientConfig(
        namesrv_addr=ns.address, poll_name_server_interval=500, rebalance_interval=500
    )


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path / "store", {"traceTopicEnable": "true"}) as c:
        yield c


async def views_of(admin: AdminClient, msg_id: str, kinds: set[str], topic: str) -> list[TraceView]:
    """The trace records of ``msg_id`` once every kind in ``kinds`` is there."""

    async def ready() -> list[TraceView] | None:
        views = await query_msg_trace_by_id(admin, msg_id, topic)
        return views if kinds <= {v.msg_type for v in views} else None

    return await async_wait_until(ready, message=f"trace records {kinds} of {msg_id}")


async def test_producer_and_consumer_traces_are_written_and_shown(
    cluster: Cluster, tmp_path: Path
) -> None:
    ns, broker = cluster
    addr = broker.config.broker_addr
    assert broker.topic_config_manager.select(TRACE_TOPIC) is not None  # traceTopicEnable
    consumed: list[MessageExt] = []

    async def listener(msgs: list[MessageExt], ctx: object) -> ConsumeConcurrentlyStatus:
        consumed.extend(msgs)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    config = ConsumerConfig(
        consume_from_where="CONSUME_FROM_FIRST_OFFSET",
        offset_store_dir=str(tmp_path),
        enable_msg_trace=True,
    )
    consumer = AsyncPushConsumer("trace-cg", config=config, client_config=client(ns))
    consumer.subscribe("Traced", "*")
    consumer.register_listener(listener)
    async with AdminClient(ns.address) as admin:
        await admin.create_topic(addr, TopicConfig("Traced", 1, 1))
        producer = AsyncProducer(
            "trace-pg", config=ProducerConfig(enable_msg_trace=True), client_config=client(ns)
        )
        async with producer, consumer:
            sent = await producer.send(Message("Traced", b"hello", tags="TagT", keys="order-1"))
            views = await views_of(admin, sent.msg_id, {"Pub", "SubBefore", "SubAfter"}, "")
            by_key = await admin.query_message(TRACE_TOPIC, "order-1", 64)
        cli = await asyncio.to_thread(
            CliRunner().invoke,
            main,
            ["admin", "queryMsgTraceById", "-n", ns.address, "-i", sent.msg_id],
        )
        as_json = await asyncio.to_thread(
            CliRunner().invoke,
            main,
            ["admin", "queryMsgTraceById", "-n", ns.address, "-i", sent.msg_id, "--json"],
        )
    assert {v["msg_type"] for v in json.loads(as_json.output)} == {"Pub", "SubBefore", "SubAfter"}
    pub = next(v for v in views if v.msg_type == "Pub")
    after = next(v for v in views if v.msg_type == "SubAfter")
    assert (pub.group_name, pub.topic, pub.tags, pub.keys) == (
        "trace-pg",
        "Traced",
        "TagT",
        "order-1",
    )
    assert pub.store_host == addr and pub.offset_msg_id == sent.offset_msg_id
    assert pub.status == "success" and pub.client_host == "127.0.0.1"
    assert (after.group_name, after.status, after.keys) == ("trace-cg", "success", "order-1")
    assert by_key  # the trace messages are indexed by the traced message's keys too
    assert cli.exit_code == 0, cli.output
    lines = cli.output.splitlines()
    assert lines[0].split() == [
        "#Type", "#ProducerGroup", "#ClientHost", "#SendTime", "#CostTimes", "#Status"
    ]  # fmt: skip
    prefix = f"{'Pub':<10} {'trace-pg':<20} {'127.0.0.1':<20} "  # mqadmin's widths
    assert lines[1].startswith(prefix), lines[1]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\d+ms +success +", lines[1][len(prefix) :]
    )
    assert lines[3].split()[:2] == ["#Type", "#ConsumerGroup"]
    assert lines[4].split()[:2] == ["Sub", "trace-cg"] and lines[4].split()[-1] == "success"
    assert consumed[0].body == b"hello"


async def test_customized_trace_topic_and_failed_consumption(
    cluster: Cluster, tmp_path: Path
) -> None:
    ns, broker = cluster
    addr = broker.config.broker_addr
    attempts: list[int] = []

    async def failing(msgs: list[MessageExt], ctx: object) -> ConsumeConcurrentlyStatus:
        attempts.append(msgs[0].reconsume_times)
        return ConsumeConcurrentlyStatus.RECONSUME_LATER

    config = ConsumerConfig(
        consume_from_where="CONSUME_FROM_FIRST_OFFSET",
        offset_store_dir=str(tmp_path),
        enable_msg_trace=True,
        customized_trace_topic="MyTrace",
    )
    consumer = AsyncPushConsumer("trace-fail-cg", config=config, client_config=client(ns))
    consumer.subscribe("TracedFail", "*")
    consumer.register_listener(failing)
    producer_config = ProducerConfig(enable_msg_trace=True, customized_trace_topic="MyTrace")
    async with AdminClient(ns.address) as admin:
        await admin.create_topic(addr, TopicConfig("TracedFail", 1, 1))
        await admin.create_topic(addr, TopicConfig("MyTrace", 1, 1))
        producer = AsyncProducer("trace-pg2", config=producer_config, client_config=client(ns))
        async with producer, consumer:
            sent = await producer.send(Message("TracedFail", b"bad"))
            views = await views_of(admin, sent.msg_id, {"Pub", "SubAfter"}, "MyTrace")
        assert await query_msg_trace_by_id(admin, sent.msg_id) == []  # not in the default
        records = [
            ctx
            for m in await pull_all(admin, addr, "MyTrace", 1)
            for ctx in decode_trace_data(m.body.decode())
        ]
    after = next(v for v in views if v.msg_type == "SubAfter")
    assert after.status == "failed" and after.group_name == "trace-fail-cg"
    sub_after = next(c for c in records if c.trace_type.value == "SubAfter")
    assert sub_after.context_code == 4  # ConsumeReturnType.FAILED
    assert attempts[0] == 0
