"""Classic (4.x) master-slave replication of the CommitLog, wire-compatible with Apache
RocketMQ 4.9: :class:`HAService` on the master, :class:`HAClient` on the slave; the byte
formats in :mod:`.codec`, the link states in :mod:`.state`, SYNC_MASTER waits in
:mod:`.group_transfer`."""

from rocketq.store.ha.client import HAClient, HAClientStats
from rocketq.store.ha.codec import HAProtocolError, TransferChunk
from rocketq.store.ha.group_transfer import GroupTransferService
from rocketq.store.ha.service import HAService, HAServiceStats, HASlaveStats
from rocketq.store.ha.state import HALink, HALinkEvent, HALinkState

__all__ = [
    "GroupTransferService",
    "HAClient",
    "HAClientStats",
    "HALink",
    "HALinkEvent",
    "HALinkState",
    "HAProtocolError",
    "HAService",
    "HAServiceStats",
    "HASlaveStats",
    "TransferChunk",
]
