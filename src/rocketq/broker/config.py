"""Broker settings: RocketMQ's ``BrokerConfig`` keys and defaults, plus the listen port.

``broker.conf`` holds broker and store keys side by side (``brokerName``,
``storePathRootDir``, ...); :func:`load_broker_conf` splits it into a
``BrokerConfig`` and a ``StoreConfig``, as ``BrokerStartup`` does with
``MixAll.properties2Object`` on each.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from rocketq.common.config import ConfigBase, load_properties, setting, split_keys
from rocketq.common.config_keys import BROKER_CONFIG_KEYS, NETTY_CONFIG_KEYS, STORE_CONFIG_KEYS
from rocketq.common.errors import ConfigError
from rocketq.common.ids import local_ipv4
from rocketq.common.topic import PERM_INHERIT, PERM_READ, PERM_WRITE
from rocketq.remoting.pop_body import PULL, REQUEST_MODES
from rocketq.store.config import BROKER_ROLES, FLUSH_DISK_TYPES, SLAVE, StoreConfig

__all__ = ["BrokerConfig", "load_broker_conf"]

log = logging.getLogger("rocketq.broker")

# NettyServerConfig.listenPort of a broker (BrokerStartup forces 10911 before the file).
DEFAULT_BROKER_PORT = 10911
# BrokerConfig.defaultTopicQueueNums: queues of TBW102 and of auto-created topics (capped
# by what the producer asks, 4 for every RocketMQ client).
DEFAULT_TOPIC_QUEUE_NUMS = 8
# Every key a RocketMQ broker.conf may hold (broker, store and Netty settings).
ROCKETMQ_BROKER_KEYS = BROKER_CONFIG_KEYS | STORE_CONFIG_KEYS | NETTY_CONFIG_KEYS
# TCP port numbers.
MAX_PORT = 65535
# ProxyConfig.grpcServerPort: where the 5.x SDKs connect.
DEFAULT_GRPC_SERVER_PORT = 8081
# brokerPermission: PermName bits (read 4, write 2, inherit 1).
PERM_MASK = PERM_READ | PERM_WRITE | PERM_INHERIT
# registerNameServerPeriod, clamped by RocketMQ to [10 s, 60 s].
DEFAULT_REGISTER_PERIOD_MS = 30_000
# Controller mode (RocketMQ 5 BrokerConfig): heartbeat to every controller each second; the
# controller declares a broker dead after 10 s of silence (or at once when its connection
# closes); the replica info is polled every 5 s, the controller leader every 10 s.
DEFAULT_BROKER_HEARTBEAT_INTERVAL_MS = 1000
DEFAULT_CONTROLLER_HEARTBEAT_TIMEOUT_MS = 10_000
DEFAULT_CHECK_SYNC_STATE_SET_PERIOD_MS = 5000
DEFAULT_SYNC_CONTROLLER_METADATA_PERIOD_MS = 10_000
# brokerElectionPriority: Integer.MAX_VALUE (lower wins an election between equals).
DEFAULT_BROKER_ELECTION_PRIORITY = 2**31 - 1
# brokerId -1: "the controller assigns it" (controller mode only).
UNASSIGNED_BROKER_ID = -1


@dataclass
class BrokerConfig(ConfigBase):
    """Broker settings; key names are RocketMQ's (``brokerClusterName``, ``namesrvAddr``, ...)."""

    broker_cluster_name: str = "DefaultCluster"
    broker_name: str = setting(factory=lambda: socket.gethostname() or "broker-a")
    # -1 only in controller mode (the controller assigns the id; _check_role enforces it).
    broker_id: int = setting(0, minimum=UNASSIGNED_BROKER_ID)
    namesrv_addr: str = setting(factory=lambda: os.environ.get("NAMESRV_ADDR", ""))
    listen_port: int = setting(DEFAULT_BROKER_PORT, minimum=0, maximum=MAX_PORT)  # 0: free port
    # rocketq: the address to bind (Java binds every interface).
    bind_address: str = "0.0.0.0"
    # What the NameServer tells clients (brokerIP1) and slaves (brokerIP2, for HA).
    broker_ip1: str = setting(factory=local_ipv4, key="brokerIP1")
    broker_ip2: str = setting("", key="brokerIP2")
    broker_permission: int = setting(PERM_READ | PERM_WRITE, minimum=0, maximum=PERM_MASK)
    default_topic_queue_nums: int = setting(DEFAULT_TOPIC_QUEUE_NUMS, minimum=1)
    auto_create_topic_enable: bool = True
    cluster_topic_enable: bool = True
    broker_topic_enable: bool = True
    auto_create_subscription_group: bool = True
    reject_transaction_message: bool = False
    long_polling_enable: bool = True
    short_polling_time_mills: int = setting(1000, minimum=0)
    notify_consumer_ids_changed_enable: bool = True
    flush_consumer_offset_interval: int = setting(5000, minimum=1)
    flush_consumer_offset_history_interval: int = setting(60_000, implemented=False)
    register_name_server_period: int = setting(DEFAULT_REGISTER_PERIOD_MS, minimum=1)
    register_broker_timeout_mills: int = setting(6000, minimum=1)
    force_register: bool = True  # rocketq always sends the whole topic table
    channel_expired_timeout: int = setting(120_000, minimum=1)
    slave_read_enable: bool = False
    # How often a slave copies its master's topics, offsets, delay progress and groups
    # (RocketMQ 5's key; 4.9 hard-codes 10 s).
    sync_broker_metadata_period: int = setting(5000, minimum=100)
    transfer_msg_by_heap: bool = True  # a JVM memory choice; nothing to do in rocketq
    max_delay_time: int = setting(40, implemented=False)
    region_id: str = "DefaultRegion"
    trace_topic_enable: bool = False
    msg_trace_topic_name: str = "RMQ_SYS_TRACE_TOPIC"
    transaction_time_out: int = setting(6000, minimum=0)
    transaction_check_max: int = setting(15, minimum=0)
    transaction_check_interval: int = setting(60_000, minimum=1)
    enable_property_filter: bool = False
    filter_support_retry: bool = False
    enable_calc_filter_bit_map: bool = setting(False, implemented=False)
    use_tls: bool = setting(False, key="useTLS", implemented=False)
    acl_enable: bool = setting(False, implemented=False)
    store_reply_message_enable: bool = True
    rocketmq_home: str = setting(factory=lambda: os.environ.get("ROCKETMQ_HOME", ""))
    # RocketMQ 5's gRPC protocol, served by the broker itself (Apache RocketMQ needs its
    # Proxy for it; the key is the Proxy's). -1: not served; 0: a free port.
    grpc_server_port: int = setting(DEFAULT_GRPC_SERVER_PORT, minimum=-1, maximum=MAX_PORT)
    # The Proxy's TLS keys for that port (ProxyConfig). rocketq's gRPC port speaks TLS or
    # plaintext, not both as the Proxy's does: TLS with tlsCertPath + tlsKeyPath, or with a
    # self-signed certificate made at start when tlsTestModeEnable (the Proxy's default is
    # true; rocketq's false, so plaintext, the 5.x SDKs' default, works out of the box).
    tls_test_mode_enable: bool = False
    tls_key_path: str = ""
    tls_cert_path: str = ""
    # RocketMQ 5's server-side load balancing (QueryAssignmentProcessor): the request mode
    # of a group that never set one (PULL or POP), its POP share then (<= 0: every consumer
    # pops every broker), and whether the broker divides a group's queues among its
    # consumers at all (false: each consumer is given every queue).
    default_message_request_mode: str = setting(PULL, choices=REQUEST_MODES)
    default_pop_share_queue_num: int = -1
    server_load_balancer_enable: bool = True
    # RocketMQ 5 controller mode (broker/controller/ReplicasManager): the controllers at
    # controllerAddr ("host:port;host:port") assign the id and the role.
    enable_controller_mode: bool = False
    controller_addr: str = ""
    fetch_controller_addr_by_dns_lookup: bool = setting(False, implemented=False)
    broker_heartbeat_interval: int = setting(DEFAULT_BROKER_HEARTBEAT_INTERVAL_MS, minimum=1)
    controller_heart_beat_timeout_mills: int = setting(
        DEFAULT_CONTROLLER_HEARTBEAT_TIMEOUT_MS, minimum=1
    )
    check_sync_state_set_period: int = setting(DEFAULT_CHECK_SYNC_STATE_SET_PERIOD_MS, minimum=1)
    sync_controller_metadata_period: int = setting(
        DEFAULT_SYNC_CONTROLLER_METADATA_PERIOD_MS, minimum=1
    )
    broker_election_priority: int = DEFAULT_BROKER_ELECTION_PRIORITY
    send_heartbeat_timeout_millis: int = setting(1000, minimum=1)

    @property
    def broker_addr(self) -> str:
        """``brokerIP1:listenPort``: what the NameServer tells clients."""
        return f"{self.broker_ip1}:{self.listen_port}"

    def ha_server_addr(self, ha_listen_port: int) -> str:
        """``brokerIP2:haListenPort`` (brokerIP2 defaults to brokerIP1): where slaves connect."""
        return f"{self.broker_ip2 or self.broker_ip1}:{ha_listen_port}"

    def controller_addrs(self) -> list[str]:
        """The controller list (``controllerAddr``, ``;``-separated)."""
        return [a.strip() for a in self.controller_addr.split(";") if a.strip()]

    def namesrv_addrs(self) -> list[str]:
        """The NameServer list (``;``-separated in RocketMQ)."""
        return [a.strip() for a in self.namesrv_addr.replace(",", ";").split(";") if a.strip()]


def load_broker_conf(
    path: str | Path | None, overrides: dict[str, str] | None = None
) -> tuple[BrokerConfig, StoreConfig, list[str]]:
    """Read ``broker.conf`` (plus overrides) into both settings objects, as
    ``BrokerStartup`` does with ``MixAll.properties2Object`` on each.

    Raises :class:`ConfigError` (naming the key, the value and what is allowed) for a value
    RocketMQ would refuse or rocketq cannot run with; logs RocketMQ's keys that rocketq
    accepts but does not implement yet; returns the keys no RocketMQ has (likely typos).
    """
    values = load_properties(path) if path else {}
    values.update(overrides or {})
    broker, store = BrokerConfig(), StoreConfig()
    left = set(broker.update(values)) & set(store.update(values))
    accepted, unknown = split_keys(left, ROCKETMQ_BROKER_KEYS)
    accepted += sorted(k for k in values if k in _NOT_IMPLEMENTED)
    if accepted:
        log.warning("accepted, not implemented yet: %s", ", ".join(accepted))
    _check_role(broker, store, values)
    store.validate()
    if store.ha_listen_port <= 0 or "haListenPort" not in values:
        # BrokerStartup (5.x: unless set > 0); a broker on a free port takes a free one too.
        store.ha_listen_port = broker.listen_port + 1 if broker.listen_port else 0
    if broker.listen_port == 0 and "grpcServerPort" not in values:
        broker.grpc_server_port = 0  # a broker on a free port serves gRPC on a free one
    return broker, store, unknown


def _check_role(broker: BrokerConfig, store: StoreConfig, values: dict[str, str]) -> None:
    """``BrokerStartup``: masters are id 0; a slave needs an id > 0; in controller mode the
    controller decides both (brokerRole and brokerId are not checked), and it needs at
    least one controller address and no DLedger commitlog."""
    if store.broker_role not in BROKER_ROLES:
        raise ConfigError(
            f"bad value for brokerRole: {store.broker_role!r} "
            f"(allowed: {', '.join(sorted(BROKER_ROLES))})"
        )
    if store.flush_disk_type not in FLUSH_DISK_TYPES:
        raise ConfigError(
            f"bad value for flushDiskType: {store.flush_disk_type!r} "
            f"(allowed: {', '.join(sorted(FLUSH_DISK_TYPES))})"
        )
    if broker.enable_controller_mode:
        _check_controller_mode(broker, values)
        return
    if broker.broker_id == UNASSIGNED_BROKER_ID:
        raise ConfigError("bad value for brokerId: '-1' (only with enableControllerMode=true)")
    if store.broker_role != SLAVE:
        broker.broker_id = 0
    elif broker.broker_id <= 0:
        given = values.get("brokerId", "0")
        raise ConfigError(f"bad value for brokerId: {given!r} (a SLAVE's brokerId must be > 0)")


def _check_controller_mode(broker: BrokerConfig, values: dict[str, str]) -> None:
    if not broker.controller_addrs():
        raise ConfigError("controllerAddr is empty: enableControllerMode=true needs a controller")
    if values.get("enableDLegerCommitLog", "false").strip().lower() == "true":
        raise ConfigError("enableControllerMode and enableDLegerCommitLog cannot both be true")


# Keys rocketq's config objects take but whose setting changes nothing yet.
_NOT_IMPLEMENTED = BrokerConfig.not_implemented_keys() | StoreConfig.not_implemented_keys()
