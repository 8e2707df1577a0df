"""The HA link state machine, one table per side (house style 5, after h11's ``_state.py``).

State names are RocketMQ 5's ``HAConnectionState`` (READY, HANDSHAKE, TRANSFER, SUSPEND,
SHUTDOWN), which the broker reports in ``haStatus``; the classic 4.x protocol has no
handshake message, so HANDSHAKE here means "the link is being set up":

* slave (``HAClient``): READY (no master address yet) -> HANDSHAKE (connecting) ->
  TRANSFER (connected: reports sent, chunks applied) -> SUSPEND (broken: wait for the
  retry interval) -> HANDSHAKE -> ...; any state -> SHUTDOWN on close.
* master (one ``HAConnection`` per slave): HANDSHAKE (accepted, waiting for the slave's
  first offset report, which says where to start) -> TRANSFER -> SHUTDOWN on any failure.

An event that a table does not allow raises :class:`HAStateError`: it is a bug, not a
network condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from rocketq.store.format import StoreError

__all__ = [
    "MASTER_TRANSITIONS",
    "SLAVE_TRANSITIONS",
    "HALink",
    "HALinkEvent",
    "HALinkState",
    "HAStateError",
]


class HALinkState(Enum):
    """Where one replication link is (``HAConnectionState`` names)."""

    READY = "READY"
    HANDSHAKE = "HANDSHAKE"
    TRANSFER = "TRANSFER"
    SUSPEND = "SUSPEND"
    SHUTDOWN = "SHUTDOWN"


class HALinkEvent(Enum):
    """What happens to a link."""

    MASTER_ADDRESS = "MASTER_ADDRESS"  # slave: the master's HA address became known
    CONNECTED = "CONNECTED"  # slave: the TCP connection to the master is up
    REPORT = "REPORT"  # master: an offset report arrived
    FAILED = "FAILED"  # connect/I-O/protocol error, offset mismatch, housekeeping timeout
    RETRY = "RETRY"  # slave: the reconnect interval has passed
    CLOSE = "CLOSE"  # the service is shutting down


class HAStateError(StoreError):
    """An event the link's table does not allow in its current state (a bug)."""


_S = HALinkState
_E = HALinkEvent

SLAVE_TRANSITIONS: Mapping[tuple[HALinkState, HALinkEvent], HALinkState] = {
    (_S.READY, _E.MASTER_ADDRESS): _S.HANDSHAKE,
    (_S.HANDSHAKE, _E.MASTER_ADDRESS): _S.HANDSHAKE,
    (_S.HANDSHAKE, _E.CONNECTED): _S.TRANSFER,
    (_S.HANDSHAKE, _E.FAILED): _S.SUSPEND,
    # A new address does not cut a working link (HAClient#updateMasterAddress only stores
    # it); a dead link fails on its own and the reconnect uses the new address.
    (_S.TRANSFER, _E.MASTER_ADDRESS): _S.TRANSFER,
    (_S.TRANSFER, _E.FAILED): _S.SUSPEND,
    (_S.SUSPEND, _E.MASTER_ADDRESS): _S.SUSPEND,
    (_S.SUSPEND, _E.RETRY): _S.HANDSHAKE,
    (_S.READY, _E.CLOSE): _S.SHUTDOWN,
    (_S.HANDSHAKE, _E.CLOSE): _S.SHUTDOWN,
    (_S.TRANSFER, _E.CLOSE): _S.SHUTDOWN,
    (_S.SUSPEND, _E.CLOSE): _S.SHUTDOWN,
    # late news after a close changes nothing
    (_S.SHUTDOWN, _E.CLOSE): _S.SHUTDOWN,
    (_S.SHUTDOWN, _E.FAILED): _S.SHUTDOWN,
    (_S.SHUTDOWN, _E.MASTER_ADDRESS): _S.SHUTDOWN,
}

MASTER_TRANSITIONS: Mapping[tuple[HALinkState, HALinkEvent], HALinkState] = {
    (_S.HANDSHAKE, _E.REPORT): _S.TRANSFER,
    (_S.TRANSFER, _E.REPORT): _S.TRANSFER,
    (_S.HANDSHAKE, _E.FAILED): _S.SHUTDOWN,
    (_S.TRANSFER, _E.FAILED): _S.SHUTDOWN,
    (_S.HANDSHAKE, _E.CLOSE): _S.SHUTDOWN,
    (_S.TRANSFER, _E.CLOSE): _S.SHUTDOWN,
    (_S.SHUTDOWN, _E.CLOSE): _S.SHUTDOWN,
    (_S.SHUTDOWN, _E.FAILED): _S.SHUTDOWN,
    (_S.SHUTDOWN, _E.REPORT): _S.SHUTDOWN,
}


class HALink:
    """The state of one link, moved only through its transition table."""

    __slots__ = ("_table", "state", "transitions")

    def __init__(
        self, table: Mapping[tuple[HALinkState, HALinkEvent], HALinkState], initial: HALinkState
    ) -> None:
        self._table = table
        self.state = initial
        self.transitions = 0  # state changes so far (a reconnect counter for stats)

    @classmethod
    def slave(cls) -> HALink:
        """A slave's link, READY until it knows its master."""
        return cls(SLAVE_TRANSITIONS, HALinkState.READY)

    @classmethod
    def master(cls) -> HALink:
        """A master's link to a slave that has just connected."""
        return cls(MASTER_TRANSITIONS, HALinkState.HANDSHAKE)

    def handle(self, event: HALinkEvent) -> HALinkState:
        """Apply ``event``; return the new state."""
        try:
            new = self._table[(self.state, event)]
        except KeyError:
            reason = f"HA link: {event.value} is not allowed in {self.state.value}"
            raise HAStateError(reason) from None
        if new is not self.state:
            self.transitions += 1
        self.state = new
        return new
