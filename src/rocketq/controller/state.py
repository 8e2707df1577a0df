"""Replica state of every broker group: the controller's state machine, sans-I/O.

Mirrors RocketMQ 5's ``ReplicasInfoManager`` with ``BrokerReplicaInfo`` and
``SyncStateInfo``. Two kinds of method, as in Java:

* requests (``alter_sync_state_set``, ``elect_master``, ``apply_broker_id``, ...) read the
  state and return a :class:`ControllerResult`: the response code, header and body, and the
  events that would make the change. They never change the state;
* :meth:`ReplicaState.apply` changes it, one event at a time, in log order, on every
  controller (a dispatch table by event type).

Whether a broker is alive comes in as a predicate (the heartbeat manager's), so the whole
class is tested with plain data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rocketq.controller.body import (
    BrokerMemberGroup,
    ElectMasterResponseBody,
    ReplicaIdentity,
    ReplicasInfo,
    SyncStateSet,
    encode_replicas_info,
)
from rocketq.controller.elect import Alive, DefaultElectPolicy
from rocketq.controller.events import (
    AlterSyncStateSetEvent,
    ApplyBrokerIdEvent,
    CleanBrokerDataEvent,
    ElectMasterEvent,
    Event,
    UpdateBrokerAddressEvent,
)
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.headers.base import CommandHeader
from rocketq.remoting.headers.controller import (
    AlterSyncStateSetRequestHeader,
    AlterSyncStateSetResponseHeader,
    ApplyBrokerIdRequestHeader,
    ApplyBrokerIdResponseHeader,
    CleanControllerBrokerDataRequestHeader,
    ElectMasterRequestHeader,
    ElectMasterResponseHeader,
    GetNextBrokerIdRequestHeader,
    GetNextBrokerIdResponseHeader,
    GetReplicaInfoResponseHeader,
    RegisterBrokerToControllerRequestHeader,
    RegisterBrokerToControllerResponseHeader,
)

__all__ = [
    "FIRST_BROKER_CONTROLLER_ID",
    "BrokerReplicaInfo",
    "ControllerResult",
    "ReplicaState",
    "SyncStateInfo",
]

# MixAll.FIRST_BROKER_CONTROLLER_ID: controller broker ids start at 1 (0 means "master" on
# the NameServer side, which is a role, not an identity).
FIRST_BROKER_CONTROLLER_ID = 1


@dataclass(slots=True)
class BrokerReplicaInfo:
    """The members of one group: id -> (address, registerCheckCode), and the next free id."""

    cluster_name: str
    broker_name: str
    next_assign_broker_id: int = FIRST_BROKER_CONTROLLER_ID
    brokers: dict[int, tuple[str, str]] = field(default_factory=dict)

    def add(self, broker_id: int, address: str, check_code: str) -> None:
        """Java's addBroker: the counter moves on every addition, whatever the id."""
        self.brokers[broker_id] = (address, check_code)
        self.next_assign_broker_id += 1

    def address(self, broker_id: int | None) -> str | None:
        """The member's address, or None."""
        entry = self.brokers.get(broker_id) if broker_id is not None else None
        return entry[0] if entry else None

    def addresses(self) -> dict[int, str]:
        """id -> address."""
        return {bid: addr for bid, (addr, _code) in self.brokers.items()}


@dataclass(slots=True)
class SyncStateInfo:
    """A group's master, master epoch, SyncStateSet and its epoch (both epochs start at 0)."""

    cluster_name: str
    broker_name: str
    master_broker_id: int | None = None
    master_epoch: int = 0
    sync_state_set: frozenset[int] = frozenset()
    sync_state_set_epoch: int = 0

    def set_master(self, broker_id: int | None) -> None:
        """A new master (or none): the master epoch moves on."""
        self.master_broker_id = broker_id
        self.master_epoch += 1

    def set_sync_state_set(self, members: frozenset[int]) -> None:
        """A new set: its epoch moves on."""
        self.sync_state_set = frozenset(members)
        self.sync_state_set_epoch += 1


@dataclass(frozen=True, slots=True)
class ControllerResult:
    """A request's answer and the events that make its change (none for a read)."""

    code: int = ResponseCode.SUCCESS
    remark: str | None = None
    header: CommandHeader | None = None
    body: bytes | None = None
    events: tuple[Event, ...] = ()


def _fail(code: int, remark: str, header: CommandHeader | None = None) -> ControllerResult:
    return ControllerResult(code=code, remark=remark, header=header)


class ReplicaState:
    """Every group's replica info and sync state (see the module docstring)."""

    def __init__(self) -> None:
        self.replicas: dict[str, BrokerReplicaInfo] = {}
        self.sync_states: dict[str, SyncStateInfo] = {}

    def contains(self, broker_name: str) -> bool:
        """Known in both tables (Java's isContainsBroker)."""
        return broker_name in self.replicas and broker_name in self.sync_states

    # -- requests: read the state, return the result and its events --------------------------

    def alter_sync_state_set(
        self, req: AlterSyncStateSetRequestHeader, proposed: SyncStateSet, alive: Alive
    ) -> ControllerResult:
        """A master reports a new SyncStateSet; checks in Java's order."""
        name = req.broker_name
        if not self.contains(name):
            return _fail(
                ResponseCode.CONTROLLER_ALTER_SYNC_STATE_SET_FAILED,
                "Broker metadata is not existed",
            )
        state, replicas = self.sync_states[name], self.replicas[name]
        new_set = proposed.sync_state_set
        if new_set == state.sync_state_set:
            return _fail(
                ResponseCode.CONTROLLER_ALTER_SYNC_STATE_SET_FAILED,
                "The newSyncStateSet is equal with oldSyncStateSet",
            )
        if state.master_broker_id is None or state.master_broker_id != req.master_broker_id:
            return _fail(
                ResponseCode.CONTROLLER_INVALID_MASTER,
                f"the current master is {state.master_broker_id}, not {req.master_broker_id}",
            )
        if req.master_epoch != state.master_epoch:
            return _fail(
                ResponseCode.CONTROLLER_FENCED_MASTER_EPOCH,
                f"the current master epoch is {state.master_epoch}, not {req.master_epoch}",
            )
        if proposed.sync_state_set_epoch != state.sync_state_set_epoch:
            return _fail(
                ResponseCode.CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH,
                f"the current syncStateSet epoch is {state.sync_state_set_epoch}, "
                f"not {proposed.sync_state_set_epoch}",
            )
        for replica in sorted(new_set):
            if replica not in replicas.brokers:
                return _fail(
                    ResponseCode.CONTROLLER_INVALID_REPLICAS,
                    f"the replica {replica} does not exist",
                )
            if not alive(replicas.cluster_name, name, replica):
                return _fail(
                    ResponseCode.CONTROLLER_BROKER_NOT_ALIVE, f"the replica {replica} is not alive"
                )
        if state.master_broker_id not in new_set:
            return _fail(
                ResponseCode.CONTROLLER_ALTER_SYNC_STATE_SET_FAILED,
                f"the new set leaves out the master {state.master_broker_id}",
            )
        epoch = state.sync_state_set_epoch + 1
        return ControllerResult(
            header=AlterSyncStateSetResponseHeader(new_sync_state_set_epoch=epoch),
            body=SyncStateSet(new_set, epoch).encode(),
            events=(AlterSyncStateSetEvent(name, new_set),),
        )

    def elect_master(
        self, req: ElectMasterRequestHeader, policy: DefaultElectPolicy, unclean: bool
    ) -> ControllerResult:
        """Elect a master for ``req.broker_name`` (a broker's, an admin's or the controller's
        request; brokerId -1 is the controller's)."""
        name = req.broker_name
        if not self.contains(name):
            return _fail(
                ResponseCode.CONTROLLER_BROKER_NEED_TO_BE_REGISTERED,
                "Broker hasn't been registered",
            )
        state, replicas = self.sync_states[name], self.replicas[name]
        old = state.master_broker_id
        new: int | None = None
        if state.master_epoch == 0:  # never had a master: the asking broker becomes it
            new = req.broker_id
        if new is None or new == -1:
            new = policy.elect(
                replicas.cluster_name,
                name,
                state.sync_state_set,
                set(replicas.brokers) if unclean else None,
                old,
                req.broker_id if req.designate_elect else None,
            )
        if new is not None and new == old:
            return ControllerResult(
                code=ResponseCode.CONTROLLER_MASTER_STILL_EXIST,
                remark=f"the old master {old} is still alive, no election in {name}",
                header=self._elect_header(state, replicas, old),
                body=ElectMasterResponseBody(None, state.sync_state_set).encode(),
            )
        if new is not None:
            return self._elected(state, replicas, new)
        if req.broker_id == -1:  # the controller's own request: record that no master is left
            return ControllerResult(
                code=ResponseCode.CONTROLLER_MASTER_NOT_AVAILABLE,
                remark="Old master has down and failed to elect a new broker master",
                header=ElectMasterResponseHeader(),
                events=(ElectMasterEvent(name, False),),
            )
        return _fail(
            ResponseCode.CONTROLLER_ELECT_MASTER_FAILED,
            "Failed to elect a new master",
            ElectMasterResponseHeader(),
        )

    @staticmethod
    def _elect_header(
        state: SyncStateInfo, replicas: BrokerReplicaInfo, master: int | None
    ) -> ElectMasterResponseHeader:
        return ElectMasterResponseHeader(
            master_broker_id=master,
            master_address=replicas.address(master),
            master_epoch=state.master_epoch,
            sync_state_set_epoch=state.sync_state_set_epoch,
        )

    @staticmethod
    def _elected(state: SyncStateInfo, replicas: BrokerReplicaInfo, new: int) -> ControllerResult:
        group = BrokerMemberGroup(replicas.cluster_name, replicas.broker_name, replicas.addresses())
        return ControllerResult(
            header=ElectMasterResponseHeader(
                master_broker_id=new,
                master_address=replicas.address(new),
                master_epoch=state.master_epoch + 1,
                sync_state_set_epoch=state.sync_state_set_epoch + 1,
            ),
            body=ElectMasterResponseBody(group, frozenset({new})).encode(),
            events=(ElectMasterEvent(replicas.broker_name, True, new),),
        )

    def get_next_broker_id(self, req: GetNextBrokerIdRequestHeader) -> ControllerResult:
        """The id a new broker of the group should apply for."""
        replicas = self.replicas.get(req.broker_name)
        next_id = FIRST_BROKER_CONTROLLER_ID if replicas is None else replicas.next_assign_broker_id
        return ControllerResult(
            header=GetNextBrokerIdResponseHeader(req.cluster_name, req.broker_name, next_id)
        )

    def apply_broker_id(self, req: ApplyBrokerIdRequestHeader) -> ControllerResult:
        """Claim an id: free, or already this broker's (same registerCheckCode)."""
        name, bid, code = req.broker_name, req.applied_broker_id, req.register_check_code
        header = ApplyBrokerIdResponseHeader(req.cluster_name, name)
        event = ApplyBrokerIdEvent(req.cluster_name, name, code.split(";")[0], code, bid)
        replicas = self.replicas.get(name)
        if replicas is None:
            if bid == FIRST_BROKER_CONTROLLER_ID:
                return ControllerResult(header=header, events=(event,))
            return _fail(
                ResponseCode.CONTROLLER_BROKER_ID_INVALID,
                f"broker set {name} is not registered yet, so id {bid} is not "
                f"{FIRST_BROKER_CONTROLLER_ID}",
                header,
            )
        taken = replicas.brokers.get(bid)
        if taken is None or taken[1] == code:
            return ControllerResult(header=header, events=(event,))
        return _fail(
            ResponseCode.CONTROLLER_BROKER_ID_INVALID,
            f"Fail to apply brokerId: {bid} in broker-set: {name}",
            header,
        )

    def register_broker(
        self, req: RegisterBrokerToControllerRequestHeader, alive: Alive
    ) -> ControllerResult:
        """A broker with a fixed id says where it is; answer the live master, if any."""
        name, bid = req.broker_name, req.broker_id
        header = RegisterBrokerToControllerResponseHeader(req.cluster_name, name)
        if not self.contains(name):
            return _fail(
                ResponseCode.CONTROLLER_BROKER_NEED_TO_BE_REGISTERED,
                f"Broker-set: {name} hasn't been registered in controller",
                header,
            )
        replicas, state = self.replicas[name], self.sync_states[name]
        if bid not in replicas.brokers:
            return _fail(
                ResponseCode.CONTROLLER_BROKER_NEED_TO_BE_REGISTERED,
                f"BrokerId: {bid} hasn't been registered in broker-set: {name}",
                header,
            )
        master = state.master_broker_id
        if master is not None and alive(req.cluster_name, name, master):
            header = RegisterBrokerToControllerResponseHeader(
                req.cluster_name,
                name,
                master,
                replicas.address(master),
                state.master_epoch,
                state.sync_state_set_epoch,
            )
        events: tuple[Event, ...] = ()
        if req.broker_address != replicas.address(bid):
            events = (UpdateBrokerAddressEvent(req.cluster_name, name, req.broker_address, bid),)
        body = SyncStateSet(state.sync_state_set, state.sync_state_set_epoch).encode()
        return ControllerResult(header=header, body=body, events=events)

    def get_replica_info(self, broker_name: str) -> ControllerResult:
        """The group's master, master epoch and SyncStateSet."""
        if not self.contains(broker_name):
            return _fail(
                ResponseCode.CONTROLLER_BROKER_METADATA_NOT_EXIST,
                "Broker metadata is not existed",
                GetReplicaInfoResponseHeader(),
            )
        state, replicas = self.sync_states[broker_name], self.replicas[broker_name]
        return ControllerResult(
            header=GetReplicaInfoResponseHeader(
                state.master_broker_id,
                replicas.address(state.master_broker_id),
                state.master_epoch,
            ),
            body=SyncStateSet(state.sync_state_set, state.sync_state_set_epoch).encode(),
        )

    def get_sync_state_data(self, broker_names: list[str], alive: Alive) -> ControllerResult:
        """The admin view (``BrokerReplicasInfo``) of the named groups that exist."""
        table = []
        for name in broker_names:
            if not self.contains(name):
                continue
            state, replicas = self.sync_states[name], self.replicas[name]
            in_sync: list[ReplicaIdentity] = []
            not_in_sync: list[ReplicaIdentity] = []
            for bid, (addr, _code) in sorted(replicas.brokers.items()):
                ident = ReplicaIdentity(name, bid, addr, alive(replicas.cluster_name, name, bid))
                (in_sync if bid in state.sync_state_set else not_in_sync).append(ident)
            table.append(
                (
                    name,
                    ReplicasInfo(
                        state.master_broker_id,
                        replicas.address(state.master_broker_id),
                        state.master_epoch,
                        state.sync_state_set_epoch,
                        tuple(in_sync),
                        tuple(not_in_sync),
                    ),
                )
            )
        return ControllerResult(body=encode_replicas_info(table))

    def clean_broker_data(
        self, req: CleanControllerBrokerDataRequestHeader, alive: Alive
    ) -> ControllerResult:
        """Forget brokers (``"1;2"``) or the whole group; alive ones only when told so."""
        name, ids_text = req.broker_name, (req.broker_controller_ids_to_clean or "").strip()
        ids: frozenset[int] | None = None
        if ids_text:
            try:
                ids = frozenset(int(part) for part in ids_text.split(";") if part.strip())
            except ValueError as exc:
                return _fail(
                    ResponseCode.CONTROLLER_INVALID_CLEAN_BROKER_METADATA,
                    f"Please set the option <brokerControllerIdsToClean> as 'id;id': {exc}",
                )
        if not req.is_clean_living_broker:
            state = self.sync_states.get(name)
            if ids is None and state is not None and state.master_broker_id is not None:
                return _fail(
                    ResponseCode.CONTROLLER_INVALID_CLEAN_BROKER_METADATA,
                    f"Broker {name} is still alive, clean up failure",
                )
            for bid in sorted(ids or ()):
                if alive(req.cluster_name or "", name, bid):
                    return _fail(
                        ResponseCode.CONTROLLER_INVALID_CLEAN_BROKER_METADATA,
                        f"Broker [{name}, {bid}] is still alive, clean up failure",
                    )
        if self.contains(name):
            return ControllerResult(events=(CleanBrokerDataEvent(name, ids),))
        return _fail(
            ResponseCode.CONTROLLER_INVALID_CLEAN_BROKER_METADATA,
            f"Broker {name} is not existed,clean broker data failure.",
        )

    def scan_need_reelect(self, alive: Alive) -> list[str]:
        """Groups whose master is dead while some member is alive."""
        out = []
        for name, state in self.sync_states.items():
            master, cluster = state.master_broker_id, state.cluster_name
            if master is None or alive(cluster, name, master):
                continue
            replicas = self.replicas.get(name)
            if replicas and any(alive(cluster, name, bid) for bid in replicas.brokers):
                out.append(name)
        return sorted(out)

    def master_of(self, broker_name: str) -> int | None:
        """The group's master id, if any."""
        state = self.sync_states.get(broker_name)
        return state.master_broker_id if state else None

    # -- apply: the only way the state changes -----------------------------------------------

    def apply(self, event: Event) -> None:
        """Apply one committed event (every controller, in log order)."""
        _APPLY[type(event)](self, event)

    def _apply_alter(self, event: AlterSyncStateSetEvent) -> None:
        if self.contains(event.broker_name):
            self.sync_states[event.broker_name].set_sync_state_set(event.new_sync_state_set)

    def _apply_broker_id(self, event: ApplyBrokerIdEvent) -> None:
        name = event.broker_name
        if self.contains(name):
            replicas = self.replicas[name]
            if event.new_broker_id not in replicas.brokers:
                replicas.add(event.new_broker_id, event.broker_address, event.register_check_code)
            return
        replicas = BrokerReplicaInfo(event.cluster_name, name)
        replicas.add(event.new_broker_id, event.broker_address, event.register_check_code)
        self.replicas[name] = replicas
        self.sync_states[name] = SyncStateInfo(event.cluster_name, name)

    def _apply_elect(self, event: ElectMasterEvent) -> None:
        state = self.sync_states.get(event.broker_name)
        if state is None or not self.contains(event.broker_name):
            return
        if event.new_master_elected and event.new_master_broker_id is not None:
            state.set_master(event.new_master_broker_id)
            state.set_sync_state_set(frozenset({event.new_master_broker_id}))
        else:  # the master died and nobody could follow: keep the set, clear the master
            state.set_master(None)

    def _apply_clean(self, event: CleanBrokerDataEvent) -> None:
        name, ids = event.broker_name, event.broker_id_set_to_clean
        if not ids:
            self.replicas.pop(name, None)
            self.sync_states.pop(name, None)
            return
        if not self.contains(name):
            return
        replicas, state = self.replicas[name], self.sync_states[name]
        for bid in ids:
            replicas.brokers.pop(bid, None)
        # Java removes from the set in place: the set's epoch does not move.
        state.sync_state_set = state.sync_state_set - ids
        if not replicas.brokers:
            del self.replicas[name]
        if not state.sync_state_set:
            del self.sync_states[name]

    def _apply_address(self, event: UpdateBrokerAddressEvent) -> None:
        replicas = self.replicas.get(event.broker_name)
        if replicas is not None and event.broker_id in replicas.brokers:
            _addr, code = replicas.brokers[event.broker_id]
            replicas.brokers[event.broker_id] = (event.broker_address, code)


_APPLY: dict[type, Callable[[ReplicaState, Event], None]] = {
    AlterSyncStateSetEvent: ReplicaState._apply_alter,  # type: ignore[dict-item]
    ApplyBrokerIdEvent: ReplicaState._apply_broker_id,  # type: ignore[dict-item]
    ElectMasterEvent: ReplicaState._apply_elect,  # type: ignore[dict-item]
    CleanBrokerDataEvent: ReplicaState._apply_clean,  # type: ignore[dict-item]
    UpdateBrokerAddressEvent: ReplicaState._apply_address,  # type: ignore[dict-item]
}
