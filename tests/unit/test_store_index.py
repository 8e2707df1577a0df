"""IndexFile and IndexService: layout bytes, slot chains, time filter, roll, load, retention."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from rocketq.store import index_file
from rocketq.store.checkpoint import StoreCheckpoint
from rocketq.store.config import StoreConfig
from rocketq.store.format import IndexHeader, StoreError
from rocketq.store.index_file import IndexFile, index_file_name, index_file_size
from rocketq.store.index_service import IndexService, QueryOffsetResult, build_key
from tests.conftest import twin_implementation

SLOTS = 8
ENTRIES = 16  # entry 0 is never used: 15 keys per file
FILE_SIZE = 40 + SLOTS * 4 + ENTRIES * 20
T0 = 1_700_000_000_000  # a store timestamp (ms)
FOREVER = 2**62


@pytest.fixture(scope="module", autouse=True, params=["pure", "compiled"])
def index_put_implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test here runs with ``put_index_entry``'s pure-Python reference, then with its
    compiled twin (rocketq.common.speedups), as the byte work of every IndexFile put."""
    saved = index_file.put_index_entry
    chosen = twin_implementation(request.param)
    index_file.put_index_entry = chosen.put_index_entry
    yield request.param
    index_file.put_index_entry = saved


def _file(tmp_path: Path, name: str = "20240101000000000", **seed: int) -> IndexFile:
    return IndexFile(tmp_path / name, SLOTS, ENTRIES, **seed)


def _clock(start: int = T0) -> Callable[[], int]:
    now = [start]

    def tick() -> int:
        now[0] += 1000
        return now[0]

    return tick


def _service(root: Path, checkpoint: StoreCheckpoint | None = None) -> IndexService:
    return IndexService(root / "index", SLOTS, ENTRIES, checkpoint, clock=_clock())


# ---------------------------------------------------------------------------------------------
# IndexFile


def test_geometry_and_file_name(tmp_path: Path) -> None:
    assert index_file_size(SLOTS, ENTRIES) == FILE_SIZE
    assert index_file_size(5_000_000, 20_000_000) == 420_000_040
    expected = datetime.fromtimestamp(T0 / 1000).strftime("%Y%m%d%H%M%S") + "000"
    assert index_file_name(T0) == expected
    assert index_file_name(T0 + 7) == expected[:-3] + "007"
    f = _file(tmp_path)
    assert (tmp_path / f.file_name).stat().st_size == FILE_SIZE
    assert f.header == IndexHeader()
    f.close()


def test_one_put_hand_computed_bytes(tmp_path: Path) -> None:
    f = _file(tmp_path)
    # "T#k".hashCode() = 84*31^2 + 35*31 + 107 = 81916; slot 81916 % 8 = 4.
    key_hash, slot = 81916, 4
    assert f.put_key("T#k", 1234, T0) is True
    assert f.put_key("T#k", 5678, T0 + 5_500) is True
    f.flush()
    expected = bytearray(FILE_SIZE)
    # header: begin ts, end ts, begin phy, end phy, hashSlotCount, indexCount
    struct.pack_into(">qqqqii", expected, 0, T0, T0 + 5_500, 1234, 5678, 1, 3)
    struct.pack_into(">i", expected, 40 + slot * 4, 2)  # newest entry of the slot
    entries = 40 + SLOTS * 4
    struct.pack_into(">iqii", expected, entries + 1 * 20, key_hash, 1234, 0, 0)
    # 5.5 s after begin -> 5 whole seconds; prev = entry 1
    struct.pack_into(">iqii", expected, entries + 2 * 20, key_hash, 5678, 5, 1)
    assert (tmp_path / f.file_name).read_bytes() == bytes(expected)
    f.close()


def test_chain_newest_first_with_hash_collisions(tmp_path: Path) -> None:
    f = _file(tmp_path)
    # "Aa" and "BB" have the same Java hash; "T#k" is in another slot.
    for i, key in enumerate(["T#Aa", "T#BB", "T#k", "T#Aa"]):
        assert f.put_key(key, 100 * (i + 1), T0 + i * 1000)
    assert f.header.hash_slot_count == 2
    # Same hash: offsets of the colliding key come back too; callers re-check keys.
    assert f.select_phy_offsets("T#Aa", 32, 0, FOREVER) == [400, 200, 100]
    assert f.select_phy_offsets("T#BB", 2, 0, FOREVER) == [400, 200]
    assert f.select_phy_offsets("T#k", 32, 0, FOREVER) == [300]
    assert f.select_phy_offsets("T#none", 32, 0, FOREVER) == []


def test_same_slot_different_hash_is_filtered(tmp_path: Path) -> None:
    f = _file(tmp_path)
    # "T#k" (81916) and "T#s" (81924) differ by 8: same slot, different hash.
    f.put_key("T#k", 1, T0)
    f.put_key("T#s", 2, T0)
    assert f.header.hash_slot_count == 1
    assert f.select_phy_offsets("T#k", 32, 0, FOREVER) == [1]
    assert f.select_phy_offsets("T#s", 32, 0, FOREVER) == [2]


def test_integer_min_value_hash_goes_to_slot_zero(tmp_path: Path) -> None:
    f = _file(tmp_path)
    f.put_key("polygenelubricants", 77, T0)  # hashCode() == Integer.MIN_VALUE
    f.flush()
    raw = (tmp_path / f.file_name).read_bytes()
    assert struct.unpack_from(">i", raw, 40)[0] == 1  # slot 0 -> entry 1
    assert struct.unpack_from(">i", raw, 40 + SLOTS * 4 + 20)[0] == 0  # key hash 0
    assert f.select_phy_offsets("polygenelubricants", 1, 0, FOREVER) == [77]


def test_time_range_filter(tmp_path: Path) -> None:
    f = _file(tmp_path)
    for i in range(4):
        f.put_key("T#k", i, T0 + i * 10_000)
    assert f.select_phy_offsets("T#k", 32, T0 + 5_000, T0 + 25_000) == [2, 1]
    assert f.select_phy_offsets("T#k", 32, T0 + 10_000, T0 + 10_000) == [1]
    assert f.select_phy_offsets("T#k", 1, 0, FOREVER) == [3]
    assert f.is_time_matched(T0 - 5, T0 + 40_000)  # covers the file
    assert f.is_time_matched(T0 + 1, T0 + 2)  # inside
    assert f.is_time_matched(T0 - 9, T0)  # end touches begin
    assert not f.is_time_matched(T0 + 30_001, FOREVER)
    assert not f.is_time_matched(0, T0 - 1)


def test_full_file_refuses_puts(tmp_path: Path) -> None:
    f = _file(tmp_path)
    for i in range(ENTRIES - 1):
        assert f.put_key(f"T#{i}", i, T0)
    assert f.is_write_full
    assert f.put_key("T#x", 99, T0) is False
    assert f.index_count == ENTRIES


def test_seeded_file_first_entry_diff_uses_old_begin(tmp_path: Path) -> None:
    f = _file(tmp_path, end_phy_offset=500, end_timestamp=T0)
    assert f.header == IndexHeader(T0, T0, 500, 500, 0, 1)
    f.put_key("T#k", 600, T0 + 7_000)
    # RocketMQ computes the diff (7 s) against the seed, then moves begin to this entry.
    assert f.begin_timestamp == T0 + 7_000
    assert f.select_phy_offsets("T#k", 1, T0 + 14_000, T0 + 14_000) == [600]


def test_load_back_from_disk(tmp_path: Path) -> None:
    f = _file(tmp_path)
    for i in range(6):
        f.put_key(f"T#{i % 3}", i * 10, T0 + i * 1000)
    f.flush()
    header, raw = f.header, (tmp_path / f.file_name).read_bytes()
    f.close()
    g = _file(tmp_path)
    g.load()
    assert g.header == header
    assert header.pack() == raw[:40]
    assert g.select_phy_offsets("T#1", 32, 0, FOREVER) == [40, 10]
    g.close()
    assert (tmp_path / g.file_name).read_bytes() == raw


def test_wrong_size_and_bad_geometry(tmp_path: Path) -> None:
    (tmp_path / "20240101000000000").write_bytes(b"x" * 10)
    with pytest.raises(StoreError):
        _file(tmp_path)
    with pytest.raises(ValueError):
        IndexFile(tmp_path / "a", SLOTS, 1)


# ---------------------------------------------------------------------------------------------
# IndexService


def test_build_index_keys_and_uniq_key(tmp_path: Path) -> None:
    svc = _service(tmp_path)
    assert svc.build_index("T", "k1  k2 ", "UNIQ1", 100, T0) == 3  # empty tokens skipped
    assert svc.build_index("T", None, None, 200, T0 + 1000) == 0
    assert svc.query_offsets("T", "k2", 32, 0, FOREVER) == QueryOffsetResult([100], T0, 100)
    assert svc.query_offsets("T", "UNIQ1", 32, 0, FOREVER).phy_offsets == [100]
    assert svc.query_offsets("Other", "k1", 32, 0, FOREVER).phy_offsets == []
    assert build_key("T", "k") == "T#k"
    svc.close()


def test_transaction_types_and_reindex_skip(tmp_path: Path) -> None:
    svc = _service(tmp_path)
    assert svc.build_index("T", "prep", None, 100, T0, sys_flag=0x1 << 2) == 1
    assert svc.build_index("T", "commit", None, 200, T0, sys_flag=0x2 << 2) == 1
    assert svc.build_index("T", "rb", None, 300, T0, sys_flag=0x3 << 2) == 0
    # Below endPhyOffset: already indexed before a restart, skipped.
    assert svc.build_index("T", "old", None, 150, T0) == 0
    assert svc.query_offsets("T", "prep", 32, 0, FOREVER).phy_offsets == [100]
    assert svc.query_offsets("T", "rb", 32, 0, FOREVER).phy_offsets == []
    svc.close()


def test_roll_to_new_file_and_query_across_files(tmp_path: Path) -> None:
    svc = _service(tmp_path)
    for i in range(20):
        svc.build_index("T", "same", None, i * 100, T0 + i * 1000)
    names = [f.file_name for f in svc.files]
    assert len(names) == 2 and names == sorted(names) and len(set(names)) == 2
    first, second = svc.files
    assert first.is_write_full and second.index_count == 6
    assert second.begin_phy_offset == 1500 and second.begin_timestamp == T0 + 15_000
    result = svc.query_offsets("T", "same", 32, 0, FOREVER)
    assert result.phy_offsets == [i * 100 for i in reversed(range(20))]
    assert result.index_last_update_phyoffset == 1900
    assert result.index_last_update_timestamp == T0 + 19_000
    assert len(svc.query_offsets("T", "same", 100, 0, FOREVER).phy_offsets) == 20
    svc.max_msgs_num_batch = 4
    assert svc.query_offsets("T", "same", 100, 0, FOREVER).phy_offsets == [1900, 1800, 1700, 1600]
    # Only the newest file overlaps: older files are not read.
    assert svc.query_offsets("T", "same", 32, T0 + 17_000, FOREVER).phy_offsets == [
        1900,
        1800,
        1700,
    ]
    svc.close()


def test_flush_full_files_updates_checkpoint(tmp_path: Path) -> None:
    checkpoint = StoreCheckpoint(tmp_path / "checkpoint")
    svc = _service(tmp_path, checkpoint)
    for i in range(16):
        svc.build_index("T", f"k{i}", None, i, T0 + i * 1000)
    assert svc.flush_full_files() == 1
    assert svc.flush_full_files() == 0
    assert checkpoint.index_msg_timestamp == T0 + 14_000
    raw = (tmp_path / "checkpoint").read_bytes()
    assert struct.unpack_from(">q", raw, 16)[0] == T0 + 14_000
    svc.close()
    checkpoint.shutdown()


def test_load_after_clean_and_abnormal_exit(tmp_path: Path) -> None:
    checkpoint = StoreCheckpoint(tmp_path / "checkpoint")
    svc = _service(tmp_path, checkpoint)
    for i in range(20):
        svc.build_index("T", "k", None, i, T0 + i * 1000)
    svc.close()  # flushes the full file: indexMsgTimestamp = its endTimestamp
    assert checkpoint.index_msg_timestamp == T0 + 14_000
    (tmp_path / "index" / "junk").write_text("x")

    clean = _service(tmp_path, checkpoint)
    clean.load(last_exit_ok=True)
    assert len(clean.files) == 2
    assert clean.query_offsets("T", "k", 64, 0, FOREVER).phy_offsets == list(range(19, -1, -1))
    clean.close()

    dirty = _service(tmp_path, checkpoint)
    dirty.load(last_exit_ok=False)
    assert [f.end_timestamp for f in dirty.files] == [T0 + 14_000]
    assert len([p for p in (tmp_path / "index").iterdir() if p.name != "junk"]) == 1
    # Re-dispatch rebuilds the tail into a new file; older records are skipped.
    assert dirty.build_index("T", "k", None, 3, T0 + 3000) == 0
    assert dirty.build_index("T", "k", None, 15, T0 + 15_000) == 1
    assert len(dirty.files) == 2
    dirty.close()
    checkpoint.shutdown()


def test_delete_expired_files_never_the_last(tmp_path: Path) -> None:
    svc = _service(tmp_path)
    for i in range(40):  # 15 per file -> 3 files; end offsets 1400, 2900, 3900
        svc.build_index("T", "k", None, i * 100, T0 + i * 1000)
    assert [f.end_phy_offset for f in svc.files] == [1400, 2900, 3900]
    assert svc.delete_expired_files(1400) == 0
    assert svc.delete_expired_files(1401) == 1
    assert svc.delete_expired_files(10_000) == 1
    assert len(svc.files) == 1 and len(list((tmp_path / "index").iterdir())) == 1
    assert svc.query_offsets("T", "k", 64, 0, FOREVER).phy_offsets[-1] == 3000
    svc.destroy()
    assert list((tmp_path / "index").iterdir()) == []


def test_empty_service_and_from_config(tmp_path: Path) -> None:
    config = StoreConfig(store_path_root_dir=str(tmp_path), max_hash_slot_num=4, max_index_num=8)
    svc = IndexService.from_config(config)
    svc.load(last_exit_ok=False)
    assert svc.query_offsets("T", "k", 32, 0, FOREVER) == ([], 0, 0)
    svc.build_index("T", "k", None, 1, T0)
    assert Path(config.index_dir(), svc.files[0].file_name).stat().st_size == 40 + 16 + 160
    svc.close()


def test_same_millisecond_names_stay_unique(tmp_path: Path) -> None:
    svc = IndexService(tmp_path, SLOTS, 2, clock=lambda: T0)  # one key per file
    for i in range(3):
        svc.build_index("T", "k", None, i, T0)
    assert [f.file_name for f in svc.files] == [index_file_name(T0 + i) for i in range(3)]
    svc.close()
