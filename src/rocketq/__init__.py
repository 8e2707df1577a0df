"""rocketq: Apache RocketMQ rebuilt in Python, speaking RocketMQ's wire protocol.

Clients: ``Producer``/``TransactionProducer``/``PushConsumer``/``LitePullConsumer``/
``PullConsumer`` block (they run on a background event loop); ``AsyncProducer``/
``AsyncTransactionProducer``/``AsyncPushConsumer``/… are asyncio.

Every public name is imported on first use (PEP 562 ``__getattr__``): ``python -m rocketq
namesrv`` then loads neither the clients nor the admin, which keeps a server's start to
ready short (most of it is import time).
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from rocketq.admin.api import AdminClient
    from rocketq.client import (
        AsyncLitePullConsumer,
        AsyncProducer,
        AsyncPullConsumer,
        AsyncPushConsumer,
        AsyncSimpleConsumer,
        AsyncTransactionProducer,
        ClientConfig,
        ConsumeConcurrentlyContext,
        ConsumeConcurrentlyStatus,
        ConsumeOrderlyContext,
        ConsumeOrderlyStatus,
        ConsumerConfig,
        LitePullConsumer,
        LitePullConsumerConfig,
        LocalTransactionState,
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
        ReceivedMessage,
        SendResult,
        SendStatus,
        SimpleConsumer,
        TransactionProducer,
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

# public name -> the module that defines it
_HOMES: dict[str, str] = {
    "AdminClient": "rocketq.admin.api",
    "AsyncLitePullConsumer": "rocketq.client",
    "AsyncProducer": "rocketq.client",
    "AsyncPullConsumer": "rocketq.client",
    "AsyncPushConsumer": "rocketq.client",
    "AsyncSimpleConsumer": "rocketq.client",
    "AsyncTransactionProducer": "rocketq.client",
    "BrokerError": "rocketq.common.errors",
    "ClientConfig": "rocketq.client",
    "ClientError": "rocketq.common.errors",
    "ConsumeConcurrentlyContext": "rocketq.client",
    "ConsumeConcurrentlyStatus": "rocketq.client",
    "ConsumeOrderlyContext": "rocketq.client",
    "ConsumeOrderlyStatus": "rocketq.client",
    "ConsumerConfig": "rocketq.client",
    "LitePullConsumer": "rocketq.client",
    "LitePullConsumerConfig": "rocketq.client",
    "LocalTransactionState": "rocketq.client",
    "Message": "rocketq.client",
    "MessageExt": "rocketq.client",
    "MessageQueue": "rocketq.client",
    "NamesrvConfig": "rocketq.namesrv.config",
    "NamesrvController": "rocketq.namesrv.controller",
    "Producer": "rocketq.client",
    "ProducerConfig": "rocketq.client",
    "ProtocolError": "rocketq.common.errors",
    "PullConsumer": "rocketq.client",
    "PullConsumerConfig": "rocketq.client",
    "PullResult": "rocketq.client",
    "PullStatus": "rocketq.client",
    "PushConsumer": "rocketq.client",
    "ReceivedMessage": "rocketq.client",
    "RemotingConnectError": "rocketq.common.errors",
    "RemotingError": "rocketq.common.errors",
    "RemotingSendRequestError": "rocketq.common.errors",
    "RemotingTimeoutError": "rocketq.common.errors",
    "RocketQError": "rocketq.common.errors",
    "SendResult": "rocketq.client",
    "SendStatus": "rocketq.client",
    "SimpleConsumer": "rocketq.client",
    "TransactionProducer": "rocketq.client",
}

__all__ = [
    "AdminClient",
    "AsyncLitePullConsumer",
    "AsyncProducer",
    "AsyncPullConsumer",
    "AsyncPushConsumer",
    "AsyncSimpleConsumer",
    "AsyncTransactionProducer",
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
    "LocalTransactionState",
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
    "ReceivedMessage",
    "RemotingConnectError",
    "RemotingError",
    "RemotingSendRequestError",
    "RemotingTimeoutError",
    "RocketQError",
    "SendResult",
    "SendStatus",
    "SimpleConsumer",
    "TransactionProducer",
]


def __getattr__(name: str) -> _typing.Any:
    """Import a public name from its home module the first time it is asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'rocketq' has no attribute {name!r}")
    value = getattr(_importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
