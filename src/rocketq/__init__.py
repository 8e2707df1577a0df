"""rocketq: Apache RocketMQ rebuilt in Python, speaking RocketMQ's wire protocol."""

from rocketq.admin.api import AdminClient
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
]
