"""Queue selectors for sends to a chosen queue (RocketMQ ``MessageQueueSelector`` and its
``SelectMessageQueueByHash`` / ``ByRandom`` / ``ByMachineRoom``).

A selector is any callable ``(queues, message, arg) -> queue``; ``send``, ``send_async``,
``send_oneway``, ``send_batch`` and ``request`` take one with its ``arg``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

from rocketq.client.message import Message, MessageQueue
from rocketq.common.errors import ClientError
from rocketq.common.hashing import java_string_hash

__all__ = [
    "MessageQueueSelector",
    "SelectMessageQueueByHash",
    "SelectMessageQueueByMachineRoom",
    "SelectMessageQueueByRandom",
]

MessageQueueSelector = Callable[[list[MessageQueue], Message, object], MessageQueue]

# AllocateMessageQueueByMachineRoom's broker naming: "<machine room>@<broker name>".
_ROOM_SEPARATOR = "@"


def SelectMessageQueueByHash(mqs: list[MessageQueue], msg: Message, arg: object) -> MessageQueue:
    """RocketMQ's ``SelectMessageQueueByHash``: ``abs(hash(arg)) % len(mqs)`` with Java's
    String hash, so messages with one key (e.g. an order id) keep one queue."""
    h = java_string_hash(str(arg)) if not isinstance(arg, int) else arg
    return mqs[abs(h) % len(mqs)]


class SelectMessageQueueByRandom:
    """Any queue, at random (``SelectMessageQueueByRandom``); ``seed`` makes it repeatable."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)

    def __call__(self, mqs: list[MessageQueue], msg: Message, arg: object) -> MessageQueue:
        """Pick one of ``mqs``."""
        return mqs[self._random.randrange(len(mqs))]


class SelectMessageQueueByMachineRoom:
    """A random queue of a broker in one of ``consume_idcs``, brokers being named
    ``"<room>@<broker>"`` as ``AllocateMessageQueueByMachineRoom`` expects.

    Java's class of this name is a stub that returns no queue (so every send with it
    fails); this one does what its name says. With no rooms given every queue may be
    chosen; when no broker is in the rooms the send fails with ClientError.
    """

    def __init__(self, consume_idcs: Iterable[str] = (), seed: int | None = None) -> None:
        self.consume_idcs = set(consume_idcs)
        self._random = random.Random(seed)

    def __call__(self, mqs: list[MessageQueue], msg: Message, arg: object) -> MessageQueue:
        """Pick a queue of a broker in the rooms."""
        fit = [mq for mq in mqs if self._in_rooms(mq.broker_name)]
        if not fit:
            raise ClientError(
                f"no queue of {msg.topic} is on a broker of the machine rooms "
                f"{sorted(self.consume_idcs)} (brokers named '<room>@<name>')"
            )
        return fit[self._random.randrange(len(fit))]

    def _in_rooms(self, broker_name: str) -> bool:
        if not self.consume_idcs:
            return True
        room, sep, _name = broker_name.partition(_ROOM_SEPARATOR)
        return bool(sep) and room in self.consume_idcs
