"""Broker liveness as this controller sees it (RocketMQ ``DefaultBrokerHeartbeatManager``).

Not replicated: brokers send BROKER_HEARTBEAT to every controller, and each keeps its own
table. A broker is alive while its last heartbeat is younger than the timeout it states
(``controllerHeartBeatTimeoutMills``, 10 s when it states none). It turns inactive when a
scan finds it silent, or at once when its connection closes; either way the broker's
identity is returned so the caller can elect a new master if it was one. Sans-I/O: the
clock is a parameter, the connection an opaque object.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace

from rocketq.controller.elect import DEFAULT_ELECTION_PRIORITY, BrokerLiveInfo

__all__ = ["DEFAULT_BROKER_HEARTBEAT_TIMEOUT_MS", "BrokerHeartbeatManager", "BrokerIdentity"]

log = logging.getLogger("rocketq.controller")

# BrokerHeartbeatManager.DEFAULT_BROKER_CHANNEL_EXPIRED_TIME: 10 s when a heartbeat states
# no timeout (brokers send their controllerHeartBeatTimeoutMills, also 10 s by default).
DEFAULT_BROKER_HEARTBEAT_TIMEOUT_MS = 10_000


@dataclass(frozen=True, slots=True)
class BrokerIdentity:
    """(clusterName, brokerName, brokerId): the key of the live table."""

    cluster_name: str
    broker_name: str
    broker_id: int


@dataclass(slots=True)
class _Live:
    address: str
    last_update_ms: float
    timeout_ms: int
    connection: Hashable | None
    info: BrokerLiveInfo


class BrokerHeartbeatManager:
    """The live table; ``clock`` returns milliseconds (monotonic by default)."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or (lambda: time.monotonic() * 1000)
        self._live: dict[BrokerIdentity, _Live] = {}

    def on_heartbeat(
        self,
        ident: BrokerIdentity,
        address: str,
        connection: Hashable | None,
        *,
        timeout_ms: int | None = None,
        epoch: int | None = None,
        max_offset: int | None = None,
        confirm_offset: int | None = None,
        election_priority: int | None = None,
    ) -> None:
        """Record a heartbeat. Election inputs only move forward: a higher epoch, or the
        same epoch with a higher max offset (Java keeps the best it has seen)."""
        now, timeout = self._clock(), timeout_ms or DEFAULT_BROKER_HEARTBEAT_TIMEOUT_MS
        priority = DEFAULT_ELECTION_PRIORITY if election_priority is None else election_priority
        new = BrokerLiveInfo(
            ident.broker_id,
            -1 if epoch is None else epoch,
            -1 if max_offset is None else max_offset,
            -1 if confirm_offset is None else confirm_offset,
            priority,
        )
        prev = self._live.get(ident)
        if prev is None:
            self._live[ident] = _Live(address, now, timeout, connection, new)
            log.info("broker %s (%s) is alive", ident, address)
            return
        prev.last_update_ms, prev.timeout_ms = now, timeout
        info = replace(prev.info, election_priority=priority)
        if new.epoch > info.epoch or (new.epoch == info.epoch and new.max_offset > info.max_offset):
            info = replace(
                info, epoch=new.epoch, max_offset=new.max_offset, confirm_offset=new.confirm_offset
            )
        prev.info = info
        if prev.connection is None or connection is not None:
            prev.connection = connection

    def is_active(self, cluster: str, broker_name: str, broker_id: int) -> bool:
        """Alive: heard from within its timeout."""
        live = self._live.get(BrokerIdentity(cluster, broker_name, broker_id))
        return live is not None and live.last_update_ms + live.timeout_ms >= self._clock()

    def live_info(self, cluster: str, broker_name: str, broker_id: int) -> BrokerLiveInfo | None:
        """The election inputs of the broker's heartbeats, if it sent any."""
        live = self._live.get(BrokerIdentity(cluster, broker_name, broker_id))
        return live.info if live else None

    def scan_not_active(self) -> list[tuple[BrokerIdentity, Hashable | None]]:
        """Drop and return every broker silent for longer than its timeout, with its
        connection (the caller closes it, as Java does)."""
        now = self._clock()
        dead = [(i, v) for i, v in self._live.items() if now - v.last_update_ms > v.timeout_ms]
        for ident, live in dead:
            del self._live[ident]
            log.warning(
                "broker %s (%s) silent for %d ms: inactive",
                ident,
                live.address,
                now - live.last_update_ms,
            )
        return [(ident, live.connection) for ident, live in dead]

    def on_connection_closed(self, connection: Hashable) -> list[BrokerIdentity]:
        """Drop and return the brokers whose heartbeats came over ``connection``."""
        gone = [i for i, v in self._live.items() if v.connection is connection]
        for ident in gone:
            log.info("broker %s: its connection closed, inactive", ident)
            del self._live[ident]
        return gone

    def active_count(self) -> int:
        """How many brokers are alive now."""
        now = self._clock()
        return sum(1 for v in self._live.values() if v.last_update_ms + v.timeout_ms >= now)
