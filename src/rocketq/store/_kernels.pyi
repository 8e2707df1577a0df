"""Types of the compiled twin in ``_kernels.pyx`` (the pure-Python reference in
``index_file.py`` carries the same signature and the docs)."""

import mmap

def put_index_entry(
    buf: mmap.mmap | bytearray,
    hash_slot_num: int,
    entries_base: int,
    count: int,
    key_hash: int,
    phy_offset: int,
    time_diff: int,
) -> int: ...
