"""What an Apache RocketMQ 4.9 slave needs of a rocketq master beyond the HA port.

Found by running a 4.9.4 slave behind a rocketq master (docs/benchmarks.md, Replication):
its ``SlaveSynchronize`` fetches the topic table through ``MixAll.brokerVIPChannel``, i.e.
from ``listenPort - 2`` (Java's ``fastRemotingServer``), and without it the slave never
learns a topic, so it cannot serve pulls of any."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from rocketq.admin import AdminClient
from rocketq.broker.config import load_broker_conf
from rocketq.broker.controller import BrokerController
from rocketq.common.topic import TopicConfig
from rocketq.testing import running_namesrv

# BrokerController: fastConfig.setListenPort(listenPort - 2)
VIP_CHANNEL_OFFSET = 2


def free_port_pair() -> int:
    """A port ``p`` with ``p`` and ``p - 2`` both free on 127.0.0.1 right now."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
            with contextlib.suppress(OSError), socket.socket() as vip:
                vip.bind(("127.0.0.1", port - VIP_CHANNEL_OFFSET))
                return port
    raise AssertionError("no free port pair")


@contextlib.asynccontextmanager
async def master_on_fixed_port(root: Path) -> AsyncIterator[BrokerController]:
    async with running_namesrv() as namesrv:
        broker_cfg, store_cfg, _ = load_broker_conf(
            None,
            {
                "brokerName": "broker-a",
                "brokerRole": "SYNC_MASTER",
                "namesrvAddr": namesrv.address,
                "listenPort": str(free_port_pair()),
                "haListenPort": "0",
                "bindAddress": "127.0.0.1",
                "storePathRootDir": str(root),
            },
        )
        broker_cfg.broker_ip1 = "127.0.0.1"
        async with BrokerController(broker_cfg, store_cfg) as broker:
            yield broker


async def test_master_serves_the_topic_table_on_the_vip_channel(tmp_path: Path) -> None:
    """A Java slave's ``getAllTopicConfig`` goes to ``listenPort - 2``: it must be answered
    there with the same table as on ``listenPort``."""
    async with master_on_fixed_port(tmp_path) as broker:
        port = broker.config.listen_port
        async with AdminClient("127.0.0.1:1") as admin:
            await admin.create_topic(f"127.0.0.1:{port}", TopicConfig("VipTopic", 4, 4))
            vip = await admin.all_topic_config(f"127.0.0.1:{port - VIP_CHANNEL_OFFSET}")
            plain = await admin.all_topic_config(f"127.0.0.1:{port}")
    assert "VipTopic" in vip.topic_config_table
    assert vip.topic_config_table == plain.topic_config_table
