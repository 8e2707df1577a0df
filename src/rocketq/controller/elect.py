"""How a new master is chosen (RocketMQ ``controller/elect/impl/DefaultElectPolicy``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["Alive", "BrokerLiveInfo", "DefaultElectPolicy", "LiveInfo"]

# Java's Integer.MAX_VALUE: a broker that states no election priority is the least preferred.
DEFAULT_ELECTION_PRIORITY = 2**31 - 1


@dataclass(frozen=True, slots=True)
class BrokerLiveInfo:
    """What a broker's last heartbeat said that matters to an election."""

    broker_id: int
    epoch: int = -1
    max_offset: int = -1
    confirm_offset: int = -1
    election_priority: int = DEFAULT_ELECTION_PRIORITY


# (clusterName, brokerName, brokerId) -> alive?  (Java's BrokerValidPredicate)
Alive = Callable[[str, str, int], bool]
# (clusterName, brokerName, brokerId) -> the broker's live info, if it ever sent a heartbeat.
LiveInfo = Callable[[str, str, int], BrokerLiveInfo | None]


class DefaultElectPolicy:
    """Candidates are the alive brokers of the SyncStateSet, then (only when the caller passes
    them: ``enableElectUncleanMaster``) any alive replica. An alive old master stays unless
    another broker is designated; a designated broker wins only if it is a candidate;
    otherwise the best by higher epoch, then higher max offset, then lower priority."""

    def __init__(self, alive: Alive | None = None, live_info: LiveInfo | None = None) -> None:
        self._alive = alive
        self._live_info = live_info

    def elect(
        self,
        cluster: str,
        broker_name: str,
        sync_state_set: Iterable[int],
        all_replicas: Iterable[int] | None,
        old_master: int | None,
        prefer: int | None,
    ) -> int | None:
        """The new master's id, or None when no broker qualifies."""
        chosen = self._try(cluster, broker_name, sync_state_set, old_master, prefer)
        if chosen is None and all_replicas is not None:
            chosen = self._try(cluster, broker_name, all_replicas, old_master, prefer)
        return chosen

    def _try(
        self,
        cluster: str,
        broker_name: str,
        brokers: Iterable[int],
        old_master: int | None,
        prefer: int | None,
    ) -> int | None:
        alive = self._alive
        candidates = sorted(b for b in brokers if alive is None or alive(cluster, broker_name, b))
        if not candidates:
            return None
        if old_master in candidates and (prefer is None or prefer == old_master):
            return old_master
        if prefer is not None:
            return prefer if prefer in candidates else None
        if self._live_info is None:
            return candidates[0]
        infos = [self._live_info(cluster, broker_name, b) or BrokerLiveInfo(b) for b in candidates]
        # Java sorts a TreeSet by (epoch desc, maxOffset desc, priority asc); ties go to the
        # lower broker id here, so every controller picks the same broker.
        best = min(infos, key=lambda i: (-i.epoch, -i.max_offset, i.election_priority, i.broker_id))
        return best.broker_id
