"""Headers of RocketMQ 5's POP over remoting (``PopMessageRequestHeader`` and friends,
``org.apache.rocketmq.remoting.protocol.header``, 5.3.1): POP_MESSAGE (200050),
ACK_MESSAGE (200051), CHANGE_MESSAGE_INVISIBLETIME (200053) and NOTIFICATION (200054).

The ``extraInfo`` of an ack or a change of invisible time is the message's ``POP_CK``
property (``ExtraInfoUtil``): ``startOffset popTime invisibleTime reviveQid topicType
brokerName queueId queueOffset``.
"""

from __future__ import annotations

from dataclasses import dataclass

from rocketq.remoting.headers.base import CommandHeader

__all__ = [
    "AckMessageRequestHeader",
    "ChangeInvisibleTimeRequestHeader",
    "ChangeInvisibleTimeResponseHeader",
    "NotificationRequestHeader",
    "NotificationResponseHeader",
    "PopMessageRequestHeader",
    "PopMessageResponseHeader",
]


@dataclass(frozen=True, slots=True)
class PopMessageRequestHeader(CommandHeader):
    """``PopMessageRequestHeader``: pop up to ``max_msg_nums`` of ``topic`` (``queue_id``
    -1 = every readable queue), invisible for ``invisible_time`` ms, long polling up to
    ``poll_time`` ms; ``exp_type``/``exp`` the filter (TAG or SQL92)."""

    consumer_group: str
    topic: str
    queue_id: int
    max_msg_nums: int
    invisible_time: int
    poll_time: int
    born_time: int
    init_mode: int
    exp_type: str | None = None
    exp: str | None = None
    order: bool = False
    attempt_id: str | None = None


@dataclass(frozen=True, slots=True)
class PopMessageResponseHeader(CommandHeader):
    """``PopMessageResponseHeader``: the checkpoint facts the client builds each message's
    ``POP_CK`` from. ``start_offset_info`` = ``"<type> <queueId> <startOffset>"`` per queue,
    ``msg_offset_info`` = ``"<type> <queueId> <o1>,<o2>,..."``, entries joined by ``;``."""

    pop_time: int
    invisible_time: int
    revive_qid: int
    rest_num: int
    start_offset_info: str | None = None
    msg_offset_info: str | None = None
    order_count_info: str | None = None


@dataclass(frozen=True, slots=True)
class AckMessageRequestHeader(CommandHeader):
    """``AckMessageRequestHeader``: the message at ``offset`` of ``queue_id`` is consumed;
    ``extra_info`` = its ``POP_CK``."""

    consumer_group: str
    topic: str
    queue_id: int
    extra_info: str
    offset: int


@dataclass(frozen=True, slots=True)
class ChangeInvisibleTimeRequestHeader(CommandHeader):
    """``ChangeInvisibleTimeRequestHeader``: make the message invisible for
    ``invisible_time`` ms from now."""

    consumer_group: str
    topic: str
    queue_id: int
    extra_info: str
    offset: int
    invisible_time: int


@dataclass(frozen=True, slots=True)
class ChangeInvisibleTimeResponseHeader(CommandHeader):
    """``ChangeInvisibleTimeResponseHeader``: the new checkpoint (the client's new
    ``extraInfo`` starts at the message's own offset)."""

    pop_time: int
    invisible_time: int
    revive_qid: int


@dataclass(frozen=True, slots=True)
class NotificationRequestHeader(CommandHeader):
    """``NotificationRequestHeader``: answer once a message of ``topic`` (``queue_id`` -1 =
    any queue) or of the group's pop retry topic can be popped by ``consumer_group``,
    waiting until ``born_time + poll_time`` (client clock, ms; ``born_time`` 0 = now);
    ``order``: a FIFO group, whose blocked queues do not count."""

    consumer_group: str
    topic: str
    queue_id: int
    poll_time: int
    born_time: int
    order: bool = False
    attempt_id: str | None = None


@dataclass(frozen=True, slots=True)
class NotificationResponseHeader(CommandHeader):
    """``NotificationResponseHeader``: whether there is a message to pop."""

    has_msg: bool
