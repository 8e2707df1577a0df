"""HEART_BEAT bodies and subscriptions (RocketMQ ``protocol/heartbeat``).

Real clients differ (client-behaviour.md §12.2): Java and ali-ons write enums by name and
``subVersion`` as a number; the C++ client writes enums as ordinals, ``subVersion`` as a
string and omits empty sets. Readers accept all of it; writers use Java's form.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rocketq.common.hashing import java_string_hash
from rocketq.remoting import fastjson

__all__ = [
    "CONSUME_FROM_WHERE",
    "CONSUME_TYPES",
    "MESSAGE_MODELS",
    "ConsumerData",
    "HeartbeatData",
    "ProducerData",
    "SubscriptionData",
    "build_subscription",
]

SUB_ALL = "*"
EXPRESSION_TAG = "TAG"
EXPRESSION_SQL92 = "SQL92"
# Enum names by ordinal (ConsumeType, MessageModel, ConsumeFromWhere).
CONSUME_TYPES = ("CONSUME_ACTIVELY", "CONSUME_PASSIVELY", "CONSUME_POP")
MESSAGE_MODELS = ("BROADCASTING", "CLUSTERING")
CONSUME_FROM_WHERE = (
    "CONSUME_FROM_LAST_OFFSET",
    "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
    "CONSUME_FROM_MIN_OFFSET",
    "CONSUME_FROM_MAX_OFFSET",
    "CONSUME_FROM_FIRST_OFFSET",
    "CONSUME_FROM_TIMESTAMP",
)


def _enum(value: object, names: tuple[str, ...], default: str) -> str:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return names[value] if 0 <= value < len(names) else default
    if isinstance(value, str):
        if value.isdigit():
            return _enum(int(value), names, default)
        return value or default
    return default


def _flag(value: object) -> bool:
    return value.lower() == "true" if isinstance(value, str) else bool(value)


@dataclass(slots=True)
class SubscriptionData:
    """One topic subscription: tag expression (or SQL92), its tags and their hash codes."""

    topic: str
    sub_string: str = SUB_ALL
    tags_set: list[str] = field(default_factory=list)
    code_set: list[int] = field(default_factory=list)
    sub_version: int = 0
    expression_type: str = EXPRESSION_TAG
    class_filter_mode: bool = False

    @property
    def matches_all(self) -> bool:
        """True for ``*`` (every tag)."""
        return self.expression_type == EXPRESSION_TAG and (
            not self.sub_string or self.sub_string == SUB_ALL or not self.tags_set
        )

    def to_obj(self) -> dict[str, Any]:
        return {
            "classFilterMode": self.class_filter_mode,
            "codeSet": self.code_set,
            "expressionType": self.expression_type,
            "subString": self.sub_string,
            "subVersion": self.sub_version,
            "tagsSet": self.tags_set,
            "topic": self.topic,
        }

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> SubscriptionData:
        sub_string = str(obj.get("subString") or SUB_ALL)
        expression_type = str(obj.get("expressionType") or EXPRESSION_TAG)
        tags = [str(t) for t in obj.get("tagsSet") or []]
        codes = [int(c) for c in obj.get("codeSet") or []]
        if expression_type == EXPRESSION_TAG and sub_string != SUB_ALL and not tags:
            rebuilt = build_subscription(str(obj.get("topic", "")), sub_string)
            tags, codes = rebuilt.tags_set, rebuilt.code_set
        return cls(
            topic=str(obj.get("topic", "")),
            sub_string=sub_string,
            tags_set=tags,
            code_set=codes,
            sub_version=int(obj.get("subVersion") or 0),
            expression_type=expression_type,
            class_filter_mode=_flag(obj.get("classFilterMode", False)),
        )


def build_subscription(
    topic: str, expression: str | None, expression_type: str = EXPRESSION_TAG
) -> SubscriptionData:
    """``FilterAPI#buildSubscriptionData``: ``"A || B"`` -> tags and Java hash codes."""
    expression = (expression or "").strip()
    data = SubscriptionData(topic, sub_version=time.time_ns() // 1000)
    data.expression_type = expression_type or EXPRESSION_TAG
    if data.expression_type != EXPRESSION_TAG:
        data.sub_string = expression
        return data
    if not expression or expression == SUB_ALL:
        data.sub_string = SUB_ALL
        return data
    data.sub_string = expression
    for tag in (t.strip() for t in expression.split("||")):
        if tag and tag not in data.tags_set:
            data.tags_set.append(tag)
            data.code_set.append(java_string_hash(tag))
    return data


@dataclass(slots=True)
class ConsumerData:
    """A consumer group as one client runs it."""

    group_name: str
    consume_type: str = "CONSUME_PASSIVELY"
    message_model: str = "CLUSTERING"
    consume_from_where: str = "CONSUME_FROM_LAST_OFFSET"
    subscription_data_set: list[SubscriptionData] = field(default_factory=list)
    unit_mode: bool = False

    def to_obj(self) -> dict[str, Any]:
        return {
            "consumeFromWhere": self.consume_from_where,
            "consumeType": self.consume_type,
            "groupName": self.group_name,
            "messageModel": self.message_model,
            "subscriptionDataSet": [s.to_obj() for s in self.subscription_data_set],
            "unitMode": self.unit_mode,
        }

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> ConsumerData:
        return cls(
            group_name=str(obj.get("groupName", "")),
            consume_type=_enum(obj.get("consumeType"), CONSUME_TYPES, "CONSUME_PASSIVELY"),
            message_model=_enum(obj.get("messageModel"), MESSAGE_MODELS, "CLUSTERING"),
            consume_from_where=_enum(
                obj.get("consumeFromWhere"), CONSUME_FROM_WHERE, "CONSUME_FROM_LAST_OFFSET"
            ),
            subscription_data_set=[
                SubscriptionData.from_obj(s) for s in obj.get("subscriptionDataSet") or []
            ],
            unit_mode=_flag(obj.get("unitMode", False)),
        )


@dataclass(slots=True)
class ProducerData:
    """A producer group a client runs."""

    group_name: str

    def to_obj(self) -> dict[str, Any]:
        return {"groupName": self.group_name}


@dataclass(slots=True)
class HeartbeatData:
    """HEART_BEAT body: who the client is and which groups it runs."""

    client_id: str
    producer_data_set: list[ProducerData] = field(default_factory=list)
    consumer_data_set: list[ConsumerData] = field(default_factory=list)

    def encode(self) -> bytes:
        """Java's form."""
        return fastjson.dumps(
            {
                "clientID": self.client_id,
                "consumerDataSet": [c.to_obj() for c in self.consumer_data_set],
                "producerDataSet": [p.to_obj() for p in self.producer_data_set],
            }
        )

    @classmethod
    def decode(cls, data: bytes | None) -> HeartbeatData:
        """Parse any client's form; raises ProtocolError on malformed JSON."""
        obj = fastjson.loads(data or b"{}")
        if not isinstance(obj, dict):
            obj = {}
        return cls(
            client_id=str(obj.get("clientID", "")),
            producer_data_set=[
                ProducerData(str(p.get("groupName", ""))) for p in obj.get("producerDataSet") or []
            ],
            consumer_data_set=[ConsumerData.from_obj(c) for c in obj.get("consumerDataSet") or []],
        )
