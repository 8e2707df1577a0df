"""NameServer settings: RocketMQ's ``NamesrvConfig`` and ``NettyServerConfig`` keys."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from rocketq.common.config import ConfigBase

__all__ = ["NamesrvConfig"]

# Defaults of Apache RocketMQ.
DEFAULT_LISTEN_PORT = 9876
# RouteInfoManager scans for silent brokers every 10 s (4.9; 5.x: 5 s).
DEFAULT_SCAN_NOT_ACTIVE_BROKER_INTERVAL_MS = 10_000
# BROKER_CHANNEL_EXPIRED_TIME: a broker that has not re-registered for 2 min is gone.
DEFAULT_BROKER_CHANNEL_EXPIRED_TIME_MS = 120_000


def _home() -> str:
    return os.environ.get("ROCKETMQ_HOME", os.path.expanduser("~"))


@dataclass
class NamesrvConfig(ConfigBase):
    """NameServer settings; key names are RocketMQ's (``listenPort``, ``kvConfigPath``, ...)."""

    listen_port: int = DEFAULT_LISTEN_PORT
    # rocketq addition: the address to bind (Java binds every interface).
    bind_address: str = "0.0.0.0"
    rocketmq_home: str = field(default_factory=_home)
    kv_config_path: str = field(
        default_factory=lambda: os.path.join(os.path.expanduser("~"), "namesrv", "kvConfig.json")
    )
    config_store_path: str = field(
        default_factory=lambda: os.path.join(
            os.path.expanduser("~"), "namesrv", "namesrv.properties"
        )
    )
    product_env_name: str = "center"
    cluster_test: bool = False
    order_message_enable: bool = False
    return_order_topic_config_to_broker: bool = True
    enable_all_topic_list: bool = True
    enable_topic_list: bool = True
    scan_not_active_broker_interval: int = DEFAULT_SCAN_NOT_ACTIVE_BROKER_INTERVAL_MS
    # rocketq name for Java's BROKER_CHANNEL_EXPIRED_TIME constant; a 5.x broker's
    # heartbeatTimeoutMillis register header overrides it for that broker.
    broker_channel_expired_time: int = DEFAULT_BROKER_CHANNEL_EXPIRED_TIME_MS
    config_black_list: str = "configBlackList;configStorePath;kvConfigPath"

    def black_list(self) -> set[str]:
        """Keys UPDATE_NAMESRV_CONFIG may not change."""
        return {k.strip() for k in self.config_black_list.split(";") if k.strip()}
