"""Headers of the 5.x controller requests (RocketMQ ``protocol/header/controller``,
``.../controller/register``, ``.../controller/admin`` and ``NotifyBrokerRoleChangedRequestHeader``).

Java's ``Long``/``Integer`` fields that may be null are ``int | None`` here; a field Java
initialises (``brokerId = -1L``) has that default, since a missing key leaves Java's default.
``BROKER_HEARTBEAT`` (904) uses ``namesrv.BrokerHeartbeatRequestHeader`` (one Java class for
both the NameServer and the controller).
"""

from __future__ import annotations

from dataclasses import dataclass

from rocketq.remoting.headers.base import CommandHeader

__all__ = [
    "AlterSyncStateSetRequestHeader",
    "AlterSyncStateSetResponseHeader",
    "ApplyBrokerIdRequestHeader",
    "ApplyBrokerIdResponseHeader",
    "CleanControllerBrokerDataRequestHeader",
    "ElectMasterRequestHeader",
    "ElectMasterResponseHeader",
    "GetMetaDataResponseHeader",
    "GetNextBrokerIdRequestHeader",
    "GetNextBrokerIdResponseHeader",
    "GetReplicaInfoRequestHeader",
    "GetReplicaInfoResponseHeader",
    "NotifyBrokerRoleChangedRequestHeader",
    "RegisterBrokerToControllerRequestHeader",
    "RegisterBrokerToControllerResponseHeader",
]

# ElectMasterRequestHeader#brokerId when the controller itself triggers the election.
CONTROLLER_TRIGGER_BROKER_ID = -1


@dataclass(frozen=True, slots=True)
class AlterSyncStateSetRequestHeader(CommandHeader):
    """CONTROLLER_ALTER_SYNC_STATE_SET (1001); the body is the proposed SyncStateSet."""

    broker_name: str
    master_broker_id: int
    master_epoch: int
    invoke_time: int = 0


@dataclass(frozen=True, slots=True)
class AlterSyncStateSetResponseHeader(CommandHeader):
    """CONTROLLER_ALTER_SYNC_STATE_SET response."""

    new_sync_state_set_epoch: int = 0


@dataclass(frozen=True, slots=True)
class ElectMasterRequestHeader(CommandHeader):
    """CONTROLLER_ELECT_MASTER (1002): a broker (or an admin with ``designateElect``) asks
    for an election in ``brokerName``; brokerId -1 means "triggered by the controller"."""

    cluster_name: str = ""
    broker_name: str = ""
    broker_id: int = CONTROLLER_TRIGGER_BROKER_ID
    designate_elect: bool = False
    invoke_time: int = 0


@dataclass(frozen=True, slots=True)
class ElectMasterResponseHeader(CommandHeader):
    """CONTROLLER_ELECT_MASTER response; the body is ElectMasterResponseBody."""

    master_broker_id: int | None = None
    master_address: str | None = None
    master_epoch: int | None = None
    sync_state_set_epoch: int | None = None


@dataclass(frozen=True, slots=True)
class GetMetaDataResponseHeader(CommandHeader):
    """CONTROLLER_GET_METADATA_INFO (1005) response: who leads the controller group."""

    group: str | None = None
    controller_leader_id: str | None = None
    controller_leader_address: str | None = None
    is_leader: bool = False
    peers: str | None = None


@dataclass(frozen=True, slots=True)
class GetReplicaInfoRequestHeader(CommandHeader):
    """CONTROLLER_GET_REPLICA_INFO (1004)."""

    broker_name: str


@dataclass(frozen=True, slots=True)
class GetReplicaInfoResponseHeader(CommandHeader):
    """CONTROLLER_GET_REPLICA_INFO response; the body is the SyncStateSet."""

    master_broker_id: int | None = None
    master_address: str | None = None
    master_epoch: int | None = None


@dataclass(frozen=True, slots=True)
class CleanControllerBrokerDataRequestHeader(CommandHeader):
    """CLEAN_BROKER_DATA (1011): ``brokerControllerIdsToClean`` is ``"1;2"`` or empty (all)."""

    broker_name: str
    cluster_name: str | None = None
    broker_controller_ids_to_clean: str | None = None
    is_clean_living_broker: bool = False
    invoke_time: int = 0


@dataclass(frozen=True, slots=True)
class GetNextBrokerIdRequestHeader(CommandHeader):
    """CONTROLLER_GET_NEXT_BROKER_ID (1012)."""

    cluster_name: str
    broker_name: str


@dataclass(frozen=True, slots=True)
class GetNextBrokerIdResponseHeader(CommandHeader):
    """CONTROLLER_GET_NEXT_BROKER_ID response."""

    cluster_name: str | None = None
    broker_name: str | None = None
    next_broker_id: int | None = None


@dataclass(frozen=True, slots=True)
class ApplyBrokerIdRequestHeader(CommandHeader):
    """CONTROLLER_APPLY_BROKER_ID (1013): ``registerCheckCode`` is ``<brokerAddr>;<ms>``."""

    cluster_name: str
    broker_name: str
    applied_broker_id: int
    register_check_code: str


@dataclass(frozen=True, slots=True)
class ApplyBrokerIdResponseHeader(CommandHeader):
    """CONTROLLER_APPLY_BROKER_ID response."""

    cluster_name: str | None = None
    broker_name: str | None = None


@dataclass(frozen=True, slots=True)
class RegisterBrokerToControllerRequestHeader(CommandHeader):
    """CONTROLLER_REGISTER_BROKER (1003): a broker whose id is fixed says where it is."""

    cluster_name: str
    broker_name: str
    broker_id: int
    broker_address: str
    invoke_time: int = 0


@dataclass(frozen=True, slots=True)
class RegisterBrokerToControllerResponseHeader(CommandHeader):
    """CONTROLLER_REGISTER_BROKER response: the live master, if any; body the SyncStateSet."""

    cluster_name: str | None = None
    broker_name: str | None = None
    master_broker_id: int | None = None
    master_address: str | None = None
    master_epoch: int | None = None
    sync_state_set_epoch: int | None = None


@dataclass(frozen=True, slots=True)
class NotifyBrokerRoleChangedRequestHeader(CommandHeader):
    """NOTIFY_BROKER_ROLE_CHANGED (1008), controller -> broker, one-way; body SyncStateSet."""

    master_address: str | None = None
    master_epoch: int | None = None
    sync_state_set_epoch: int | None = None
    master_broker_id: int | None = None
