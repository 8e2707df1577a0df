"""The one exception tree of rocketq.

::

    RocketQError
    ├── ClientError                 misuse of the API (bad argument, wrong state)
    │   └── ConfigError             a setting's value is not allowed (also a ValueError)
    ├── RemotingError               the wire failed us
    │   ├── RemotingConnectError    could not connect to the address
    │   ├── RemotingTimeoutError    no response within the timeout
    │   ├── RemotingSendRequestError  the request could not be written / connection lost
    │   └── ProtocolError           the peer sent bytes that are not RocketMQ remoting frames
    └── BrokerError(code, remark)   a NameServer or Broker answered with a non-success code

Layers translate lower errors with ``raise ... from exc`` so that the cause stays visible.
"""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "ClientError",
    "ConfigError",
    "ProtocolError",
    "RemotingConnectError",
    "RemotingError",
    "RemotingSendRequestError",
    "RemotingTimeoutError",
    "RocketQError",
]

# Response codes after which RocketMQ's producer tries another broker
# (DefaultMQProducerImpl#sendDefaultImpl retryResponseCodes).
_RETRIABLE_CODES = frozenset({1, 2, 14, 16, 17, 204, 205})


class RocketQError(Exception):
    """Root of every error raised by rocketq."""


class ClientError(RocketQError):
    """The API was used in a way it does not support."""


class ConfigError(ClientError, ValueError):
    """A configuration value is not allowed; the message names the key, the value and
    what is allowed."""


class RemotingError(RocketQError):
    """A remoting (transport level) failure."""


class RemotingConnectError(RemotingError):
    """Connecting to a remote address failed."""


class RemotingTimeoutError(RemotingError):
    """A request got no response within its timeout."""


class RemotingSendRequestError(RemotingError):
    """A request could not be sent, or its connection closed before the answer."""


class ProtocolError(RemotingError):
    """Bytes that do not form a valid RocketMQ remoting frame."""


class BrokerError(RocketQError):
    """A server answered with a response code other than SUCCESS."""

    def __init__(self, code: int, remark: str | None = None) -> None:
        self.code = code
        self.remark = remark or ""
        super().__init__(f"CODE: {code}  DESC: {self.remark}")

    @property
    def retriable(self) -> bool:
        """True when RocketMQ's clients would retry the call on another broker."""
        return self.code in _RETRIABLE_CODES
