"""Topic attributes (RocketMQ 5 ``TopicAttributes``, ``AttributeParser``,
``AttributeUtil#alterCurrentAttributes``): UPDATE_AND_CREATE_TOPIC's ``attributes`` header
is a modification ``+key=value,+key2=value2,-key3`` applied to the topic's current ones.

Known keys and their values: ``message.type`` (TopicMessageType, changeable),
``queue.type`` and ``cleanup.policy`` (fixed once the topic exists). A bad modification
raises ``ValueError`` with RocketMQ's message; the broker answers SYSTEM_ERROR with it.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["TOPIC_ATTRIBUTES", "alter_attributes", "parse_modification"]

# key -> (allowed values, changeable after creation)
TOPIC_ATTRIBUTES: dict[str, tuple[frozenset[str], bool]] = {
    "message.type": (
        frozenset({"UNSPECIFIED", "NORMAL", "FIFO", "DELAY", "TRANSACTION", "MIXED"}),
        True,
    ),
    "queue.type": (frozenset({"SimpleCQ", "BatchCQ"}), False),
    "cleanup.policy": (frozenset({"DELETE", "COMPACTION"}), False),
}


def parse_modification(text: str | None) -> dict[str, str]:
    """``AttributeParser.parseToMap``: ``{"+key": value, "-key": ""}``."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for item in text.split(","):
        if "=" in item:
            key, value = item.split("=", 1)
            if "+" not in key:
                raise ValueError(f"add/alter attribute format is wrong: {key}")
        else:
            key, value = item, ""
            if "-" not in key:
                raise ValueError(f"delete attribute format is wrong: {key}")
        if key in out:
            raise ValueError(f"key duplication: {key}")
        out[key] = value
    return out


def _check_value(key: str, value: str) -> None:
    known = TOPIC_ATTRIBUTES.get(key)
    if known is None:
        raise ValueError(f"unsupported key: {key}")
    if value not in known[0]:
        raise ValueError(f"value is not in set: {sorted(known[0])}")


def alter_attributes(
    current: Mapping[str, str], modification: Mapping[str, str], create: bool
) -> dict[str, str]:
    """The attributes after applying ``modification`` (``create``: the topic is new)."""
    out = dict(current)
    for raw, value in modification.items():
        sign, key = raw[:1], raw[1:]
        if sign == "+":
            _check_value(key, value)
            if not create and key in out and out[key] != value and not TOPIC_ATTRIBUTES[key][1]:
                raise ValueError(f"attempt to update an unchangeable attribute. key: {key}")
            out[key] = value
        elif sign == "-" and not create:
            if key not in out:
                raise ValueError(f"attempt to delete a nonexistent key: {key}")
            del out[key]
        else:
            raise ValueError(f"only add attribute is supported while creating topic. key: {raw}")
    return out
