"""The Apache RocketMQ C++ client's push consumer reads a slave while its master is down.

A SYNC_MASTER + one slave, real processes (``HaGroup`` of the HA cluster tests): messages
acknowledged SEND_OK by the master are on the slave by definition, so after a SIGKILL of the
master a C++ push consumer, started after the kill or running across it, must receive
every one of them from the slave: the NameServer drops the dead master from the route and
librocketmq's pulls fall back to the remaining member of the broker group."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.client.message import Message, SendStatus
from rocketq.testing import NamesrvProcess, async_wait_until
from tests.integration.test_ha_cluster import TOPIC, create_topic, ha_group, producer
from tests.interop.conftest import CPP_DRIVER, Driver

pytestmark = [pytest.mark.interop, pytest.mark.slow]  # processes are SIGKILLed


@pytest.fixture
def namesrv_proc(tmp_path: Path) -> Iterator[NamesrvProcess]:
    with NamesrvProcess(tmp_path / "ns", {"brokerChannelExpiredTime": "600000"}) as ns:
        yield ns


def cpp_consumer(python: Path, home: Path, namesrv: str, group: str, expect: int) -> Driver:
    argv = [str(python), str(CPP_DRIVER), "consume", "--namesrv", namesrv, "--topic", TOPIC,
            "--group", group, "--expect", str(expect), "--timeout", "150"]  # fmt: skip
    return Driver(argv, env={"HOME": str(home)})


async def send_acked(namesrv: str, name: str, prefix: str, count: int) -> set[str]:
    """``count`` sync sends, every one acknowledged SEND_OK (so a slave has it); their keys."""
    keys = set()
    async with producer(namesrv, name) as p:
        for i in range(count):
            key = f"{prefix}-{i}"
            body = json.dumps({"i": i, "key": key}).encode()
            result = await p.send(Message(TOPIC, body, keys=key))
            assert result.status is SendStatus.SEND_OK, (key, result.status)
            keys.add(key)
    return keys


async def master_left_the_route(admin: AdminClient) -> None:
    async def gone() -> bool:
        route = await admin.topic_route(TOPIC)
        return all(0 not in b.broker_addrs for b in route.broker_datas)

    await async_wait_until(gone, 30, message="the killed master stayed in the route")


def received_keys(consumer: Driver) -> set[str]:
    return {str(m["keys"]) for m in consumer.messages}


async def test_cpp_push_consumer_started_after_the_master_died_reads_the_slave(
    tmp_path: Path, namesrv_proc: NamesrvProcess, cpp_python: Path, drivers: list[Driver]
) -> None:
    ns = namesrv_proc.addr
    with ha_group(tmp_path, ns, "SYNC_MASTER", slaves=1) as group:
        async with AdminClient(ns) as admin:
            await create_topic(admin, group)
            keys = await send_acked(ns, "cpp-ha-pg", "before", 300)
            group.master.stop(signal.SIGKILL)
            await master_left_the_route(admin)
        consumer = cpp_consumer(cpp_python, tmp_path, ns, "cpp-ha-cg", len(keys))
        drivers.append(consumer)
        done = consumer.wait(180)
        assert done["timed_out"] is False and done["duplicates"] == 0, done
        assert received_keys(consumer) == keys  # from the slave: the master is dead


async def test_cpp_push_consumer_keeps_consuming_across_the_master_kill(
    tmp_path: Path, namesrv_proc: NamesrvProcess, cpp_python: Path, drivers: list[Driver]
) -> None:
    ns = namesrv_proc.addr
    with ha_group(tmp_path, ns, "SYNC_MASTER", slaves=1) as group:
        async with AdminClient(ns) as admin:
            await create_topic(admin, group)
            first = await send_acked(ns, "cpp-ha-pg1", "first", 100)
            consumer = cpp_consumer(cpp_python, tmp_path, ns, "cpp-ha-cg2", 400)
            drivers.append(consumer)

            async def got_first() -> bool:
                return received_keys(consumer) >= first

            await async_wait_until(got_first, 90, message="the C++ consumer never started")
            # acknowledged while the consumer runs, then the master dies before (most of)
            # them can be pulled from it
            second = await send_acked(ns, "cpp-ha-pg2", "second", 300)
            group.master.stop(signal.SIGKILL)
        done = consumer.wait(180)
        assert done["timed_out"] is False, done
        assert received_keys(consumer) == first | second
