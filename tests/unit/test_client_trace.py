"""The message trace text format (RocketMQ ``TraceDataEncoder``): exact records as Java's
clients write them, round trips, the older layouts Java still reads, the index keys, and
``TraceView`` filtering by msgId."""

from __future__ import annotations

import logging

import pytest

from rocketq.client.message import MessageExt
from rocketq.client.trace import (
    MessageType,
    TraceBean,
    TraceContext,
    TraceType,
    decode_trace_data,
    decode_trace_views,
    encode_trace_context,
)

A, B = "\x01", "\x02"

PUB = TraceContext(
    TraceType.Pub,
    time_stamp=1700000000123,
    region_id="DefaultRegion",
    group_name="pg",
    cost_time=7,
    success=True,
    trace_beans=(
        TraceBean(
            topic="T",
            msg_id="7F0000010001",
            offset_msg_id="0A00000100002A9F0000000000000000",
            tags="TagA",
            keys="k1 k2",
            store_host="127.0.0.1:10911",
            body_length=5,
            msg_type=MessageType.Delay_Msg,
        ),
    ),
)


def test_pub_record_is_java_layout() -> None:
    bean = encode_trace_context(PUB)
    assert bean.trans_data == A.join(
        [
            "Pub", "1700000000123", "DefaultRegion", "pg", "T", "7F0000010001", "TagA",
            "k1 k2", "127.0.0.1:10911", "5", "7", "3", "0A00000100002A9F0000000000000000",
            "true",
        ]
    ) + B  # fmt: skip
    assert bean.trans_keys == {"7F0000010001", "k1", "k2"}


def test_missing_text_is_written_null_as_java_does() -> None:
    ctx = TraceContext(TraceType.Pub, trace_beans=(TraceBean(msg_id="m", tags=None, keys=None),))
    fields = encode_trace_context(ctx).trans_data.rstrip(B).split(A)
    assert fields[6:8] == ["null", "null"]
    assert encode_trace_context(ctx).trans_keys == {"m"}


def test_sub_before_and_after_write_one_record_per_message() -> None:
    beans = (TraceBean(msg_id="m1", keys="a", retry_times=2), TraceBean(msg_id="m2", keys=""))
    before = TraceContext(
        TraceType.SubBefore, time_stamp=5, region_id="R", group_name="cg", request_id="req",
        trace_beans=beans,
    )  # fmt: skip
    after = TraceContext(
        TraceType.SubAfter, time_stamp=9, group_name="cg", request_id="req", cost_time=3,
        success=False, context_code=4, trace_beans=beans,
    )  # fmt: skip
    assert encode_trace_context(before).trans_data == (
        f"SubBefore{A}5{A}R{A}cg{A}req{A}m1{A}2{A}a{B}SubBefore{A}5{A}R{A}cg{A}req{A}m2{A}0{A}{B}"
    )
    assert encode_trace_context(after).trans_data == (
        f"SubAfter{A}req{A}m1{A}3{A}false{A}a{A}4{A}9{A}cg{B}"
        f"SubAfter{A}req{A}m2{A}3{A}false{A}{A}4{A}9{A}cg{B}"
    )
    assert encode_trace_context(after).trans_keys == {"m1", "m2", "a"}


def test_round_trip_of_every_type() -> None:
    end = TraceContext(
        TraceType.EndTransaction, time_stamp=1, region_id="R", group_name="pg",
        trace_beans=(
            TraceBean(
                topic="T", msg_id="m", tags="t", keys="k", store_host="h:1",
                msg_type=MessageType.Trans_msg_Commit, transaction_id="tx",
                transaction_state="COMMIT_MESSAGE", from_transaction_check=True,
            ),
        ),
    )  # fmt: skip
    before = TraceContext(
        TraceType.SubBefore, time_stamp=2, region_id="R", group_name="cg", request_id="q",
        trace_beans=(TraceBean(msg_id="m", keys="k", retry_times=1),),
    )  # fmt: skip
    after = TraceContext(
        TraceType.SubAfter, time_stamp=3, group_name="cg", request_id="q", cost_time=4,
        context_code=0, trace_beans=(TraceBean(msg_id="m", keys="k"),),
    )  # fmt: skip
    text = "".join(encode_trace_context(c).trans_data for c in (PUB, end, before, after))
    decoded = decode_trace_data(text)
    assert [c.trace_type for c in decoded] == [
        TraceType.Pub, TraceType.EndTransaction, TraceType.SubBefore, TraceType.SubAfter
    ]  # fmt: skip
    assert decoded[0] == PUB
    assert decoded[1] == end
    assert decoded[2] == before
    assert decoded[3] == after


@pytest.mark.parametrize(
    ("tail", "offset_id", "success", "client_host"),
    [
        (["false"], "", False, ""),  # 13 fields: before offsetMsgId was written
        (["off", "true"], "off", True, ""),  # 14: what 4.9 writes
        (["off", "true", "10.0.0.9"], "off", True, "10.0.0.9"),  # 15: with the client host
    ],
)
def test_older_pub_layouts_are_read(
    tail: list[str], offset_id: str, success: bool, client_host: str
) -> None:
    head = ["Pub", "1", "R", "pg", "T", "m", "t", "k", "h", "3", "2", "0"]
    (ctx,) = decode_trace_data(A.join(head + tail) + B)
    assert ctx.success is success
    assert ctx.trace_beans[0].offset_msg_id == offset_id
    assert ctx.trace_beans[0].client_host == client_host


def test_old_sub_after_without_time_and_group_and_unknown_records() -> None:
    text = f"SubAfter{A}q{A}m{A}3{A}true{A}k{B}Weird{A}x{B}"
    (ctx,) = decode_trace_data(text)
    assert (ctx.time_stamp, ctx.group_name, ctx.context_code) == (0, "", 0)
    assert ctx.success and ctx.cost_time == 3


def test_trace_views_keep_only_the_asked_message() -> None:
    other = TraceContext(TraceType.Pub, trace_beans=(TraceBean(msg_id="other"),))
    body = (encode_trace_context(PUB).trans_data + encode_trace_context(other).trans_data).encode()
    trace_msg = MessageExt(
        topic="RMQ_SYS_TRACE_TOPIC", body=body, properties={}, msg_id="x", offset_msg_id="y",
        queue_id=0, queue_offset=0, commit_log_offset=0, born_timestamp=0,
        born_host=("10.1.2.3", 5555), store_timestamp=0, store_host=("127.0.0.1", 10911),
        reconsume_times=0, sys_flag=0, flag=0, body_crc=0,
    )  # fmt: skip
    (view,) = decode_trace_views("7F0000010001", trace_msg)
    assert (view.msg_type, view.group_name, view.status) == ("Pub", "pg", "success")
    assert view.client_host == "10.1.2.3" and view.cost_time == 7
    assert view.time_stamp == 1700000000123 and view.keys == "k1 k2"


@pytest.mark.parametrize(
    "trace_type", [TraceType.Pub, TraceType.SubAfter, TraceType.EndTransaction]
)
def test_unreadable_record_is_skipped_and_the_others_kept(
    trace_type: TraceType, caplog: pytest.LogCaptureFixture
) -> None:
    # KEYS holding 0x01 is written as it is (as Java writes it): the fields after it shift,
    # so a number field reads "127.0.0.1:10911" or "k2"; only that record is lost.
    bean = TraceBean(msg_id="7F0000010001", keys=f"k1{A}k2", store_host="127.0.0.1:10911")
    corrupt = encode_trace_context(TraceContext(trace_type, trace_beans=(bean,))).trans_data
    after = TraceContext(
        TraceType.SubAfter, time_stamp=3, group_name="cg", request_id="q", cost_time=4,
        trace_beans=(TraceBean(msg_id="7F0000010001", keys="k"),),
    )  # fmt: skip
    short = f"SubBefore{A}1{A}R{B}"  # a record that runs out of fields
    text = encode_trace_context(PUB).trans_data + corrupt + short
    text += encode_trace_context(after).trans_data
    with caplog.at_level(logging.DEBUG, logger="rocketq.client"):
        assert decode_trace_data(text) == [PUB, after]
    skipped = [r for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(skipped) == 2 and trace_type.value in skipped[0].getMessage()
    trace_msg = MessageExt(
        topic="RMQ_SYS_TRACE_TOPIC", body=text.encode(), properties={}, msg_id="x",
        offset_msg_id="y", queue_id=0, queue_offset=0, commit_log_offset=0, born_timestamp=0,
        born_host=("10.1.2.3", 5555), store_timestamp=0, store_host=("127.0.0.1", 10911),
        reconsume_times=0, sys_flag=0, flag=0, body_crc=0,
    )  # fmt: skip
    views = decode_trace_views("7F0000010001", trace_msg)
    assert [v.msg_type for v in views] == ["Pub", "SubAfter"]
