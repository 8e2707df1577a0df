"""RocketMQ 5 controller mode across a network partition, with real processes and real
network namespaces (``ip netns`` + veth, made by the test; skipped without root).

The master runs in its own namespace, reached by the controller, the NameServer and the
other brokers over one veth pair ("the cluster link") and by the test's client over a
second one. Cutting the cluster link (its namespace end set down: packets to it are
dropped, the master's own sends fail) isolates the master from the controller and its
slaves while the client can still send to it. Then: the controller elects a new master
once the master's heartbeats stop for ``controllerHeartBeatTimeoutMills``; the isolated
master cannot acknowledge SYNC sends (allAckInSyncStateSet: its SyncStateSet still names
the slaves and only the controller could shrink it), so every send it takes is answered
FLUSH_SLAVE_TIMEOUT and none is lost; healed, it learns the newer epoch, follows the new
master, truncates what it took alone and is back in the SyncStateSet."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import ResponseCode
from rocketq.testing import ControllerCluster, async_wait_until

from .conftest import pull_all
from .test_controller_mode import GROUP, QUEUES, SETUP_DEADLINE, TOPIC, create_topic
from .test_controller_sigstop import send_command

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"
    ),
]

# Through RocketMQ's key: an isolated master is noticed only by its missing heartbeats.
HEARTBEAT_TIMEOUT_MS = 2000
# A bound, not a timing decision: the timeout plus a margin for a loaded machine.
FAILOVER_BOUND = HEARTBEAT_TIMEOUT_MS / 1000 + 20.0
# A send to the isolated master waits its slaveTimeout (3 s) at most; generous bound.
SEND_TIMEOUT_S = 30.0


class Namespace:
    """A network namespace with two veth pairs to the host: ``cluster`` (host end
    ``host_ip``, namespace end ``ns_ip``) and ``client`` (namespace end ``client_ip``)."""

    def __init__(self) -> None:
        tag = os.getpid() % 100_000
        subnet = f"10.231.{tag % 200 + 20}"
        self.name = f"rqpart{tag}"
        self.host_ip, self.ns_ip = f"{subnet}.1", f"{subnet}.2"
        self.client_host_ip, self.client_ip = f"{subnet}.5", f"{subnet}.6"
        self._cluster = (f"rqc{tag}h", f"rqc{tag}n")
        self._client = (f"rqk{tag}h", f"rqk{tag}n")

    @property
    def wrapper(self) -> list[str]:
        """Runs a command inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def _pair(self, ends: tuple[str, str], host_ip: str, ns_ip: str) -> list[list[str]]:
        host_end, ns_end = ends
        return [
            ["ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end],
            ["ip", "link", "set", ns_end, "netns", self.name],
            ["ip", "addr", "add", f"{host_ip}/30", "dev", host_end],
            ["ip", "link", "set", host_end, "up"],
            [*self.wrapper, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_end],
            [*self.wrapper, "ip", "link", "set", ns_end, "up"],
        ]

    def create(self) -> None:
        """Make the namespace and both links (pytest.skip when the kernel refuses)."""
        steps = [
            ["ip", "netns", "add", self.name],
            [*self.wrapper, "ip", "link", "set", "lo", "up"],
        ]
        steps += self._pair(self._cluster, self.host_ip, self.ns_ip)
        steps += self._pair(self._client, self.client_host_ip, self.client_ip)
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode != 0:
                self.delete()
                pytest.skip(f"network namespaces refused: {' '.join(step)}: {done.stderr}")

    def cut(self) -> None:
        """Partition: the namespace end of the cluster link goes down."""
        subprocess.run([*self.wrapper, "ip", "link", "set", self._cluster[1], "down"], check=True)

    def heal(self) -> None:
        """And up again (its address and route come back with it)."""
        subprocess.run([*self.wrapper, "ip", "link", "set", self._cluster[1], "up"], check=True)

    def delete(self) -> None:
        """Remove the namespace (its veth ends, and so both pairs, go with it)."""
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        for host_end in (self._cluster[0], self._client[0]):
            subprocess.run(["ip", "link", "del", host_end], capture_output=True)


@pytest.fixture
def netns() -> Iterator[Namespace]:
    ns = Namespace()
    ns.create()
    try:
        yield ns
    finally:
        ns.delete()


async def start_group(cluster: ControllerCluster, net: Namespace, admin: AdminClient) -> str:
    """Broker 0 in the namespace first (it becomes the master), then the other two; returns
    the master's address once all three are in the SyncStateSet."""
    cluster.start_broker(0, host="0.0.0.0", wrapper=net.wrapper)
    master = cluster.brokers[0].addr

    async def master_up() -> bool:
        return (await cluster.route(admin)).get(0) == master

    await async_wait_until(master_up, SETUP_DEADLINE, message="namespace broker not master")
    cluster.start_broker(1)
    cluster.start_broker(2)
    route = await cluster.wait_settled(admin, SETUP_DEADLINE)
    assert route[0] == master, route
    return master


async def test_partitioned_master_is_replaced_cannot_ack_sync_sends_and_rejoins_as_slave(
    tmp_path: Path, netns: Namespace
) -> None:
    cluster = ControllerCluster(
        tmp_path,
        3,
        broker_name=GROUP,
        host=netns.host_ip,
        broker_config={"controllerHeartBeatTimeoutMills": str(HEARTBEAT_TIMEOUT_MS)},
        broker_configs=[{"brokerIP1": netns.ns_ip}],
    )
    client = RemotingClient()
    try:
        cluster.start(brokers=False)
        async with AdminClient(cluster.namesrv.addr) as admin:
            old_master = await start_group(cluster, netns, admin)
            slaves = [a for b, a in (await cluster.route(admin)).items() if b]
            await create_topic(admin, old_master, slaves)
            # the client's own way to the master, which the partition leaves alone
            side_door = f"{netns.client_ip}:{cluster.brokers[0].port}"
            ok = await client.invoke(side_door, send_command("before"), SEND_TIMEOUT_S)
            assert ok.code == ResponseCode.SUCCESS, ok.remark

            netns.cut()
            t0 = time.monotonic()
            cut_off = asyncio.create_task(
                client.invoke(side_door, send_command("isolated-1"), SEND_TIMEOUT_S)
            )

            async def new_master() -> str | None:
                r = await cluster.route(admin)
                return r[0] if r.get(0) not in (None, old_master) else None

            master = await async_wait_until(new_master, FAILOVER_BOUND, 0.01, "no election")
            print(f"\npartition: {master} is master {time.monotonic() - t0:.3f} s after the cut")
            answer = await cut_off  # taken in the partition: its slaves never acked it
            assert answer.code == ResponseCode.FLUSH_SLAVE_TIMEOUT, (answer.code, answer.remark)
            # Still cut off, with a new master elsewhere: the old one acknowledges nothing.
            later = await client.invoke(side_door, send_command("isolated-2"), SEND_TIMEOUT_S)
            assert later.code == ResponseCode.FLUSH_SLAVE_TIMEOUT, (later.code, later.remark)
            ok = await client.invoke(master, send_command("after"), SEND_TIMEOUT_S)
            assert ok.code == ResponseCode.SUCCESS, ok.remark

            netns.heal()

            async def rejoined() -> bool:
                r = await cluster.route(admin)
                return r.get(0) == master and old_master in [a for b, a in r.items() if b]

            await async_wait_until(rejoined, SETUP_DEADLINE, message="old master did not rejoin")
            on_master = {m.keys for m in await pull_all(admin, master, TOPIC, QUEUES)}
            assert on_master == {"before", "after"}, on_master

            async def truncated_and_replicated() -> bool:
                mine = {m.keys for m in await pull_all(admin, old_master, TOPIC, QUEUES)}
                return mine == on_master

            await async_wait_until(truncated_and_replicated, SETUP_DEADLINE, message="old log")

            async def back_in_sync_state_set() -> bool:
                return old_master in await cluster.in_sync_addresses(admin)

            await async_wait_until(back_in_sync_state_set, SETUP_DEADLINE, message="not in set")
    finally:
        await client.aclose()
        cluster.stop()
