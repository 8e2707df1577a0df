"""Routes for the 5.x SDKs across every broker of a topic: what the Java proxy's
``LocalTopicRouteService`` (a proxy inside each broker) answers, with the queues of every
broker group the NameServers' route names for the topic (``TopicRouteService``'s cache of
GET_ROUTEINFO_BY_TOPIC, refreshed after 20 s), each reachable at its own gRPC endpoint.

Where the endpoint of another broker comes from:

* Apache's local-mode proxy writes the host of each broker's remoting address with the
  proxy's own ``grpcServerPort`` (``ProxyTopicRouteData(route, port)``): every broker of a
  cluster must serve gRPC on the same port, so two brokers on one host cannot both be
  reached.
* A NameServer route has no place for a gRPC port. rocketq asks the broker itself: its
  GET_BROKER_CONFIG answer holds ``grpcServerPort`` (the bound one when it was 0), kept as
  long as the route. A broker that names none (an Apache broker) gets Apache's rule (this
  server's port); one that serves no gRPC (``grpcServerPort=-1``) is left out of the route.

This broker's own queues always come from its own topic table (current even before the
next registration reaches the NameServers) at this server's address. Only masters
(brokerId 0) are listed: rocketq's slaves serve no gRPC, and the SDKs send to and receive
from masters only (Apache lists every broker id, each at its own proxy).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from rocketq.broker.config import BrokerConfig
from rocketq.broker.grpc.convert import endpoints_of
from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.topic_config import TopicConfigManager
from rocketq.common.config import parse_properties
from rocketq.common.errors import ProtocolError, RemotingError
from rocketq.remoting.body import QueueData, TopicRouteData
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand

__all__ = ["MASTER_ID", "GrpcRouteService", "RouteBroker"]

log = logging.getLogger("rocketq.broker.grpc")

# MixAll.MASTER_ID: the broker id of a group's master in a route.
MASTER_ID = 0
# ProxyConfig.topicRouteServiceCacheRefreshSeconds: a cached route is fetched again after
# 20 s (the old one is kept when no NameServer answers); the learned gRPC ports likewise.
ROUTE_REFRESH_S = 20.0
# TopicRouteService asks the NameServer with a 3 s timeout; the same for GET_BROKER_CONFIG.
ROUTE_TIMEOUT_S = 3.0
# The broker.conf key (the Proxy's) that names a broker's gRPC port.
GRPC_PORT_KEY = "grpcServerPort"
# grpcServerPort -1: the broker serves no gRPC; 0: a free port it has not told.
NOT_SERVED = -1


@dataclass(frozen=True, slots=True)
class RouteBroker:
    """One broker group's queues of a topic, and where a 5.x client reaches its master."""

    queue_data: QueueData
    broker_id: int
    endpoints: pb.Endpoints


class GrpcRouteService:
    """The route of a topic over every broker group (see the module docstring)."""

    def __init__(
        self,
        config: BrokerConfig,
        topic_config_manager: TopicConfigManager,
        own_endpoints: Callable[[], pb.Endpoints],
        client: RemotingClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.topics = topic_config_manager
        self.own_endpoints = own_endpoints
        self._owns_client = client is None
        self.client = client or RemotingClient()
        self.clock = clock
        self._routes: dict[str, tuple[float, TopicRouteData | None]] = {}
        self._ports: dict[str, tuple[float, int]] = {}

    async def aclose(self) -> None:
        """Close the connections it opened."""
        if self._owns_client:
            await self.client.aclose()

    async def brokers(self, topic: str) -> list[RouteBroker]:
        """Every broker group holding ``topic`` (this one first); empty when none does."""
        out = []
        own = self._own(topic)
        if own is not None:
            out.append(own)
        route = await self.route(topic)
        if route is None:
            return out
        masters = {
            b.broker_name: addr
            for b in route.broker_datas
            if (addr := b.broker_addrs.get(MASTER_ID)) is not None
        }
        others = [
            (q, masters[q.broker_name])
            for q in sorted(route.queue_datas, key=lambda q: q.broker_name)
            if q.broker_name != self.config.broker_name and q.broker_name in masters
        ]
        ports = await asyncio.gather(*(self.grpc_port(addr) for _q, addr in others))
        for (queue_data, addr), port in zip(others, ports, strict=True):
            if port != NOT_SERVED:
                host = addr.rpartition(":")[0]
                out.append(RouteBroker(queue_data, MASTER_ID, endpoints_of(host, port)))
        return out

    def _own(self, topic: str) -> RouteBroker | None:
        """This broker's queues, as its registration advertises them."""
        config = self.topics.select(topic)
        if config is None:
            return None
        queue_data = QueueData(
            broker_name=self.config.broker_name,
            read_queue_nums=config.read_queue_nums,
            write_queue_nums=config.write_queue_nums,
            perm=config.perm & self.config.broker_permission,
            topic_sys_flag=config.topic_sys_flag,
        )
        return RouteBroker(queue_data, MASTER_ID, self.own_endpoints())

    # -- the NameServers' route -------------------------------------------------------------

    async def route(self, topic: str) -> TopicRouteData | None:
        """The NameServers' route of ``topic`` (cached); None when none knows it."""
        cached = self._routes.get(topic)
        if cached is not None and self.clock() - cached[0] < ROUTE_REFRESH_S:
            return cached[1]
        try:
            route = await self._fetch_route(topic)
        except RemotingError as exc:  # no NameServer answered: keep what we had
            log.warning("route of %s: %s", topic, exc)
            return None if cached is None else cached[1]
        self._routes[topic] = (self.clock(), route)
        return route

    async def _fetch_route(self, topic: str) -> TopicRouteData | None:
        failure: Exception | None = None
        for addr in self.config.namesrv_addrs():
            cmd = RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic})
            try:
                resp = await self.client.invoke(addr, cmd, ROUTE_TIMEOUT_S)
                if resp.code == ResponseCode.SUCCESS:
                    return TopicRouteData.decode(resp.body)
            except (RemotingError, ProtocolError) as exc:
                failure = exc
                continue
            if resp.code == ResponseCode.TOPIC_NOT_EXIST:
                return None
        if failure is not None:
            raise RemotingError(f"no name server answered: {failure}") from failure
        return None

    # -- the gRPC port of another broker ----------------------------------------------------

    async def grpc_port(self, broker_addr: str) -> int:
        """The gRPC port of the broker at ``broker_addr`` (remoting), learned from its
        config; this server's port when it does not say (see the module docstring)."""
        cached = self._ports.get(broker_addr)
        if cached is not None and self.clock() - cached[0] < ROUTE_REFRESH_S:
            return cached[1]
        port = await self._ask_grpc_port(broker_addr)
        if port is None or port == 0:
            port = self._own_port()
        self._ports[broker_addr] = (self.clock(), port)
        return port

    async def _ask_grpc_port(self, broker_addr: str) -> int | None:
        cmd = RemotingCommand.request(RequestCode.GET_BROKER_CONFIG)
        try:
            resp = await self.client.invoke(broker_addr, cmd, ROUTE_TIMEOUT_S)
        except (RemotingError, ProtocolError) as exc:
            log.warning("gRPC port of broker %s unknown: %s", broker_addr, exc)
            return None
        if resp.code != ResponseCode.SUCCESS:
            return None
        value = parse_properties((resp.body or b"").decode(errors="replace")).get(GRPC_PORT_KEY)
        try:
            return None if value is None else int(value)
        except ValueError:
            return None

    def _own_port(self) -> int:
        addresses = self.own_endpoints().addresses
        return addresses[0].port if addresses else self.config.grpc_server_port
