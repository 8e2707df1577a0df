"""Consumer group settings (RocketMQ ``SubscriptionGroupManager``), persisted in
``config/subscriptionGroup.json``; a group seen for the first time is created with
defaults when ``autoCreateSubscriptionGroup`` is on."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rocketq.broker.config_file import ConfigFile
from rocketq.remoting.body import DEFAULT_RETRY_MAX_TIMES as DEFAULT_RETRY_MAX_TIMES
from rocketq.remoting.body import DataVersion, SubscriptionGroupConfig

__all__ = ["SubscriptionGroupConfig", "SubscriptionGroupManager"]

# MixAll's built-in groups, present on every RocketMQ broker.
SYSTEM_GROUPS = (
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL",
    "CID_ONSAPI_PERMISSION",
    "CID_ONSAPI_OWNER",
    "CID_RMQ_SYS_TRACE",
)


class SubscriptionGroupManager(ConfigFile):
    """Group name -> settings, with a DataVersion."""

    def __init__(self, path: str | Path, auto_create: bool = True) -> None:
        super().__init__(path)
        self.auto_create = auto_create
        self.table: dict[str, SubscriptionGroupConfig] = {
            g: SubscriptionGroupConfig(g) for g in SYSTEM_GROUPS
        }
        self.data_version = DataVersion(timestamp=int(time.time() * 1000))

    def encode(self) -> dict[str, Any]:
        return {
            "dataVersion": self.data_version.to_obj(),
            "subscriptionGroupTable": {k: v.to_obj() for k, v in self.table.items()},
        }

    def decode(self, obj: dict[str, Any]) -> None:
        table = obj.get("subscriptionGroupTable") or {}
        for name, cfg in table.items():
            self.table[str(name)] = SubscriptionGroupConfig.from_obj(cfg, str(name))
        self.data_version = DataVersion.from_obj(obj.get("dataVersion") or {})

    def _changed(self) -> None:
        self.data_version = DataVersion(
            timestamp=int(time.time() * 1000), counter=self.data_version.counter + 1
        )
        self.persist()

    def find(self, group: str) -> SubscriptionGroupConfig | None:
        """The group's settings; auto-created with defaults when allowed."""
        config = self.table.get(group)
        if config is None and self.auto_create and group:
            config = SubscriptionGroupConfig(group)
            self.table[group] = config
            self._changed()
        return config

    def update(self, config: SubscriptionGroupConfig) -> None:
        """Create or replace a group (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)."""
        self.table[config.group_name] = config
        self._changed()

    def delete(self, group: str) -> bool:
        """Forget a group (DELETE_SUBSCRIPTIONGROUP)."""
        if self.table.pop(group, None) is None:
            return False
        self._changed()
        return True
