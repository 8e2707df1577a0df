"""The public API is exactly what ``__all__`` says, and every name in it exists."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

PUBLIC_MODULES = [
    "rocketq",
    "rocketq.remoting",
    "rocketq.remoting.headers",
    "rocketq.namesrv",
    "rocketq.admin",
    "rocketq.client",
    "rocketq.testing",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_names_exist_and_are_documented(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__doc__, f"{name} has no docstring"
    for member in module.__all__:
        obj = getattr(module, member)
        if callable(obj):
            assert obj.__doc__, f"{name}.{member} has no docstring"


def test_top_level_api() -> None:
    import rocketq

    assert set(rocketq.__all__) == {
        "AdminClient",
        "BrokerError",
        "ClientError",
        "NamesrvConfig",
        "NamesrvController",
        "ProtocolError",
        "RemotingConnectError",
        "RemotingError",
        "RemotingSendRequestError",
        "RemotingTimeoutError",
        "RocketQError",
        # the client: blocking facades, asyncio cores, messages, statuses, settings
        "Producer",
        "PushConsumer",
        "LitePullConsumer",
        "PullConsumer",
        "SimpleConsumer",
        "AsyncSimpleConsumer",
        "ReceivedMessage",
        "AsyncProducer",
        "AsyncPushConsumer",
        "AsyncLitePullConsumer",
        "AsyncPullConsumer",
        "TransactionProducer",
        "AsyncTransactionProducer",
        "LocalTransactionState",
        "Message",
        "MessageExt",
        "MessageQueue",
        "SendResult",
        "SendStatus",
        "PullResult",
        "PullStatus",
        "ConsumeConcurrentlyStatus",
        "ConsumeConcurrentlyContext",
        "ConsumeOrderlyStatus",
        "ConsumeOrderlyContext",
        "ClientConfig",
        "ProducerConfig",
        "ConsumerConfig",
        "LitePullConsumerConfig",
        "PullConsumerConfig",
    }
    public = {n for n in dir(rocketq) if not n.startswith("_")}
    # submodules some test imported are attributes too (rocketq.bench, rocketq.cli, ...);
    # nothing else leaks
    leaked = {
        n for n in public - set(rocketq.__all__) if not isinstance(getattr(rocketq, n), ModuleType)
    }
    assert leaked == set()
