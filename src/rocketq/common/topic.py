"""Topic configuration, permissions and the one table of RocketMQ's system topics.

The names and sets are those of Java's ``TopicValidator`` and ``MixAll`` (4.9.4, 5.x):
every role (broker, client, admin) takes them from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "AUTO_CREATE_TOPIC_KEY_TOPIC",
    "BENCHMARK_TOPIC",
    "DLQ_GROUP_TOPIC_PREFIX",
    "NOT_ALLOWED_SEND_TOPICS",
    "OFFSET_MOVED_EVENT",
    "PERM_INHERIT",
    "PERM_PRIORITY",
    "PERM_READ",
    "PERM_WRITE",
    "REPLY_TOPIC_POSTFIX",
    "RETRY_GROUP_TOPIC_PREFIX",
    "SCHEDULE_TOPIC",
    "SELF_TEST_TOPIC",
    "SYSTEM_TOPICS",
    "SYSTEM_TOPIC_PREFIX",
    "TIMER_TOPIC",
    "TOPIC_MAX_LENGTH",
    "TRACE_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "TRANS_HALF_TOPIC",
    "TRANS_OP_HALF_TOPIC",
    "TopicConfig",
    "dlq_topic",
    "is_system_topic",
    "perm_to_string",
    "reply_topic",
    "retry_topic",
    "topic_name_problem",
]

# PermName: bit flags of a topic or broker.
PERM_PRIORITY = 8
PERM_READ = 4
PERM_WRITE = 2
PERM_INHERIT = 1

# TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC: the template for auto-created topics.
AUTO_CREATE_TOPIC_KEY_TOPIC = "TBW102"
# TopicValidator's other system topics.
SCHEDULE_TOPIC = "SCHEDULE_TOPIC_XXXX"  # delay levels park messages here
BENCHMARK_TOPIC = "BenchmarkTest"
TRANS_HALF_TOPIC = "RMQ_SYS_TRANS_HALF_TOPIC"  # prepared transactional messages
TRACE_TOPIC = "RMQ_SYS_TRACE_TOPIC"  # message trace records (clients write here)
TRANS_OP_HALF_TOPIC = "RMQ_SYS_TRANS_OP_HALF_TOPIC"  # commit/rollback op records
TRANS_CHECK_MAX_TIME_TOPIC = "TRANS_CHECK_MAX_TIME_TOPIC"  # half messages checked too often
SELF_TEST_TOPIC = "SELF_TEST_TOPIC"
OFFSET_MOVED_EVENT = "OFFSET_MOVED_EVENT"
# 5.x TimerMessageStore.TIMER_TOPIC: messages with a delivery time wait here.
TIMER_TOPIC = "rmq_sys_wheel_timer"
# TopicValidator.SYSTEM_TOPIC_PREFIX: every topic named rmq_sys_... is a system topic.
SYSTEM_TOPIC_PREFIX = "rmq_sys_"
# MixAll: per-group retry and dead-letter topics, per-cluster reply topic.
RETRY_GROUP_TOPIC_PREFIX = "%RETRY%"
DLQ_GROUP_TOPIC_PREFIX = "%DLQ%"
REPLY_TOPIC_POSTFIX = "REPLY_TOPIC"

# TopicValidator.SYSTEM_TOPIC_SET.
SYSTEM_TOPICS = frozenset(
    {
        AUTO_CREATE_TOPIC_KEY_TOPIC,
        SCHEDULE_TOPIC,
        BENCHMARK_TOPIC,
        TRANS_HALF_TOPIC,
        TRACE_TOPIC,
        TRANS_OP_HALF_TOPIC,
        TRANS_CHECK_MAX_TIME_TOPIC,
        SELF_TEST_TOPIC,
        OFFSET_MOVED_EVENT,
    }
)
# TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET (the same in 4.9.4 and 5.x). The trace topic
# is NOT in it: clients with message trace enabled write there.
NOT_ALLOWED_SEND_TOPICS = frozenset(
    {
        SCHEDULE_TOPIC,
        TRANS_HALF_TOPIC,
        TRANS_OP_HALF_TOPIC,
        TRANS_CHECK_MAX_TIME_TOPIC,
        SELF_TEST_TOPIC,
        OFFSET_MOVED_EVENT,
    }
)
# TopicValidator: at most 127 chars of [%|a-zA-Z0-9_-] (retry/DLQ names up to 255).
TOPIC_MAX_LENGTH = 127
_GROUP_TOPIC_MAX_LENGTH = 255
_TOPIC_CHARS = frozenset("%|-_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def retry_topic(group: str) -> str:
    """``MixAll.getRetryTopic``: ``%RETRY%group``."""
    return RETRY_GROUP_TOPIC_PREFIX + group


def dlq_topic(group: str) -> str:
    """``MixAll.getDLQTopic``: ``%DLQ%group``."""
    return DLQ_GROUP_TOPIC_PREFIX + group


def reply_topic(cluster: str) -> str:
    """``MixAll.getReplyTopic``: ``<cluster>_REPLY_TOPIC``."""
    return f"{cluster}_{REPLY_TOPIC_POSTFIX}"


def is_system_topic(topic: str) -> bool:
    """``TopicValidator.isSystemTopic``: in the set or named ``rmq_sys_...``."""
    return topic in SYSTEM_TOPICS or topic.startswith(SYSTEM_TOPIC_PREFIX)


def topic_name_problem(topic: str) -> str | None:
    """Why ``topic`` is not a valid topic name, or None (``TopicValidator``)."""
    if not topic.strip():
        return "the topic name is blank"
    group_topic = topic.startswith((RETRY_GROUP_TOPIC_PREFIX, DLQ_GROUP_TOPIC_PREFIX))
    limit = _GROUP_TOPIC_MAX_LENGTH if group_topic else TOPIC_MAX_LENGTH
    if len(topic) > limit:
        return f"the topic name is longer than {limit} characters"
    if not set(topic) <= _TOPIC_CHARS:
        return f"the topic name {topic!r} may only contain characters in [%|a-zA-Z0-9_-]"
    return None


# TopicConfig defaults (common/TopicConfig.java).
DEFAULT_READ_QUEUE_NUMS = 16
DEFAULT_WRITE_QUEUE_NUMS = 16
DEFAULT_PERM = PERM_READ | PERM_WRITE


def perm_to_string(perm: int) -> str:
    """``PermName.perm2String``: e.g. 6 -> ``"RW-"``."""
    return (
        ("R" if perm & PERM_READ else "-")
        + ("W" if perm & PERM_WRITE else "-")
        + ("X" if perm & PERM_INHERIT else "-")
    )


@dataclass(slots=True)
class TopicConfig:
    """One topic's configuration on a broker (RocketMQ ``TopicConfig``)."""

    topic_name: str
    read_queue_nums: int = DEFAULT_READ_QUEUE_NUMS
    write_queue_nums: int = DEFAULT_WRITE_QUEUE_NUMS
    perm: int = DEFAULT_PERM
    topic_filter_type: str = "SINGLE_TAG"
    topic_sys_flag: int = 0
    order: bool = False
    attributes: dict[str, str] = field(default_factory=dict)

    def to_obj(self) -> dict[str, Any]:
        """The JSON object fastjson writes for it (keys in its alphabetical order)."""
        out: dict[str, Any] = {}
        if self.attributes:
            out["attributes"] = self.attributes
        out.update(
            order=self.order,
            perm=self.perm,
            readQueueNums=self.read_queue_nums,
            topicFilterType=self.topic_filter_type,
            topicName=self.topic_name,
            topicSysFlag=self.topic_sys_flag,
            writeQueueNums=self.write_queue_nums,
        )
        return out

    @classmethod
    def from_obj(cls, obj: dict[str, Any], name: str | None = None) -> TopicConfig:
        """Read a TopicConfig JSON object, leniently typed as fastjson reads it."""
        return cls(
            topic_name=str(obj.get("topicName") or name or ""),
            read_queue_nums=int(obj.get("readQueueNums", DEFAULT_READ_QUEUE_NUMS)),
            write_queue_nums=int(obj.get("writeQueueNums", DEFAULT_WRITE_QUEUE_NUMS)),
            perm=int(obj.get("perm", DEFAULT_PERM)),
            topic_filter_type=str(obj.get("topicFilterType") or "SINGLE_TAG"),
            topic_sys_flag=int(obj.get("topicSysFlag", 0)),
            order=_as_bool(obj.get("order", False)),
            attributes={str(k): str(v) for k, v in (obj.get("attributes") or {}).items()},
        )

    def java_string(self) -> str:
        """``TopicConfig#toString`` (4.9.4), as mqadmin prints a topic."""
        return (
            f"TopicConfig [topicName={self.topic_name}, readQueueNums={self.read_queue_nums}, "
            f"writeQueueNums={self.write_queue_nums}, perm={perm_to_string(self.perm)}, "
            f"topicFilterType={self.topic_filter_type}, topicSysFlag={self.topic_sys_flag}, "
            f"order={'true' if self.order else 'false'}]"
        )

    def encode(self) -> str:
        """``TopicConfig#encode``: the space-separated form of compressed registrations."""
        parts = [
            self.topic_name,
            str(self.read_queue_nums),
            str(self.write_queue_nums),
            str(self.perm),
            self.topic_filter_type,
        ]
        return " ".join(parts)

    @classmethod
    def decode(cls, text: str) -> TopicConfig:
        """``TopicConfig#decode``: 5 fields (4.9), or 6 with 5.x's attributes JSON."""
        parts = text.split(" ")
        if len(parts) < 5:
            raise ValueError(f"bad encoded TopicConfig {text!r}")
        attributes = orjson.loads(parts[5]) if len(parts) > 5 and parts[5] else {}
        return cls(
            topic_name=parts[0],
            read_queue_nums=int(parts[1]),
            write_queue_nums=int(parts[2]),
            perm=int(parts[3]),
            topic_filter_type=parts[4],
            attributes={str(k): str(v) for k, v in attributes.items()},
        )


def _as_bool(value: object) -> bool:
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)
