"""Types of the compiled twins in ``_kernels.pyx`` (the pure-Python reference in
``index_file.py`` carries the same signature and the docs)."""

import mmap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rocketq.store.commit_log import AppendResult
from rocketq.store.format import StoredMessage

def put_index_entry(
    buf: mmap.mmap | bytearray,
    hash_slot_num: int,
    entries_base: int,
    count: int,
    key_hash: int,
    phy_offset: int,
    time_diff: int,
) -> int: ...
def put_index_key(
    buf: mmap.mmap | bytearray,
    header: Any,
    hash_slot_num: int,
    index_num: int,
    prefix: str,
    key: str,
    phy_offset: int,
    store_timestamp: int,
) -> bool: ...
def put_batches(
    buf: mmap.mmap | bytearray,
    position: int,
    limit: int,
    batches: Sequence[Sequence[StoredMessage]],
    first: int,
    table: dict[str, int],
    file_from_offset: int,
    store_timestamp: int,
    store_host: tuple[str, int],
    max_message_size: int,
    out: list[tuple[AppendResult, ...]],
) -> int: ...
def put_index_keys(
    buf: mmap.mmap | bytearray,
    header: Any,
    hash_slot_num: int,
    index_num: int,
    keys: Sequence[tuple[str, str, int, int]],
    first: int,
) -> int: ...
def queue_runs(
    msgs: Sequence[StoredMessage],
    appended: Sequence[AppendResult],
    scheduled_code: Callable[[str, Mapping[str, str], int], int],
    index_keys: list[tuple[str, str, int, int]] | None,
    arrivals: list[tuple[str, int, int, int]],
) -> dict[tuple[str, int], tuple[int, bytearray]] | None: ...
def put_ok(appended: tuple[AppendResult, ...]) -> Any: ...
def body_crc(data: bytes) -> int: ...
def body_crc_by_table(data: bytes) -> int: ...
def body_crc_by_zlib(data: bytes) -> int: ...
def crc_from_zlib() -> bool: ...
def crc_from_libdeflate() -> bool: ...
def put_runs(
    queues: Mapping[tuple[str, int], Any],
    runs: dict[tuple[str, int], tuple[int, bytearray]],
) -> list[tuple[tuple[str, int], int, bytearray]]: ...
def checked_batches(
    puts: Sequence[tuple[Sequence[StoredMessage], bool]],
) -> list[Sequence[StoredMessage]] | None: ...
def put_oks(outcomes: Sequence[Any]) -> list[Any] | None: ...
def stored_flat(
    batches: Sequence[Sequence[StoredMessage]],
    outcomes: Sequence[Any],
) -> tuple[list[StoredMessage], list[AppendResult]] | None: ...
