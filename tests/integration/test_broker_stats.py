"""The broker's statistics after real traffic (issue 14): N sends and N pulls through
rocketq's client against the in-process cluster are counted in BrokerStatsManager's items,
the runtime info's totals, VIEW_BROKER_STATS_DATA, ConsumeStats and ``rocketq admin``
(statsAll, brokerStatus). Counts are checked, never rates against the wall clock; the
windows are sampled by the test (what the broker's 1 s loop does when they are due)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner

from rocketq.admin import AdminClient
from rocketq.broker.stats import (
    BROKER_GET_NUMS,
    BROKER_PUT_NUMS,
    DAY,
    GROUP_GET_NUMS,
    GROUP_GET_SIZE,
    HOUR,
    MINUTE,
    SNDBCK_PUT_NUMS,
    TOPIC_PUT_NUMS,
    TOPIC_PUT_SIZE,
    BrokerStatsManager,
)
from rocketq.cli import main
from rocketq.client import AsyncProducer, ClientConfig, Message
from rocketq.client.message import MessageExt, MessageQueue, PullStatus
from rocketq.client.pull_consumer import AsyncPullConsumer
from rocketq.common.topic import SCHEDULE_TOPIC
from rocketq.testing import running_cluster

N = 40
TOPIC, GROUP = "StatsT", "stats-cg"


def cli(namesrv: str, *args: str) -> str:
    """``rocketq admin ...`` (run in a thread: the cluster serves on this test's loop)."""
    result = CliRunner().invoke(main, ["admin", args[0], "-n", namesrv, *args[1:]])
    assert result.exit_code == 0, result.output
    return result.output


async def pull_all(consumer: AsyncPullConsumer) -> list[MessageExt]:
    got: list[MessageExt] = []
    for mq in await consumer.fetch_subscribe_message_queues(TOPIC):
        offset = 0
        while True:
            result = await consumer.pull(
                MessageQueue(TOPIC, mq.broker_name, mq.queue_id), "*", offset
            )
            if result.status is not PullStatus.FOUND:
                break
            got += result.messages
            offset = result.next_begin_offset
    return got


async def test_send_and_pull_are_counted(tmp_path: Path) -> None:
    async with running_cluster(tmp_path) as (ns, broker):
        stats = broker.broker_stats_manager
        config = ClientConfig(namesrv_addr=ns.address)
        async with AsyncProducer("stats-pg", client_config=config) as producer:
            for i in range(N):
                await producer.send(Message(TOPIC, b"m%03d" % i))
        async with AsyncPullConsumer(
            GROUP, client_config=config, register_topics=[TOPIC]
        ) as consumer:
            got = await pull_all(consumer)
            assert len(got) == N
            # one message handed back: SNDBCK_PUT_NUMS, and a put of the delay topic
            addr = broker.config.broker_addr
            await consumer.instance.api.send_message_back(addr, got[0], GROUP, 0, 16)
            check_counters(stats, sum(len(m.body) for m in got))
            for window in (MINUTE, HOUR, DAY):
                stats.sample(window)
            await check_admin_answers(ns.address, addr)
            await check_cli(ns.address, addr)


def check_counters(stats: BrokerStatsManager, body_bytes: int) -> None:
    def value(name: str, key: str) -> int:
        item = stats.get_stats_item(name, key)
        assert item is not None, (name, key)
        return item.value

    assert value(TOPIC_PUT_NUMS, TOPIC) == N
    assert value(TOPIC_PUT_SIZE, TOPIC) > body_bytes  # whole records: bodies + headers
    assert value(BROKER_PUT_NUMS, "DefaultCluster") == N  # sends only, not the send-back
    assert value(GROUP_GET_NUMS, f"{TOPIC}@{GROUP}") == N
    assert value(GROUP_GET_SIZE, f"{TOPIC}@{GROUP}") == value(TOPIC_PUT_SIZE, TOPIC)
    assert value(BROKER_GET_NUMS, "DefaultCluster") == N
    assert value(SNDBCK_PUT_NUMS, f"{TOPIC}@{GROUP}") == 1
    assert value(TOPIC_PUT_NUMS, SCHEDULE_TOPIC) == 1
    assert stats.store_stats.get_transferred == N
    assert stats.store_stats.get_found >= 1 and stats.store_stats.get_miss >= 1


async def check_admin_answers(namesrv: str, addr: str) -> None:
    async with AdminClient(namesrv) as admin:
        info = await admin.broker_runtime_info(addr)
        assert info["msgPutTotalTodayNow"] == str(N + 1)  # the store counts the send-back
        assert info["msgGetTotalTodayNow"] == str(N)
        assert info["msgPutTotalTodayMorning"] == "0"  # no midnight since the start
        data = await admin.broker_stats_data(addr, TOPIC_PUT_NUMS, TOPIC)
        for window in ("statsMinute", "statsHour", "statsDay"):
            assert data[window]["sum"] == N and data[window]["tps"] > 0
        data = await admin.broker_stats_data(addr, GROUP_GET_NUMS, f"{TOPIC}@{GROUP}")
        assert data["statsMinute"]["sum"] == N and data["statsMinute"]["avgpt"] > 0
        progress = await admin.consume_stats(GROUP, TOPIC)
        assert progress.consume_tps > 0


async def check_cli(namesrv: str, addr: str) -> None:
    rows = json.loads(await asyncio.to_thread(cli, namesrv, "statsAll", "-t", TOPIC, "--json"))
    (row,) = [r for r in rows if r["group"] == GROUP]
    assert row["inMsg24Hour"] == N and row["outMsg24Hour"] == N
    assert row["inTps"] > 0 and row["outTps"] > 0
    text = await asyncio.to_thread(cli, namesrv, "statsAll", "-t", TOPIC)
    assert GROUP in text
    status = await asyncio.to_thread(cli, namesrv, "brokerStatus", "-b", addr)
    figures = dict(
        (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in status.splitlines())
    )
    assert figures["msgPutTotalTodayNow"] == str(N + 1)
    assert figures["msgGetTotalTodayNow"] == str(N)


async def test_delayed_delivery_is_counted_as_the_schedule_group_get_and_a_put(
    tmp_path: Path,
) -> None:
    # DeliverDelayedMessageTimerTask: each delivered message is a get of SCHEDULE_CONSUMER
    # from SCHEDULE_TOPIC (queue level-1) and a put of its real topic.
    from rocketq.broker.stats import SCHEDULE_CONSUMER_GROUP
    from rocketq.testing import async_wait_until

    conf = {"messageDelayLevel": " ".join(["1s"] * 18)}
    async with (
        running_cluster(tmp_path, conf) as (namesrv, broker),
        AsyncProducer(
            "stats-delay-pg", client_config=ClientConfig(namesrv_addr=namesrv.address)
        ) as producer,
    ):
        stats: BrokerStatsManager = broker.broker_stats_manager
        for i in range(3):
            msg = Message("DelayT", f"d{i}".encode())
            msg.delay_time_level = 2
            await producer.send(msg)

        def delivered() -> float:
            item = stats.get_stats_item(TOPIC_PUT_NUMS, "DelayT")
            return item.value if item is not None else 0

        await async_wait_until(lambda: delivered() >= 3, 20.0, 0.05, "not delivered")
        # the producer's 3 puts went to SCHEDULE_TOPIC (the store rewrote the topic, as
        # Java's msgInner shows after putMessage); the delay service's 3 to DelayT
        assert delivered() == 3
        group_get = stats.get_stats_item(
            GROUP_GET_NUMS, f"{SCHEDULE_TOPIC}@{SCHEDULE_CONSUMER_GROUP}"
        )
        assert group_get is not None
        assert group_get.value == 3


async def test_transaction_check_reads_count_as_the_system_group_gets(tmp_path: Path) -> None:
    # TransactionalMessageBridge.getMessage counts its half-queue reads for CID_SYS_RMQ_TRANS.
    from rocketq.broker.transaction.bridge import TRANS_SYS_GROUP
    from rocketq.client.transaction import AsyncTransactionProducer, LocalTransactionState
    from rocketq.common.topic import TRANS_HALF_TOPIC
    from rocketq.testing import async_wait_until

    conf = {"transactionTimeOut": "300", "transactionCheckInterval": "300"}
    checked: list[str] = []

    def check(msg: MessageExt) -> LocalTransactionState:
        checked.append(msg.topic)
        return LocalTransactionState.COMMIT_MESSAGE

    async with running_cluster(tmp_path, conf) as (namesrv, broker):
        producer = AsyncTransactionProducer(
            "stats-tx-pg",
            client_config=ClientConfig(namesrv_addr=namesrv.address),
            execute_local_transaction=lambda msg, arg: LocalTransactionState.UNKNOW,
            check_local_transaction=check,
        )
        async with producer:
            await producer.send_message_in_transaction(Message("TxStatsT", b"half"))
            await async_wait_until(lambda: bool(checked), 20.0, 0.05, "never checked")
        stats: BrokerStatsManager = broker.broker_stats_manager
        item = stats.get_stats_item(GROUP_GET_NUMS, f"{TRANS_HALF_TOPIC}@{TRANS_SYS_GROUP}")
        assert item is not None
        assert item.value >= 1
