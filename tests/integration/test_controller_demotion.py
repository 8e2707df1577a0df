"""A controller-mode broker's master-only services across role changes (RocketMQ 5
``BrokerController#changeSpecialServiceStatus``): demoted, the delay levels, the transaction
check and the timer wheel stop; promoted again, each runs exactly once more and works.

The role changes are driven through the broker's ``RoleHost`` side (``become_slave`` /
``become_master``, what the ReplicasManager calls after an election) on an in-process
broker: the controller's part is covered by test_controller_mode and the SIGSTOP test."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from rocketq.admin import AdminClient
from rocketq.client.config import ClientConfig
from rocketq.client.message import Message
from rocketq.client.producer import AsyncProducer
from rocketq.common.topic import TopicConfig
from rocketq.testing import async_wait_until, running_cluster
from tests.integration.conftest import pull_all

# The controller id a demoted broker registers with (any id but 0).
SLAVE_ID = 2
# The master the demoted broker is told to follow: nobody listens there.
NO_MASTER = "127.0.0.1:1"
LEVELS = 18  # messageDelayLevel's default count


def master_tasks() -> Counter[str]:
    """Running tasks of the master-only services, by name."""
    names = Counter(t.get_name() for t in asyncio.all_tasks() if not t.done())
    wanted = {f"schedule-{i}" for i in range(1, LEVELS + 1)} | {
        "schedule-persist",
        "transaction-check",
        "timer-enqueue",
        "timer-dequeue",
        "timer-persist",
    }
    return Counter({n: c for n, c in names.items() if n in wanted})


def assert_one_copy_each() -> None:
    counts = master_tasks()
    assert len(counts) == LEVELS + 5, sorted(counts)
    assert set(counts.values()) == {1}, counts


async def test_demotion_stops_master_services_and_promotion_restarts_one_copy(
    tmp_path: Path,
) -> None:
    async with (
        running_cluster(tmp_path / "store") as (ns, broker),
        AdminClient(ns.address) as admin,
    ):
        assert_one_copy_each()
        for _ in range(2):  # demoted and promoted twice
            await broker.become_slave(NO_MASTER, SLAVE_ID)
            assert not master_tasks(), master_tasks()
            await broker.become_master()
            await broker.become_master()  # a repeated promotion starts nothing more
            assert_one_copy_each()

        addr = broker.config.broker_addr
        await admin.create_topic(addr, TopicConfig("Later", 1, 1))
        config = ClientConfig(namesrv_addr=ns.address, poll_name_server_interval=500)
        async with AsyncProducer("demote-pg", client_config=config) as producer:
            await producer.send(Message("Later", b"delayed", delay_time_level=1))
            due = int((time.time() + 1) * 1000)
            await producer.send(Message("Later", b"timed", deliver_time_ms=due))

        async def both_delivered() -> bool:
            got = await pull_all(admin, addr, "Later", 1)
            return sorted(m.body for m in got) == [b"delayed", b"timed"]

        await async_wait_until(both_delivered, message="restarted services did not deliver")
