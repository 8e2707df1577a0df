"""The one thing processors need of the broker beyond its parts: getting the topic table
to the NameServers (DESIGN house style 17: a narrow ``Protocol``, not the controller).

``BrokerController`` is the real one (``registerBrokerAll`` in RocketMQ); a test passes a
recorder.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Registrar"]


class Registrar(Protocol):
    """Registration with the NameServers, as a processor asks for it."""

    def request_register(self) -> None:
        """Topics changed: register soon (the register loop wakes at once)."""

    async def register_broker_all(self) -> int:
        """Register now and wait for the answers (the topic must be routable when the
        request that created it is answered); the count of NameServers that took it."""
