"""The controller service (RocketMQ ``ControllerManager`` + ``DLedgerController``).

Parts: the remoting server brokers talk to (at this peer's address), the Raft member that
replicates the :class:`ReplicaState`, the broker heartbeat table, and a remoting client for
NOTIFY_BROKER_ROLE_CHANGED. Runs alone (``rocketq controller``) or inside a NameServer:
``await start()`` / ``await aclose()``.

Requests that read or change replica state run one at a time on the leader (Java's
EventScheduler): compute against the state, append the events, answer after the commit.
A member that is not the ready leader answers CONTROLLER_NOT_LEADER. A new leader first
commits a no-op (so every earlier entry is applied) and then scans for dead masters.

A master is replaced when its connection closes (at once), when a heartbeat scan finds it
silent (``scanNotActiveBrokerInterval``), and by the leader's scan for groups whose master
is not alive (``scanInactiveMasterInterval``, also run as soon as a member becomes leader).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from rocketq.common.lifecycle import AsyncLifecycle
from rocketq.common.tasks import TaskOwner
from rocketq.controller.body import ElectMasterResponseBody, SyncStateSet
from rocketq.controller.config import ControllerConfig, Peer
from rocketq.controller.elect import DefaultElectPolicy
from rocketq.controller.events import encode_batch
from rocketq.controller.heartbeat import BrokerHeartbeatManager, BrokerIdentity
from rocketq.controller.processor import build_processor_table
from rocketq.controller.raft import NotLeaderError, RaftNode
from rocketq.controller.state import ControllerResult, ReplicaState
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers.controller import (
    ElectMasterRequestHeader,
    ElectMasterResponseHeader,
    NotifyBrokerRoleChangedRequestHeader,
)
from rocketq.remoting.server import RemotingServer

__all__ = ["ControllerManager", "ControllerStats"]

log = logging.getLogger("rocketq.controller")

# How often the leadership watcher looks even without a pysyncobj state-change callback
# (a term change without a role change has none).
LEADERSHIP_POLL_INTERVAL = 0.1
# ControllerManager#triggerElectMaster waits 3 s for each try.
ELECT_TRY_TIMEOUT = 3.0
NOT_LEADER_REMARK = "The controller is not in leader state"

Compute = Callable[[ReplicaState], ControllerResult]


@dataclass(frozen=True, slots=True)
class ControllerStats:
    """A snapshot of this controller."""

    peer_id: str
    is_leader: bool
    leader_id: str | None
    broker_groups: int
    active_brokers: int


class ControllerManager(AsyncLifecycle):
    """One controller of the group (see the module docstring)."""

    def __init__(self, config: ControllerConfig, *, bind_host: str | None = None) -> None:
        self.config = config
        self.peers: list[Peer] = config.peers()
        self.me: Peer = config.self_peer()
        host, _, port = self.me.address.rpartition(":")
        self.heartbeats = BrokerHeartbeatManager()
        self.policy = DefaultElectPolicy(self.heartbeats.is_active, self.heartbeats.live_info)
        others = [p.raft_address for p in self.peers if p is not self.me]
        self.raft = RaftNode(self.me.raft_address, others, config.store_dir())
        self.server = RemotingServer(
            build_processor_table(self),
            bind_host or host,
            int(port),
            on_connection_closed=self._on_connection_closed,
        )
        self.client = RemotingClient()
        self._lock = asyncio.Lock()  # one state request at a time (Java's EventScheduler)
        self._ready_term: int | None = None
        self._tasks: TaskOwner | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the Raft group, serve brokers, start the scans."""
        self.raft.start()
        try:
            await self.server.start()
        except OSError:
            await self.raft.aclose()
            raise
        self._tasks = tasks = TaskOwner(log)
        tasks.spawn(self._watch_leadership(), "controller-leadership")
        tasks.every(
            lambda: self.config.scan_not_active_broker_interval / 1000,
            self._scan_not_active_brokers,
            "controller-scan-not-active-broker",
        )
        tasks.every(
            lambda: self.config.scan_inactive_master_interval / 1000,
            self._scan_inactive_masters,
            "controller-scan-inactive-master",
        )
        log.info(
            "controller %s serving %s (raft %s, group %s)",
            self.me.peer_id,
            self.me.address,
            self.me.raft_address,
            self.config.controller_d_leger_group,
        )

    async def aclose(self) -> None:
        """Stop the scans, the server, the client and the Raft member."""
        if self._tasks is not None:
            await self._tasks.aclose()
        await self.server.aclose()
        await self.client.aclose()
        await self.raft.aclose()

    @property
    def port(self) -> int:
        """The remoting port served."""
        return self.server.port

    # -- leadership -----------------------------------------------------------------------

    @property
    def is_leader_ready(self) -> bool:
        """Raft leader whose no-op of this term is committed: may serve state requests."""
        return self.raft.is_leader and self._ready_term == self.raft.term

    def leader(self) -> Peer | None:
        """The peer Raft names leader, if known."""
        addr = self.raft.leader_raft_address
        return next((p for p in self.peers if p.raft_address == addr), None)

    async def _watch_leadership(self) -> None:
        assert self._tasks is not None
        while await self._tasks.sleep(LEADERSHIP_POLL_INTERVAL, self.raft.state_changed):
            term = self.raft.term
            if not self.raft.is_leader:
                if self._ready_term is not None:
                    log.info("controller %s is no longer leader", self.me.peer_id)
                self._ready_term = None
            elif self._ready_term != term:
                await self._become_leader(term)

    async def _become_leader(self, term: int) -> None:
        try:
            await self.raft.barrier()
        except (NotLeaderError, TimeoutError) as exc:
            log.warning("controller %s: leader no-op not committed: %s", self.me.peer_id, exc)
            return
        if self.raft.is_leader and self.raft.term == term:
            self._ready_term = term
            log.info("controller %s is leader (term %d)", self.me.peer_id, term)
            await self._scan_inactive_masters()

    # -- requests against the replicated state --------------------------------------------

    async def submit(self, compute: Compute, *, write: bool) -> ControllerResult:
        """Run ``compute`` on the leader and commit its events before answering."""
        async with self._lock:
            if not self.is_leader_ready:
                return self.not_leader()
            version, result = self.raft.read(compute)
            try:
                if write and result.events:
                    if not await self.raft.append(version, encode_batch(result.events)):
                        return ControllerResult(
                            ResponseCode.SYSTEM_ERROR, "the state changed meanwhile; try again"
                        )
                elif self.config.is_process_read_event:
                    await self.raft.barrier()
            except (NotLeaderError, TimeoutError) as exc:
                log.warning("controller %s: append failed: %s", self.me.peer_id, exc)
                return self.not_leader()
            return result

    def not_leader(self) -> ControllerResult:
        """CONTROLLER_NOT_LEADER; the remark names the leader when one is known."""
        leader = self.leader()
        remark = NOT_LEADER_REMARK
        if leader is not None and leader is not self.me:
            remark += f"; the leader is {leader.peer_id} at {leader.address}"
        return ControllerResult(ResponseCode.CONTROLLER_NOT_LEADER, remark)

    def alive(self, cluster: str, broker_name: str, broker_id: int) -> bool:
        """Java's BrokerValidPredicate: heard from within its timeout."""
        return self.heartbeats.is_active(cluster, broker_name, broker_id)

    # -- liveness and elections -----------------------------------------------------------

    def _on_connection_closed(self, conn: Connection) -> None:
        for ident in self.heartbeats.on_connection_closed(conn):
            self._broker_inactive(ident)

    async def _scan_not_active_brokers(self) -> None:
        for ident, conn in self.heartbeats.scan_not_active():
            if isinstance(conn, Connection):
                conn.close("broker heartbeat expired")
            self._broker_inactive(ident)

    def _broker_inactive(self, ident: BrokerIdentity) -> None:
        if not self.is_leader_ready or self._tasks is None or self._tasks.closed:
            return
        _, master = self.raft.read(lambda s: s.master_of(ident.broker_name))
        if master == ident.broker_id:
            log.warning("master %s of %s is inactive: electing", master, ident.broker_name)
            self._tasks.spawn(self.trigger_elect(ident.broker_name), "controller-elect")

    async def _scan_inactive_masters(self) -> None:
        if not self.is_leader_ready:
            return
        _, names = self.raft.read(lambda s: s.scan_need_reelect(self.alive))
        for name in names:
            await self.trigger_elect(name)

    async def trigger_elect(self, broker_name: str) -> bool:
        """The controller's own election (brokerId -1), up to electMasterMaxRetryCount tries;
        a new master is announced to the group's alive brokers."""
        request = ElectMasterRequestHeader(broker_name=broker_name)
        for attempt in range(self.config.elect_master_max_retry_count):
            try:
                result = await asyncio.wait_for(self.elect(request), ELECT_TRY_TIMEOUT)
            except TimeoutError:
                log.warning("election in %s: try %d timed out", broker_name, attempt + 1)
                continue
            if result.code == ResponseCode.SUCCESS:
                return True
            if result.code == ResponseCode.CONTROLLER_MASTER_STILL_EXIST:
                return True  # an election that ran meanwhile already replaced it
            log.warning("election in %s: %s (%s)", broker_name, result.code, result.remark)
            if result.code == ResponseCode.CONTROLLER_NOT_LEADER:
                return False
        return False

    async def elect(self, request: ElectMasterRequestHeader) -> ControllerResult:
        """CONTROLLER_ELECT_MASTER; on success the group hears of its new master."""
        unclean = self.config.enable_elect_unclean_master
        result = await self.submit(
            lambda s: s.elect_master(request, self.policy, unclean), write=True
        )
        if result.code == ResponseCode.SUCCESS:
            log.info("elected %s in %s", result.header, request.broker_name)
            if self.config.notify_broker_role_changed:
                self.notify_role_changed(result)
        return result

    def notify_role_changed(self, result: ControllerResult) -> None:
        """NOTIFY_BROKER_ROLE_CHANGED (one-way) to every alive member of the group."""
        header = result.header
        if not isinstance(header, ElectMasterResponseHeader) or header.master_broker_id is None:
            return
        body = ElectMasterResponseBody.decode(result.body)
        group = body.broker_member_group
        if group is None or self._tasks is None or self._tasks.closed:
            return
        notify = NotifyBrokerRoleChangedRequestHeader(
            header.master_address,
            header.master_epoch,
            header.sync_state_set_epoch,
            header.master_broker_id,
        )
        payload = SyncStateSet(body.sync_state_set, header.sync_state_set_epoch or 0).encode()
        for bid, addr in sorted(group.broker_addrs.items()):
            if self.alive(group.cluster, group.broker_name, bid):
                cmd = RemotingCommand.request(
                    RequestCode.NOTIFY_BROKER_ROLE_CHANGED, notify.to_ext(), payload
                )
                self._tasks.spawn(self._send_oneway(addr, cmd), f"controller-notify-{addr}")

    async def _send_oneway(self, addr: str, cmd: RemotingCommand) -> None:
        try:
            await self.client.invoke_oneway(addr, cmd)
        except Exception as exc:
            log.warning("cannot notify broker %s of its role: %s", addr, exc)

    # -- introspection --------------------------------------------------------------------

    def stats(self) -> ControllerStats:
        """Leadership and counts."""
        leader = self.leader()
        _, groups = self.raft.read(lambda s: len(s.sync_states))
        return ControllerStats(
            self.me.peer_id,
            self.is_leader_ready,
            leader.peer_id if leader else None,
            groups,
            self.heartbeats.active_count(),
        )
