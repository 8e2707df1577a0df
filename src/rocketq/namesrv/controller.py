"""The NameServer: routing tables, KV config, processors, server and the liveness scan."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rocketq.common.lifecycle import AsyncLifecycle
from rocketq.common.tasks import TaskOwner
from rocketq.namesrv.config import NamesrvConfig
from rocketq.namesrv.kv_config import KVConfigManager
from rocketq.namesrv.processor import build_processor_table
from rocketq.namesrv.route_info import RouteInfoManager
from rocketq.remoting.server import RemotingServer

__all__ = ["NamesrvController", "NamesrvStats"]

log = logging.getLogger("rocketq.namesrv")


@dataclass(frozen=True, slots=True)
class NamesrvStats:
    """A snapshot of what the NameServer holds."""

    brokers: int
    clusters: int
    topics: int
    connections: int


class NamesrvController(AsyncLifecycle):
    """One NameServer. ``await start()`` binds and serves; ``await aclose()`` stops it."""

    def __init__(self, config: NamesrvConfig | None = None) -> None:
        self.config = config or NamesrvConfig()
        self.kv_config = KVConfigManager(self.config.kv_config_path)
        self.route_info = RouteInfoManager(self.config.broker_channel_expired_time)
        self.server = RemotingServer(
            build_processor_table(self),
            self.config.bind_address,
            self.config.listen_port,
            on_connection_closed=self.route_info.on_connection_closed,
        )
        self._tasks: TaskOwner | None = None  # the liveness scan, from start() on

    @property
    def port(self) -> int:
        """The port served (the real one when ``listenPort`` was 0)."""
        return self.server.port

    @property
    def address(self) -> str:
        """``host:port`` to give clients."""
        host = self.config.bind_address
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        return f"{host}:{self.port}"

    async def start(self) -> None:
        """Load KV config, bind, and start scanning for silent brokers."""
        self.kv_config.load()
        await self.server.start()
        self.config.listen_port = self.server.port  # report the real port when 0 was asked
        self._tasks = TaskOwner(log)
        self._tasks.every(self._scan_interval, self._scan, "namesrv-scan-not-active-broker")

    def _scan_interval(self) -> float:
        # Read each round: UPDATE_NAMESRV_CONFIG may change it.
        return max(self.config.scan_not_active_broker_interval, 10) / 1000

    async def _scan(self) -> None:
        self.route_info.scan_not_active_broker()

    def stats(self) -> NamesrvStats:
        """Counts of brokers, clusters, topics and open connections."""
        r = self.route_info
        return NamesrvStats(
            brokers=len(r.broker_live_table),
            clusters=len(r.cluster_addr_table),
            topics=len(r.topic_queue_table),
            connections=len(self.server.connections),
        )

    async def aclose(self) -> None:
        """Stop the scan and the server."""
        if self._tasks is not None:
            await self._tasks.aclose()
            self._tasks = None
        await self.server.aclose()
