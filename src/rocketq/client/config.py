"""Client settings with RocketMQ's names and defaults (``ClientConfig``,
``DefaultMQProducer``, ``DefaultMQPushConsumer``, ``DefaultLitePullConsumer``,
``DefaultMQPullConsumer``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from rocketq.client.offset_store import default_local_offset_store_dir
from rocketq.common.topic import AUTO_CREATE_TOPIC_KEY_TOPIC

__all__ = [
    "ClientConfig",
    "ConsumerConfig",
    "LitePullConsumerConfig",
    "ProducerConfig",
    "PullConsumerConfig",
]

# DefaultMQProducer.compressMsgBodyOverHowmuch: bodies above 4 KiB are zlib-compressed.
DEFAULT_COMPRESS_OVER = 4096
# DefaultMQProducer.maxMessageSize: 4 MiB, the broker's own default limit.
DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024


def _default_namesrv() -> str:
    return os.environ.get("NAMESRV_ADDR", "127.0.0.1:9876")


@dataclass
class ClientConfig:
    """What every producer and consumer of a process shares (``ClientConfig``)."""

    namesrv_addr: str = field(default_factory=_default_namesrv)
    instance_name: str = "DEFAULT"
    client_ip: str | None = None
    # pollNameServerInterval / heartbeatBrokerInterval / persistConsumerOffsetInterval (ms).
    poll_name_server_interval: int = 30_000
    heartbeat_broker_interval: int = 30_000
    persist_consumer_offset_interval: int = 5_000
    # RebalanceService waits 20 s between rounds (rocketmq.client.rebalance.waitInterval).
    rebalance_interval: int = 20_000
    mq_client_api_timeout: int = 3_000
    # After a broker could not be reached, its topic's route is fetched again at most
    # once per this many ms (Java waits for the next poll; rocketq asks sooner so that
    # consumers find a dead master's slave within about a second, without flooding the
    # NameServer while every queue of that broker fails).
    route_refresh_after_failure_interval: int = 1_000
    unit_mode: bool = False
    # ClientConfig.namespace: topics and groups of this client's producers and consumers
    # are "<namespace>%<name>" on the wire; the API takes and returns plain names.
    namespace: str = ""

    def namesrv_addrs(self) -> list[str]:
        """The NameServer list (``;``-separated)."""
        return [a.strip() for a in self.namesrv_addr.replace(",", ";").split(";") if a.strip()]


@dataclass
class ProducerConfig:
    """``DefaultMQProducer`` settings."""

    create_topic_key: str = AUTO_CREATE_TOPIC_KEY_TOPIC
    default_topic_queue_nums: int = 4
    send_msg_timeout: int = 3_000
    compress_msg_body_over_howmuch: int = DEFAULT_COMPRESS_OVER
    retry_times_when_send_failed: int = 2
    retry_times_when_send_async_failed: int = 2
    retry_another_broker_when_not_store_ok: bool = False
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    send_latency_fault_enable: bool = False
    # DefaultMQProducer(group, enableMsgTrace, customizedTraceTopic): write a Pub trace of
    # every send to RMQ_SYS_TRACE_TOPIC (or the customized topic), batched, in background.
    enable_msg_trace: bool = False
    customized_trace_topic: str = ""


@dataclass
class ConsumerConfig:
    """``DefaultMQPushConsumer`` settings."""

    message_model: str = "CLUSTERING"
    consume_from_where: str = "CONSUME_FROM_LAST_OFFSET"
    # yyyyMMddHHmmss, used with CONSUME_FROM_TIMESTAMP (default: half an hour ago).
    consume_timestamp: str | None = None
    allocate_strategy: str = "AVG"
    consume_thread_min: int = 20
    consume_thread_max: int = 20
    consume_concurrently_max_span: int = 2000
    pull_threshold_for_queue: int = 1000
    pull_threshold_size_for_queue: int = 100  # MiB
    pull_interval: int = 0
    consume_message_batch_max_size: int = 1
    pull_batch_size: int = 32
    max_reconsume_times: int = -1  # -1 = the broker's group setting (16)
    suspend_current_queue_time_millis: int = 1000
    # Minutes a message may stay in a concurrent listener before it is sent back to the broker
    # (retried later) so its queue's offset can move on (consumeTimeout, default 15).
    consume_timeout: float = 15
    broker_suspend_max_time_millis: int = 15_000
    consumer_pull_timeout_millis: int = 30_000
    pull_time_delay_mills_when_exception: int = 1_000
    offset_store_dir: str = field(
        default_factory=lambda: os.path.join(os.path.expanduser("~"), ".rocketmq_offsets")
    )
    # DefaultMQPushConsumer(group, enableMsgTrace, customizedTraceTopic): SubBefore and
    # SubAfter traces of every consumed batch.
    enable_msg_trace: bool = False
    customized_trace_topic: str = ""


def _default_store_dir() -> str:
    return str(default_local_offset_store_dir())


@dataclass
class LitePullConsumerConfig:
    """``DefaultLitePullConsumer`` settings, with its defaults."""

    message_model: str = "CLUSTERING"
    consume_from_where: str = "CONSUME_FROM_LAST_OFFSET"
    # yyyyMMddHHmmss, used with CONSUME_FROM_TIMESTAMP (default: half an hour ago).
    consume_timestamp: str | None = None
    allocate_strategy: str = "AVG"
    auto_commit: bool = True
    auto_commit_interval_millis: int = 5_000
    # Messages per pull (and so at most per poll()).
    pull_batch_size: int = 10
    # Flow control: stop pulling while this many messages wait in the buffer overall,
    # per queue, or per queue in MiB, or while a queue's offsets span more than this.
    pull_threshold_for_all: int = 10_000
    pull_threshold_for_queue: int = 1_000
    pull_threshold_size_for_queue: int = 100
    consume_max_span: int = 2_000
    poll_timeout_millis: int = 5_000
    broker_suspend_max_time_millis: int = 20_000
    consumer_timeout_millis_when_suspend: int = 30_000
    pull_time_delay_mills_when_exception: int = 1_000
    offset_store_dir: str = field(default_factory=_default_store_dir)


@dataclass
class PullConsumerConfig:
    """``DefaultMQPullConsumer`` settings, with its defaults."""

    message_model: str = "CLUSTERING"
    broker_suspend_max_time_millis: int = 20_000
    consumer_timeout_millis_when_suspend: int = 30_000
    consumer_pull_timeout_millis: int = 10_000
    offset_store_dir: str = field(default_factory=_default_store_dir)
