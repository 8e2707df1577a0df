"""Broker settings: RocketMQ's ``BrokerConfig`` keys and defaults, plus the listen port.

``broker.conf`` holds broker and store keys side by side (``brokerName``,
``storePathRootDir``, ...); :func:`load_broker_conf` splits it into a
``BrokerConfig`` and a ``StoreConfig``, as ``BrokerStartup`` does with
``MixAll.properties2Object`` on each.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from rocketq.common.config import ConfigBase, load_properties
from rocketq.common.ids import local_ipv4
from rocketq.common.topic import PERM_READ, PERM_WRITE
from rocketq.store.config import SLAVE, StoreConfig

__all__ = ["BrokerConfig", "load_broker_conf"]

# NettyServerConfig.listenPort of a broker (BrokerStartup forces 10911 before the file).
DEFAULT_BROKER_PORT = 10911
# BrokerConfig.defaultTopicQueueNums: queues of TBW102 and of auto-created topics (capped
# by what the producer asks, 4 for every RocketMQ client).
DEFAULT_TOPIC_QUEUE_NUMS = 8
# registerNameServerPeriod, clamped by RocketMQ to [10 s, 60 s].
DEFAULT_REGISTER_PERIOD_MS = 30_000


@dataclass
class BrokerConfig(ConfigBase):
    """Broker settings; key names are RocketMQ's (``brokerClusterName``, ``namesrvAddr``, ...)."""

    broker_cluster_name: str = "DefaultCluster"
    broker_name: str = field(default_factory=lambda: socket.gethostname() or "broker-a")
    broker_id: int = 0
    namesrv_addr: str = field(default_factory=lambda: os.environ.get("NAMESRV_ADDR", ""))
    listen_port: int = DEFAULT_BROKER_PORT
    # rocketq: the address to bind (Java binds every interface).
    bind_address: str = "0.0.0.0"
    broker_ip1: str = field(default_factory=local_ipv4)
    broker_ip2: str = ""
    ha_listen_port: int = 0  # 0 = listenPort + 1
    broker_permission: int = PERM_READ | PERM_WRITE
    default_topic_queue_nums: int = DEFAULT_TOPIC_QUEUE_NUMS
    auto_create_topic_enable: bool = True
    cluster_topic_enable: bool = True
    broker_topic_enable: bool = True
    auto_create_subscription_group: bool = True
    reject_transaction_message: bool = False
    long_polling_enable: bool = True
    short_polling_time_mills: int = 1000
    notify_consumer_ids_changed_enable: bool = True
    flush_consumer_offset_interval: int = 5000
    flush_consumer_offset_history_interval: int = 60_000
    register_name_server_period: int = DEFAULT_REGISTER_PERIOD_MS
    register_broker_timeout_mills: int = 6000
    force_register: bool = True
    channel_expired_timeout: int = 120_000
    slave_read_enable: bool = False
    transfer_msg_by_heap: bool = True
    max_delay_time: int = 40
    region_id: str = "DefaultRegion"
    trace_topic_enable: bool = False
    msg_trace_topic_name: str = "RMQ_SYS_TRACE_TOPIC"
    transaction_time_out: int = 6000
    transaction_check_max: int = 15
    transaction_check_interval: int = 60_000
    enable_property_filter: bool = False
    filter_support_retry: bool = False
    enable_calc_filter_bit_map: bool = False
    use_tls: bool = False
    acl_enable: bool = False
    store_reply_message_enable: bool = True
    rocketmq_home: str = field(default_factory=lambda: os.environ.get("ROCKETMQ_HOME", ""))

    @property
    def broker_addr(self) -> str:
        """``brokerIP1:listenPort``: what the NameServer tells clients."""
        return f"{self.broker_ip1}:{self.listen_port}"

    @property
    def ha_server_addr(self) -> str:
        """``brokerIP2:haListenPort``."""
        port = self.ha_listen_port or self.listen_port + 1
        return f"{self.broker_ip2 or self.broker_ip1}:{port}"

    def namesrv_addrs(self) -> list[str]:
        """The NameServer list (``;``-separated in RocketMQ)."""
        return [a.strip() for a in self.namesrv_addr.replace(",", ";").split(";") if a.strip()]


def load_broker_conf(
    path: str | Path | None, overrides: dict[str, str] | None = None
) -> tuple[BrokerConfig, StoreConfig, list[str]]:
    """Read ``broker.conf`` (plus overrides) into both settings objects.

    Returns the keys neither object knows, so the caller can warn about typos.
    """
    values = load_properties(path) if path else {}
    values.update(overrides or {})
    broker, store = BrokerConfig(), StoreConfig()
    unknown_broker = set(broker.update(values))
    unknown_store = set(store.update(values))
    if store.broker_role == SLAVE and broker.broker_id == 0:
        broker.broker_id = 1  # BrokerStartup: a slave must have an id > 0
    elif store.broker_role != SLAVE:
        broker.broker_id = 0  # masters are always id 0
    return broker, store, sorted(unknown_broker & unknown_store)
