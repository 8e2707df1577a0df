"""RocketMQ 5 controller mode, a hung master (SIGSTOP) with real processes: its connections
stay open, so only the broker heartbeat timeout (``controllerHeartBeatTimeoutMills``) tells
the controller it is gone. A new master is elected; after SIGCONT the old master learns the
newer epoch, becomes a slave of the new one and, caught up, is back in the SyncStateSet (the
controller's CONTROLLER_GET_SYNC_STATE_DATA), so the next hang fails over again. Fencing: a
SYNC write it took while hung (allAckInSyncStateSet) is not acknowledged, and is not kept
once it follows the new master."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.common.message import MessageConst, encode_properties
from rocketq.common.topic import AUTO_CREATE_TOPIC_KEY_TOPIC
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.headers import SendMessageRequestHeaderV2
from rocketq.testing import ControllerCluster, async_wait_until, controller_cluster

from .conftest import pull_all
from .test_controller_mode import GROUP, QUEUES, SETUP_DEADLINE, TOPIC, create_topic

pytestmark = pytest.mark.slow

# Short through config (RocketMQ's key): the only way a hung master is noticed.
HEARTBEAT_TIMEOUT_MS = 2000
# A bound, not a timing decision: the heartbeat timeout plus a margin for a loaded machine.
FAILOVER_BOUND = HEARTBEAT_TIMEOUT_MS / 1000 + 20.0
# The fenced send waits through the hang (the failover) and the master's slaveTimeout.
FENCED_SEND_TIMEOUT_S = 90.0
# Two hangs: the second needs the first's old master back in the SyncStateSet (the bug
# this guards: it rejoined the route but not the set, and the group could not settle).
ROUNDS = 2


def send_command(key: str) -> RemotingCommand:
    """SEND_MESSAGE_V2 of one message to queue 0 of TOPIC, waiting for the store."""
    props = {MessageConst.KEYS: key, MessageConst.WAIT_STORE_MSG_OK: "true"}
    ext = SendMessageRequestHeaderV2(
        producer_group="sigstop-pg",
        topic=TOPIC,
        default_topic=AUTO_CREATE_TOPIC_KEY_TOPIC,
        default_topic_queue_nums=4,
        queue_id=0,
        sys_flag=0,
        born_timestamp=int(time.time() * 1000),
        flag=0,
        properties=encode_properties(props, trailing_separator=False),
        reconsume_times=0,
    ).to_ext()
    return RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, ext, key.encode())


async def hang_master(
    group: ControllerCluster, admin: AdminClient, client: RemotingClient, n: int
) -> None:
    """One round: SIGSTOP the master, a new one is elected, the hung one is fenced, and
    after SIGCONT it follows the new master and is back in the SyncStateSet."""
    old_master = (await group.wait_settled(admin, SETUP_DEADLINE))[0]
    first = await client.invoke(old_master, send_command(f"before-{n}"), SETUP_DEADLINE)
    assert first.code == ResponseCode.SUCCESS, first.remark  # the connection is open
    pid = group.pid(old_master)
    os.kill(pid, signal.SIGSTOP)
    t0 = time.monotonic()
    try:  # a write the hung master reads when it wakes, on the open connection
        fenced = asyncio.create_task(
            client.invoke(old_master, send_command(f"fenced-{n}"), FENCED_SEND_TIMEOUT_S)
        )

        async def new_master() -> str | None:
            r = await group.route(admin)
            return r[0] if r.get(0) not in (None, old_master) else None

        master = await async_wait_until(new_master, FAILOVER_BOUND, 0.01, "no election")
        took = time.monotonic() - t0
        print(f"\nSIGSTOP {n}: {master} is master {took:.3f} s after the stop")
    finally:
        os.kill(pid, signal.SIGCONT)
    answer = await fenced
    assert answer.code != ResponseCode.SUCCESS, "a fenced master acknowledged a write"
    print(f"fenced SYNC send answered {answer.code}: {answer.remark}")

    async def rejoined() -> bool:
        r = await group.route(admin)
        return r.get(0) == master and old_master in [a for b, a in r.items() if b]

    await async_wait_until(rejoined, SETUP_DEADLINE, message="old master did not rejoin")
    on_master = {m.keys for m in await pull_all(admin, master, TOPIC, QUEUES)}
    assert f"before-{n}" in on_master and f"fenced-{n}" not in on_master

    async def replicated() -> bool:
        mine = {m.keys for m in await pull_all(admin, old_master, TOPIC, QUEUES)}
        return mine == on_master

    await async_wait_until(replicated, SETUP_DEADLINE, message="old master kept its log")

    async def back_in_sync_state_set() -> bool:
        return old_master in await group.in_sync_addresses(admin)

    await async_wait_until(back_in_sync_state_set, SETUP_DEADLINE, message="not in the set")
    state = await group.sync_state(admin)
    assert state["masterAddress"] == master, state


async def test_sigstop_master_new_master_elected_old_master_fenced_rejoins_twice(
    tmp_path: Path,
) -> None:
    timeout = {"controllerHeartBeatTimeoutMills": str(HEARTBEAT_TIMEOUT_MS)}
    client = RemotingClient()
    try:
        with controller_cluster(tmp_path, 3, broker_name=GROUP, broker_config=timeout) as group:
            async with AdminClient(group.namesrv.addr) as admin:
                before = await group.wait_settled(admin, SETUP_DEADLINE)
                await create_topic(admin, before[0], [a for b, a in before.items() if b])
                for n in range(ROUNDS):
                    await hang_master(group, admin, client, n)
    finally:
        await client.aclose()
