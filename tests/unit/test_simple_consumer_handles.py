"""Receipt handles of the SimpleConsumer built from a pop answer as the Java client builds
them (``MQClientAPIImpl#processPopResponse``) when the broker does not set ``POP_CK``."""

from __future__ import annotations

from rocketq.client.simple_consumer import _handles, _real_topic
from rocketq.common.message import encode_properties
from rocketq.common.record import MessageRecord
from rocketq.remoting.headers.pop import PopMessageResponseHeader


def _record(
    topic: str, queue_id: int, offset: int, props: dict[str, str] | None = None
) -> MessageRecord:
    return MessageRecord(
        total_size=0, magic=0, body_crc=0, queue_id=queue_id, flag=0, queue_offset=offset,
        physical_offset=0, sys_flag=0, born_timestamp=0, born_host=("127.0.0.1", 1),
        store_timestamp=0, store_host=("127.0.0.1", 2), reconsume_times=0,
        prepared_transaction_offset=0, body=b"", topic=topic,
        properties=encode_properties(props or {}),
    )  # fmt: skip


def test_handles_from_start_and_msg_offset_info() -> None:
    retry = "%RETRY%g_T"
    records = [_record("T", 1, 12), _record("T", 1, 10), _record(retry, 0, 3), _record("T", 0, 7)]
    header = PopMessageResponseHeader(
        pop_time=1000, invisible_time=60000, revive_qid=5, rest_num=0,
        start_offset_info="0 1 10;1 0 3;0 0 7", msg_offset_info="0 1 10,12;1 0 3;0 0 7",
    )  # fmt: skip
    assert _handles(records, header, "broker-a") == [
        "10 1000 60000 5 0 broker-a 1 12",
        "10 1000 60000 5 0 broker-a 1 10",
        "3 1000 60000 5 1 broker-a 0 3",
        "7 1000 60000 5 0 broker-a 0 7",
    ]


def test_a_broker_set_pop_ck_wins() -> None:
    record = _record("T", 0, 4, {"POP_CK": "4 9 9 9 0 b 0 4"})
    header = PopMessageResponseHeader(pop_time=1, invisible_time=2, revive_qid=3, rest_num=0)
    assert _handles([record], header, "broker-a") == ["4 9 9 9 0 b 0 4"]


def test_real_topic() -> None:
    assert _real_topic("T", "g", "0") == "T"
    assert _real_topic("T", "g", "1") == "%RETRY%g_T"
    assert _real_topic("T", "g", "2") == "%RETRY%g+T"
