"""JSON bodies of the controller requests (RocketMQ ``protocol/body``): SyncStateSet,
ElectMasterResponseBody with its BrokerMemberGroup, and BrokerReplicasInfo (admin view).

They are read with :func:`rocketq.remoting.fastjson.loads` (fastjson writes a
``Map<Long, String>`` with bare number keys) and written as standard JSON, which fastjson
reads back into the same Java types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rocketq.common.errors import BrokerError
from rocketq.remoting import fastjson
from rocketq.remoting.codes import ResponseCode

__all__ = [
    "BrokerMemberGroup",
    "ElectMasterResponseBody",
    "ReplicaIdentity",
    "ReplicasInfo",
    "SyncStateSet",
    "encode_replicas_info",
]


def _ids(value: Any) -> frozenset[int]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise BrokerError(ResponseCode.CONTROLLER_INVALID_REQUEST, f"bad broker id set {value!r}")
    return frozenset(int(v) for v in value)


def _object(data: bytes | None, what: str) -> dict[str, Any]:
    if not data:
        raise BrokerError(ResponseCode.CONTROLLER_INVALID_REQUEST, f"the {what} body is missing")
    try:
        obj = fastjson.loads(data)
    except Exception as exc:
        raise BrokerError(ResponseCode.CONTROLLER_INVALID_REQUEST, f"bad {what}: {exc}") from exc
    if not isinstance(obj, dict):
        raise BrokerError(ResponseCode.CONTROLLER_INVALID_REQUEST, f"bad {what}: not an object")
    return obj


@dataclass(frozen=True, slots=True)
class SyncStateSet:
    """``{"syncStateSet":[1,2],"syncStateSetEpoch":3}``: the in-sync replicas and their epoch."""

    sync_state_set: frozenset[int]
    sync_state_set_epoch: int

    def encode(self) -> bytes:
        """The JSON body."""
        return fastjson.dumps(
            {
                "syncStateSet": sorted(self.sync_state_set),
                "syncStateSetEpoch": self.sync_state_set_epoch,
            }
        )

    @classmethod
    def decode(cls, data: bytes | None) -> SyncStateSet:
        """Parse a body; a bad one is CONTROLLER_INVALID_REQUEST."""
        obj = _object(data, "SyncStateSet")
        return cls(_ids(obj.get("syncStateSet")), int(obj.get("syncStateSetEpoch") or 0))


@dataclass(frozen=True, slots=True)
class BrokerMemberGroup:
    """A broker group's members: controller broker id -> address."""

    cluster: str
    broker_name: str
    broker_addrs: Mapping[int, str]

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "cluster": self.cluster,
            "brokerName": self.broker_name,
            "brokerAddrs": {str(k): v for k, v in sorted(self.broker_addrs.items())},
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> BrokerMemberGroup:
        """Read the JSON object (number keys bare or quoted)."""
        addrs = obj.get("brokerAddrs") or {}
        return cls(
            str(obj.get("cluster") or ""),
            str(obj.get("brokerName") or ""),
            {int(k): str(v) for k, v in addrs.items()},
        )


@dataclass(frozen=True, slots=True)
class ElectMasterResponseBody:
    """CONTROLLER_ELECT_MASTER response body: the group's members and the new set."""

    broker_member_group: BrokerMemberGroup | None
    sync_state_set: frozenset[int]

    def encode(self) -> bytes:
        """The JSON body."""
        obj: dict[str, Any] = {"syncStateSet": sorted(self.sync_state_set)}
        if self.broker_member_group is not None:
            obj["brokerMemberGroup"] = self.broker_member_group.to_json()
        return fastjson.dumps(obj)

    @classmethod
    def decode(cls, data: bytes | None) -> ElectMasterResponseBody:
        """Parse a body."""
        obj = _object(data, "ElectMasterResponseBody")
        group = obj.get("brokerMemberGroup")
        return cls(
            BrokerMemberGroup.from_json(group) if isinstance(group, dict) else None,
            _ids(obj.get("syncStateSet")),
        )


@dataclass(frozen=True, slots=True)
class ReplicaIdentity:
    """One replica in the admin view (``BrokerReplicasInfo.ReplicaIdentity``)."""

    broker_name: str
    broker_id: int
    broker_address: str | None
    alive: bool

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "brokerName": self.broker_name,
            "brokerId": self.broker_id,
            "brokerAddress": self.broker_address,
            "alive": self.alive,
        }


@dataclass(frozen=True, slots=True)
class ReplicasInfo:
    """One group in the admin view (``BrokerReplicasInfo.ReplicasInfo``)."""

    master_broker_id: int | None
    master_address: str | None
    master_epoch: int
    sync_state_set_epoch: int
    in_sync_replicas: tuple[ReplicaIdentity, ...]
    not_in_sync_replicas: tuple[ReplicaIdentity, ...]

    def to_json(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "masterBrokerId": self.master_broker_id,
            "masterAddress": self.master_address,
            "masterEpoch": self.master_epoch,
            "syncStateSetEpoch": self.sync_state_set_epoch,
            "inSyncReplicas": [r.to_json() for r in self.in_sync_replicas],
            "notInSyncReplicas": [r.to_json() for r in self.not_in_sync_replicas],
        }


def encode_replicas_info(table: Iterable[tuple[str, ReplicasInfo]]) -> bytes:
    """``BrokerReplicasInfo``: ``{"replicasInfoTable": {brokerName: ReplicasInfo}}``."""
    return fastjson.dumps({"replicasInfoTable": {name: info.to_json() for name, info in table}})
