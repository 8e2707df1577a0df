"""The broker's topics (RocketMQ ``TopicConfigManager``), persisted in ``config/topics.json``.

At start the broker owns RocketMQ's system topics: ``SELF_TEST_TOPIC``, ``TBW102`` (the
auto-create template, perm 7, when ``autoCreateTopicEnable``), ``BenchmarkTest``, the
cluster-name and broker-name topics, ``OFFSET_MOVED_EVENT``, ``SCHEDULE_TOPIC_XXXX`` and
``<cluster>_REPLY_TOPIC``. Every change bumps the DataVersion the NameServer compares.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from rocketq.broker.config import BrokerConfig
from rocketq.broker.config_file import ConfigFile
from rocketq.common.topic import (
    AUTO_CREATE_TOPIC_KEY_TOPIC,
    BENCHMARK_TOPIC,
    OFFSET_MOVED_EVENT,
    PERM_INHERIT,
    PERM_READ,
    PERM_WRITE,
    SCHEDULE_TOPIC,
    SELF_TEST_TOPIC,
    TopicConfig,
    reply_topic,
)
from rocketq.remoting.body import DataVersion, TopicConfigSerializeWrapper

__all__ = ["TopicConfigManager"]

log = logging.getLogger("rocketq.broker")


class TopicConfigManager(ConfigFile):
    """Topic table with its DataVersion."""

    def __init__(self, path: str | Path, broker: BrokerConfig) -> None:
        super().__init__(path)
        self.broker = broker
        self.table: dict[str, TopicConfig] = {}
        self.data_version = DataVersion(timestamp=int(time.time() * 1000))
        self._add_system_topics()

    def _add_system_topics(self) -> None:
        b = self.broker
        self._put(TopicConfig(SELF_TEST_TOPIC, 1, 1))
        if b.auto_create_topic_enable:
            q = b.default_topic_queue_nums
            self._put(
                TopicConfig(
                    AUTO_CREATE_TOPIC_KEY_TOPIC, q, q, PERM_INHERIT | PERM_READ | PERM_WRITE
                )
            )
        self._put(TopicConfig(BENCHMARK_TOPIC, 1024, 1024))
        cluster_perm = PERM_INHERIT | (PERM_READ | PERM_WRITE if b.cluster_topic_enable else 0)
        self._put(TopicConfig(b.broker_cluster_name, 16, 16, cluster_perm))
        broker_perm = PERM_INHERIT | (PERM_READ | PERM_WRITE if b.broker_topic_enable else 0)
        self._put(TopicConfig(b.broker_name, 1, 1, broker_perm))
        self._put(TopicConfig(OFFSET_MOVED_EVENT, 1, 1))
        self._put(TopicConfig(SCHEDULE_TOPIC, 18, 18))
        if b.trace_topic_enable:
            self._put(TopicConfig(b.msg_trace_topic_name, 1, 1))
        self._put(TopicConfig(reply_topic(b.broker_cluster_name), 1, 1))

    def _put(self, config: TopicConfig) -> None:
        self.table[config.topic_name] = config

    # -- persistence ------------------------------------------------------------------------

    def encode(self) -> dict[str, Any]:
        return self.wrapper().to_obj()

    def decode(self, obj: dict[str, Any]) -> None:
        wrapper = TopicConfigSerializeWrapper.from_obj(obj)
        self.table.update(wrapper.topic_config_table)
        self.data_version = wrapper.data_version

    def wrapper(self) -> TopicConfigSerializeWrapper:
        """Topics + DataVersion as sent to the NameServer."""
        return TopicConfigSerializeWrapper(dict(self.table), self.data_version)

    def next_version(self) -> None:
        """A topic changed: bump the DataVersion (``DataVersion#nextVersion``)."""
        self.data_version = DataVersion(
            timestamp=int(time.time() * 1000),
            counter=self.data_version.counter + 1,
            state_version=self.data_version.state_version,
        )

    # -- queries and changes ----------------------------------------------------------------

    def select(self, topic: str) -> TopicConfig | None:
        """The topic's config, if the broker has it."""
        return self.table.get(topic)

    def update(self, config: TopicConfig) -> None:
        """Create or replace a topic (UPDATE_AND_CREATE_TOPIC); persists."""
        old = self.table.get(config.topic_name)
        log.info("%s topic %s", "update" if old else "create", config)
        self.table[config.topic_name] = config
        self.next_version()
        self.persist()

    def delete(self, topic: str) -> bool:
        """Forget a topic; persists. False when unknown."""
        if self.table.pop(topic, None) is None:
            return False
        log.info("delete topic %s", topic)
        self.next_version()
        self.persist()
        return True

    def create_in_send(
        self, topic: str, default_topic: str, default_queue_nums: int, topic_sys_flag: int = 0
    ) -> TopicConfig | None:
        """Auto-create ``topic`` from its template (``createTopicInSendMessageMethod``)."""
        if topic in self.table:
            return self.table[topic]
        template = self.table.get(default_topic)
        if template is None:
            return None
        perm = template.perm
        if (
            default_topic == AUTO_CREATE_TOPIC_KEY_TOPIC
            and not self.broker.auto_create_topic_enable
        ):
            perm = PERM_READ | PERM_WRITE
        if not perm & PERM_INHERIT:
            log.warning("cannot auto-create %s: %s has no INHERIT permission", topic, default_topic)
            return None
        queues = max(1, min(default_queue_nums, template.write_queue_nums))
        config = TopicConfig(
            topic, queues, queues, perm & ~PERM_INHERIT, template.topic_filter_type, topic_sys_flag
        )
        self.update(config)
        return config

    def create_in_send_back(
        self, topic: str, queue_nums: int, perm: int, topic_sys_flag: int = 0
    ) -> TopicConfig:
        """Create a retry or DLQ topic (``createTopicInSendMessageBackMethod``)."""
        existing = self.table.get(topic)
        if existing is not None:
            return existing
        config = TopicConfig(topic, queue_nums, queue_nums, perm, topic_sys_flag=topic_sys_flag)
        self.update(config)
        return config
