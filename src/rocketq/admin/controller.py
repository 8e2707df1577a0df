"""RocketMQ 5 controller administration (``MQAdminExt``'s controller calls): the
controller group's metadata, SyncStateSets, an election on demand, removing a broker's
controller metadata, and a broker's epoch list. A mixin of
:class:`~rocketq.admin.api.AdminClient`.

Requests that read or change replica state go to the controller leader, found with
CONTROLLER_GET_METADATA_INFO at the address given (as ``DefaultMQAdminExtImpl`` does).
"""

from __future__ import annotations

from typing import Any

from rocketq.client.api import MQClientAPI
from rocketq.remoting import fastjson
from rocketq.remoting.codes import RequestCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.headers.controller import (
    CleanControllerBrokerDataRequestHeader,
    ElectMasterRequestHeader,
)

__all__ = ["ControllerAdminMixin"]


class ControllerAdminMixin:
    """Controller requests (see the module docstring)."""

    api: MQClientAPI

    async def _controller_call(
        self, addr: str, code: int, ext: dict[str, str] | None = None, body: bytes | None = None
    ) -> RemotingCommand:
        return await self.api.request(addr, RemotingCommand.request(code, ext, body))

    async def controller_metadata(self, controller_addr: str) -> dict[str, str]:
        """CONTROLLER_GET_METADATA_INFO: group, controllerLeaderId, controllerLeaderAddress,
        isLeader, peers."""
        r = await self._controller_call(controller_addr, RequestCode.CONTROLLER_GET_METADATA_INFO)
        return dict(r.ext_fields or {})

    async def _leader(self, controller_addr: str) -> str:
        meta = await self.controller_metadata(controller_addr)
        return meta.get("controllerLeaderAddress") or controller_addr

    async def sync_state_data(
        self, controller_addr: str, broker_names: list[str]
    ) -> dict[str, dict[str, Any]]:
        """CONTROLLER_GET_SYNC_STATE_DATA: brokerName -> ReplicasInfo (``BrokerReplicasInfo``)."""
        leader = await self._leader(controller_addr)
        body = fastjson.dumps(broker_names)
        r = await self._controller_call(
            leader, RequestCode.CONTROLLER_GET_SYNC_STATE_DATA, None, body
        )
        obj = fastjson.loads(r.body) if r.body else {}
        table: dict[str, dict[str, Any]] = obj.get("replicasInfoTable") or {}
        return table

    async def elect_master(
        self, controller_addr: str, cluster: str, broker_name: str, broker_id: int
    ) -> tuple[dict[str, str], dict[str, Any]]:
        """CONTROLLER_ELECT_MASTER with ``designateElect``: make ``broker_id`` master;
        (response header, ElectMasterResponseBody as JSON: brokerMemberGroup, syncStateSet)."""
        leader = await self._leader(controller_addr)
        ext = ElectMasterRequestHeader(cluster, broker_name, broker_id, True).to_ext()
        r = await self._controller_call(leader, RequestCode.CONTROLLER_ELECT_MASTER, ext)
        body: dict[str, Any] = fastjson.loads(r.body) if r.body else {}
        return dict(r.ext_fields or {}), body

    async def clean_broker_metadata(
        self,
        controller_addr: str,
        cluster: str | None,
        broker_name: str,
        broker_ids: str | None,
        clean_living: bool,
    ) -> None:
        """CLEAN_BROKER_DATA: forget brokers ``"1;2"`` (or the whole group) in the controller."""
        leader = await self._leader(controller_addr)
        ext = CleanControllerBrokerDataRequestHeader(
            broker_name, cluster, broker_ids, clean_living
        ).to_ext()
        await self._controller_call(leader, RequestCode.CLEAN_BROKER_DATA, ext)

    async def broker_epoch_cache(self, broker_addr: str) -> dict[str, Any]:
        """GET_BROKER_EPOCH_CACHE: ``EpochEntryCache`` (clusterName, brokerName, brokerId,
        epochList of {epoch, startOffset, endOffset}, maxOffset)."""
        r = await self._controller_call(broker_addr, RequestCode.GET_BROKER_EPOCH_CACHE)
        result: dict[str, Any] = fastjson.loads(r.body or b"{}")
        return result
