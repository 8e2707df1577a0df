"""Controller settings: RocketMQ 5's ``ControllerConfig`` keys, and the peer list.

``controllerDLegerPeers`` is ``n0-127.0.0.1:9878;n1-127.0.0.1:9868;...``; each controller
serves brokers (remoting) at its own peer address, as RocketMQ 5.2+ does. The Raft library
(pysyncobj) speaks its own protocol, so it needs a second port per peer: the rocketq key
``controllerRaftPeers`` (same form, same ids) names them; left empty, each peer's Raft port is
its remoting port + :data:`DEFAULT_RAFT_PORT_OFFSET`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rocketq.common.config import ConfigBase, setting
from rocketq.common.errors import ConfigError

__all__ = [
    "DEFAULT_RAFT_PORT_OFFSET",
    "ControllerConfig",
    "Peer",
    "parse_peers",
]

# ControllerStartup's default listen port (a standalone controller without DLedger peers).
DEFAULT_CONTROLLER_PORT = 19876
# A peer's Raft port when controllerRaftPeers is not set: the one after its remoting port.
DEFAULT_RAFT_PORT_OFFSET = 1
# ControllerConfig defaults (5.3.1).
DEFAULT_SCAN_NOT_ACTIVE_BROKER_INTERVAL_MS = 5_000
DEFAULT_SCAN_INACTIVE_MASTER_INTERVAL_MS = 5_000
DEFAULT_ELECT_MASTER_MAX_RETRY_COUNT = 3


@dataclass(frozen=True, slots=True)
class Peer:
    """One controller of the group: its id (``n0``), remoting and Raft addresses."""

    peer_id: str
    address: str
    raft_address: str


def _split(text: str, key: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        peer_id, sep, addr = part.partition("-")
        host, colon, port = addr.rpartition(":")
        if not sep or not colon or not host or not port.isdigit():
            raise ConfigError(f"bad value for {key}: {part!r} (expected id-host:port)")
        out[peer_id] = addr
    return out


def parse_peers(peers: str, raft_peers: str = "") -> list[Peer]:
    """The peers of ``controllerDLegerPeers`` with their Raft addresses."""
    remoting = _split(peers, "controllerDLegerPeers")
    if not remoting:
        raise ConfigError("controllerDLegerPeers is empty (expected n0-host:port;n1-host:port)")
    raft = _split(raft_peers, "controllerRaftPeers")
    if raft and set(raft) != set(remoting):
        raise ConfigError("controllerRaftPeers must name the same ids as controllerDLegerPeers")
    out = []
    for peer_id, addr in remoting.items():
        host, _, port = addr.rpartition(":")
        out.append(
            Peer(
                peer_id, addr, raft.get(peer_id) or f"{host}:{int(port) + DEFAULT_RAFT_PORT_OFFSET}"
            )
        )
    return out


@dataclass
class ControllerConfig(ConfigBase):
    """RocketMQ's ``ControllerConfig`` keys (and ``controllerRaftPeers``, rocketq's)."""

    rocketmq_home: str = setting(factory=lambda: os.environ.get("ROCKETMQ_HOME", ""))
    config_store_path: str = setting(
        factory=lambda: os.path.join(os.path.expanduser("~"), "controller", "controller.properties")
    )
    controller_type: str = setting("DLedger", choices=("DLedger",))
    controller_d_leger_group: str = setting("", key="controllerDLegerGroup")
    controller_d_leger_peers: str = setting("", key="controllerDLegerPeers")
    controller_d_leger_self_id: str = setting("", key="controllerDLegerSelfId")
    # "" means Java's DLedger default, ~/DLedgerController.
    controller_store_path: str = ""
    scan_not_active_broker_interval: int = setting(
        DEFAULT_SCAN_NOT_ACTIVE_BROKER_INTERVAL_MS, minimum=1
    )
    scan_inactive_master_interval: int = setting(
        DEFAULT_SCAN_INACTIVE_MASTER_INTERVAL_MS, minimum=1
    )
    elect_master_max_retry_count: int = setting(DEFAULT_ELECT_MASTER_MAX_RETRY_COUNT, minimum=1)
    enable_elect_unclean_master: bool = False
    is_process_read_event: bool = setting(False, key="isProcessReadEvent")
    notify_broker_role_changed: bool = True
    config_black_list: str = "configBlackList;configStorePath"
    # Java's thread pools and DLedger file size: nothing to size here.
    controller_thread_pool_nums: int = setting(16, implemented=False)
    controller_request_thread_pool_queue_capacity: int = setting(50_000, implemented=False)
    mapped_file_size: int = setting(1024 * 1024 * 1024, implemented=False)
    # rocketq: the Raft (pysyncobj) address of each peer; see the module docstring.
    controller_raft_peers: str = ""

    def peers(self) -> list[Peer]:
        """Every controller of the group."""
        return parse_peers(self.controller_d_leger_peers, self.controller_raft_peers)

    def self_peer(self) -> Peer:
        """This controller (``controllerDLegerSelfId``)."""
        for peer in self.peers():
            if peer.peer_id == self.controller_d_leger_self_id:
                return peer
        raise ConfigError(
            f"controllerDLegerSelfId {self.controller_d_leger_self_id!r} is not one of the "
            f"ids of controllerDLegerPeers"
        )

    def store_dir(self) -> str:
        """Where this controller keeps its Raft journal and snapshot."""
        root = self.controller_store_path or os.path.join(
            os.path.expanduser("~"), "DLedgerController"
        )
        return os.path.join(root, self.controller_d_leger_self_id or "n0")

    def black_list(self) -> set[str]:
        """Keys UPDATE_CONTROLLER_CONFIG may not change (Java adds rocketmqHome)."""
        keys = {k.strip() for k in self.config_black_list.split(";") if k.strip()}
        return keys | {"configBlackList", "configStorePath", "rocketmqHome"}
