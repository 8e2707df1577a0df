"""Pure parts of transactions: how half, committed, op and check-back messages are built
from each other, the op-record bookkeeping and the state tables."""

from __future__ import annotations

import pytest

from rocketq.broker.transaction.bridge import (
    check_request_body,
    immunity_half_message,
    is_transaction_prepared,
    op_message,
    parse_op_body,
    real_message,
    renewed_half_message,
    to_half_message,
)
from rocketq.broker.transaction.check import _bump_check_times, _immunity_ms, _OpView
from rocketq.broker.transaction.end_transaction import check_prepare_message
from rocketq.broker.transaction.state import (
    TRANS_HALF_TOPIC,
    TRANS_OP_HALF_TOPIC,
    TRANSACTION_CHECK_TIMES,
    TRANSACTION_PREPARED_QUEUE_OFFSET,
    EndAction,
    end_action,
)
from rocketq.client.transaction import COMMIT_OR_ROLLBACK, LocalTransactionState
from rocketq.common.message import MessageConst, SysFlag, decode_properties, encode_properties
from rocketq.common.record import (
    MessageRecord,
    StoredMessage,
    decode_record,
    encode_record,
)
from rocketq.remoting.headers import (
    CheckTransactionStateRequestHeader,
    EndTransactionRequestHeader,
)
from rocketq.store.commit_log import AppendResult

BROKER = ("10.0.0.1", 10911)
PROPS = {
    MessageConst.TAGS: "tagA",
    MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX: "UNIQ1",
    MessageConst.TRANSACTION_PREPARED: "true",
    MessageConst.PRODUCER_GROUP: "pg",
}


def sent(props: dict[str, str] | None = None) -> StoredMessage:
    """A prepared message as the send processor builds it."""
    p = dict(PROPS if props is None else props)
    return StoredMessage(
        topic="Orders",
        queue_id=3,
        body=b"hello",
        properties=encode_properties(p),
        props=p,
        flag=7,
        sys_flag=SysFlag.TRANSACTION_PREPARED_TYPE | SysFlag.COMPRESSED,
        born_timestamp=1000,
        born_host=("10.0.0.9", 5000),
        reconsume_times=0,
    )


def stored(msg: StoredMessage, queue_offset: int, physical_offset: int) -> MessageRecord:
    """``msg`` as the commit log would give it back."""
    raw = encode_record(
        StoredMessage(
            topic=msg.topic, queue_id=msg.queue_id, body=msg.body, properties=msg.properties,
            flag=msg.flag, queue_offset=queue_offset, physical_offset=physical_offset,
            sys_flag=msg.sys_flag, born_timestamp=msg.born_timestamp, born_host=msg.born_host,
            store_timestamp=2000, store_host=BROKER, reconsume_times=msg.reconsume_times,
            prepared_transaction_offset=msg.prepared_transaction_offset,
        )
    )  # fmt: skip
    return decode_record(raw)


def test_prepared_flag_is_parsed_like_java() -> None:
    assert is_transaction_prepared(sent())
    assert is_transaction_prepared(sent({**PROPS, MessageConst.TRANSACTION_PREPARED: "TRUE"}))
    assert not is_transaction_prepared(sent({MessageConst.TAGS: "x"}))


def test_half_message_parks_in_queue_0_of_the_half_topic() -> None:
    half = to_half_message(sent())
    assert (half.topic, half.queue_id) == (TRANS_HALF_TOPIC, 0)
    assert half.sys_flag & SysFlag.TRANSACTION_MASK == SysFlag.TRANSACTION_NOT_TYPE
    assert half.sys_flag & SysFlag.COMPRESSED
    props = decode_properties(half.properties)
    assert props[MessageConst.REAL_TOPIC] == "Orders"
    assert props[MessageConst.REAL_QUEUE_ID] == "3"
    assert props[MessageConst.TRANSACTION_ID] == "UNIQ1"
    assert (half.body, half.flag, half.born_timestamp) == (b"hello", 7, 1000)


def test_commit_restores_the_real_topic_and_links_the_half() -> None:
    half = stored(to_half_message(sent()), queue_offset=4, physical_offset=999)
    real = real_message(half, delay_levels=18)
    assert (real.topic, real.queue_id) == ("Orders", 3)
    assert real.sys_flag & SysFlag.TRANSACTION_MASK == SysFlag.TRANSACTION_COMMIT_TYPE
    assert real.prepared_transaction_offset == 999
    props = decode_properties(real.properties)
    for gone in (MessageConst.REAL_TOPIC, MessageConst.REAL_QUEUE_ID, "TRAN_MSG"):
        assert gone not in props
    assert props[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX] == "UNIQ1"
    assert (real.body, real.flag, real.born_host) == (b"hello", 7, ("10.0.0.9", 5000))


def test_commit_with_a_delay_level_goes_through_the_schedule_topic() -> None:
    half = stored(to_half_message(sent({**PROPS, "DELAY": "3"})), 0, 0)
    real = real_message(half, delay_levels=18)
    assert (real.topic, real.queue_id) == ("SCHEDULE_TOPIC_XXXX", 2)
    props = decode_properties(real.properties)
    assert (props[MessageConst.REAL_TOPIC], props[MessageConst.REAL_QUEUE_ID]) == ("Orders", "3")


def test_op_record_names_the_half_offset() -> None:
    op = op_message(42, 0, BROKER)
    assert (op.topic, op.queue_id, op.body) == (TRANS_OP_HALF_TOPIC, 0, b"42")
    assert decode_properties(op.properties)[MessageConst.TAGS] == "d"
    assert parse_op_body(b"42") == [42]
    assert parse_op_body(b"42,43,47,") == [42, 43, 47]  # 5.x batched op records
    assert parse_op_body(b"x,,7") == [7]


def test_renewed_copies_keep_everything_but_the_offsets() -> None:
    half = stored(to_half_message(sent()), 5, 100)
    props = half.properties_map()
    props[TRANSACTION_CHECK_TIMES] = "2"
    copy = renewed_half_message(half, props)
    assert (copy.topic, copy.queue_id, copy.body, copy.flag) == (TRANS_HALF_TOPIC, 0, b"hello", 7)
    assert decode_properties(copy.properties)[TRANSACTION_CHECK_TIMES] == "2"
    immune = immunity_half_message(half, half.properties_map())
    assert decode_properties(immune.properties)[TRANSACTION_PREPARED_QUEUE_OFFSET] == "5"


def test_check_body_is_the_copy_with_the_real_topic() -> None:
    half = stored(to_half_message(sent()), 5, 100)
    props = {**half.properties_map(), TRANSACTION_CHECK_TIMES: "1"}
    appended = AppendResult(
        physical_offset=300, size=0, queue_offset=9, store_timestamp=3000, msg_id="X"
    )
    record = decode_record(check_request_body(half, props, appended, BROKER))
    assert (record.topic, record.queue_id) == ("Orders", 3)
    assert (record.queue_offset, record.physical_offset) == (9, 300)
    assert record.properties_map()[TRANSACTION_CHECK_TIMES] == "1"
    assert record.body == b"hello" and record.store_host == BROKER


def test_check_times_count_up_then_give_up() -> None:
    bumped = _bump_check_times({}, 3)
    assert bumped == {TRANSACTION_CHECK_TIMES: "1"}
    assert _bump_check_times({TRANSACTION_CHECK_TIMES: "2"}, 3) == {TRANSACTION_CHECK_TIMES: "3"}
    assert _bump_check_times({TRANSACTION_CHECK_TIMES: "3"}, 3) is None
    assert _immunity_ms("10", 6000) == 10_000
    assert _immunity_ms("1", 6000) == 6000  # never below transactionTimeOut
    assert _immunity_ms("soon", 6000) == 6000


def op_record(body: bytes, op_offset: int, tag: str = "d") -> MessageRecord:
    p = {MessageConst.TAGS: tag}
    msg = StoredMessage(TRANS_OP_HALF_TOPIC, 0, body, encode_properties(p), props=p)
    return stored(msg, op_offset, 0)


def test_op_view_tracks_which_op_records_are_used_up() -> None:
    view = _OpView(min_half_offset=10, next_offset=0)
    view.add(op_record(b"3", 0))  # below the half progress: done at once
    view.add(op_record(b"11", 1))
    view.add(op_record(b"12,13,", 2))
    view.add(op_record(b"20", 3, tag="x"))  # unknown tag: skipped, counted done
    assert view.new_op_offset(0) == 1
    assert view.consume(11) and not view.consume(11)
    assert view.new_op_offset(0) == 2
    assert view.consume(12)
    assert view.new_op_offset(0) == 2  # op 2 still names 13
    assert view.consume(13)
    assert view.new_op_offset(0) == 4


def end_header(**changes: object) -> EndTransactionRequestHeader:
    values: dict[str, object] = {
        "producer_group": "pg", "tran_state_table_offset": 5, "commit_log_offset": 100,
        "commit_or_rollback": 8,
    }  # fmt: skip
    values.update(changes)
    return EndTransactionRequestHeader(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({}, None),
        ({"producer_group": "other"}, "The producer group wrong"),
        ({"tran_state_table_offset": 6}, "The transaction state table offset wrong"),
        ({"commit_log_offset": 101}, "The commit log offset wrong"),
    ],
)
def test_end_transaction_must_match_its_half_message(
    changes: dict[str, object], problem: str | None
) -> None:
    half = stored(to_half_message(sent()), 5, 100)
    assert check_prepare_message(half, end_header(**changes)) == problem


def test_end_transaction_refuses_what_is_not_a_half_message() -> None:
    assert check_prepare_message(None, end_header()) == "Find prepared transaction message failed"
    normal = stored(sent(), 5, 100)
    assert check_prepare_message(normal, end_header()) == "Find prepared transaction message failed"


def test_state_tables_agree() -> None:
    assert end_action(0) is EndAction.IGNORE
    assert end_action(8) is EndAction.COMMIT
    assert end_action(12) is EndAction.ROLLBACK
    assert end_action(4) is EndAction.IGNORE
    assert {end_action(v) for v in COMMIT_OR_ROLLBACK.values()} == set(EndAction)
    assert COMMIT_OR_ROLLBACK[LocalTransactionState.UNKNOW] == 0


def test_check_header_wire_names() -> None:
    header = CheckTransactionStateRequestHeader(
        tran_state_table_offset=9, commit_log_offset=300, msg_id="U", transaction_id="U",
        offset_msg_id="OFF", topic="Orders", broker_name="broker-a",
    )  # fmt: skip
    ext = header.to_ext()
    assert ext == {
        "tranStateTableOffset": "9", "commitLogOffset": "300", "msgId": "U",
        "transactionId": "U", "offsetMsgId": "OFF", "topic": "Orders", "bname": "broker-a",
    }  # fmt: skip
    assert CheckTransactionStateRequestHeader.from_ext(ext) == header
