"""Byte layouts of RocketMQ's store beyond the record itself: ConsumeQueue entries and
IndexFile. The CommitLog record lives in ``rocketq.common.record`` (it is also the wire
format of pulled messages) and is re-exported here.

ConsumeQueue entry (``ConsumeQueue.CQ_STORE_UNIT_SIZE``)::

    +------------------+-----------+-----------------+
    | commitlog offset | size i32  | tags code i64   |   = 20 bytes
    |      i64         |           |                 |
    +------------------+-----------+-----------------+

IndexFile (``IndexHeader``, ``IndexFile``)::

    +--------------------------------------------------------------------------------+
    | header 40: beginTimestamp i64 | endTimestamp i64 | beginPhyOffset i64 |        |
    |            endPhyOffset i64 | hashSlotCount i32 | indexCount i32              |
    +--------------------------------------------------------------------------------+
    | slots: maxHashSlotNum x i32 (newest entry number in the slot, 0 = empty)       |
    +--------------------------------------------------------------------------------+
    | entries: maxIndexNum x [keyHash i32 | phyOffset i64 | timeDiff s i32 | prev i32] |
    +--------------------------------------------------------------------------------+
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rocketq.common.errors import RocketQError
from rocketq.common.hashing import java_string_hash
from rocketq.common.message import (
    NAME_VALUE_SEPARATOR,
    PROPERTY_SEPARATOR,
    decode_properties,
    encode_properties,
)
from rocketq.common.record import (
    BLANK_MAGIC_CODE,
    END_FILE_MIN_BLANK_LENGTH,
    MAX_PROPERTIES_LENGTH,
    MAX_TOPIC_LENGTH_V1,
    MESSAGE_MAGIC_CODE,
    MESSAGE_MAGIC_CODE_V2,
    Address,
    Buffer,
    MessageRecord,
    RecordFormatError,
    StoredMessage,
    body_crc,
    checked_record_length,
    create_offset_msg_id,
    decode_offset_msg_id,
    decode_record,
    encode_blank,
    encode_record,
    peek_record,
    record_length,
    record_parts,
    sent_message,
    tags_code,
)

__all__ = [
    "BLANK_MAGIC_CODE",
    "CQ_STORE_UNIT_SIZE",
    "END_FILE_MIN_BLANK_LENGTH",
    "INDEX_ENTRY_SIZE",
    "INDEX_HASH_SLOT_SIZE",
    "INDEX_HEADER_SIZE",
    "MAX_PROPERTIES_LENGTH",
    "MAX_TOPIC_LENGTH_V1",
    "MESSAGE_MAGIC_CODE",
    "MESSAGE_MAGIC_CODE_V2",
    "NAME_VALUE_SEPARATOR",
    "PROPERTY_SEPARATOR",
    "Address",
    "Buffer",
    "ConsumeQueueEntry",
    "IndexEntry",
    "IndexHeader",
    "MessageRecord",
    "RecordFormatError",
    "StoreError",
    "StoredMessage",
    "body_crc",
    "checked_record_length",
    "create_offset_msg_id",
    "decode_offset_msg_id",
    "decode_properties",
    "decode_record",
    "encode_blank",
    "encode_properties",
    "encode_record",
    "index_key_hash",
    "java_string_hash",
    "pack_cq_entry",
    "peek_record",
    "record_length",
    "record_parts",
    "sent_message",
    "tags_code",
    "unpack_cq_entry",
]


def index_key_hash(key: str) -> int:
    """``IndexFile#indexKeyHashMethod``: ``abs(hashCode)``, with ``Integer.MIN_VALUE`` -> 0."""
    h = abs(java_string_hash(key))
    return 0 if h > 0x7FFFFFFF else h


class StoreError(RocketQError):
    """A store file or directory is not in the state the store needs."""


# ConsumeQueue.CQ_STORE_UNIT_SIZE: offset i64 + size i32 + tags code i64.
CQ_STORE_UNIT_SIZE = 20
# IndexHeader.INDEX_HEADER_SIZE, IndexFile.hashSlotSize, IndexFile.indexSize.
INDEX_HEADER_SIZE = 40
INDEX_HASH_SLOT_SIZE = 4
INDEX_ENTRY_SIZE = 20
_CQ_ENTRY = struct.Struct(">qiq")
_INDEX_HEADER = struct.Struct(">qqqqii")
_INDEX_ENTRY = struct.Struct(">iqii")

# ---------------------------------------------------------------------------------------------
# ConsumeQueue entries


@dataclass(frozen=True, slots=True)
class ConsumeQueueEntry:
    """One 20-byte ConsumeQueue entry."""

    physical_offset: int
    size: int
    tags_code: int

    @property
    def is_valid(self) -> bool:
        """``offset >= 0 && size > 0``: the all-zero tail of a file is not an entry."""
        return self.physical_offset >= 0 and self.size > 0


def pack_cq_entry(physical_offset: int, size: int, tags_code: int) -> bytes:
    """Pack one ConsumeQueue entry."""
    return _CQ_ENTRY.pack(physical_offset, size, tags_code)


def unpack_cq_entry(buf: Buffer, offset: int = 0) -> ConsumeQueueEntry:
    """Unpack the ConsumeQueue entry at ``offset``."""
    return ConsumeQueueEntry(*_CQ_ENTRY.unpack_from(buf, offset))


# ---------------------------------------------------------------------------------------------
# IndexFile


@dataclass(frozen=True, slots=True)
class IndexHeader:
    """The 40-byte IndexFile header (``IndexHeader``)."""

    begin_timestamp: int = 0
    end_timestamp: int = 0
    begin_phy_offset: int = 0
    end_phy_offset: int = 0
    hash_slot_count: int = 0
    # IndexHeader: entry 0 is never used, so the next free entry starts at 1.
    index_count: int = 1

    def pack(self) -> bytes:
        """Encode as 40 bytes."""
        return _INDEX_HEADER.pack(
            self.begin_timestamp, self.end_timestamp, self.begin_phy_offset,
            self.end_phy_offset, self.hash_slot_count, self.index_count,
        )  # fmt: skip

    @classmethod
    def unpack(cls, buf: Buffer, offset: int = 0) -> IndexHeader:
        """Decode; a stored index count <= 0 is read as 1 (``IndexHeader#load``)."""
        begin_ts, end_ts, begin_phy, end_phy, slots, count = _INDEX_HEADER.unpack_from(buf, offset)
        return cls(begin_ts, end_ts, begin_phy, end_phy, slots, max(count, 1))


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One 20-byte IndexFile entry."""

    key_hash: int
    physical_offset: int
    time_diff: int  # seconds since the header's begin timestamp
    prev_index: int  # previous entry number in the same slot, 0 = end of chain

    def pack(self) -> bytes:
        """Encode as 20 bytes."""
        return _INDEX_ENTRY.pack(self.key_hash, self.physical_offset, self.time_diff,
                                 self.prev_index)  # fmt: skip

    @classmethod
    def unpack(cls, buf: Buffer, offset: int = 0) -> IndexEntry:
        """Decode the entry at ``offset``."""
        return cls(*_INDEX_ENTRY.unpack_from(buf, offset))
