"""Header of PUSH_REPLY_MESSAGE_TO_CLIENT (326), the broker handing a reply to the client
that sent the request (RocketMQ 4.6+ ``ReplyMessageRequestHeader``).

SEND_REPLY_MESSAGE (324) and SEND_REPLY_MESSAGE_V2 (325) carry the send headers
(``SendMessageRequestHeader`` / ``...V2``); the broker forwards their fields here, plus
where the reply was born and stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from rocketq.remoting.headers.base import CommandHeader

__all__ = ["ReplyMessageRequestHeader"]


@dataclass(frozen=True, slots=True)
class ReplyMessageRequestHeader(CommandHeader):
    """The reply's send header fields, ``bornHost``/``storeHost`` as ``"ip:port"`` text and
    the time the broker pushed it (``storeTimestamp``, ms)."""

    producer_group: str
    topic: str
    default_topic: str
    default_topic_queue_nums: int
    queue_id: int
    sys_flag: int
    born_timestamp: int
    flag: int
    born_host: str
    store_host: str
    store_timestamp: int
    properties: str | None = None
    reconsume_times: int | None = None
    unit_mode: bool = False
