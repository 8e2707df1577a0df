"""Committed consumer offsets (RocketMQ ``ConsumerOffsetManager``), persisted in
``config/consumerOffset.json`` as ``{"offsetTable": {"topic@group": {queueId: offset}}}``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rocketq.broker.config_file import ConfigFile

__all__ = ["ConsumerOffsetManager"]

TOPIC_GROUP_SEPARATOR = "@"


class ConsumerOffsetManager(ConfigFile):
    """``topic@group`` -> {queue id -> next offset to consume}."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.table: dict[str, dict[int, int]] = {}
        self.dirty = False

    def encode(self) -> dict[str, Any]:
        return {"offsetTable": {k: dict(sorted(v.items())) for k, v in self.table.items()}}

    def decode(self, obj: dict[str, Any]) -> None:
        table = obj.get("offsetTable") or {}
        self.table = {
            str(key): {int(q): int(o) for q, o in offsets.items()} for key, offsets in table.items()
        }

    def commit(self, group: str, topic: str, queue_id: int, offset: int) -> None:
        """Store a group's progress on a queue (negative offsets are ignored, as ali-ons sends
        -1 for queues it has not consumed)."""
        if offset < 0:
            return
        key = f"{topic}{TOPIC_GROUP_SEPARATOR}{group}"
        queues = self.table.setdefault(key, {})
        if queues.get(queue_id) != offset:
            queues[queue_id] = offset
            self.dirty = True

    def query(self, group: str, topic: str, queue_id: int) -> int:
        """The committed offset, or -1 when none."""
        return self.table.get(f"{topic}{TOPIC_GROUP_SEPARATOR}{group}", {}).get(queue_id, -1)

    def query_all(self, group: str, topic: str) -> dict[int, int]:
        """Every queue's committed offset of a group on a topic."""
        return dict(self.table.get(f"{topic}{TOPIC_GROUP_SEPARATOR}{group}", {}))

    def topics_of_group(self, group: str) -> set[str]:
        """Topics a group has offsets for (``whichTopicByConsumer``)."""
        return {
            k.rsplit(TOPIC_GROUP_SEPARATOR, 1)[0]
            for k in self.table
            if k.rsplit(TOPIC_GROUP_SEPARATOR, 1)[1] == group
        }

    def groups_of_topic(self, topic: str) -> set[str]:
        """Groups with offsets on a topic (``whichGroupByTopic``)."""
        return {
            k.rsplit(TOPIC_GROUP_SEPARATOR, 1)[1]
            for k in self.table
            if k.rsplit(TOPIC_GROUP_SEPARATOR, 1)[0] == topic
        }

    def remove_topic(self, topic: str) -> None:
        """Drop every group's offsets of a deleted topic."""
        for key in [k for k in self.table if k.rsplit(TOPIC_GROUP_SEPARATOR, 1)[0] == topic]:
            del self.table[key]
            self.dirty = True

    def remove_group(self, group: str) -> None:
        """Drop a deleted group's offsets."""
        for key in [k for k in self.table if k.rsplit(TOPIC_GROUP_SEPARATOR, 1)[1] == group]:
            del self.table[key]
            self.dirty = True

    def persist_if_dirty(self) -> None:
        """Write the file when something changed since the last write."""
        if self.dirty:
            self.dirty = False
            self.persist()
