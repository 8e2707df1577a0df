"""Namespaces: one cluster shared by several tenants, each topic and group named
``<namespace>%<name>`` on the wire (RocketMQ ``NamespaceUtil``, ``ClientConfig#withNamespace``).

A client with ``ClientConfig.namespace`` set uses plain names in its API; producers and
consumers wrap topics and groups on the way out and unwrap them on the way in. Retry and
dead-letter topics keep their prefix in front (``%RETRY%ns%group``); RocketMQ's system
topics and groups are never wrapped.
"""

from __future__ import annotations

from rocketq.client.message import MessageQueue
from rocketq.common.topic import (
    DLQ_GROUP_TOPIC_PREFIX,
    RETRY_GROUP_TOPIC_PREFIX,
    SYSTEM_TOPIC_PREFIX,
    SYSTEM_TOPICS,
    TRACE_TOPIC,
)

__all__ = [
    "NAMESPACE_SEPARATOR",
    "queue_with_namespace",
    "queue_without_namespace",
    "with_namespace",
    "without_namespace",
]

# NamespaceUtil.NAMESPACE_SEPARATOR.
NAMESPACE_SEPARATOR = "%"
# MixAll.isSysConsumerGroup: groups named CID_RMQ_SYS_... are RocketMQ's own.
_SYS_GROUP_PREFIX = "CID_RMQ_SYS_"
# MixAll's built-in groups (TOOLS_CONSUMER, the trace and client-inner producers, ...).
_SYS_GROUPS = frozenset(
    {
        "TOOLS_CONSUMER",
        "FILTERSRV_CONSUMER",
        "__MONITOR_CONSUMER",
        "CLIENT_INNER_PRODUCER",
        "SELF_TEST_P_GROUP",
        "SELF_TEST_C_GROUP",
        "CID_ONS-HTTP-PROXY",
        "CID_ONSAPI_PERMISSION",
        "CID_ONSAPI_OWNER",
        "CID_ONSAPI_PULL",
        "CID_RMQ_SYS_TRANS",
    }
)


def _is_system(resource: str) -> bool:
    """``isSystemResource``: a system topic or group."""
    return (
        resource in SYSTEM_TOPICS
        or resource == TRACE_TOPIC
        or resource.startswith(SYSTEM_TOPIC_PREFIX)
        or resource.startswith(_SYS_GROUP_PREFIX)
        or resource in _SYS_GROUPS
    )


def _split_prefix(resource: str) -> tuple[str, str]:
    """(``%RETRY%``/``%DLQ%``/"", the rest)."""
    for prefix in (RETRY_GROUP_TOPIC_PREFIX, DLQ_GROUP_TOPIC_PREFIX):
        if resource.startswith(prefix):
            return prefix, resource[len(prefix) :]
    return "", resource


def with_namespace(namespace: str | None, resource: str) -> str:
    """``wrapNamespace``: ``topic`` -> ``ns%topic``, ``%RETRY%group`` -> ``%RETRY%ns%group``;
    unchanged without a namespace, for system resources and when already wrapped."""
    if not namespace or not resource or _is_system(resource):
        return resource
    prefix, rest = _split_prefix(resource)
    if rest.startswith(namespace + NAMESPACE_SEPARATOR):
        return resource
    return f"{prefix}{namespace}{NAMESPACE_SEPARATOR}{rest}"


def without_namespace(namespace: str | None, resource: str) -> str:
    """``withoutNamespace(resource, namespace)``: the plain name when ``resource`` carries
    this namespace, else ``resource`` unchanged."""
    if not namespace or not resource or _is_system(resource):
        return resource
    prefix, rest = _split_prefix(resource)
    if not rest.startswith(namespace + NAMESPACE_SEPARATOR):
        return resource
    return prefix + rest[len(namespace) + 1 :]


def queue_with_namespace(namespace: str | None, mq: MessageQueue) -> MessageQueue:
    """``queueWithNamespace``: the queue with its topic wrapped."""
    if not namespace:
        return mq
    return MessageQueue(with_namespace(namespace, mq.topic), mq.broker_name, mq.queue_id)


def queue_without_namespace(namespace: str | None, mq: MessageQueue) -> MessageQueue:
    """The queue with its topic unwrapped (``parsePublishMessageQueues``)."""
    if not namespace:
        return mq
    return MessageQueue(without_namespace(namespace, mq.topic), mq.broker_name, mq.queue_id)
