"""The NameServer: routes rebuilt from broker registrations (RocketMQ ``namesrv``)."""

from rocketq.namesrv.config import NamesrvConfig
from rocketq.namesrv.controller import NamesrvController, NamesrvStats
from rocketq.namesrv.kv_config import NAMESPACE_ORDER_TOPIC_CONFIG, KVConfigManager
from rocketq.namesrv.route_info import RouteInfoManager

__all__ = [
    "NAMESPACE_ORDER_TOPIC_CONFIG",
    "KVConfigManager",
    "NamesrvConfig",
    "NamesrvController",
    "NamesrvStats",
    "RouteInfoManager",
]
