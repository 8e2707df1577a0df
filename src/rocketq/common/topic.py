"""Topic configuration, permissions and RocketMQ's system topic names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "AUTO_CREATE_TOPIC_KEY_TOPIC",
    "PERM_INHERIT",
    "PERM_PRIORITY",
    "PERM_READ",
    "PERM_WRITE",
    "TopicConfig",
    "perm_to_string",
]

# PermName: bit flags of a topic or broker.
PERM_PRIORITY = 8
PERM_READ = 4
PERM_WRITE = 2
PERM_INHERIT = 1

# TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC: the template for auto-created topics.
AUTO_CREATE_TOPIC_KEY_TOPIC = "TBW102"

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
