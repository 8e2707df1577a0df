"""RocketMQ 5 controller mode with real processes: a NameServer running the controller
(enableControllerInNamesrv=true) and three brokers with enableControllerMode=true and
allAckInSyncStateSet=true. The controller assigns ids and elects; the brokers change role in
place, replicate with the AutoSwitch HA protocol and re-register; the route follows."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.testing import async_wait_until, controller_cluster, create_replicated_topic

from .conftest import pull_all
from .test_ha_cluster import send_stream

pytestmark = pytest.mark.slow

GROUP = "ha-a"  # test_ha_cluster's send_stream writes TOPIC of its module
TOPIC = "HaTopic"
QUEUES = 4
# Far above FAILOVER_BOUND: only the closed connection can elect a new master in time.
HEARTBEAT_TIMEOUT_MS = 60_000
# Proves the closed connection triggered the election without letting a loaded machine
# decide the test; the speed itself is a benchmark figure (issue 12 asks for < 1 s).
FAILOVER_BOUND = 15.0
SETUP_DEADLINE = 60.0


# Through RocketMQ's key, to every broker of the group.
NO_TIMEOUT = {"controllerHeartBeatTimeoutMills": str(HEARTBEAT_TIMEOUT_MS)}


async def route(admin: AdminClient) -> dict[int, str]:
    """brokerId -> address of GROUP in the NameServer's cluster info."""
    info = await admin.cluster_info()
    data = info.broker_addr_table.get(GROUP)
    return dict(data.broker_addrs) if data is not None else {}


async def wait_for_group(admin: AdminClient, members: int) -> dict[int, str]:
    async def ready() -> dict[int, str] | None:
        r = await route(admin)
        return r if 0 in r and len(r) == members else None

    return await async_wait_until(ready, SETUP_DEADLINE, message=f"{members} members in route")


async def create_topic(admin: AdminClient, master: str, slaves: list[str]) -> None:
    await create_replicated_topic(admin, master, slaves, TOPIC, QUEUES, SETUP_DEADLINE)


async def test_sigkill_master_new_master_in_route_acked_messages_kept_old_master_rejoins(
    tmp_path: Path,
) -> None:
    with controller_cluster(tmp_path, 3, broker_name=GROUP, broker_config=NO_TIMEOUT) as group:
        ns, controller = group.namesrv, group.controller
        async with AdminClient(ns.addr) as admin:
            before = await wait_for_group(admin, 3)
            old_master = before[0]
            slaves = [a for bid, a in before.items() if bid != 0]
            await create_topic(admin, old_master, slaves)
            stop = asyncio.Event()
            stream = asyncio.create_task(send_stream(ns.addr, "ctl", stop, senders=4))
            await asyncio.sleep(1.5)
            killed = group.index_of(old_master)
            group.brokers[killed].stop(signal.SIGKILL)
            t0 = time.monotonic()

            async def new_master() -> str | None:
                r = await route(admin)
                return r[0] if r.get(0) not in (None, old_master) else None

            master = await async_wait_until(new_master, FAILOVER_BOUND, 0.01, "no new master")
            took = time.monotonic() - t0
            print(f"\nfailover: route names {master} as master {took:.3f} s after SIGKILL")
            await asyncio.sleep(1.5)  # sends go on against the new master
            stop.set()
            acked = await stream
            assert acked, "no send was acknowledged"
            stored = {m.keys or "": m.body for m in await pull_all(admin, master, TOPIC, QUEUES)}
            lost = sorted(set(acked) - set(stored))
            assert not lost, f"{len(lost)} acknowledged messages missing, e.g. {lost[:5]}"
            assert all(stored[k] == v for k, v in acked.items())

            group.start_broker(killed)  # the old master comes back: a slave of the new one

            async def rejoined() -> bool:
                r = await route(admin)
                return r.get(0) == master and old_master in [a for b, a in r.items() if b]

            await async_wait_until(rejoined, SETUP_DEADLINE, message="old master did not rejoin")
            again = {m.keys or "": m.body for m in await pull_all(admin, master, TOPIC, QUEUES)}

            async def replicated() -> bool:
                mine = await pull_all(admin, old_master, TOPIC, QUEUES)
                return {m.keys or "": m.body for m in mine} == again

            await async_wait_until(replicated, SETUP_DEADLINE, message="old master not in sync")
            await group.wait_settled(admin, SETUP_DEADLINE)  # back in the SyncStateSet
            await check_admin(ns.addr, controller, admin, master, old_master)


def mqadmin(*args: str) -> str:
    """``rocketq admin ...`` in a child process (the CLI runs its own event loop)."""
    done = subprocess.run(
        [sys.executable, "-m", "rocketq", "admin", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def check_admin(
    namesrv: str, controller: str, admin: AdminClient, master: str, old_master: str
) -> None:
    """mqadmin 5.x's controller commands against the running group; electMaster moves the
    master back to the old one (now in sync), in place, and the route follows."""
    meta = await asyncio.to_thread(
        mqadmin, "getControllerMetaData", "-n", namesrv, "-a", controller
    )
    assert f"#ControllerLeaderAddress\t{controller}" in meta
    sync = await asyncio.to_thread(
        mqadmin, "getSyncStateSet", "-n", namesrv, "-a", controller, "-b", GROUP
    )
    assert f"#MasterAddr\t{master}" in sync and "#SyncStateSetNums\t" in sync
    epochs = await asyncio.to_thread(mqadmin, "getBrokerEpoch", "-n", namesrv, "-b", GROUP)
    assert "EpochEntry{epoch=1, startOffset=0" in epochs and "EpochEntry{epoch=2" in epochs
    state = await admin.sync_state_data(controller, [GROUP])
    old_id = next(
        r["brokerId"] for r in state[GROUP]["inSyncReplicas"] if r["brokerAddress"] == old_master
    )
    elected = await asyncio.to_thread(
        mqadmin, "electMaster", "-n", namesrv, "-a", controller, "-b", str(old_id),
        "-bn", GROUP, "-c", "DefaultCluster",
    )  # fmt: skip
    assert f"#BrokerMasterAddr\t{old_master}" in elected

    async def moved() -> bool:
        r = await route(admin)
        return r.get(0) == old_master and master in [a for b, a in r.items() if b]

    await async_wait_until(moved, SETUP_DEADLINE, message="electMaster did not move the master")
