"""The controller's replica state machine (ReplicasInfoManager semantics), the election
policy, the heartbeat table and the event log form: plain data, no sockets, a fake clock."""

from __future__ import annotations

import pytest

from rocketq.controller.body import ElectMasterResponseBody, SyncStateSet
from rocketq.controller.elect import BrokerLiveInfo, DefaultElectPolicy
from rocketq.controller.events import (
    AlterSyncStateSetEvent,
    ApplyBrokerIdEvent,
    CleanBrokerDataEvent,
    ElectMasterEvent,
    UpdateBrokerAddressEvent,
    decode_batch,
    encode_batch,
)
from rocketq.controller.heartbeat import BrokerHeartbeatManager, BrokerIdentity
from rocketq.controller.state import ControllerResult, ReplicaState
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.headers.controller import (
    AlterSyncStateSetRequestHeader,
    ApplyBrokerIdRequestHeader,
    CleanControllerBrokerDataRequestHeader,
    ElectMasterRequestHeader,
    ElectMasterResponseHeader,
    GetNextBrokerIdRequestHeader,
    RegisterBrokerToControllerRequestHeader,
)

C, B = "cluster", "broker-a"


class World:
    """A ReplicaState, who is alive, and what each broker's heartbeat said."""

    def __init__(self, unclean: bool = False) -> None:
        self.state = ReplicaState()
        self.up: set[int] = set()
        self.infos: dict[int, BrokerLiveInfo] = {}
        self.unclean = unclean
        self.policy = DefaultElectPolicy(self.alive, lambda _c, _b, i: self.infos.get(i))

    def alive(self, _cluster: str, _name: str, broker_id: int) -> bool:
        return broker_id in self.up

    def run(self, result: ControllerResult) -> ControllerResult:
        for event in decode_batch(encode_batch(result.events)):  # through the log form
            self.state.apply(event)
        return result

    def join(self, broker_id: int) -> ControllerResult:
        code = f"10.0.0.{broker_id}:10911;{broker_id}"
        self.up.add(broker_id)
        return self.run(
            self.state.apply_broker_id(ApplyBrokerIdRequestHeader(C, B, broker_id, code))
        )

    def elect(self, broker_id: int = -1, designate: bool = False) -> ControllerResult:
        req = ElectMasterRequestHeader(C, B, broker_id, designate)
        return self.run(self.state.elect_master(req, self.policy, self.unclean))

    def alter(self, members: set[int], master: int, epoch: int, ss_epoch: int) -> ControllerResult:
        req = AlterSyncStateSetRequestHeader(B, master, epoch)
        return self.run(
            self.state.alter_sync_state_set(
                req, SyncStateSet(frozenset(members), ss_epoch), self.alive
            )
        )

    @property
    def sync(self):  # type: ignore[no-untyped-def]
        return self.state.sync_states[B]


def group_of_three(unclean: bool = False) -> World:
    """Brokers 1, 2, 3; 1 the first master; the set grown to {1, 2} (epochs 1 and 2)."""
    w = World(unclean)
    for bid in (1, 2, 3):
        assert w.join(bid).code == ResponseCode.SUCCESS
    assert w.elect(1).code == ResponseCode.SUCCESS
    assert w.alter({1, 2}, master=1, epoch=1, ss_epoch=1).code == ResponseCode.SUCCESS
    return w


# -- broker ids ------------------------------------------------------------------------------


def test_broker_ids_are_assigned_in_order_and_claims_are_checked() -> None:
    w = World()
    next_id = lambda: w.state.get_next_broker_id(GetNextBrokerIdRequestHeader(C, B)).header  # noqa: E731
    assert next_id().next_broker_id == 1  # type: ignore[union-attr]
    # An unknown set accepts only id 1.
    bad = w.state.apply_broker_id(ApplyBrokerIdRequestHeader(C, B, 2, "x:1;0"))
    assert bad.code == ResponseCode.CONTROLLER_BROKER_ID_INVALID and not bad.events
    w.join(1)
    assert next_id().next_broker_id == 2  # type: ignore[union-attr]
    # The same broker (same check code) may re-apply; another may not take the id.
    again = w.state.apply_broker_id(ApplyBrokerIdRequestHeader(C, B, 1, "10.0.0.1:10911;1"))
    assert again.code == ResponseCode.SUCCESS
    taken = w.state.apply_broker_id(ApplyBrokerIdRequestHeader(C, B, 1, "10.9.9.9:10911;7"))
    assert taken.code == ResponseCode.CONTROLLER_BROKER_ID_INVALID
    w.join(2)
    assert next_id().next_broker_id == 3  # type: ignore[union-attr]
    assert w.state.replicas[B].addresses() == {1: "10.0.0.1:10911", 2: "10.0.0.2:10911"}


def test_register_answers_the_live_master_and_updates_a_moved_address() -> None:
    w = group_of_three()
    req = RegisterBrokerToControllerRequestHeader(C, B, 3, "10.0.0.33:10911")
    result = w.run(w.state.register_broker(req, w.alive))
    assert result.code == ResponseCode.SUCCESS
    assert result.header.master_broker_id == 1 and result.header.master_epoch == 1  # type: ignore[union-attr]
    assert SyncStateSet.decode(result.body) == SyncStateSet(frozenset({1, 2}), 2)
    assert w.state.replicas[B].address(3) == "10.0.0.33:10911"
    w.up.discard(1)  # a dead master is not named
    result = w.state.register_broker(req, w.alive)
    assert result.header.master_broker_id is None and not result.events  # type: ignore[union-attr]
    unknown = w.state.register_broker(
        RegisterBrokerToControllerRequestHeader(C, B, 9, "x:1"), w.alive
    )
    assert unknown.code == ResponseCode.CONTROLLER_BROKER_NEED_TO_BE_REGISTERED


# -- elections -------------------------------------------------------------------------------


def test_first_election_makes_the_asking_broker_master() -> None:
    w = World()
    w.join(1)
    w.join(2)
    result = w.elect(2)
    assert result.code == ResponseCode.SUCCESS
    assert (w.sync.master_broker_id, w.sync.master_epoch) == (2, 1)
    assert (w.sync.sync_state_set, w.sync.sync_state_set_epoch) == ({2}, 1)
    body = ElectMasterResponseBody.decode(result.body)
    assert body.sync_state_set == {2}
    assert body.broker_member_group is not None
    assert set(body.broker_member_group.broker_addrs) == {1, 2}


def test_alive_master_stays() -> None:
    w = group_of_three()
    result = w.elect(2)
    assert result.code == ResponseCode.CONTROLLER_MASTER_STILL_EXIST and not result.events
    assert result.header == ElectMasterResponseHeader(1, "10.0.0.1:10911", 1, 2)


@pytest.mark.parametrize(
    ("infos", "winner"),
    [
        # higher epoch first, then higher max offset, then lower priority value
        ({2: BrokerLiveInfo(2, epoch=1, max_offset=10), 4: BrokerLiveInfo(4, 2, 5)}, 4),
        ({2: BrokerLiveInfo(2, epoch=1, max_offset=10), 4: BrokerLiveInfo(4, 1, 50)}, 4),
        ({2: BrokerLiveInfo(2, 1, 10, election_priority=1), 4: BrokerLiveInfo(4, 1, 10)}, 2),
        ({2: BrokerLiveInfo(2, 1, 10), 4: BrokerLiveInfo(4, 1, 10)}, 2),  # tie: lower id
    ],
)
def test_election_order_among_the_sync_state_set(
    infos: dict[int, BrokerLiveInfo], winner: int
) -> None:
    w = World()
    for bid in (1, 2, 3, 4):
        w.join(bid)
    w.elect(1)
    w.alter({1, 2, 4}, master=1, epoch=1, ss_epoch=1)
    w.infos = dict(infos)
    w.infos[3] = BrokerLiveInfo(3, epoch=9, max_offset=999)  # best of all, but not in sync
    w.up.discard(1)
    result = w.elect()
    assert result.code == ResponseCode.SUCCESS
    assert (w.sync.master_broker_id, w.sync.master_epoch) == (winner, 2)
    assert (w.sync.sync_state_set, w.sync.sync_state_set_epoch) == ({winner}, 3)


@pytest.mark.parametrize(
    ("unclean", "by_controller", "code", "master"),
    [
        (False, True, ResponseCode.CONTROLLER_MASTER_NOT_AVAILABLE, None),
        (False, False, ResponseCode.CONTROLLER_ELECT_MASTER_FAILED, 1),
        (True, True, ResponseCode.SUCCESS, 3),
        (True, False, ResponseCode.SUCCESS, 3),
    ],
)
def test_unclean_election(unclean: bool, by_controller: bool, code: int, master: int) -> None:
    """Set {1, 2}; 1 and 2 dead; 3 alive but out of sync: elected only when unclean is on."""
    w = group_of_three(unclean)
    w.up -= {1, 2}
    result = w.elect(-1 if by_controller else 3)
    assert result.code == code
    if code == ResponseCode.CONTROLLER_MASTER_NOT_AVAILABLE:
        # recorded: no master, epoch moved on, the set kept for when a member returns
        assert w.sync.master_broker_id is None and w.sync.master_epoch == 2
        assert w.sync.sync_state_set == {1, 2}
    elif code == ResponseCode.CONTROLLER_ELECT_MASTER_FAILED:
        assert not result.events and w.sync.master_epoch == 1
    else:
        assert w.sync.master_broker_id == master


def test_designated_broker_wins_only_if_it_is_a_candidate() -> None:
    w = group_of_three()
    assert w.elect(2, designate=True).code == ResponseCode.SUCCESS
    assert w.sync.master_broker_id == 2
    result = w.elect(3, designate=True)  # alive but not in the set {2}
    assert result.code == ResponseCode.CONTROLLER_ELECT_MASTER_FAILED


def test_scan_finds_groups_whose_master_died() -> None:
    w = group_of_three()
    assert w.state.scan_need_reelect(w.alive) == []
    w.up.discard(1)
    assert w.state.scan_need_reelect(w.alive) == [B]
    w.up.clear()  # nobody left to elect: nothing to do
    assert w.state.scan_need_reelect(w.alive) == []


# -- SyncStateSet changes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "master", "epoch", "ss_epoch", "code"),
    [
        ({1, 2}, 1, 1, 2, ResponseCode.CONTROLLER_ALTER_SYNC_STATE_SET_FAILED),  # unchanged
        ({1, 2, 3}, 2, 1, 2, ResponseCode.CONTROLLER_INVALID_MASTER),
        ({1, 2, 3}, 1, 0, 2, ResponseCode.CONTROLLER_FENCED_MASTER_EPOCH),
        ({1, 2, 3}, 1, 1, 1, ResponseCode.CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH),  # stale
        ({1, 2, 9}, 1, 1, 2, ResponseCode.CONTROLLER_INVALID_REPLICAS),
        ({2, 3}, 1, 1, 2, ResponseCode.CONTROLLER_ALTER_SYNC_STATE_SET_FAILED),  # no master
        ({1, 2, 3}, 1, 1, 2, ResponseCode.SUCCESS),
        ({1}, 1, 1, 2, ResponseCode.SUCCESS),  # shrink
    ],
)
def test_alter_sync_state_set_checks(
    members: set[int], master: int, epoch: int, ss_epoch: int, code: int
) -> None:
    w = group_of_three()
    result = w.alter(members, master, epoch, ss_epoch)
    assert result.code == code, result.remark
    if code == ResponseCode.SUCCESS:
        assert result.header.new_sync_state_set_epoch == 3  # type: ignore[union-attr]
        assert (w.sync.sync_state_set, w.sync.sync_state_set_epoch) == (members, 3)
        assert SyncStateSet.decode(result.body) == SyncStateSet(frozenset(members), 3)
    else:
        assert not result.events and w.sync.sync_state_set_epoch == 2


def test_alter_refuses_a_dead_member() -> None:
    w = group_of_three()
    w.up.discard(3)
    assert w.alter({1, 2, 3}, 1, 1, 2).code == ResponseCode.CONTROLLER_BROKER_NOT_ALIVE


def test_old_master_is_fenced_after_a_failover() -> None:
    w = group_of_three()
    w.up.discard(1)
    w.elect()
    assert w.sync.master_broker_id == 2
    w.up.add(1)  # the old master comes back and still believes in epoch 1
    assert w.alter({1, 2}, 1, 1, 2).code == ResponseCode.CONTROLLER_INVALID_MASTER
    assert w.alter({1, 2}, 2, 1, 3).code == ResponseCode.CONTROLLER_FENCED_MASTER_EPOCH
    assert w.alter({1, 2}, 2, 2, 3).code == ResponseCode.SUCCESS


# -- clean-up --------------------------------------------------------------------------------


def test_clean_broker_data() -> None:
    w = group_of_three()
    req = CleanControllerBrokerDataRequestHeader
    assert (
        w.state.clean_broker_data(req(B, C), w.alive).code
        == ResponseCode.CONTROLLER_INVALID_CLEAN_BROKER_METADATA
    )  # a master exists
    assert (
        w.state.clean_broker_data(req(B, C, "3"), w.alive).code
        == ResponseCode.CONTROLLER_INVALID_CLEAN_BROKER_METADATA
    )  # 3 is alive
    w.up.discard(3)
    assert w.run(w.state.clean_broker_data(req(B, C, "3"), w.alive)).code == ResponseCode.SUCCESS
    assert set(w.state.replicas[B].brokers) == {1, 2}
    w.run(w.state.clean_broker_data(req(B, C, is_clean_living_broker=True), w.alive))
    assert not w.state.contains(B)
    bad = w.state.clean_broker_data(req(B, C, "x"), w.alive)
    assert bad.code == ResponseCode.CONTROLLER_INVALID_CLEAN_BROKER_METADATA


# -- the log form and the apply table --------------------------------------------------------


def test_events_round_trip_in_java_form() -> None:
    events = [
        AlterSyncStateSetEvent(B, frozenset({1, 2})),
        ApplyBrokerIdEvent(C, B, "1.2.3.4:10911", "1.2.3.4:10911;5", 1),
        ElectMasterEvent(B, True, 2),
        ElectMasterEvent(B, False),
        CleanBrokerDataEvent(B, frozenset({3})),
        CleanBrokerDataEvent(B),
        UpdateBrokerAddressEvent(C, B, "5.6.7.8:10911", 1),
    ]
    data = encode_batch(events)
    assert decode_batch(data) == events
    # each event: 4-byte length, 2-byte EventType id, then Java's field names in JSON
    assert data[4:6] == b"\x00\x01" and b'"newSyncStateSet":[1,2]' in data


def test_replaying_the_log_gives_the_same_state() -> None:
    w = group_of_three()
    w.up.discard(1)
    log = [
        *w.elect().events,
        *w.alter({2, 3}, 2, 2, 3).events,
    ]
    replica = ReplicaState()
    for event in [
        ApplyBrokerIdEvent(C, B, f"10.0.0.{i}:10911", f"10.0.0.{i}:10911;{i}", i) for i in (1, 2, 3)
    ] + [ElectMasterEvent(B, True, 1), AlterSyncStateSetEvent(B, frozenset({1, 2})), *log]:
        replica.apply(event)
    assert replica.sync_states == w.state.sync_states
    assert replica.replicas == w.state.replicas


# -- heartbeats ------------------------------------------------------------------------------


def test_heartbeat_table_timeouts_and_closed_connections() -> None:
    now = [0.0]
    hb = BrokerHeartbeatManager(clock=lambda: now[0])
    a, b = BrokerIdentity(C, B, 1), BrokerIdentity(C, B, 2)
    conn_a, conn_b = object(), object()
    hb.on_heartbeat(a, "a:1", conn_a, timeout_ms=1000, epoch=1, max_offset=100)
    hb.on_heartbeat(b, "b:1", conn_b, timeout_ms=3000)
    assert hb.is_active(C, B, 1) and hb.is_active(C, B, 2)
    # election inputs only move forward
    hb.on_heartbeat(a, "a:1", conn_a, timeout_ms=1000, epoch=1, max_offset=50)
    assert hb.live_info(C, B, 1) == BrokerLiveInfo(1, 1, 100, -1)
    now[0] = 1500
    assert not hb.is_active(C, B, 1) and hb.is_active(C, B, 2)
    assert hb.scan_not_active() == [(a, conn_a)]
    assert hb.live_info(C, B, 1) is None
    assert hb.on_connection_closed(conn_b) == [b]
    assert not hb.is_active(C, B, 2) and hb.active_count() == 0
