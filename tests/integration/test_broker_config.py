"""broker.conf as a RocketMQ user writes it, through a real ``rocketq broker`` process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from rocketq.remoting.body import ClusterInfo
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.testing import BrokerProcess, NamesrvProcess


async def cluster_info(namesrv: str) -> ClusterInfo:
    client = RemotingClient()
    try:
        cmd = RemotingCommand.request(RequestCode.GET_BROKER_CLUSTER_INFO)
        resp = await client.invoke(namesrv, cmd, 5)
    finally:
        await client.aclose()
    assert resp.code == ResponseCode.SUCCESS
    return ClusterInfo.decode(resp.body)


def test_broker_ip1_is_the_registered_address(tmp_path: Path, namesrv: NamesrvProcess) -> None:
    # The broker binds 127.0.0.1 (--host) but advertises what brokerIP1 says, as Java does.
    config = {"brokerName": "ip1-broker", "brokerIP1": "127.0.0.7"}
    with BrokerProcess(tmp_path / "b", namesrv.addr, config) as broker:
        info = asyncio.run(cluster_info(namesrv.addr))
        addrs = info.broker_addr_table["ip1-broker"].broker_addrs
        assert addrs[0] == f"127.0.0.7:{broker.port}"


def test_misspelt_role_stops_the_broker(tmp_path: Path) -> None:
    conf = tmp_path / "broker.conf"
    conf.write_text("brokerName=bad\nbrokerRole=SYNC_MASTERR\n")
    cmd = [sys.executable, "-m", "rocketq", "broker", "-c", str(conf), "-p", "0",
           "--host", "127.0.0.1", "--store", str(tmp_path / "store")]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "brokerRole" in done.stderr
    assert "SYNC_MASTERR" in done.stderr
    assert "ASYNC_MASTER, SLAVE, SYNC_MASTER" in done.stderr
