"""Controller-mode replication (RocketMQ 5 ``AutoSwitchHAService``).

One object per broker, listening on ``haListenPort`` whatever the role. As master it
serves :class:`AutoSwitchHAConnection` s and keeps the SyncStateSet: a slave joins when its
ack reaches the confirm offset inside the current epoch, leaves when it has not caught up
for ``haMaxTimeSlaveNotCatchup`` or its link closes; each change goes to
``on_sync_state_set_changed`` (the ReplicasManager reports it to the controller) and the
set is "synchronizing" (the union of old and proposed sets counts) until the controller's
answer comes back through :meth:`set_sync_state_set`. As slave it runs one
:class:`AutoSwitchHAClient`.

With ``allAckInSyncStateSet`` a put waits until every member of the set acked it
(``GroupTransferService#doWaitTransfer``); otherwise controller mode does not wait for
slaves (Java's ``inSyncReplicas`` default of 1).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from rocketq.store.config import SLAVE, SYNC_MASTER, StoreConfig
from rocketq.store.ha.autoswitch_client import AutoSwitchHAClient, TruncatableSink
from rocketq.store.ha.autoswitch_connection import AutoSwitchHAConnection, AutoSwitchSource
from rocketq.store.ha.client import HAClient
from rocketq.store.ha.epoch import EpochFileCache
from rocketq.store.ha.group_transfer import GroupTransferService
from rocketq.store.ha.service import HAService
from rocketq.store.result import PutMessageStatus

__all__ = ["AutoSwitchHAService", "AutoSwitchStore"]

log = logging.getLogger("rocketq.store.ha")


class AutoSwitchStore(AutoSwitchSource, TruncatableSink, Protocol):
    """The store as controller-mode replication uses it (``DefaultMessageStore`` hooks)."""

    def dispatched_offset(self) -> int:
        """End of the last dispatched record."""
        ...

    def dispatch_to(self, limit: int | None) -> None:
        """Dispatch whole records up to ``limit`` (None: the log end) from now on."""
        ...

    def hold_dispatch_at(self, confirm: int | None) -> None:
        """A master: dispatch only up to ``confirm`` from now on (None: as appended)."""
        ...

    def set_replication(
        self, role: str, ha_service: HAService | None, ha_client: HAClient | None
    ) -> None:
        """Swap role and replication parts."""
        ...


class AutoSwitchHAService(HAService):
    """The HA service of a controller-mode broker, master or slave."""

    def __init__(
        self, store: AutoSwitchStore, config: StoreConfig, host: str = "0.0.0.0", port: int = 0
    ) -> None:
        super().__init__(store, config, host, port)
        self._store = store
        self.epochs = EpochFileCache(config.epoch_file_path())
        self.epochs.load()
        self.local_broker_id = -1
        self.sync_state_set: frozenset[int] = frozenset()
        self._proposed: frozenset[int] = frozenset()
        self.synchronizing = False
        self._caught_up_ms: dict[int, float] = {}
        self._confirm = -1
        self.all_ack = GroupTransferService()
        self.client: AutoSwitchHAClient | None = None
        # ReplicasManager#doReportSyncStateSetChanged
        self.on_sync_state_set_changed: Callable[[frozenset[int]], None] | None = None

    # -- lifecycle and roles ----------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop listening, close links, the client and the waits."""
        await super().aclose()
        self.all_ack.close()
        if self.client is not None:
            await self.client.aclose()

    async def change_to_master(self, epoch: int) -> bool:
        """``changeToMaster``: drop a partial tail, open ``epoch`` at the log end, take
        writes. False when ``epoch`` is older than the newest one on file."""
        if epoch < self.epochs.last_epoch():
            log.warning(
                "master epoch %d < last epoch %d: not master", epoch, self.epochs.last_epoch()
            )
            return False
        await self._drop_links()
        store = self._store
        # Whatever the old master confirmed or not, this log is the group's now: every
        # whole record becomes visible (Java waits for dispatchBehindBytes to reach 0).
        store.dispatch_to(None)
        tail = store.dispatched_offset()
        if tail < store.max_phy_offset():
            log.warning("dropping a partial record tail %d..%d", tail, store.max_phy_offset())
            store.truncate_files(tail)
            self.epochs.truncate_suffix_by_offset(tail)
        if self.epochs.last_epoch() >= epoch:
            self.epochs.truncate_suffix_by_epoch(epoch)
        self.epochs.append(epoch, store.max_phy_offset())
        self._confirm = store.max_phy_offset()
        self.all_ack = GroupTransferService()  # old acks say nothing about the new epoch
        store.set_replication(SYNC_MASTER, self, None)
        log.info("HA: master of epoch %d from offset %d", epoch, store.max_phy_offset())
        return True

    async def change_to_slave(self, epoch: int, broker_id: int) -> bool:
        """``changeToSlave``: refuse writes and follow the master (its HA address comes
        later, through :meth:`update_master_address` of the store)."""
        if epoch < self.epochs.last_epoch():
            log.warning(
                "master epoch %d < last epoch %d: not slave", epoch, self.epochs.last_epoch()
            )
            return False
        await self._drop_links()
        self.all_ack.close()
        self.client = AutoSwitchHAClient(self._store, self._config, self.epochs, broker_id)
        self._store.set_replication(SLAVE, None, self.client)
        self.client.start()
        log.info("HA: slave (broker id %d) in epoch %d", broker_id, epoch)
        return True

    async def _drop_links(self) -> None:
        for conn in list(self._connections):
            conn.close()
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        done = asyncio.Event()
        self._served.add(done)
        conn = AutoSwitchHAConnection(self._store, self._config, self.epochs, self, reader, writer)
        self._connections.append(conn)
        try:
            await conn.run()
        finally:
            self._connections.remove(conn)
            self._served.discard(done)
            done.set()
            self._link_removed(conn)

    def _links(self) -> list[AutoSwitchHAConnection]:
        return [c for c in self._connections if isinstance(c, AutoSwitchHAConnection)]

    # -- SyncStateSet -----------------------------------------------------------------------

    def get_sync_state_set(self) -> frozenset[int]:
        """The set that counts: while a change is being reported, old and new together."""
        if self.synchronizing:
            return self.sync_state_set | self._proposed
        return self.sync_state_set

    def set_sync_state_set(self, members: frozenset[int]) -> None:
        """The controller's set (after an ALTER or an election)."""
        self.synchronizing = False
        self.sync_state_set = frozenset(members)
        self._confirm = self._compute_confirm_offset()
        self._release_all_ack()
        self._hold_dispatch()

    def _propose(self, members: frozenset[int]) -> None:
        self.mark_synchronizing(members)
        if self.on_sync_state_set_changed is not None:
            self.on_sync_state_set_changed(members)

    def mark_synchronizing(self, members: frozenset[int]) -> None:
        """``markSynchronizingSyncStateSet``: ``members`` are being reported, so until the
        controller answers they count with the set (a put waits for them too). Called again
        as each report goes out: the one in flight is the one that may already hold."""
        self.synchronizing = True
        self._proposed = frozenset(members)

    def _link_removed(self, conn: AutoSwitchHAConnection) -> None:
        """``removeConnection``: a slave without a link is out of the set at once."""
        if conn.slave_id in self.sync_state_set and self._store_is_master():
            self._propose(self.sync_state_set - {conn.slave_id})

    def _store_is_master(self) -> bool:
        return self._config.broker_role != SLAVE

    def maybe_shrink_sync_state_set(self) -> frozenset[int]:
        """Slaves that have not caught up for ``haMaxTimeSlaveNotCatchup`` (or never
        connected) leave; returns the set proposed (``maybeShrinkSyncStateSet``)."""
        now = time.time() * 1000
        limit = self._config.ha_max_time_slave_not_catchup
        keep = {
            member
            for member in self.sync_state_set
            if member == self.local_broker_id
            or (member in self._caught_up_ms and now - self._caught_up_ms[member] <= limit)
        }
        if keep != self.sync_state_set:
            self.mark_synchronizing(frozenset(keep))
        return frozenset(keep)

    # -- acks (SlaveAckListener) ------------------------------------------------------------

    def on_slave_caught_up(self, slave_id: int, when_ms: float) -> None:
        """``updateConnectionLastCaughtUpTime``."""
        if when_ms > self._caught_up_ms.get(slave_id, 0.0):
            self._caught_up_ms[slave_id] = when_ms

    def on_slave_ack(self, conn: AutoSwitchHAConnection) -> None:
        """A slave's report: maybe join the set, move the confirm offset, release puts."""
        ack = conn.slave_ack_offset
        if conn.slave_id in self.sync_state_set:
            self._confirm = self._compute_confirm_offset()
        elif ack >= conn.last_master_max_offset:
            self._maybe_expand(conn.slave_id, ack, conn.async_learner)
        self.notify_ack(ack)
        self._release_all_ack()  # the waiting sends first, then what consumers may see
        self._hold_dispatch()

    def _maybe_expand(self, slave_id: int, ack: int, learner: bool) -> None:
        current = self.get_sync_state_set()
        last = self.epochs.last_entry()
        if learner or slave_id in current or last is None or not self._store_is_master():
            return
        if ack >= self.confirm_offset() and ack >= last.start_offset:
            log.info("slave %d caught up at %d: joins the SyncStateSet", slave_id, ack)
            self._propose(self.sync_state_set | {slave_id})

    def max_phy_offset(self) -> int:
        """The store's CommitLog end."""
        return self._store.max_phy_offset()

    def confirm_offset(self) -> int:
        """The offset every in-sync replica has. The master's end while it is alone in the
        controller's set or does not wait for the set (``CommitLog#getConfirmOffset``: a
        slave that joins must have reached the end, not a value left from before)."""
        end = self._store.max_phy_offset()
        if not self._store_is_master():  # min(the master's confirm offset, local end)
            client = self.client
            return client.confirm_offset if client and client.confirm_offset >= 0 else end
        alone = len(self.sync_state_set - {self.local_broker_id}) == 0
        if alone or not self._config.all_ack_in_sync_state_set:
            return end
        return self._confirm if self._confirm >= 0 else end

    def _hold_dispatch(self) -> None:
        """A master shows consumers only what every member of the set holds (the confirm
        offset) while it waits for them (``allAckInSyncStateSet``, not alone, not
        ``readUnCommitted``); otherwise everything as it is appended."""
        if not self._store_is_master():
            return
        waits = self._config.all_ack_in_sync_state_set and not self._config.read_un_committed
        alone = len(self.sync_state_set - {self.local_broker_id}) == 0
        self._store.hold_dispatch_at(self.confirm_offset() if waits and not alone else None)

    def _compute_confirm_offset(self) -> int:
        members = self.get_sync_state_set() - {self.local_broker_id}
        acks = {c.slave_id: c.slave_ack_offset for c in self._links()}
        if not members <= acks.keys():  # a member without a link: keep the old value
            return self._confirm
        new = self._store.max_phy_offset()
        for member in members:
            if acks[member] > 0:
                new = min(new, acks[member])
        return new

    def _release_all_ack(self) -> None:
        members = self.get_sync_state_set() - {self.local_broker_id}
        if not members:
            self.all_ack.notify_ack(self._store.max_phy_offset())
            return
        acks = {c.slave_id: c.slave_ack_offset for c in self._links()}
        if members <= acks.keys():
            self.all_ack.notify_ack(min(acks[m] for m in members))

    def submit_replica_request(self, end_offset: int) -> PutMessageStatus | asyncio.Future[bool]:
        """Controller mode: with ``allAckInSyncStateSet`` wait for every member of the set
        (at once when the master is alone in it); without, do not wait (Java's
        ``inSyncReplicas`` = 1)."""
        if not self._config.all_ack_in_sync_state_set:
            return PutMessageStatus.PUT_OK
        if len(self.get_sync_state_set() - {self.local_broker_id}) == 0:
            return PutMessageStatus.PUT_OK
        return self.all_ack.wait(end_offset, self._config.slave_timeout / 1000)
