"""What the message store answers: put and get statuses and results (RocketMQ's
``PutMessageStatus``, ``PutMessageResult``, ``GetMessageStatus``, ``GetMessageResult``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from rocketq.store.commit_log import AppendResult

__all__ = [
    "GetMessageResult",
    "GetMessageStatus",
    "MessageFilter",
    "PutMessageResult",
    "PutMessageStatus",
    "QueryMessageResult",
]


class PutMessageStatus(Enum):
    """Outcome of a put; the first four mean the message is stored."""

    PUT_OK = "PUT_OK"
    FLUSH_DISK_TIMEOUT = "FLUSH_DISK_TIMEOUT"
    FLUSH_SLAVE_TIMEOUT = "FLUSH_SLAVE_TIMEOUT"
    SLAVE_NOT_AVAILABLE = "SLAVE_NOT_AVAILABLE"
    SERVICE_NOT_AVAILABLE = "SERVICE_NOT_AVAILABLE"
    CREATE_MAPPED_FILE_FAILED = "CREATE_MAPPED_FILE_FAILED"
    MESSAGE_ILLEGAL = "MESSAGE_ILLEGAL"
    PROPERTIES_SIZE_EXCEEDED = "PROPERTIES_SIZE_EXCEEDED"
    OS_PAGE_CACHE_BUSY = "OS_PAGE_CACHE_BUSY"
    UNKNOWN_ERROR = "UNKNOWN_ERROR"

    @property
    def stored(self) -> bool:
        """True when the message is in the CommitLog (even if flush/replication lagged)."""
        return self in _STORED


_STORED = frozenset(
    {
        PutMessageStatus.PUT_OK,
        PutMessageStatus.FLUSH_DISK_TIMEOUT,
        PutMessageStatus.FLUSH_SLAVE_TIMEOUT,
        PutMessageStatus.SLAVE_NOT_AVAILABLE,
    }
)


@dataclass(frozen=True, slots=True)
class PutMessageResult:
    """Status plus where each appended record went (one per message of a batch)."""

    status: PutMessageStatus
    appended: tuple[AppendResult, ...] = ()
    remark: str = ""


class GetMessageStatus(Enum):
    """Outcome of a read from a queue (``GetMessageStatus``)."""

    FOUND = "FOUND"
    NO_MATCHED_MESSAGE = "NO_MATCHED_MESSAGE"
    MESSAGE_WAS_REMOVING = "MESSAGE_WAS_REMOVING"
    OFFSET_FOUND_NULL = "OFFSET_FOUND_NULL"
    OFFSET_OVERFLOW_BADLY = "OFFSET_OVERFLOW_BADLY"
    OFFSET_OVERFLOW_ONE = "OFFSET_OVERFLOW_ONE"
    OFFSET_TOO_SMALL = "OFFSET_TOO_SMALL"
    NO_MATCHED_LOGIC_QUEUE = "NO_MATCHED_LOGIC_QUEUE"
    NO_MESSAGE_IN_QUEUE = "NO_MESSAGE_IN_QUEUE"


@dataclass(slots=True)
class GetMessageResult:
    """Records found (zero-copy views of the CommitLog) and where to read next."""

    status: GetMessageStatus
    next_begin_offset: int
    min_offset: int
    max_offset: int
    buffers: list[memoryview] = field(default_factory=list)
    queue_offsets: list[int] = field(default_factory=list)
    buffer_total_size: int = 0
    suggest_pulling_from_slave: bool = False

    @property
    def message_count(self) -> int:
        """Number of records returned."""
        return len(self.buffers)

    def release(self) -> None:
        """Release the views (they pin the mapped files until released)."""
        for view in self.buffers:
            view.release()
        self.buffers.clear()


@dataclass(slots=True)
class QueryMessageResult:
    """Records found by key, with the index's last update point."""

    buffers: list[bytes] = field(default_factory=list)
    index_last_update_timestamp: int = 0
    index_last_update_phyoffset: int = 0

    @property
    def buffer_total_size(self) -> int:
        """Bytes in all records."""
        return sum(len(b) for b in self.buffers)


class MessageFilter(Protocol):
    """Decides what a pull returns (RocketMQ ``MessageFilter``)."""

    def is_matched_by_consume_queue(self, tags_code: int | None) -> bool:
        """First check, on the tag hash kept in the ConsumeQueue entry."""
        ...

    def is_matched_by_commit_log(self, record: memoryview) -> bool:
        """Second check, on the stored record (SQL92 filters read its properties)."""
        ...
