"""Message trace lookups of the admin API (mqadmin's ``queryMsgTraceById``,
``QueryMsgTraceByIdSubCommand``): the trace messages indexed under a msgId, decoded into
the records about that message."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rocketq.client.trace import TraceView, decode_trace_views
from rocketq.common.topic import TRACE_TOPIC

if TYPE_CHECKING:
    from rocketq.admin.api import AdminClient

__all__ = ["query_msg_trace_by_id"]

# QueryMsgTraceByIdSubCommand: at most 64 trace messages, stored from 0 until now.
DEFAULT_MAX_NUM = 64


async def query_msg_trace_by_id(
    admin: AdminClient,
    msg_id: str,
    trace_topic: str = TRACE_TOPIC,
    max_num: int = DEFAULT_MAX_NUM,
    begin: int = 0,
    end: int | None = None,
) -> list[TraceView]:
    """Every Pub, SubBefore, SubAfter and EndTransaction record about ``msg_id`` in the
    trace topic, in the order the trace messages were stored."""
    end = int(time.time() * 1000) if end is None else end
    found = await admin.query_message(trace_topic or TRACE_TOPIC, msg_id, max_num, begin, end)
    views: list[TraceView] = []
    for trace_msg in found:
        views += decode_trace_views(msg_id, trace_msg)
    return views
