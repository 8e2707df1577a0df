"""The controller's replicated events (RocketMQ ``controller/impl/event``) and their log form.

Every change to the replica state is one of these events; the Raft log carries them and
every controller applies them in log order (:meth:`ReplicaState.apply`). An event's bytes
are Java's ``EventSerializer`` form: a 2-byte big-endian event type, then the event as JSON
with Java's field names. A log entry holds a batch (what one request produced): each event
preceded by its 4-byte length.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeAlias

import orjson

__all__ = [
    "AlterSyncStateSetEvent",
    "ApplyBrokerIdEvent",
    "CleanBrokerDataEvent",
    "ElectMasterEvent",
    "Event",
    "EventType",
    "UpdateBrokerAddressEvent",
    "decode_batch",
    "decode_event",
    "encode_batch",
    "encode_event",
]

_TYPE = struct.Struct(">h")
_LEN = struct.Struct(">i")


class EventType(IntEnum):
    """``EventType`` ids (4, READ_EVENT, is never logged by rocketq: reads are not appended)."""

    ALTER_SYNC_STATE_SET = 1
    APPLY_BROKER_ID = 2
    ELECT_MASTER = 3
    READ = 4
    CLEAN_BROKER_DATA = 5
    UPDATE_BROKER_ADDRESS = 6


@dataclass(frozen=True, slots=True)
class AlterSyncStateSetEvent:
    """The master's new in-sync set (epoch + 1 on apply)."""

    broker_name: str
    new_sync_state_set: frozenset[int]


@dataclass(frozen=True, slots=True)
class ApplyBrokerIdEvent:
    """A broker got its controller id (the first one also creates the group)."""

    cluster_name: str
    broker_name: str
    broker_address: str
    register_check_code: str
    new_broker_id: int


@dataclass(frozen=True, slots=True)
class ElectMasterEvent:
    """A new master (its set becomes itself), or none left (master cleared)."""

    broker_name: str
    new_master_elected: bool
    new_master_broker_id: int | None = None


@dataclass(frozen=True, slots=True)
class CleanBrokerDataEvent:
    """Forget some brokers of a group, or the whole group (``None``)."""

    broker_name: str
    broker_id_set_to_clean: frozenset[int] | None = None


@dataclass(frozen=True, slots=True)
class UpdateBrokerAddressEvent:
    """A registered broker came back at another address."""

    cluster_name: str
    broker_name: str
    broker_address: str
    broker_id: int


Event: TypeAlias = (
    AlterSyncStateSetEvent
    | ApplyBrokerIdEvent
    | ElectMasterEvent
    | CleanBrokerDataEvent
    | UpdateBrokerAddressEvent
)


def _ids(ids: frozenset[int] | None) -> list[int] | None:
    return None if ids is None else sorted(ids)


def _to_json(event: Event) -> tuple[EventType, dict[str, Any]]:
    match event:
        case AlterSyncStateSetEvent():
            return EventType.ALTER_SYNC_STATE_SET, {
                "brokerName": event.broker_name,
                "newSyncStateSet": _ids(event.new_sync_state_set),
            }
        case ApplyBrokerIdEvent():
            return EventType.APPLY_BROKER_ID, {
                "clusterName": event.cluster_name,
                "brokerName": event.broker_name,
                "brokerAddress": event.broker_address,
                "registerCheckCode": event.register_check_code,
                "newBrokerId": event.new_broker_id,
            }
        case ElectMasterEvent():
            return EventType.ELECT_MASTER, {
                "newMasterElected": event.new_master_elected,
                "brokerName": event.broker_name,
                "newMasterBrokerId": event.new_master_broker_id,
            }
        case CleanBrokerDataEvent():
            return EventType.CLEAN_BROKER_DATA, {
                "brokerName": event.broker_name,
                "brokerIdSetToClean": _ids(event.broker_id_set_to_clean),
            }
        case UpdateBrokerAddressEvent():
            return EventType.UPDATE_BROKER_ADDRESS, {
                "clusterName": event.cluster_name,
                "brokerName": event.broker_name,
                "brokerAddress": event.broker_address,
                "brokerId": event.broker_id,
            }


def _from_json(kind: int, o: dict[str, Any]) -> Event:
    if kind == EventType.ALTER_SYNC_STATE_SET:
        return AlterSyncStateSetEvent(o["brokerName"], frozenset(o["newSyncStateSet"] or ()))
    if kind == EventType.APPLY_BROKER_ID:
        return ApplyBrokerIdEvent(
            o["clusterName"],
            o["brokerName"],
            o["brokerAddress"],
            o["registerCheckCode"],
            int(o["newBrokerId"]),
        )
    if kind == EventType.ELECT_MASTER:
        return ElectMasterEvent(
            o["brokerName"], bool(o["newMasterElected"]), o.get("newMasterBrokerId")
        )
    if kind == EventType.CLEAN_BROKER_DATA:
        ids = o.get("brokerIdSetToClean")
        return CleanBrokerDataEvent(o["brokerName"], None if ids is None else frozenset(ids))
    if kind == EventType.UPDATE_BROKER_ADDRESS:
        return UpdateBrokerAddressEvent(
            o["clusterName"], o["brokerName"], o["brokerAddress"], int(o["brokerId"])
        )
    raise ValueError(f"unknown controller event type {kind}")


def encode_event(event: Event) -> bytes:
    """One event as Java's EventSerializer writes it: type (2 bytes) + JSON."""
    kind, obj = _to_json(event)
    return _TYPE.pack(kind) + orjson.dumps(obj)


def decode_event(data: bytes) -> Event:
    """The inverse of :func:`encode_event`."""
    (kind,) = _TYPE.unpack_from(data)
    return _from_json(kind, orjson.loads(data[_TYPE.size :]))


def encode_batch(events: list[Event] | tuple[Event, ...]) -> bytes:
    """A log entry: each event prefixed by its length."""
    out = bytearray()
    for event in events:
        data = encode_event(event)
        out += _LEN.pack(len(data))
        out += data
    return bytes(out)


def decode_batch(data: bytes) -> list[Event]:
    """The events of one log entry."""
    events, pos = [], 0
    while pos < len(data):
        (size,) = _LEN.unpack_from(data, pos)
        pos += _LEN.size
        events.append(decode_event(data[pos : pos + size]))
        pos += size
    return events
