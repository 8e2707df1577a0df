"""Namespaced key/value settings kept by the NameServer (RocketMQ ``KVConfigManager``).

Persisted as ``{"configTable": {namespace: {key: value}}}`` at ``kvConfigPath`` on
every change, like RocketMQ. The ``ORDER_TOPIC_CONFIG`` namespace holds the
``brokerName:queueNum;...`` layout of ordered topics.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import orjson

__all__ = ["NAMESPACE_ORDER_TOPIC_CONFIG", "KVConfigManager"]

log = logging.getLogger("rocketq.namesrv")

NAMESPACE_ORDER_TOPIC_CONFIG = "ORDER_TOPIC_CONFIG"


class KVConfigManager:
    """The KV table, optionally backed by a JSON file."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.table: dict[str, dict[str, str]] = {}

    def load(self) -> None:
        """Read the file if there is one; a corrupt file is logged and set aside."""
        if not self.path or not os.path.exists(self.path):
            return
        try:
            data = orjson.loads(Path(self.path).read_bytes())
            table = data.get("configTable") or {}
            self.table = {
                str(ns): {str(k): str(v) for k, v in kv.items()} for ns, kv in table.items()
            }
        except (orjson.JSONDecodeError, AttributeError, OSError) as exc:
            log.error("cannot read KV config %s (%s); starting empty", self.path, exc)

    def persist(self) -> None:
        """Write the table atomically (temp file + rename)."""
        if not self.path:
            return
        target = Path(self.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_bytes(orjson.dumps({"configTable": self.table}, option=orjson.OPT_INDENT_2))
        os.replace(tmp, target)

    def put(self, namespace: str, key: str, value: str) -> None:
        """Set one value."""
        self.table.setdefault(namespace, {})[key] = value
        self.persist()

    def get(self, namespace: str, key: str) -> str | None:
        """One value, or None."""
        return self.table.get(namespace, {}).get(key)

    def delete(self, namespace: str, key: str) -> None:
        """Remove one value (no error when absent)."""
        kv = self.table.get(namespace)
        if kv is not None and kv.pop(key, None) is not None:
            if not kv:
                del self.table[namespace]
            self.persist()

    def namespace(self, namespace: str) -> dict[str, str]:
        """Every key of a namespace (empty dict when none)."""
        return dict(self.table.get(namespace, {}))
