"""A slave copies its master's message request modes (RocketMQ 5's
``SlaveSynchronize#syncMessageRequestMode`` over GET_ALL_MESSAGE_REQUEST_MODE, 402): the
master's table replaces the slave's, in memory and in its messageRequestMode.json."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

from rocketq.broker.config import load_broker_conf
from rocketq.broker.controller import BrokerController
from rocketq.broker.pop.request_mode import MESSAGE_REQUEST_MODE_FILE
from rocketq.namesrv import NamesrvController
from rocketq.remoting import RemotingClient, RemotingCommand, RequestCode
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.pop_body import POP, PULL, SetMessageRequestModeRequestBody
from rocketq.testing import async_wait_until, running_cluster

# The slave copies every 100 ms (syncBrokerMetadataPeriod's floor) instead of every 5 s.
SYNC_PERIOD_MS = "100"
SYNC_TIMEOUT_S = 30.0


@contextlib.asynccontextmanager
async def slave_of(
    namesrv: NamesrvController, master: BrokerController, store_dir: Path
) -> AsyncIterator[BrokerController]:
    """An in-process slave (brokerId 1) of ``master``'s broker group."""
    overrides = {
        "brokerName": master.config.broker_name,
        "brokerRole": "SLAVE",
        "brokerId": "1",
        "namesrvAddr": namesrv.address,
        "listenPort": "0",
        "bindAddress": "127.0.0.1",
        "storePathRootDir": str(store_dir),
        "syncBrokerMetadataPeriod": SYNC_PERIOD_MS,
    }
    config, store_config, _unknown = load_broker_conf(None, overrides)
    config.broker_ip1 = "127.0.0.1"
    slave = BrokerController(config, store_config)
    await slave.start()
    try:
        yield slave
    finally:
        await slave.aclose()


async def set_mode(
    client: RemotingClient, addr: str, body: SetMessageRequestModeRequestBody
) -> None:
    cmd = RemotingCommand.request(RequestCode.SET_MESSAGE_REQUEST_MODE, body=body.encode())
    resp = await client.invoke(addr, cmd, 5.0)
    assert resp.code == ResponseCode.SUCCESS, resp.remark


async def test_slave_copies_the_masters_request_modes(tmp_path: Path) -> None:
    async with (
        running_cluster(tmp_path / "master") as (namesrv, master),
        slave_of(namesrv, master, tmp_path / "slave") as slave,
    ):
        client = RemotingClient()
        try:
            await check_copies(client, master, slave)
        finally:
            await client.aclose()


async def check_copies(
    client: RemotingClient, master: BrokerController, slave: BrokerController
) -> None:
    assert slave.is_slave
    master_addr = master.config.broker_addr
    # something of the slave's own, which the master's table replaces
    slave.message_request_mode_manager.set(SetMessageRequestModeRequestBody("T0", "stale"))
    pop_mode = SetMessageRequestModeRequestBody("T1", "g1", POP, 2)
    await set_mode(client, master_addr, pop_mode)
    await set_mode(client, master_addr, SetMessageRequestModeRequestBody("T2", "g2", PULL))
    modes = slave.message_request_mode_manager

    def copied() -> bool:
        return modes.get("T1", "g1") == pop_mode and modes.get("T2", "g2") is not None

    await async_wait_until(copied, SYNC_TIMEOUT_S, message="request modes not copied")
    assert modes.get("T0", "stale") is None
    # persisted where the slave's processors load it from at start
    path = Path(slave.store_config.store_path_root_dir) / "config" / MESSAGE_REQUEST_MODE_FILE
    table = json.loads(path.read_text())["messageRequestModeMap"]
    assert table["T1"]["g1"] == {
        "consumerGroup": "g1", "mode": "POP", "popShareQueueNum": 2, "topic": "T1"
    }  # fmt: skip
    assert "T0" not in table
    # the slave's own 402 answers with the copy
    cmd = RemotingCommand.request(RequestCode.GET_ALL_MESSAGE_REQUEST_MODE)
    resp = await client.invoke(slave.config.broker_addr, cmd, 5.0)
    assert json.loads(resp.body or b"{}")["messageRequestModeMap"]["T1"]["g1"]["mode"] == "POP"
    # a later change on the master follows
    changed = SetMessageRequestModeRequestBody("T1", "g1", PULL)
    await set_mode(client, master_addr, changed)
    await async_wait_until(lambda: modes.get("T1", "g1") == changed, SYNC_TIMEOUT_S,
                           message="changed mode not copied")  # fmt: skip
    assert slave.slave_synchronize.stats().failures == 0
