"""The broker's calls to the NameServers (RocketMQ ``BrokerOuterAPI``): register every
30 s and whenever topics change, unregister at shutdown. One persistent connection per
NameServer, so a broker that dies is dropped by the NameServers at once."""

from __future__ import annotations

import asyncio
import logging
import zlib

from rocketq.broker.config import BrokerConfig
from rocketq.common.errors import RemotingError
from rocketq.common.topic import PERM_READ, PERM_WRITE
from rocketq.remoting.body import RegisterBrokerBody, TopicConfigSerializeWrapper
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.headers import (
    RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader,
    UnRegisterBrokerRequestHeader,
)

__all__ = ["BrokerOuterAPI"]

log = logging.getLogger("rocketq.broker")


class BrokerOuterAPI:
    """Registration with every configured NameServer."""

    def __init__(
        self, config: BrokerConfig, ha_listen_port: int, client: RemotingClient | None = None
    ) -> None:
        self.config = config
        self.ha_listen_port = ha_listen_port
        self.client = client or RemotingClient()
        self.master_addr: str | None = None
        self.ha_master_addr: str | None = None

    def _body(self, wrapper: TopicConfigSerializeWrapper) -> bytes:
        perm = self.config.broker_permission
        if perm & (PERM_READ | PERM_WRITE) != PERM_READ | PERM_WRITE:
            # A read-only (or write-only) broker advertises every topic that way.
            for topic in wrapper.topic_config_table.values():
                topic.perm &= perm
        return RegisterBrokerBody(wrapper).encode()

    async def register_broker_all(self, wrapper: TopicConfigSerializeWrapper) -> int:
        """Register with every NameServer in parallel; return how many accepted it."""
        c = self.config
        body = self._body(wrapper)
        header = RegisterBrokerRequestHeader(
            broker_name=c.broker_name,
            broker_addr=c.broker_addr,
            cluster_name=c.broker_cluster_name,
            broker_id=c.broker_id,
            ha_server_addr=c.ha_server_addr(self.ha_listen_port),
            compressed=False,
            body_crc32=zlib.crc32(body) & 0x7FFFFFFF,
        )
        addrs = c.namesrv_addrs()
        results = await asyncio.gather(
            *(self._register_one(addr, header, body) for addr in addrs), return_exceptions=True
        )
        return sum(1 for r in results if r is True)

    async def _register_one(
        self, addr: str, header: RegisterBrokerRequestHeader, body: bytes
    ) -> bool:
        cmd = RemotingCommand.request(RequestCode.REGISTER_BROKER, header.to_ext(), body)
        timeout = self.config.register_broker_timeout_mills / 1000
        try:
            resp = await self.client.invoke(addr, cmd, timeout)
        except RemotingError as exc:
            log.warning("register to name server %s failed: %s", addr, exc)
            return False
        if resp.code != ResponseCode.SUCCESS:
            log.warning("name server %s refused registration: %s %s", addr, resp.code, resp.remark)
            return False
        result = RegisterBrokerResponseHeader.from_ext(resp.ext_fields)
        if result.master_addr:
            self.master_addr = result.master_addr
            self.ha_master_addr = result.ha_server_addr
        return True

    async def unregister_broker_all(self) -> None:
        """Tell every NameServer the broker is leaving (bounded wait)."""
        c = self.config
        ext = UnRegisterBrokerRequestHeader(
            broker_name=c.broker_name,
            broker_addr=c.broker_addr,
            cluster_name=c.broker_cluster_name,
            broker_id=c.broker_id,
        ).to_ext()

        async def one(addr: str) -> None:
            cmd = RemotingCommand.request(RequestCode.UNREGISTER_BROKER, dict(ext))
            try:
                await self.client.invoke(addr, cmd, 3.0)
            except RemotingError as exc:
                log.warning("unregister from name server %s failed: %s", addr, exc)

        await asyncio.gather(*(one(a) for a in c.namesrv_addrs()))

    async def aclose(self) -> None:
        """Close the NameServer connections."""
        await self.client.aclose()
