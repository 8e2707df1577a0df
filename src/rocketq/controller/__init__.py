"""RocketMQ 5's controller: replica state per broker group and master elections, replicated
on Raft (pysyncobj); runs alone (``rocketq controller``) or inside a NameServer."""

from rocketq.controller.config import ControllerConfig, Peer, parse_peers
from rocketq.controller.manager import ControllerManager, ControllerStats
from rocketq.controller.state import ControllerResult, ReplicaState

__all__ = [
    "ControllerConfig",
    "ControllerManager",
    "ControllerResult",
    "ControllerStats",
    "Peer",
    "ReplicaState",
    "parse_peers",
]
