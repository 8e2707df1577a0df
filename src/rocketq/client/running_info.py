"""What a consumer tells the admin tools through its broker (RocketMQ
``ConsumerRunningInfo``, ``ProcessQueueInfo``, ``ConsumeMessageDirectlyResult``, ``CMResult``,
``GetConsumerStatusBody``) and the thread dump that stands for Java's jstack.

Bodies are written as fastjson writes them (:func:`rocketq.remoting.fastjson.dumps_java`):
``mqTable`` is keyed by the MessageQueue object itself, so Java's mqadmin reads them back.

```
ConsumerRunningInfo {properties: {PROP_*: str, <consumer settings>: str},
                     subscriptionSet: [SubscriptionData],
                     mqTable: {MessageQueue: ProcessQueueInfo},
                     statusTable: {topic: ConsumeStatus}, jstack?: str}
```
"""

from __future__ import annotations

import asyncio
import enum
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rocketq.client.message import MessageQueue
from rocketq.client.offset_store import ReadOffsetType
from rocketq.client.process_queue import ProcessQueueStats
from rocketq.client.stats import ConsumeStatus
from rocketq.common.errors import BrokerError, RemotingError
from rocketq.remoting import fastjson
from rocketq.remoting.fastjson import ObjectKey
from rocketq.remoting.heartbeat import SubscriptionData

if TYPE_CHECKING:
    from rocketq.client.push_consumer import AsyncPushConsumer

__all__ = [
    "CLIENT_VERSION_DESC",
    "PROP_CLIENT_VERSION",
    "PROP_CONSUMER_START_TIMESTAMP",
    "PROP_CONSUME_ORDERLY",
    "PROP_CONSUME_TYPE",
    "PROP_NAMESERVER_ADDR",
    "PROP_THREADPOOL_CORE_SIZE",
    "CMResult",
    "ConsumeMessageDirectlyResult",
    "ConsumerRunningInfo",
    "consumer_status_body",
    "mq_key",
    "process_queue_info",
    "push_running_info",
    "settings_properties",
    "thread_dump",
]

# ConsumerRunningInfo's property names (PROP_CONSUME_ORDERLY is spelt without the
# underscore on the wire, as Java's constant value is).
PROP_NAMESERVER_ADDR = "PROP_NAMESERVER_ADDR"
PROP_THREADPOOL_CORE_SIZE = "PROP_THREADPOOL_CORE_SIZE"
PROP_CONSUME_ORDERLY = "PROP_CONSUMEORDERLY"
PROP_CONSUME_TYPE = "PROP_CONSUME_TYPE"
PROP_CLIENT_VERSION = "PROP_CLIENT_VERSION"
PROP_CONSUMER_START_TIMESTAMP = "PROP_CONSUMER_START_TIMESTAMP"
# MQVersion.getVersionDesc(CURRENT_VERSION) of the client rocketq speaks as (4.9.4).
CLIENT_VERSION_DESC = "V4_9_4"


class CMResult(enum.Enum):
    """What a directly consumed message came to (Java ``CMResult``)."""

    CR_SUCCESS = "CR_SUCCESS"
    CR_LATER = "CR_LATER"
    CR_ROLLBACK = "CR_ROLLBACK"
    CR_COMMIT = "CR_COMMIT"
    CR_THROW_EXCEPTION = "CR_THROW_EXCEPTION"
    CR_RETURN_NULL = "CR_RETURN_NULL"


@dataclass(frozen=True, slots=True)
class ConsumeMessageDirectlyResult:
    """The answer to CONSUME_MESSAGE_DIRECTLY (Java ``ConsumeMessageDirectlyResult``)."""

    order: bool = False
    auto_commit: bool = True
    consume_result: CMResult | None = None
    remark: str | None = None
    spent_time_mills: int = 0

    def to_obj(self) -> dict[str, Any]:
        """fastjson's shape (null fields left out, as fastjson does)."""
        obj: dict[str, Any] = {"autoCommit": self.auto_commit, "order": self.order}
        if self.consume_result is not None:
            obj["consumeResult"] = self.consume_result.value
        if self.remark is not None:
            obj["remark"] = self.remark
        obj["spentTimeMills"] = self.spent_time_mills
        return obj

    def encode(self) -> bytes:
        """The response body."""
        return fastjson.dumps_java(self.to_obj())


def mq_key(mq: MessageQueue) -> ObjectKey:
    """A MessageQueue as a fastjson object key."""
    return ObjectKey(sorted(mq.to_obj().items()))


def process_queue_info(commit_offset: int, s: ProcessQueueStats) -> dict[str, Any]:
    """``ProcessQueueInfo`` (``fillProcessQueueInfo`` plus the committed offset)."""
    return {
        "cachedMsgCount": s.cached_msg_count,
        "cachedMsgMaxOffset": s.cached_msg_max_offset,
        "cachedMsgMinOffset": s.cached_msg_min_offset,
        "cachedMsgSizeInMiB": s.cached_msg_size_mib,
        "commitOffset": commit_offset,
        "droped": s.dropped,  # sic: Java's field name
        "lastConsumeTimestamp": s.last_consume_timestamp,
        "lastLockTimestamp": s.last_lock_timestamp,
        "lastPullTimestamp": s.last_pull_timestamp,
        "locked": s.locked,
        "transactionMsgCount": s.transaction_msg_count,
        "transactionMsgMaxOffset": s.transaction_msg_max_offset,
        "transactionMsgMinOffset": s.transaction_msg_min_offset,
        "tryUnlockTimes": s.try_unlock_times,
    }


@dataclass(slots=True)
class ConsumerRunningInfo:
    """A consumer's running state (Java ``ConsumerRunningInfo``); built by the consumer,
    completed by the client instance (name servers, consume type, version)."""

    properties: dict[str, str] = field(default_factory=dict)
    subscriptions: list[SubscriptionData] = field(default_factory=list)
    mq_table: dict[MessageQueue, dict[str, Any]] = field(default_factory=dict)
    status_table: dict[str, ConsumeStatus] = field(default_factory=dict)
    jstack: str | None = None

    def to_obj(self) -> dict[str, Any]:
        """fastjson's shape: subscriptions and queues sorted as Java's TreeSet/TreeMap."""
        subs = sorted(self.subscriptions, key=lambda s: (s.topic, s.sub_string))
        obj: dict[str, Any] = {
            "mqTable": {mq_key(mq): info for mq, info in sorted(self.mq_table.items())},
            "properties": dict(sorted(self.properties.items())),
            "statusTable": {t: s.to_obj() for t, s in sorted(self.status_table.items())},
            "subscriptionSet": [s.to_obj() for s in subs],
        }
        if self.jstack is not None:
            obj["jstack"] = self.jstack
        return obj

    def encode(self) -> bytes:
        """The response body."""
        return fastjson.dumps_java(self.to_obj())


def consumer_status_body(offsets: Mapping[MessageQueue, int]) -> bytes:
    """``GetConsumerStatusBody`` with ``messageQueueTable`` (the client's answer to
    GET_CONSUMER_STATUS_FROM_CLIENT; ``consumerTable`` is the broker's to fill)."""
    table = {mq_key(mq): offset for mq, offset in sorted(offsets.items())}
    return fastjson.dumps_java({"consumerTable": {}, "messageQueueTable": table})


def settings_properties(names: Iterable[tuple[str, object]]) -> dict[str, str]:
    """``MixAll.object2Properties``: each non-null setting as text (Java's toString)."""
    out: dict[str, str] = {}
    for name, value in names:
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = str(value).lower()
        elif isinstance(value, float) and value.is_integer():
            out[name] = str(int(value))  # Java's long/int settings print without ".0"
        else:
            out[name] = str(value)
    return out


async def push_running_info(consumer: AsyncPushConsumer) -> ConsumerRunningInfo:
    """``DefaultMQPushConsumerImpl#consumerRunningInfo``: settings, subscriptions, each
    owned queue's ProcessQueueInfo with its committed offset, each topic's ConsumeStatus."""
    props = settings_properties(_push_settings(consumer))
    props[PROP_CONSUME_ORDERLY] = str(consumer.orderly).lower()
    props[PROP_THREADPOOL_CORE_SIZE] = str(consumer.config.consume_thread_min)
    props[PROP_CONSUMER_START_TIMESTAMP] = str(consumer.start_timestamp)
    subs = list(consumer.subscriptions.values())
    info = ConsumerRunningInfo(properties=props, subscriptions=subs)
    for mq, pq in list(consumer.process_queues.items()):
        try:  # readOffset(MEMORY_FIRST_THEN_STORE)
            store = consumer.offset_store
            commit = await store.read_offset(mq, ReadOffsetType.MEMORY_FIRST_THEN_STORE)
        except (RemotingError, BrokerError):
            commit = -1
        info.mq_table[mq] = process_queue_info(commit, pq.stats())
    stats = consumer.instance.consumer_stats
    for topic in consumer.subscriptions:
        info.status_table[topic] = stats.consume_status(consumer.group, topic)
    return info


def _push_settings(consumer: AsyncPushConsumer) -> list[tuple[str, object]]:
    """``object2Properties(defaultMQPushConsumer)``: its settings by Java field name."""
    c = consumer.config
    return [
        ("consumerGroup", consumer.group),
        ("messageModel", c.message_model),
        ("consumeFromWhere", c.consume_from_where),
        ("consumeTimestamp", c.consume_timestamp),
        ("allocateMessageQueueStrategy", type(consumer.strategy).__name__),
        ("consumeThreadMin", c.consume_thread_min),
        ("consumeThreadMax", c.consume_thread_max),
        ("consumeConcurrentlyMaxSpan", c.consume_concurrently_max_span),
        ("pullThresholdForQueue", c.pull_threshold_for_queue),
        ("pullThresholdSizeForQueue", c.pull_threshold_size_for_queue),
        ("pullInterval", c.pull_interval),
        ("consumeMessageBatchMaxSize", c.consume_message_batch_max_size),
        ("pullBatchSize", c.pull_batch_size),
        ("unitMode", consumer.instance.config.unit_mode),
        ("maxReconsumeTimes", c.max_reconsume_times),
        ("suspendCurrentQueueTimeMillis", c.suspend_current_queue_time_millis),
        ("consumeTimeout", c.consume_timeout),
    ]


def thread_dump() -> str:
    """Every thread's stack and every asyncio task of this loop (what ``UtilAll.jstack``
    gives a Java client: the process's threads and where they are)."""
    lines: list[str] = []
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        lines.append(f"Thread: {names.get(ident, ident)}")
        lines.extend("    " + ln.strip() for ln in traceback.format_stack(frame) if ln.strip())
        lines.append("")
    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:  # no running loop
        tasks = set()
    for task in sorted(tasks, key=lambda t: t.get_name()):
        lines.append(f"Task: {task.get_name()}")
        for frame in task.get_stack(limit=8):
            code = frame.f_code
            lines.append(f"    at {code.co_name}({code.co_filename}:{frame.f_lineno})")
        lines.append("")
    return "\n".join(lines)
