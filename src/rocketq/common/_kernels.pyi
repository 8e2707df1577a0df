"""Types of the compiled twins in ``_kernels.pyx`` (the pure-Python functions they twin
carry the same signatures and the docs)."""

from collections.abc import Callable, Mapping
from typing import TypeVar

from rocketq.common.record import Address, Buffer, GatherLimits, MessageRecord, StoredMessage

def java_string_hash(text: str) -> int: ...
def decode_properties(text: str) -> dict[str, str]: ...
def encode_properties(props: Mapping[str, str | None], trailing_separator: bool = False) -> str: ...
def checked_record_length(msg: StoredMessage, topic: bytes, props: bytes) -> int: ...
def record_parts(
    msg: StoredMessage,
    topic: bytes,
    props: bytes,
    total: int,
    queue_offset: int,
    physical_offset: int,
    store_timestamp: int,
    store_host: Address,
) -> tuple[bytes, bytes, bytes, bytes]: ...
def record_bytes(
    msg: StoredMessage,
    topic: bytes,
    props: bytes,
    total: int,
    queue_offset: int,
    physical_offset: int,
    store_timestamp: int,
    store_host: Address,
) -> bytes: ...
def create_offset_msg_id(store_host: Address, physical_offset: int) -> str: ...
def decode_record(buf: Buffer, offset: int = 0, check_crc: bool = False) -> MessageRecord: ...
def decode_records(data: Buffer) -> list[MessageRecord]: ...

_T = TypeVar("_T")

# The arguments of messages_of_pull_body's make, in order.
MESSAGE_FIELDS: tuple[str, ...]

def fills_slots(make: object) -> bool: ...
def messages_of_pull_body(
    body: Buffer,
    make: Callable[..., _T],
    broker_name: str,
    min_offset: int,
    max_offset: int,
) -> list[_T]: ...
def sent_message(
    topic: str,
    queue_id: int,
    body: bytes,
    properties: str,
    props: Mapping[str, str],
    flag: int,
    sys_flag: int,
    born_timestamp: int,
    born_host: Address,
    reconsume_times: int,
) -> StoredMessage: ...
def gather_records(
    entries: Buffer,
    index: int,
    span: Buffer,
    span_start: int,
    min_phys: int,
    count: int,
    total: int,
    limits: GatherLimits,
) -> tuple[bytes, int, int, int, int, bool]: ...
