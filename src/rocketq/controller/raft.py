"""The controller's replicated log on pysyncobj (Raft), bridged to asyncio.

RocketMQ replicates its controller state with DLedger (or JRaft); rocketq uses pysyncobj,
a maintained Raft library. pysyncobj runs its own thread (``autoTick``): it elects, ships
entries, and calls the replicated method of every committed entry *on that thread*. So:

* the :class:`ReplicaState` lives in :class:`_StateHolder` (a pysyncobj consumer, so its
  snapshots carry it) and is only changed there, under a ``threading.Lock``; the event loop
  reads it under the same lock (:meth:`RaftNode.read`);
* the loop submits entries with :meth:`RaftNode.append`; pysyncobj's completion callback
  comes back on its thread and is handed to the loop with ``call_soon_threadsafe``;
* an entry carries the state version it was computed on, and applies only if the state is
  still at that version (optimistic concurrency): a proposal computed by a controller that
  lost its leadership meanwhile (pysyncobj forwards a follower's command to the leader) is
  refused the same way by every controller, never applied on stale ground.

A single controller is a Raft group of one: the same apply path, committed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from pysyncobj import (  # type: ignore[import-untyped]
    FAIL_REASON,
    SyncObj,
    SyncObjConf,
    SyncObjConsumer,
    SyncObjException,
    replicated,
)

from rocketq.controller.events import decode_batch
from rocketq.controller.state import ReplicaState

__all__ = ["NotLeaderError", "RaftNode"]

log = logging.getLogger("rocketq.controller")

T = TypeVar("T")

# How long an append may wait for its commit (DLedgerController waits 5 s).
APPEND_TIMEOUT = 5.0
# pysyncobj's election timeout range (its defaults 0.4-1.4 s): a dead leader is replaced
# after one such timeout, so a failover during a controller failover stays near a second.
RAFT_MIN_TIMEOUT = 0.4
RAFT_MAX_TIMEOUT = 1.4


class NotLeaderError(Exception):
    """The append was not committed because this controller is not (or no longer) leader."""


class _StateHolder(SyncObjConsumer):  # type: ignore[misc]
    """The replicated state: what pysyncobj snapshots (attributes set after its __init__)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # set before the base __init__: not part of snapshots
        super().__init__()
        self.state = ReplicaState()
        self.version = 0

    @replicated  # type: ignore[untyped-decorator]
    def apply_batch(self, expected_version: int, payload: bytes) -> bool:
        """Apply one committed entry (every controller, pysyncobj's thread)."""
        with self.lock:
            if expected_version != self.version:
                return False
            for event in decode_batch(payload):
                self.state.apply(event)
            self.version += 1
            return True

    @replicated  # type: ignore[untyped-decorator]
    def barrier(self) -> int:
        """A no-op entry: once committed, everything before it is applied."""
        return self.version


class RaftNode:
    """One controller's Raft member; every method is called from the event loop."""

    def __init__(self, self_address: str, others: list[str], store_dir: str) -> None:
        self.self_address = self_address
        self.others = others
        self.store_dir = store_dir
        self._holder = _StateHolder()
        self._sync: SyncObj | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.state_changed = asyncio.Event()

    def start(self) -> None:
        """Create the pysyncobj member (its thread binds and joins the group)."""
        self._loop = asyncio.get_running_loop()
        os.makedirs(self.store_dir, exist_ok=True)
        conf = SyncObjConf(
            fullDumpFile=os.path.join(self.store_dir, "controller.dump"),
            journalFile=os.path.join(self.store_dir, "controller.journal"),
            useFork=False,  # a forked snapshot writer would copy the event loop's process
            raftMinTimeout=RAFT_MIN_TIMEOUT,
            raftMaxTimeout=RAFT_MAX_TIMEOUT,
            onStateChanged=self._on_state_changed,
            dynamicMembershipChange=False,
        )
        sync = SyncObj(self.self_address, self.others, conf, consumers=[self._holder])
        try:
            sync.waitBinded()
        except SyncObjException as exc:
            sync.destroy()
            raise OSError(f"cannot bind the Raft address {self.self_address}") from exc
        self._sync = sync

    def _on_state_changed(self, _old: int, _new: int) -> None:  # pysyncobj's thread
        self._to_loop(self.state_changed.set)

    def _to_loop(self, fn: Callable[..., object], *args: object) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(fn, *args)

    # -- who leads ------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """Raft leader now (as far as this member knows)."""
        return self._sync is not None and bool(self._sync._isLeader())

    @property
    def term(self) -> int:
        """The current Raft term."""
        return int(self._sync._getTerm()) if self._sync is not None else 0

    @property
    def leader_raft_address(self) -> str | None:
        """The Raft address of the last known leader."""
        node = self._sync._getLeader() if self._sync is not None else None
        return None if node is None else str(node.address)

    # -- state ----------------------------------------------------------------------------

    def read(self, fn: Callable[[ReplicaState], T]) -> tuple[int, T]:
        """``fn(state)`` under the state lock, with the state version it saw."""
        holder = self._holder
        with holder.lock:
            return holder.version, fn(holder.state)

    async def append(self, version: int, payload: bytes) -> bool:
        """Replicate one entry; True when committed and applied, False when refused as stale.
        Raises NotLeaderError (no commit under this leader) or TimeoutError."""
        return bool(await self._call(self._holder.apply_batch, version, payload))

    async def barrier(self) -> int:
        """Commit a no-op; returns the state version after it."""
        return int(await self._call(self._holder.barrier))

    async def _call(self, method: Callable[..., Any], *args: object) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def done(result: Any, error: int) -> None:  # pysyncobj's thread
            self._to_loop(_settle, future, result, error)

        method(*args, callback=done)
        return await asyncio.wait_for(future, APPEND_TIMEOUT)

    async def aclose(self) -> None:
        """Stop the member and wait for its thread."""
        sync, self._sync = self._sync, None
        if sync is not None:
            await asyncio.to_thread(sync.destroy_synchronous)


def _settle(future: asyncio.Future[Any], result: Any, error: int) -> None:
    if future.done():
        return
    if error == FAIL_REASON.SUCCESS:
        future.set_result(result)
    else:
        future.set_exception(NotLeaderError(f"not committed (pysyncobj FAIL_REASON {error})"))
