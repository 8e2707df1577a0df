"""The admin API behind ``rocketq admin`` and the console (RocketMQ ``DefaultMQAdminExt``).

Talks to NameServers (and, for runtime figures, brokers) over the remoting protocol.
Several NameServers may be given (``"a:9876;b:9876"``): reads go to the first that
answers, writes of KV config go to all of them, as mqadmin does.
"""

from __future__ import annotations

from types import TracebackType

from rocketq.common.config import dump_properties, parse_properties
from rocketq.common.errors import BrokerError, ClientError, RemotingError
from rocketq.remoting.body import ClusterInfo, KVTable, TopicList, TopicRouteData
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.headers import (
    AddWritePermOfBrokerRequestHeader,
    AddWritePermOfBrokerResponseHeader,
    DeleteKVConfigRequestHeader,
    GetKVConfigRequestHeader,
    GetKVConfigResponseHeader,
    GetKVListByNamespaceRequestHeader,
    GetRouteInfoRequestHeader,
    PutKVConfigRequestHeader,
    WipeWritePermOfBrokerRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
)

__all__ = ["AdminClient", "parse_namesrv_addrs"]

# mqadmin's default RPC timeout.
DEFAULT_ADMIN_TIMEOUT = 3.0


def parse_namesrv_addrs(text: str) -> list[str]:
    """``"a:9876;b:9876"`` (RocketMQ's separator; commas accepted too) -> list."""
    addrs = [a.strip() for a in text.replace(",", ";").split(";") if a.strip()]
    if not addrs:
        raise ClientError("no NameServer address given (use -n host:port or NAMESRV_ADDR)")
    return addrs


def _ok(response: RemotingCommand) -> RemotingCommand:
    if response.code != ResponseCode.SUCCESS:
        raise BrokerError(response.code, response.remark)
    return response


class AdminClient:
    """Async admin operations; use as ``async with AdminClient("127.0.0.1:9876") as admin``."""

    def __init__(self, namesrv_addr: str | list[str], timeout: float = DEFAULT_ADMIN_TIMEOUT):
        if isinstance(namesrv_addr, str):
            namesrv_addr = parse_namesrv_addrs(namesrv_addr)
        self.namesrv_addrs = list(namesrv_addr)
        self.timeout = timeout
        self.remoting = RemotingClient()

    async def __aenter__(self) -> AdminClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection."""
        await self.remoting.aclose()

    async def _namesrv(self, cmd: RemotingCommand) -> RemotingCommand:
        """Ask the first NameServer that answers."""
        last: RemotingError | None = None
        for addr in self.namesrv_addrs:
            try:
                return await self.remoting.invoke(addr, cmd, self.timeout)
            except RemotingError as exc:
                last = exc
        assert last is not None
        raise last

    # -- routes ----------------------------------------------------------------------------

    async def cluster_info(self) -> ClusterInfo:
        """Clusters, broker groups and addresses."""
        resp = _ok(
            await self._namesrv(RemotingCommand.request(RequestCode.GET_BROKER_CLUSTER_INFO))
        )
        return ClusterInfo.decode(resp.body)

    async def topic_list(self) -> list[str]:
        """Every topic the NameServer knows."""
        cmd = RemotingCommand.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
        return TopicList.decode(_ok(await self._namesrv(cmd)).body).topic_list

    async def topic_route(self, topic: str) -> TopicRouteData:
        """The route of a topic; BrokerError(TOPIC_NOT_EXIST) when there is none."""
        ext = GetRouteInfoRequestHeader(topic=topic).to_ext()
        cmd = RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, ext)
        return TopicRouteData.decode(_ok(await self._namesrv(cmd)).body)

    async def set_write_perm(self, broker_name: str, writable: bool) -> dict[str, int]:
        """Wipe or add write permission of a broker on every NameServer: addr -> topics."""
        out: dict[str, int] = {}
        for addr in self.namesrv_addrs:
            if writable:
                code = RequestCode.ADD_WRITE_PERM_OF_BROKER
                ext = AddWritePermOfBrokerRequestHeader(broker_name=broker_name).to_ext()
            else:
                code = RequestCode.WIPE_WRITE_PERM_OF_BROKER
                ext = WipeWritePermOfBrokerRequestHeader(broker_name=broker_name).to_ext()
            resp = _ok(
                await self.remoting.invoke(addr, RemotingCommand.request(code, ext), self.timeout)
            )
            if writable:
                out[addr] = AddWritePermOfBrokerResponseHeader.from_ext(
                    resp.ext_fields
                ).add_topic_count
            else:
                out[addr] = WipeWritePermOfBrokerResponseHeader.from_ext(
                    resp.ext_fields
                ).wipe_topic_count
        return out

    # -- NameServer config -----------------------------------------------------------------

    async def namesrv_config(self) -> dict[str, dict[str, str]]:
        """Each NameServer's settings: addr -> {key: value}."""
        out = {}
        for addr in self.namesrv_addrs:
            cmd = RemotingCommand.request(RequestCode.GET_NAMESRV_CONFIG)
            resp = _ok(await self.remoting.invoke(addr, cmd, self.timeout))
            out[addr] = parse_properties((resp.body or b"").decode())
        return out

    async def update_namesrv_config(self, values: dict[str, str]) -> None:
        """Change settings on every NameServer."""
        body = dump_properties(values).encode()
        for addr in self.namesrv_addrs:
            cmd = RemotingCommand.request(RequestCode.UPDATE_NAMESRV_CONFIG, body=body)
            _ok(await self.remoting.invoke(addr, cmd, self.timeout))

    # -- KV config -------------------------------------------------------------------------

    async def put_kv_config(self, namespace: str, key: str, value: str) -> None:
        """Create or update a KV item on every NameServer."""
        ext = PutKVConfigRequestHeader(namespace=namespace, key=key, value=value).to_ext()
        for addr in self.namesrv_addrs:
            cmd = RemotingCommand.request(RequestCode.PUT_KV_CONFIG, dict(ext))
            _ok(await self.remoting.invoke(addr, cmd, self.timeout))

    async def get_kv_config(self, namespace: str, key: str) -> str | None:
        """One KV item, or None when absent."""
        ext = GetKVConfigRequestHeader(namespace=namespace, key=key).to_ext()
        resp = await self._namesrv(RemotingCommand.request(RequestCode.GET_KV_CONFIG, ext))
        if resp.code == ResponseCode.QUERY_NOT_FOUND:
            return None
        return GetKVConfigResponseHeader.from_ext(_ok(resp).ext_fields).value

    async def delete_kv_config(self, namespace: str, key: str) -> None:
        """Delete a KV item on every NameServer."""
        ext = DeleteKVConfigRequestHeader(namespace=namespace, key=key).to_ext()
        for addr in self.namesrv_addrs:
            cmd = RemotingCommand.request(RequestCode.DELETE_KV_CONFIG, dict(ext))
            _ok(await self.remoting.invoke(addr, cmd, self.timeout))

    async def kv_list(self, namespace: str) -> dict[str, str]:
        """Every item of a namespace (empty when none)."""
        ext = GetKVListByNamespaceRequestHeader(namespace=namespace).to_ext()
        resp = await self._namesrv(
            RemotingCommand.request(RequestCode.GET_KVLIST_BY_NAMESPACE, ext)
        )
        if resp.code == ResponseCode.QUERY_NOT_FOUND:
            return {}
        return KVTable.decode(_ok(resp).body).table

    # -- brokers ---------------------------------------------------------------------------

    async def broker_runtime_info(self, broker_addr: str) -> dict[str, str]:
        """GET_BROKER_RUNTIME_INFO of one broker (version, TPS, disk...)."""
        cmd = RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO)
        resp = _ok(await self.remoting.invoke(broker_addr, cmd, self.timeout))
        return KVTable.decode(resp.body).table
