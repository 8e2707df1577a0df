"""A controller-mode broker's dealings with the controller (RocketMQ 5 ``ReplicasManager``).

Start-up (retried every second until done, the broker serving meanwhile but refusing
writes): find the controller leader (CONTROLLER_GET_METADATA_INFO against each
``controllerAddr``), get the broker's controller id (``brokerIdentity`` file; else
GET_NEXT_BROKER_ID, ``brokerIdentity-temp``, APPLY_BROKER_ID, ``brokerIdentity``),
CONTROLLER_REGISTER_BROKER, a first heartbeat, and CONTROLLER_ELECT_MASTER when the group
has no master yet. Then, periodically: BROKER_HEARTBEAT to every controller
(``brokerHeartbeatInterval``), CONTROLLER_GET_REPLICA_INFO (``syncBrokerMetadataPeriod``),
the leader (``syncControllerMetadataPeriod``) and, on a master, the SyncStateSet check
(``checkSyncStateSetPeriod``) reported with CONTROLLER_ALTER_SYNC_STATE_SET.

A higher master epoch - from a poll, a registration, an election or the controller's
NOTIFY_BROKER_ROLE_CHANGED - changes the role without a restart: the HA service switches
(:class:`AutoSwitchHAService`) and the broker (:class:`RoleHost`) re-registers with the
NameServers as brokerId 0 (master) or its controller id (slave).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rocketq.broker.config import BrokerConfig
from rocketq.common.errors import BrokerError, RocketQError
from rocketq.common.tasks import TaskOwner
from rocketq.remoting import fastjson
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers.controller import (
    AlterSyncStateSetRequestHeader,
    ApplyBrokerIdRequestHeader,
    ElectMasterRequestHeader,
    GetNextBrokerIdRequestHeader,
    GetReplicaInfoRequestHeader,
    NotifyBrokerRoleChangedRequestHeader,
    RegisterBrokerToControllerRequestHeader,
)
from rocketq.remoting.headers.namesrv import BrokerHeartbeatRequestHeader
from rocketq.store.config import StoreConfig
from rocketq.store.ha.autoswitch import AutoSwitchHAService

__all__ = ["ReplicaRole", "ReplicasManager", "RoleHost"]

log = logging.getLogger("rocketq.broker.replicas")

# A controller request waits this long (the broker's controller RPCs use 3 s in Java).
CONTROLLER_TIMEOUT_S = 3.0
# Start-up steps are retried this often until they succeed (ReplicasManager's retry).
STARTUP_RETRY_S = 1.0


class RoleHost(Protocol):
    """What the ReplicasManager changes in its broker (``BrokerController``)."""

    async def become_master(self) -> None:
        """brokerId 0, writes taken, master-only services on, re-register."""
        ...

    async def become_slave(self, master_addr: str, broker_controller_id: int) -> None:
        """brokerId = controller id, writes refused, follow ``master_addr``, re-register."""
        ...


@dataclass(frozen=True, slots=True)
class ReplicaRole:
    """What this broker knows about its group (for tools and tests)."""

    broker_controller_id: int | None
    master_broker_id: int | None
    master_address: str | None
    master_epoch: int
    sync_state_set: frozenset[int]
    sync_state_set_epoch: int
    controller_leader: str | None


@dataclass(frozen=True, slots=True)
class _SyncStateSet:
    """``{"syncStateSet":[1,2],"syncStateSetEpoch":3}`` (the controller's SyncStateSet body;
    read here rather than from rocketq.controller, which a broker may not import)."""

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
    def decode(cls, data: bytes | None) -> _SyncStateSet:
        """Read a body (an empty one is the empty set at epoch 0)."""
        obj = fastjson.loads(data) if data else {}
        if not isinstance(obj, dict):
            raise RocketQError(f"bad SyncStateSet body {obj!r}")
        ids = frozenset(int(v) for v in obj.get("syncStateSet") or [])
        return cls(ids, int(obj.get("syncStateSetEpoch") or 0))


class _Identity:
    """``brokerIdentity`` (``cluster#brokerName#id``) and ``brokerIdentity-temp``
    (``cluster#brokerName#id#registerCheckCode``): plain text, as BrokerMetadata writes."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.temp = Path(path + "-temp")

    @staticmethod
    def _read(path: Path) -> list[str] | None:
        try:
            return path.read_text().strip().split("#")
        except FileNotFoundError:
            return None

    def load(self, cluster: str, name: str) -> tuple[int | None, tuple[int, str] | None]:
        """(fixed id, (temp id, check code)) as far as the files know them."""
        for path, fields in ((self.path, 3), (self.temp, 4)):
            parts = self._read(path)
            if parts is None:
                continue
            if len(parts) != fields or parts[0] != cluster or parts[1] != name:
                raise RocketQError(f"{path} holds {parts!r}, not {cluster}#{name}")
            if fields == 3:
                return int(parts[2]), None
            return None, (int(parts[2]), parts[3])
        return None, None

    @staticmethod
    def _write(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)

    def write_temp(self, cluster: str, name: str, broker_id: int, check_code: str) -> None:
        """Remember the id about to be applied for."""
        self._write(self.temp, f"{cluster}#{name}#{broker_id}#{check_code}")

    def fix(self, cluster: str, name: str, broker_id: int) -> None:
        """The id is ours: write it and drop the temp file."""
        self._write(self.path, f"{cluster}#{name}#{broker_id}")
        self.drop_temp()

    def drop_temp(self) -> None:
        """Forget a refused id."""
        with contextlib.suppress(FileNotFoundError):
            self.temp.unlink()


class ReplicasManager:
    """The controller client of one controller-mode broker."""

    def __init__(
        self,
        config: BrokerConfig,
        store_config: StoreConfig,
        ha: AutoSwitchHAService,
        host: RoleHost,
        client: RemotingClient | None = None,
    ) -> None:
        self.config = config
        self.store_config = store_config
        self.ha = ha
        self.host = host
        self.client = client or RemotingClient()
        self._identity = _Identity(store_config.broker_identity_path())
        self.broker_controller_id: int | None = None
        self.controller_leader: str | None = None
        self.master_broker_id: int | None = None
        self.master_address: str | None = None
        self.master_epoch = 0
        self.sync_state_set: frozenset[int] = frozenset()
        self.sync_state_set_epoch = 0
        self.running = asyncio.Event()  # start-up done: the group has a master
        self._lock = asyncio.Lock()  # role changes and set changes, one at a time
        self._tasks = TaskOwner(log)
        ha.on_sync_state_set_changed = self._on_local_set_changed

    @property
    def is_master(self) -> bool:
        """This broker is the group's master."""
        return self.broker_controller_id is not None and (
            self.master_broker_id == self.broker_controller_id
        )

    def role(self) -> ReplicaRole:
        """A snapshot."""
        return ReplicaRole(
            self.broker_controller_id,
            self.master_broker_id,
            self.master_address,
            self.master_epoch,
            self.sync_state_set,
            self.sync_state_set_epoch,
            self.controller_leader,
        )

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Begin start-up in the background (the broker goes on serving reads)."""
        self._tasks.spawn(self._start_up(), "replicas-startup")

    async def aclose(self) -> None:
        """Stop every loop (the RemotingClient is closed too)."""
        await self._tasks.aclose()
        await self.client.aclose()

    async def _start_up(self) -> None:
        while not await self._try_start():
            await asyncio.sleep(STARTUP_RETRY_S)
        c = self.config
        self._tasks.every(
            lambda: c.broker_heartbeat_interval / 1000, self.send_heartbeat, "replicas-heartbeat"
        )
        self._tasks.every(
            lambda: c.sync_broker_metadata_period / 1000, self.sync_replica_info, "replicas-sync"
        )
        self._tasks.every(
            lambda: c.sync_controller_metadata_period / 1000,
            self.update_controller_leader,
            "replicas-leader",
        )
        self._tasks.every(
            lambda: c.check_sync_state_set_period / 1000, self.check_sync_state_set, "replicas-isr"
        )
        self.running.set()
        log.info("controller mode running: %s", self.role())

    async def _try_start(self) -> bool:
        try:
            if not await self.update_controller_leader():
                return False
            await self._register()
            await self.send_heartbeat()
            if self.master_broker_id is None:
                await self._elect_self()
        except (RocketQError, OSError) as exc:
            log.warning("controller mode start-up step failed (retrying): %s", exc)
            return False
        return self.master_broker_id is not None

    # -- controller RPCs --------------------------------------------------------------------

    async def update_controller_leader(self) -> bool:
        """CONTROLLER_GET_METADATA_INFO against each controller until one names a leader."""
        for addr in self.config.controller_addrs():
            cmd = RemotingCommand.request(RequestCode.CONTROLLER_GET_METADATA_INFO)
            try:
                r = await self.client.invoke(addr, cmd, CONTROLLER_TIMEOUT_S)
            except (RocketQError, OSError) as exc:
                log.debug("controller %s: %s", addr, exc)
                continue
            leader = (r.ext_fields or {}).get("controllerLeaderAddress")
            if r.code == ResponseCode.SUCCESS and leader:
                if leader != self.controller_leader:
                    log.info("controller leader: %s", leader)
                self.controller_leader = leader
                return True
        return False

    async def _call(
        self, code: int, ext: dict[str, str], body: bytes | None = None
    ) -> RemotingCommand:
        """A request to the leader; a non-SUCCESS answer raises :class:`BrokerError`."""
        if self.controller_leader is None and not await self.update_controller_leader():
            raise RocketQError("no controller leader")
        assert self.controller_leader is not None
        cmd = RemotingCommand.request(code, ext, body)
        try:
            r = await self.client.invoke(self.controller_leader, cmd, CONTROLLER_TIMEOUT_S)
        except (RocketQError, OSError):
            self.controller_leader = None
            raise
        if r.code == ResponseCode.CONTROLLER_NOT_LEADER:
            self.controller_leader = None
        if r.code != ResponseCode.SUCCESS:
            raise BrokerError(r.code, r.remark or f"controller answered {r.code}")
        return r

    async def _register(self) -> None:
        """Fix the controller id (files first), then CONTROLLER_REGISTER_BROKER."""
        c = self.config
        cluster, name = c.broker_cluster_name, c.broker_name
        fixed, temp = self._identity.load(cluster, name)
        if fixed is None:
            if temp is None:
                ext = GetNextBrokerIdRequestHeader(cluster, name).to_ext()
                r = await self._call(RequestCode.CONTROLLER_GET_NEXT_BROKER_ID, ext)
                temp = (int((r.ext_fields or {})["nextBrokerId"]), f"{c.broker_addr};{_now_ms()}")
                self._identity.write_temp(cluster, name, *temp)
            ext = ApplyBrokerIdRequestHeader(cluster, name, temp[0], temp[1]).to_ext()
            try:
                await self._call(RequestCode.CONTROLLER_APPLY_BROKER_ID, ext)
            except BrokerError:
                self._identity.drop_temp()  # taken: start over with a new id
                raise
            self._identity.fix(cluster, name, temp[0])
            fixed = temp[0]
        self.broker_controller_id = fixed
        self.ha.local_broker_id = fixed
        ext = RegisterBrokerToControllerRequestHeader(cluster, name, fixed, c.broker_addr).to_ext()
        r = await self._call(RequestCode.CONTROLLER_REGISTER_BROKER, ext)
        h = r.ext_fields or {}
        if h.get("masterBrokerId") and h.get("masterEpoch"):
            members = _SyncStateSet.decode(r.body)
            await self.change_broker_role(
                int(h["masterBrokerId"]),
                h.get("masterAddress") or "",
                int(h["masterEpoch"]),
                int(h.get("syncStateSetEpoch") or 0),
                members.sync_state_set,
            )

    async def _elect_self(self) -> None:
        """CONTROLLER_ELECT_MASTER for this group (``brokerElect``)."""
        c = self.config
        assert self.broker_controller_id is not None
        ext = ElectMasterRequestHeader(
            c.broker_cluster_name, c.broker_name, self.broker_controller_id, False, _now_ms()
        ).to_ext()
        try:
            r = await self._call(RequestCode.CONTROLLER_ELECT_MASTER, ext)
        except BrokerError as exc:
            if exc.code != ResponseCode.CONTROLLER_MASTER_STILL_EXIST:
                raise
            await self.sync_replica_info()
            return
        h = r.ext_fields or {}
        body = _SyncStateSet.decode(r.body)  # ElectMasterResponseBody: its syncStateSet
        await self.change_broker_role(
            int(h["masterBrokerId"]),
            h.get("masterAddress") or "",
            int(h["masterEpoch"]),
            int(h.get("syncStateSetEpoch") or 0),
            body.sync_state_set,
        )

    async def send_heartbeat(self) -> None:
        """BROKER_HEARTBEAT (one-way) to every controller, with the election inputs."""
        c, store = self.config, self.ha
        if self.broker_controller_id is None:
            return
        ext = BrokerHeartbeatRequestHeader(
            cluster_name=c.broker_cluster_name,
            broker_addr=c.broker_addr,
            broker_name=c.broker_name,
            broker_id=self.broker_controller_id,
            epoch=store.epochs.last_epoch(),
            max_offset=store.max_phy_offset(),
            confirm_offset=store.confirm_offset(),
            heartbeat_timeout_mills=c.controller_heart_beat_timeout_mills,
            election_priority=c.broker_election_priority,
        ).to_ext()
        for addr in c.controller_addrs():
            cmd = RemotingCommand.request(RequestCode.BROKER_HEARTBEAT, ext)
            try:
                await self.client.invoke_oneway(addr, cmd)
            except (RocketQError, OSError) as exc:
                log.debug("heartbeat to controller %s failed: %s", addr, exc)

    async def sync_replica_info(self) -> None:
        """CONTROLLER_GET_REPLICA_INFO: follow a newer epoch, elect when masterless,
        adopt a newer SyncStateSet (``schedulingSyncBrokerMetadata``)."""
        ext = GetReplicaInfoRequestHeader(self.config.broker_name).to_ext()
        try:
            r = await self._call(RequestCode.CONTROLLER_GET_REPLICA_INFO, ext)
        except BrokerError as exc:
            if exc.code == ResponseCode.CONTROLLER_BROKER_METADATA_NOT_EXIST:
                await self._register()
            log.warning("replica info: %s", exc)
            return
        except (RocketQError, OSError) as exc:
            log.warning("replica info: %s", exc)
            return
        h = r.ext_fields or {}
        members = _SyncStateSet.decode(r.body)
        epoch = int(h.get("masterEpoch") or 0)
        master_id = h.get("masterBrokerId")
        if epoch > self.master_epoch:
            if master_id and h.get("masterAddress"):
                await self.change_broker_role(
                    int(master_id),
                    h["masterAddress"],
                    epoch,
                    members.sync_state_set_epoch,
                    members.sync_state_set,
                )
            else:
                await self._elect_self()
        elif epoch == self.master_epoch and self.is_master:
            self._change_sync_state_set(members.sync_state_set, members.sync_state_set_epoch)

    # -- role changes -----------------------------------------------------------------------

    async def change_broker_role(
        self,
        master_id: int,
        master_addr: str,
        master_epoch: int,
        sync_state_set_epoch: int,
        sync_state_set: frozenset[int],
    ) -> None:
        """``changeBrokerRole``: act on a master epoch newer than ours."""
        async with self._lock:
            if master_epoch <= self.master_epoch:
                return
            if master_id == self.broker_controller_id:
                await self._change_to_master(master_epoch, sync_state_set_epoch, sync_state_set)
            else:
                await self._change_to_slave(master_addr, master_epoch, master_id)

    async def _change_to_master(self, epoch: int, set_epoch: int, members: frozenset[int]) -> None:
        was_master = self.is_master and self.store_config.broker_role != "SLAVE"
        log.info("becoming master of %s at epoch %d", self.config.broker_name, epoch)
        if was_master:  # changeToMasterWhenLastRoleIsMaster
            self.ha.epochs.append(epoch, self.ha.max_phy_offset())
        elif not await self.ha.change_to_master(epoch):
            return
        self.master_epoch = epoch
        self.master_broker_id = self.broker_controller_id
        self.master_address = self.config.broker_addr
        self._change_sync_state_set(members, set_epoch)
        await self.host.become_master()
        self._tasks.spawn(self.check_sync_state_set(), "replicas-isr-now")

    async def _change_to_slave(self, master_addr: str, epoch: int, master_id: int) -> None:
        assert self.broker_controller_id is not None
        log.info("becoming slave of %s (id %d) at epoch %d", master_addr, master_id, epoch)
        unchanged = master_id == self.master_broker_id and self.store_config.broker_role == "SLAVE"
        self.master_epoch = epoch
        if not unchanged and not await self.ha.change_to_slave(epoch, self.broker_controller_id):
            return
        self.master_broker_id, self.master_address = master_id, master_addr
        await self.host.become_slave(master_addr, self.broker_controller_id)

    def _change_sync_state_set(self, members: frozenset[int], epoch: int) -> None:
        if epoch > self.sync_state_set_epoch:
            log.info(
                "SyncStateSet %s -> %s (epoch %d)", set(self.sync_state_set), set(members), epoch
            )
            self.sync_state_set, self.sync_state_set_epoch = frozenset(members), epoch
            self.ha.set_sync_state_set(self.sync_state_set)

    # -- SyncStateSet reports ---------------------------------------------------------------

    def _on_local_set_changed(self, members: frozenset[int]) -> None:
        if not self._tasks.closed:
            self._tasks.spawn(self._report_sync_state_set(members), "replicas-alter-isr")

    async def check_sync_state_set(self) -> None:
        """Master: drop slaves that fell behind and report the set if it changed."""
        if not self.is_master or self.broker_controller_id is None:
            return
        members = self.ha.maybe_shrink_sync_state_set() | {self.broker_controller_id}
        if members != self.sync_state_set:
            await self._report_sync_state_set(members)

    async def _report_sync_state_set(self, members: frozenset[int]) -> None:
        """CONTROLLER_ALTER_SYNC_STATE_SET (``doReportSyncStateSetChanged``)."""
        async with self._lock:
            try:
                if not self.is_master or members == self.sync_state_set:
                    return
                assert self.broker_controller_id is not None
                ext = AlterSyncStateSetRequestHeader(
                    self.config.broker_name, self.broker_controller_id, self.master_epoch, _now_ms()
                ).to_ext()
                body = _SyncStateSet(members, self.sync_state_set_epoch).encode()
                # A later proposal may have replaced this one meanwhile: what goes out now
                # is what the controller may hold before its answer comes back.
                self.ha.mark_synchronizing(members)
                try:
                    r = await self._call(RequestCode.CONTROLLER_ALTER_SYNC_STATE_SET, ext, body)
                except (RocketQError, OSError) as exc:
                    log.warning("reporting SyncStateSet %s failed: %s", set(members), exc)
                    return
                new = _SyncStateSet.decode(r.body)
                self._change_sync_state_set(new.sync_state_set, new.sync_state_set_epoch)
            finally:
                # Whatever happened, no proposal is pending any more: the set is the
                # controller's again, so the next ack of a caught-up slave proposes anew (a
                # failed or refused report used to leave the slave out of the set for good).
                self.ha.set_sync_state_set(self.sync_state_set)

    # -- NOTIFY_BROKER_ROLE_CHANGED ---------------------------------------------------------

    async def notify_role_changed(self, _c: Connection, req: RemotingCommand) -> RemotingCommand:
        """The controller's push after an election (``notifyBrokerRoleChanged``)."""
        h = NotifyBrokerRoleChangedRequestHeader.from_ext(req.ext_fields)
        if h.master_broker_id is not None and h.master_epoch is not None:
            members = _SyncStateSet.decode(req.body)
            await self.change_broker_role(
                h.master_broker_id,
                h.master_address or "",
                h.master_epoch,
                h.sync_state_set_epoch or 0,
                members.sync_state_set,
            )
        return req.make_response(ResponseCode.SUCCESS)

    def get_epoch_cache(self, _c: Connection, req: RemotingCommand) -> RemotingCommand:
        """GET_BROKER_EPOCH_CACHE: the ``EpochEntryCache`` body (``getBrokerEpochCache``)."""
        c = self.config
        entries = [
            {
                "epoch": e.epoch,
                "startOffset": e.start_offset,
                "endOffset": _JAVA_LONG_MAX if e.end_offset is None else e.end_offset,
            }
            for e in self.ha.epochs.entries()
        ]
        body = {
            "clusterName": c.broker_cluster_name,
            "brokerName": c.broker_name,
            "brokerId": c.broker_id,
            "epochList": entries,
            "maxOffset": self.ha.max_phy_offset(),
        }
        return req.make_response(ResponseCode.SUCCESS, None, None, fastjson.dumps(body))


# EpochEntry.endOffset of the newest entry (Long.MAX_VALUE: open-ended).
_JAVA_LONG_MAX = 2**63 - 1


def _now_ms() -> int:
    return int(time.time() * 1000)
