"""POP records: checkpoint and ack JSON (RocketMQ's short field names), the pending table."""

from __future__ import annotations

import orjson

from rocketq.broker.pop.checkpoints import AckOutcome, CheckpointTable
from rocketq.broker.pop.records import AckRecord, CheckPoint, ReceiptHandle


def test_checkpoint_json_round_trip() -> None:
    ck = CheckPoint(10, 1_700_000_000_000, 30_000, 2, "T", "g", "broker-a", (0, 2, 5))
    obj = orjson.loads(ck.to_json())
    assert obj["so"] == 10 and obj["n"] == 3 and obj["d"] == [0, 2, 5] and obj["c"] == "g"
    assert CheckPoint.from_json(ck.to_json()) == ck
    assert ck.index_of(12) == 1 and ck.index_of(11) == -1
    assert ck.revive_time == 1_700_000_030_000


def test_ack_json_single_and_batch() -> None:
    one = AckRecord("T", "g", 2, 10, 5, "b", (12,))
    assert orjson.loads(one.to_json())["ao"] == 12 and one.tag == "ack"
    batch = AckRecord("T", "g", 2, 10, 5, "b", (10, 12))
    assert orjson.loads(batch.to_json())["aol"] == [10, 12] and batch.tag == "bAck"
    assert AckRecord.from_json(batch.to_json()) == batch


def test_table_outcomes_and_revive_offset() -> None:
    table = CheckpointTable(2)
    ck = CheckPoint(0, 100, 1000, 0, "T", "g", "b", (0, 1))
    table.add(ck, 1, 7)
    assert table.revive_offset(1) == 6
    assert table.outcome(ck.key, 0) is AckOutcome.PENDING
    table.apply_ack(AckRecord(*ck.key, offsets=(0,)), moved=True)
    assert table.outcome(ck.key, 0) is AckOutcome.MOVED
    assert table.due(1099) == [] and len(table.due(1100)) == 1
    (entry,) = table.due(1100)
    table.remove(entry, revived=True)
    assert table.outcome(ck.key, 1) is AckOutcome.EXPIRED
    assert table.outcome(ck.key, 0) is AckOutcome.MOVED
    assert table.revive_offset(1) == 7  # nothing pending: past the last one seen


def test_handle_real_topic() -> None:
    handle = ReceiptHandle(0, 1, 2, 3, "1", "b", 0, 0, 0)
    assert handle.real_topic("T", "g") == "%RETRY%g_T"
