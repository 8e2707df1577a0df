"""QUERY_MESSAGE (12) and VIEW_MESSAGE_BY_ID (33) (RocketMQ ``QueryMessageProcessor``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers import (
    QueryMessageRequestHeader,
    QueryMessageResponseHeader,
    ViewMessageRequestHeader,
)

if TYPE_CHECKING:
    from rocketq.store.config import StoreConfig
    from rocketq.store.message_store import DefaultMessageStore

__all__ = ["UNIQUE_MSG_QUERY_FLAG", "QueryMessageProcessor"]

# MixAll.UNIQUE_MSG_QUERY_FLAG: an extFields flag saying the key is a UNIQ_KEY (msgId).
UNIQUE_MSG_QUERY_FLAG = "_UNIQUE_KEY_QUERY"


class QueryMessageProcessor:
    """Look messages up by index key or by commit-log offset."""

    def __init__(self, store_config: StoreConfig, store: DefaultMessageStore) -> None:
        self.store_config = store_config
        self.store = store

    def query_message(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Messages of a topic whose KEYS token or UNIQ_KEY is ``key``, within the times."""
        h = QueryMessageRequestHeader.from_ext(req.ext_fields)
        max_num = h.max_num
        if req.ext(UNIQUE_MSG_QUERY_FLAG) == "true":
            # a msgId names one message, but retries and re-sends may store it again
            max_num = self.store_config.default_query_max_num
        result = self.store.query_message(
            h.topic, h.key, max_num, h.begin_timestamp, h.end_timestamp
        )
        ext = QueryMessageResponseHeader(
            index_last_update_timestamp=result.index_last_update_timestamp,
            index_last_update_phyoffset=result.index_last_update_phyoffset,
        ).to_ext()
        if not result.buffers:
            return req.make_response(
                ResponseCode.QUERY_NOT_FOUND,
                "can not find message, maybe time range not correct",
                ext,
            )
        return req.make_response(ext_fields=ext, body=b"".join(result.buffers))

    def view_message_by_id(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """The one stored record at a commit-log offset (decoded from an offset msgId)."""
        h = ViewMessageRequestHeader.from_ext(req.ext_fields)
        data = self.store.select_one_message_by_offset(h.offset)
        if data is None:
            return req.make_response(
                ResponseCode.SYSTEM_ERROR, f"can not find message by the offset, {h.offset}"
            )
        return req.make_response(body=data)
