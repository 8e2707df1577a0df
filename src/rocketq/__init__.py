"""rocketq: Apache RocketMQ rebuilt in Python, speaking RocketMQ's wire protocol.

Clients: ``Producer``/``PushConsumer``/``LitePullConsumer``/``PullConsumer`` block (they
run on a background event loop); ``AsyncProducer``/``AsyncPushConsumer``/… are asyncio.
"""

from rocketq.admin.api import AdminClient
from rocketq.client import (
    AsyncLitePullConsumer,
    AsyncProducer,
    AsyncPullConsumer,
    AsyncPushConsumer,
    ClientConfig,
    ConsumeConcurrentlyContext,
    ConsumeConcurrentlyStatus,
    ConsumeOrderlyContext,
    ConsumeOrderlyStatus,
    ConsumerConfig,
    LitePullConsumer,
    LitePullConsumerConfig,
    Message,
    MessageExt,
    MessageQueue,
    Producer,
    ProducerConfig,
    PullConsumer,
    PullConsumerConfig,
    PullResult,
    PullStatus,
    PushConsumer,
    SendResult,
    SendStatus,
)
from rocketq.common.errors import (
    BrokerError,
    ClientError,
    ProtocolError,
    RemotingConnectError,
    RemotingError,
    RemotingSendRequestError,
    RemotingTimeoutError,
    RocketQError,
)
from rocketq.namesrv.config import NamesrvConfig
from rocketq.namesrv.controller import NamesrvController

__all__ = [
    "AdminClient",
    "AsyncLitePullConsumer",
    "AsyncProducer",
    "AsyncPullConsumer",
    "AsyncPushConsumer",
    "BrokerError",
    "ClientConfig",
    "ClientError",
    "ConsumeConcurrentlyContext",
    "ConsumeConcurrentlyStatus",
    "ConsumeOrderlyContext",
    "ConsumeOrderlyStatus",
    "ConsumerConfig",
    "LitePullConsumer",
    "LitePullConsumerConfig",
    "Message",
    "MessageExt",
    "MessageQueue",
    "NamesrvConfig",
    "NamesrvController",
    "Producer",
    "ProducerConfig",
    "ProtocolError",
    "PullConsumer",
    "PullConsumerConfig",
    "PullResult",
    "PullStatus",
    "PushConsumer",
    "RemotingConnectError",
    "RemotingError",
    "RemotingSendRequestError",
    "RemotingTimeoutError",
    "RocketQError",
    "SendResult",
    "SendStatus",
]
