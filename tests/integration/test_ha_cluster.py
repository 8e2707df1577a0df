"""Master-slave replication with real processes: a NameServer, a master and two slaves of
one broker group (``brokerName`` ha-a), as RocketMQ's classic HA runs them."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.client.config import ClientConfig, ProducerConfig
from rocketq.client.message import Message, SendStatus
from rocketq.client.producer import AsyncProducer
from rocketq.common.errors import RocketQError
from rocketq.common.topic import TopicConfig
from rocketq.testing import BrokerProcess, NamesrvProcess, async_wait_until

from .conftest import ConsumerProcess, pull_all

pytestmark = pytest.mark.slow  # processes are killed and restarted

TOPIC = "HaTopic"
QUEUES = 4
GROUP_NAME = "ha-a"
# Short HA timers so a test never waits on RocketMQ's 5 s / 20 s defaults.
HA_TIMERS = {
    "haSendHeartbeatInterval": "500",
    "haHousekeepingInterval": "5000",
    "haConnectRetryInterval": "200",
    "slaveTimeout": "3000",
}


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now (all held open together, so they differ)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


class HaGroup:
    """One broker group: a master on fixed ports (so a restart keeps its address) and
    ``slaves`` slaves, all registered with ``namesrv``."""

    def __init__(self, root: Path, namesrv: str, role: str, slaves: int) -> None:
        port, ha_port = free_ports(2)
        self.namesrv = namesrv
        self.master_config = {
            "brokerName": GROUP_NAME, "brokerRole": role, "listenPort": str(port),
            "haListenPort": str(ha_port), **HA_TIMERS,
        }  # fmt: skip
        self.master_config_ha_addr = f"127.0.0.1:{ha_port}"
        self.master_dir = root / "master"
        self.master = BrokerProcess(self.master_dir, namesrv, self.master_config)
        self.slave_configs = [
            {"brokerName": GROUP_NAME, "brokerRole": "SLAVE", "brokerId": str(i + 1),
             "syncBrokerMetadataPeriod": "300", **HA_TIMERS}
            for i in range(slaves)
        ]  # fmt: skip
        self.slave_dirs = [root / f"slave{i + 1}" for i in range(slaves)]
        self.slaves = [
            BrokerProcess(d, namesrv, c)
            for d, c in zip(self.slave_dirs, self.slave_configs, strict=True)
        ]

    def start(self) -> HaGroup:
        self.master.start()
        for slave in self.slaves:
            slave.start()
        return self

    def restart_master(self) -> None:
        self.master = BrokerProcess(self.master_dir, self.namesrv, self.master_config).start()

    def restart_slave(self, i: int) -> None:
        self.slaves[i] = BrokerProcess(self.slave_dirs[i], self.namesrv, self.slave_configs[i])
        self.slaves[i].start()

    def stop(self) -> None:
        for proc in [*self.slaves, self.master]:
            proc.stop()


@pytest.fixture
def namesrv_proc(tmp_path: Path) -> Iterator[NamesrvProcess]:
    with NamesrvProcess(tmp_path / "ns", {"brokerChannelExpiredTime": "600000"}) as ns:
        yield ns


@contextlib.contextmanager
def ha_group(root: Path, namesrv: str, role: str, slaves: int) -> Iterator[HaGroup]:
    group = HaGroup(root, namesrv, role, slaves).start()
    try:
        yield group
    finally:
        group.stop()


async def read_all(admin: AdminClient, addr: str) -> dict[str, bytes]:
    """Every message of TOPIC on the broker at ``addr``, by key."""
    return {m.keys or "": m.body for m in await pull_all(admin, addr, TOPIC, QUEUES)}


async def create_topic(admin: AdminClient, group: HaGroup) -> None:
    await admin.create_topic(group.master.addr, TopicConfig(TOPIC, QUEUES, QUEUES))

    async def slaves_know_it() -> bool:  # SlaveSynchronize copies the topic table
        for slave in group.slaves:
            try:  # a slave without the topic's config answers TOPIC_NOT_EXIST
                await admin.pull(slave.addr, TOPIC, 0, 0)
            except RocketQError:
                return False
        return True

    await async_wait_until(slaves_know_it, 30, message="slaves did not get the topic")


def producer(namesrv: str, name: str) -> AsyncProducer:
    return AsyncProducer(
        name,
        config=ProducerConfig(send_msg_timeout=4000, retry_times_when_send_failed=0),
        client_config=ClientConfig(namesrv_addr=namesrv, poll_name_server_interval=500),
    )


async def send_stream(
    namesrv: str, prefix: str, stop: asyncio.Event, senders: int = 8
) -> dict[str, bytes]:
    """Sync sends from ``senders`` tasks until ``stop``; the acknowledged ones by key."""
    acked: dict[str, bytes] = {}

    async def one(p: AsyncProducer, w: int) -> None:
        i = 0
        while not stop.is_set():
            key = f"{prefix}-{w}-{i}"
            body = f"{key}:{random.getrandbits(64):x}".encode()
            i += 1
            try:
                result = await p.send(Message(TOPIC, body, keys=key))
            except RocketQError:
                await asyncio.sleep(0.05)
                continue
            if result.status is SendStatus.SEND_OK:
                acked[key] = body

    async with producer(namesrv, f"ha-pg-{prefix}") as p:
        await asyncio.gather(*(one(p, w) for w in range(senders)))
    return acked


async def test_sync_master_acks_only_what_a_slave_holds(
    tmp_path: Path, namesrv_proc: NamesrvProcess
) -> None:
    """SIGKILL a SYNC_MASTER in the middle of a stream of sync sends, three times: every
    acknowledged message is on a slave, and on the master after it restarts."""
    rng = random.Random(7)
    with ha_group(tmp_path, namesrv_proc.addr, "SYNC_MASTER", slaves=2) as group:
        async with AdminClient(namesrv_proc.addr) as admin:
            await create_topic(admin, group)
            acked: dict[str, bytes] = {}
            for round_no in range(3):
                stop = asyncio.Event()
                stream = asyncio.create_task(send_stream(namesrv_proc.addr, f"r{round_no}", stop))
                await asyncio.sleep(rng.uniform(0.5, 1.5))
                group.master.stop(signal.SIGKILL)
                await asyncio.sleep(0.3)
                stop.set()
                round_acked = await stream
                assert round_acked, f"round {round_no}: nothing was acknowledged"
                acked.update(round_acked)
                on_slaves: dict[str, bytes] = {}
                for slave in group.slaves:
                    on_slaves.update(await read_all(admin, slave.addr))
                missing = [k for k in round_acked if on_slaves.get(k) != round_acked[k]]
                assert not missing, f"round {round_no}: acknowledged, not on a slave: {missing}"
                group.restart_master()
            on_master = await read_all(admin, group.master.addr)
            assert {k: on_master.get(k) for k in acked} == acked

            async def slaves_caught_up() -> bool:
                for slave in group.slaves:
                    if await read_all(admin, slave.addr) != on_master:
                        return False
                return True

            await async_wait_until(slaves_caught_up, 60, message="slaves did not catch up")


async def test_sync_master_without_slave_answers_promptly(
    tmp_path: Path, namesrv_proc: NamesrvProcess
) -> None:
    with ha_group(tmp_path, namesrv_proc.addr, "SYNC_MASTER", slaves=1) as group:
        async with AdminClient(namesrv_proc.addr) as admin:
            await create_topic(admin, group)
            group.slaves[0].stop()
            async with producer(namesrv_proc.addr, "ha-pg-alone") as p:

                async def refused() -> bool:
                    result = await p.send(Message(TOPIC, b"alone"))
                    return result.status is SendStatus.SLAVE_NOT_AVAILABLE

                await async_wait_until(refused, 30, message="no SLAVE_NOT_AVAILABLE alone")
                group.restart_slave(0)

                async def accepted() -> bool:
                    result = await p.send(Message(TOPIC, b"again"))
                    return result.status is SendStatus.SEND_OK

                await async_wait_until(accepted, 30, message="sends did not recover with the slave")


async def test_restarted_slave_catches_up(tmp_path: Path, namesrv_proc: NamesrvProcess) -> None:
    with ha_group(tmp_path, namesrv_proc.addr, "ASYNC_MASTER", slaves=1) as group:
        async with AdminClient(namesrv_proc.addr) as admin:
            await create_topic(admin, group)
            async with producer(namesrv_proc.addr, "ha-pg-catch-up") as p:
                for i in range(100):
                    await p.send(Message(TOPIC, f"before-{i}".encode(), keys=f"b{i}"))
                group.slaves[0].stop(signal.SIGKILL)
                for i in range(300):
                    await p.send(Message(TOPIC, f"during-{i}".encode(), keys=f"d{i}"))
            group.restart_slave(0)
            on_master = await read_all(admin, group.master.addr)
            assert len(on_master) == 400

            async def caught_up() -> bool:
                return await read_all(admin, group.slaves[0].addr) == on_master

            await async_wait_until(caught_up, 60, message="the restarted slave did not catch up")


async def test_consumers_read_a_slave_while_the_master_is_down(
    tmp_path: Path, namesrv_proc: NamesrvProcess, consumers: list[ConsumerProcess]
) -> None:
    with ha_group(tmp_path, namesrv_proc.addr, "SYNC_MASTER", slaves=1) as group:
        async with AdminClient(namesrv_proc.addr) as admin:
            await create_topic(admin, group)
            async with producer(namesrv_proc.addr, "ha-pg-consume") as p:
                keys = []
                for i in range(200):
                    result = await p.send(Message(TOPIC, f"m{i}".encode(), keys=f"m{i}"))
                    assert result.status is SendStatus.SEND_OK
                    keys.append(f"m{i}")
            group.master.stop(signal.SIGKILL)
            consumer = ConsumerProcess(namesrv_proc.addr, "ha-cg", TOPIC)
            consumers.append(consumer)

            def all_received() -> bool:
                return {str(m["keys"]) for m in consumer.messages} >= set(keys)

            await async_wait_until(all_received, 60, message="the consumer did not read the slave")


async def test_async_master_loss_window_is_reported(
    tmp_path: Path, namesrv_proc: NamesrvProcess, record_property: pytest.RecordProperty
) -> None:
    """ASYNC_MASTER answers before any slave has the message: a master killed mid-stream
    may leave acknowledged messages only on its own disk. The test reports how many (the
    loss window a failover to the slave would have), and checks the master kept them all."""
    with ha_group(tmp_path, namesrv_proc.addr, "ASYNC_MASTER", slaves=1) as group:
        async with AdminClient(namesrv_proc.addr) as admin:
            await create_topic(admin, group)
            stop = asyncio.Event()
            stream = asyncio.create_task(send_stream(namesrv_proc.addr, "async", stop))
            await asyncio.sleep(1.0)
            group.master.stop(signal.SIGKILL)
            await asyncio.sleep(0.3)
            stop.set()
            acked = await stream
            assert acked
            on_slave = await read_all(admin, group.slaves[0].addr)
            only_on_master = [k for k in acked if k not in on_slave]
            record_property("acked", len(acked))
            record_property("acked_not_on_slave", len(only_on_master))
            print(f"ASYNC_MASTER loss window: {len(only_on_master)} of {len(acked)} acked")
            assert all(acked.get(k, body) == body for k, body in on_slave.items())
            group.restart_master()
            on_master = await read_all(admin, group.master.addr)
            assert {k: on_master.get(k) for k in acked} == acked


async def test_ha_status_shows_slaves_and_links(
    tmp_path: Path, namesrv_proc: NamesrvProcess
) -> None:
    with ha_group(tmp_path, namesrv_proc.addr, "SYNC_MASTER", slaves=2) as group:
        async with AdminClient(namesrv_proc.addr) as admin:
            await create_topic(admin, group)
            async with producer(namesrv_proc.addr, "ha-pg-status") as p:
                for i in range(50):
                    await p.send(Message(TOPIC, b"x" * 1024, keys=f"s{i}"))

            async def both_in_sync() -> bool:
                info = await admin.ha_status(group.master.addr)
                return info.master and info.in_sync_slave_nums == 2

            await async_wait_until(both_in_sync, 30, message="slaves not shown in sync")
            master = await admin.ha_status(group.master.addr)
            assert {c.diff for c in master.ha_connection_info} == {0}
            slave = await admin.ha_status(group.slaves[0].addr)
            assert not slave.master
            assert slave.ha_client_runtime_info.master_addr == group.master_config_ha_addr
            assert slave.ha_client_runtime_info.max_offset == master.master_commit_log_max_offset
            assert slave.ha_client_runtime_info.last_read_timestamp > 0
        cli = [sys.executable, "-m", "rocketq", "admin", "haStatus", "-n", namesrv_proc.addr]
        shown = subprocess.run([*cli, "-b", group.master.addr], capture_output=True, text=True)
        assert shown.returncode == 0, shown.stderr
        assert "#InSyncSlaveNum\t2" in shown.stdout
        assert shown.stdout.count(" OK ") == 2
