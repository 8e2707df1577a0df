"""The Python client: producers and consumers, asyncio cores and blocking facades.

asyncio: ``AsyncProducer``, ``AsyncTransactionProducer``, ``AsyncPushConsumer``,
``AsyncLitePullConsumer``, ``AsyncPullConsumer``. Blocking (they run the same cores on one
background loop thread): ``Producer``, ``TransactionProducer``, ``PushConsumer``,
``LitePullConsumer``, ``PullConsumer``. Request-reply: ``AsyncProducer.request`` and
``create_reply_message``; message trace: ``enable_msg_trace`` in the producer and consumer
settings; namespaces: ``ClientConfig.namespace``.
"""

from rocketq.client.config import ClientConfig, ConsumerConfig, ProducerConfig
from rocketq.client.consume_service import (
    ConsumeConcurrentlyContext,
    ConsumeConcurrentlyStatus,
    ConsumeOrderlyContext,
    ConsumeOrderlyStatus,
)
from rocketq.client.instance import MQClientInstance
from rocketq.client.message import (
    Message,
    MessageExt,
    MessageQueue,
    PullResult,
    PullStatus,
    SendResult,
    SendStatus,
)
from rocketq.client.producer import AsyncProducer
from rocketq.client.pull_consumer import (
    AsyncLitePullConsumer,
    AsyncPullConsumer,
    LitePullConsumerConfig,
    PullConsumerConfig,
)
from rocketq.client.push_consumer import AsyncPushConsumer
from rocketq.client.request import RequestTimeoutError, create_reply_message
from rocketq.client.selectors import (
    SelectMessageQueueByHash,
    SelectMessageQueueByMachineRoom,
    SelectMessageQueueByRandom,
)
from rocketq.client.simple_consumer import AsyncSimpleConsumer, ReceivedMessage, SimpleConsumer
from rocketq.client.sync import (
    BackgroundLoop,
    LitePullConsumer,
    Producer,
    PullConsumer,
    PushConsumer,
    TransactionProducer,
)
from rocketq.client.transaction import (
    AsyncTransactionProducer,
    LocalTransactionState,
    TransactionSendResult,
)

__all__ = [
    "AsyncLitePullConsumer",
    "AsyncProducer",
    "AsyncPullConsumer",
    "AsyncPushConsumer",
    "AsyncSimpleConsumer",
    "AsyncTransactionProducer",
    "BackgroundLoop",
    "ClientConfig",
    "ConsumeConcurrentlyContext",
    "ConsumeConcurrentlyStatus",
    "ConsumeOrderlyContext",
    "ConsumeOrderlyStatus",
    "ConsumerConfig",
    "LitePullConsumer",
    "LitePullConsumerConfig",
    "LocalTransactionState",
    "MQClientInstance",
    "Message",
    "MessageExt",
    "MessageQueue",
    "Producer",
    "ProducerConfig",
    "PullConsumer",
    "PullConsumerConfig",
    "PullResult",
    "PullStatus",
    "PushConsumer",
    "ReceivedMessage",
    "RequestTimeoutError",
    "SelectMessageQueueByHash",
    "SelectMessageQueueByMachineRoom",
    "SelectMessageQueueByRandom",
    "SendResult",
    "SendStatus",
    "SimpleConsumer",
    "TransactionProducer",
    "TransactionSendResult",
    "create_reply_message",
]
