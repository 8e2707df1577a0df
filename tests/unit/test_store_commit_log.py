"""CommitLog: append, roll with BLANK filler, read, iterate, recover a torn tail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rocketq.store.commit_log import CommitLog, MessageSizeExceededError
from rocketq.store.format import (
    BLANK_MAGIC_CODE,
    StoredMessage,
    decode_offset_msg_id,
    encode_record,
    peek_record,
    record_length,
)
from rocketq.store.mapped_file import file_name_of

STORE_HOST = ("127.0.0.1", 10911)
FILE_SIZE = 400
# "T" + body of 9 bytes + no properties: 91 + 9 + 1 = 101 bytes per record.
RECORD = 101


class FakeClock:
    """Deterministic milliseconds."""

    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        self.now += 1
        return self.now


def _msg(i: int, topic: str = "T", queue_id: int = 0, sys_flag: int = 0) -> StoredMessage:
    return StoredMessage(
        topic=topic,
        queue_id=queue_id,
        body=f"body-{i:04d}".encode(),
        sys_flag=sys_flag,
        born_timestamp=1,
        born_host=("10.0.0.1", 5000),
    )


def _log(path: Path, file_size: int = FILE_SIZE) -> CommitLog:
    log = CommitLog(path, file_size, STORE_HOST, max_message_size=1024, clock=FakeClock())
    log.load()
    return log


def test_append_assigns_offsets_and_fields(tmp_path: Path) -> None:
    log = _log(tmp_path)
    first = log.append(_msg(0))
    second = log.append(_msg(1))
    other = log.append(_msg(2, queue_id=1))
    assert (first.physical_offset, first.size, first.queue_offset) == (0, RECORD, 0)
    assert (second.physical_offset, second.queue_offset) == (RECORD, 1)
    assert other.queue_offset == 0
    assert log.topic_queue_table == {"T-0": 2, "T-1": 1}
    assert decode_offset_msg_id(second.msg_id) == (STORE_HOST, RECORD)
    rec = log.read_record(RECORD, check_crc=True)
    assert rec.body == b"body-0001" and rec.physical_offset == RECORD
    assert rec.store_host == STORE_HOST and rec.store_timestamp == second.store_timestamp
    assert rec.born_host == ("10.0.0.1", 5000)
    assert bytes(log.get_data(0, RECORD))[:4] == RECORD.to_bytes(4, "big")
    assert log.max_offset() == 3 * RECORD
    log.close()


def test_transaction_prepared_and_rollback_do_not_take_queue_offsets(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.set_queue_offset("T", 0, 7)
    assert log.append(_msg(0, sys_flag=0x4)).queue_offset == 0
    assert log.append(_msg(1, sys_flag=0xC)).queue_offset == 0
    assert log.append(_msg(2, sys_flag=0x8)).queue_offset == 7  # commit
    assert log.next_queue_offset("T", 0) == 8
    log.close()


def test_roll_writes_blank_filler(tmp_path: Path) -> None:
    log = _log(tmp_path)
    results = [log.append(_msg(i)) for i in range(4)]
    # three records (303 bytes) fit; the fourth needs 101 + 8 > 97 left
    assert [r.physical_offset for r in results] == [0, 101, 202, FILE_SIZE]
    first = log.queue.files[0]
    assert peek_record(first.buffer(), 303) == (FILE_SIZE - 303, BLANK_MAGIC_CODE)
    assert first.is_full
    assert (tmp_path / file_name_of(FILE_SIZE)).exists()
    assert [r.body for r in log.iter_records(0)] == [f"body-{i:04d}".encode() for i in range(4)]
    assert [r.queue_offset for r in log.iter_records(101)] == [1, 2, 3]
    log.close()


def test_exact_fit_keeps_room_for_filler(tmp_path: Path) -> None:
    # file of 3 records + 8: the third record fits exactly with room for a filler
    log = _log(tmp_path, file_size=3 * RECORD + 8)
    offsets = [log.append(_msg(i)).physical_offset for i in range(4)]
    assert offsets == [0, 101, 202, 3 * RECORD + 8]
    assert [r.physical_offset for r in log.iter_records(0)] == offsets
    log.close()


def test_batch_is_contiguous_and_rolls_as_a_unit(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.append(_msg(0))
    batch = log.append_batch([_msg(i) for i in range(1, 4)])  # 303 + 8 > 299 left
    assert [r.physical_offset for r in batch] == [FILE_SIZE, FILE_SIZE + 101, FILE_SIZE + 202]
    assert [r.queue_offset for r in batch] == [1, 2, 3]
    assert log.append_batch([]) == []
    assert [r.queue_offset for r in log.iter_records(0)] == [0, 1, 2, 3]
    log.close()


def test_size_limits(tmp_path: Path) -> None:
    log = _log(tmp_path)
    with pytest.raises(MessageSizeExceededError, match="maxMessageSize"):
        log.append(StoredMessage(topic="T", queue_id=0, body=bytes(1025)))
    with pytest.raises(MessageSizeExceededError, match="never fit"):
        log.append(StoredMessage(topic="T", queue_id=0, body=bytes(FILE_SIZE)))
    with pytest.raises(MessageSizeExceededError):
        log.append_batch([_msg(i) for i in range(4)])
    assert log.topic_queue_table == {} and log.max_offset() == 0
    log.close()
    with pytest.raises(ValueError):
        CommitLog(tmp_path, 8, STORE_HOST)


def test_reload_and_recover_clean_log(tmp_path: Path) -> None:
    log = _log(tmp_path)
    for i in range(6):
        log.append(_msg(i))
    end = log.max_offset()
    log.flush()
    log.close()
    again = _log(tmp_path)
    assert again.max_offset() == 2 * FILE_SIZE  # loaded files are full until recovery
    assert again.recover() == end
    assert again.max_offset() == end and again.queue.flushed_where == end
    assert end == FILE_SIZE + 3 * RECORD
    assert again.append(_msg(6)).physical_offset == 2 * FILE_SIZE  # 97 bytes left: roll
    assert [r.body[-1:] for r in again.iter_records(0)] == [str(i).encode() for i in range(7)]
    again.close()


def test_recover_truncates_torn_tail(tmp_path: Path) -> None:
    log = _log(tmp_path)
    for i in range(5):
        log.append(_msg(i))
    torn_at = FILE_SIZE + RECORD  # records 3 and 4 are in the second file
    last = log.queue.files[-1]
    buf = last.buffer()
    pos = torn_at - last.file_from_offset
    buf[pos + 50 : pos + RECORD] = bytes(RECORD - 50)  # torn write: tail of record missing
    log.close()
    again = _log(tmp_path)
    assert again.recover() == FILE_SIZE + RECORD
    assert [r.body for r in again.iter_records(0)][-1] == b"body-0003"
    assert again.append(_msg(9)).physical_offset == FILE_SIZE + RECORD
    again.close()


def test_recover_crc_check_is_optional(tmp_path: Path) -> None:
    log = _log(tmp_path)
    for i in range(2):
        log.append(_msg(i))
    buf = log.queue.files[0].buffer()
    buf[RECORD + 88] ^= 0xFF  # flip a body byte of record 1
    log.close()
    lax = _log(tmp_path)
    assert lax.recover(check_crc=False) == 2 * RECORD
    lax.close()
    strict = _log(tmp_path)
    assert strict.recover(check_crc=True) == RECORD
    strict.close()


def test_recover_rejects_stale_record_at_wrong_offset(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.append(_msg(0))
    stale = encode_record(_msg(1))  # PHYSICALOFFSET 0, but placed at 101
    log.queue.files[0].append(stale)
    log.close()
    again = _log(tmp_path)
    assert again.recover() == RECORD
    again.close()


def test_recover_from_start_file_and_empty(tmp_path: Path) -> None:
    empty = _log(tmp_path / "empty")
    assert empty.recover() == 0
    log = _log(tmp_path / "cl")
    for i in range(12):  # 4 files
        log.append(_msg(i))
    end = log.max_offset()
    log.close()
    again = _log(tmp_path / "cl")
    assert again.recover(start_file_index=0) == end
    assert sum(1 for _ in again.iter_records(0)) == 12
    assert record_length(0, 9, 1, 0) == RECORD
    again.close()


def test_an_ipv6_store_host_record_reads_back_across_files(tmp_path: Path) -> None:
    # every append way (one by one, a batch, a file to roll) sizes the record by the host
    # the CommitLog writes into it, not by the message's own
    log = CommitLog(tmp_path, FILE_SIZE, ("::1", 10911), max_message_size=1024,
                    clock=FakeClock())  # fmt: skip
    log.load()
    results = [log.append(_msg(i)) for i in range(3)]
    results += log.append_batch([_msg(i) for i in range(3, 5)])
    outcomes: list[Any] = []
    log.append_many([[_msg(i)] for i in range(5, 12)], outcomes)
    results += [r for outcome in outcomes for r in outcome]
    assert len({r.physical_offset // FILE_SIZE for r in results}) > 1  # it rolled
    for i, result in enumerate(results):
        record = log.read_record(result.physical_offset)
        assert (record.body, record.store_host) == (f"body-{i:04d}".encode(), ("::1", 10911))
        assert record.total_size == result.size
    log.close()
