"""The controller's request processors (RocketMQ ``ControllerRequestProcessor``).

Each decodes its header (and body), runs the matching :class:`ReplicaState` request on the
leader through :meth:`ControllerManager.submit`, and turns the result into the response.
BROKER_HEARTBEAT and CONTROLLER_GET_METADATA_INFO are answered by every controller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rocketq.common.config import dump_properties, parse_properties
from rocketq.common.errors import BrokerError
from rocketq.controller.body import SyncStateSet
from rocketq.controller.heartbeat import BrokerIdentity
from rocketq.controller.state import ControllerResult
from rocketq.remoting import fastjson
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection, ProcessorTable
from rocketq.remoting.headers.controller import (
    AlterSyncStateSetRequestHeader,
    ApplyBrokerIdRequestHeader,
    CleanControllerBrokerDataRequestHeader,
    ElectMasterRequestHeader,
    GetMetaDataResponseHeader,
    GetNextBrokerIdRequestHeader,
    GetReplicaInfoRequestHeader,
    RegisterBrokerToControllerRequestHeader,
)
from rocketq.remoting.headers.namesrv import BrokerHeartbeatRequestHeader

if TYPE_CHECKING:
    from rocketq.controller.manager import ControllerManager

__all__ = ["build_processor_table"]


def _respond(request: RemotingCommand, result: ControllerResult) -> RemotingCommand:
    ext = result.header.to_ext() if result.header is not None else None
    return request.make_response(result.code, result.remark, ext, result.body)


class ControllerRequestProcessor:
    """One object serving every controller request code."""

    def __init__(self, manager: ControllerManager) -> None:
        self.manager = manager

    async def alter_sync_state_set(self, _c: Connection, req: RemotingCommand) -> RemotingCommand:
        """CONTROLLER_ALTER_SYNC_STATE_SET."""
        header = AlterSyncStateSetRequestHeader.from_ext(req.ext_fields)
        proposed = SyncStateSet.decode(req.body)
        alive = self.manager.alive
        result = await self.manager.submit(
            lambda s: s.alter_sync_state_set(header, proposed, alive), write=True
        )
        return _respond(req, result)

    async def elect_master(self, _c: Connection, req: RemotingCommand) -> RemotingCommand:
        """CONTROLLER_ELECT_MASTER (a broker's or an admin's)."""
        header = ElectMasterRequestHeader.from_ext(req.ext_fields)
        return _respond(req, await self.manager.elect(header))

    async def register_broker(self, _c: Connection, req: RemotingCommand) -> RemotingCommand:
        """CONTROLLER_REGISTER_BROKER."""
        header = RegisterBrokerToControllerRequestHeader.from_ext(req.ext_fields)
        alive = self.manager.alive
        result = await self.manager.submit(lambda s: s.register_broker(header, alive), write=True)
        return _respond(req, result)

    async def get_replica_info(self, _c: Connection, req: RemotingCommand) -> RemotingCommand:
        """CONTROLLER_GET_REPLICA_INFO."""
        name = GetReplicaInfoRequestHeader.from_ext(req.ext_fields).broker_name
        result = await self.manager.submit(lambda s: s.get_replica_info(name), write=False)
        return _respond(req, result)

    async def get_sync_state_data(self, _c: Connection, req: RemotingCommand) -> RemotingCommand:
        """CONTROLLER_GET_SYNC_STATE_DATA: the body lists broker names."""
        names = fastjson.loads(req.body) if req.body else None
        if not isinstance(names, list) or not names:
            return req.make_response(ResponseCode.SUCCESS)  # Java answers an empty success
        alive = self.manager.alive
        wanted = [str(n) for n in names]
        result = await self.manager.submit(
            lambda s: s.get_sync_state_data(wanted, alive), write=False
        )
        return _respond(req, result)

    async def clean_broker_data(self, _c: Connection, req: RemotingCommand) -> RemotingCommand:
        """CLEAN_BROKER_DATA."""
        header = CleanControllerBrokerDataRequestHeader.from_ext(req.ext_fields)
        alive = self.manager.alive
        result = await self.manager.submit(lambda s: s.clean_broker_data(header, alive), write=True)
        return _respond(req, result)

    async def get_next_broker_id(self, _c: Connection, req: RemotingCommand) -> RemotingCommand:
        """CONTROLLER_GET_NEXT_BROKER_ID."""
        header = GetNextBrokerIdRequestHeader.from_ext(req.ext_fields)
        result = await self.manager.submit(lambda s: s.get_next_broker_id(header), write=False)
        return _respond(req, result)

    async def apply_broker_id(self, _c: Connection, req: RemotingCommand) -> RemotingCommand:
        """CONTROLLER_APPLY_BROKER_ID."""
        header = ApplyBrokerIdRequestHeader.from_ext(req.ext_fields)
        result = await self.manager.submit(lambda s: s.apply_broker_id(header), write=True)
        return _respond(req, result)

    def heartbeat(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """BROKER_HEARTBEAT (one-way from brokers): every controller records it."""
        h = BrokerHeartbeatRequestHeader.from_ext(req.ext_fields)
        if h.broker_id is None:
            return req.make_response(
                ResponseCode.CONTROLLER_INVALID_REQUEST, "Heart beat with empty brokerId"
            )
        self.manager.heartbeats.on_heartbeat(
            BrokerIdentity(h.cluster_name, h.broker_name, h.broker_id),
            h.broker_addr,
            conn,
            timeout_ms=h.heartbeat_timeout_mills,
            epoch=h.epoch,
            max_offset=h.max_offset,
            confirm_offset=h.confirm_offset,
            election_priority=h.election_priority,
        )
        return req.make_response(ResponseCode.SUCCESS, "Heart beat success")

    def get_metadata(self, _c: Connection, req: RemotingCommand) -> RemotingCommand:
        """CONTROLLER_GET_METADATA_INFO: group, leader id and address, whether we lead."""
        m = self.manager
        leader = m.leader()
        header = GetMetaDataResponseHeader(
            group=m.config.controller_d_leger_group,
            controller_leader_id=leader.peer_id if leader else None,
            controller_leader_address=leader.address if leader else None,
            is_leader=m.is_leader_ready,
            peers="".join(f"{p.peer_id}:{p.address};" for p in m.peers),
        )
        return req.make_response(ResponseCode.SUCCESS, None, header.to_ext())

    def get_config(self, _c: Connection, req: RemotingCommand) -> RemotingCommand:
        """GET_CONTROLLER_CONFIG: every setting as properties text."""
        text = dump_properties(self.manager.config.to_properties())
        return req.make_response(ResponseCode.SUCCESS, None, None, text.encode())

    def update_config(self, _c: Connection, req: RemotingCommand) -> RemotingCommand:
        """UPDATE_CONTROLLER_CONFIG: properties text; black-listed keys are refused."""
        values = parse_properties((req.body or b"").decode("utf-8", "replace"))
        config = self.manager.config
        if set(values) & config.black_list():
            return req.make_response(
                ResponseCode.NO_PERMISSION, "Can not update config in black list."
            )
        try:
            config.update(values)
        except ValueError as exc:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, str(exc)) from exc
        return req.make_response(ResponseCode.SUCCESS)


def build_processor_table(manager: ControllerManager) -> ProcessorTable:
    """Request code -> processor, as ControllerManager#registerProcessor registers them."""
    p = ControllerRequestProcessor(manager)
    table = ProcessorTable()
    for code, fn in (
        (RequestCode.CONTROLLER_ALTER_SYNC_STATE_SET, p.alter_sync_state_set),
        (RequestCode.CONTROLLER_ELECT_MASTER, p.elect_master),
        (RequestCode.CONTROLLER_REGISTER_BROKER, p.register_broker),
        (RequestCode.CONTROLLER_GET_REPLICA_INFO, p.get_replica_info),
        (RequestCode.CONTROLLER_GET_METADATA_INFO, p.get_metadata),
        (RequestCode.CONTROLLER_GET_SYNC_STATE_DATA, p.get_sync_state_data),
        (RequestCode.BROKER_HEARTBEAT, p.heartbeat),
        (RequestCode.UPDATE_CONTROLLER_CONFIG, p.update_config),
        (RequestCode.GET_CONTROLLER_CONFIG, p.get_config),
        (RequestCode.CLEAN_BROKER_DATA, p.clean_broker_data),
        (RequestCode.CONTROLLER_GET_NEXT_BROKER_ID, p.get_next_broker_id),
        (RequestCode.CONTROLLER_APPLY_BROKER_ID, p.apply_broker_id),
    ):
        table.register(code, fn)
    return table
