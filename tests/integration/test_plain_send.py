"""A send read straight from its binary frame (``PlainSend``) is answered and stored exactly
as the same send with a JSON header, which takes the general decode: same codes and remarks,
same queue, and records equal field by field, properties byte for byte (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rocketq.broker.plain_send import PlainSend, decode_send_frame
from rocketq.common.message import MessageConst, decode_properties, encode_properties
from rocketq.remoting.codec import encode
from rocketq.remoting.codes import RequestCode, ResponseCode, SerializeType
from rocketq.remoting.command import RemotingCommand
from rocketq.testing import running_cluster
from tests.integration.raw_frames import exchange

TOPIC = "PlainTopic"
_PLAIN = {MessageConst.TAGS: "T", MessageConst.KEYS: "k1 k2", "UNIQ_KEY": "AB12"}

# (name, extFields changes, properties; None: no "i" field)
CASES: list[tuple[str, dict[str, str], dict[str, str] | None]] = [
    ("plain", {}, _PLAIN),
    ("wait false", {}, {**_PLAIN, MessageConst.WAIT_STORE_MSG_OK: "false"}),
    ("wait true", {}, {**_PLAIN, MessageConst.WAIT_STORE_MSG_OK: "true"}),
    ("no properties", {}, None),
    ("utf-8 properties", {}, {"K": "ü😀", MessageConst.TAGS: "é"}),
    ("a value holding 0x01", {}, {**_PLAIN, "X": "a\x01b"}),  # Java stores it
    ("cluster sent", {}, {MessageConst.CLUSTER: "Other", "A": "b"}),
    ("no reconsume", {"j": ""}, _PLAIN),
    ("reconsume 3, flag 5", {"j": "3", "h": "5", "f": "0"}, _PLAIN),
    ("new topic, auto-created", {"b": "PlainAuto"}, _PLAIN),
    ("queue out of range", {"e": "99"}, _PLAIN),
    ("forbidden topic", {"b": "SCHEDULE_TOPIC_XXXX"}, _PLAIN),
    ("bad topic", {"b": "bad topic!"}, _PLAIN),
    ("retry topic", {"b": "%RETRY%nobody"}, _PLAIN),
    ("delay level", {}, {**_PLAIN, MessageConst.DELAY_TIME_LEVEL: "1"}),
    ("batch flag", {"m": "true"}, _PLAIN),
    ("bad number", {"d": "x"}, _PLAIN),
]


def _send(opaque: int, change: dict[str, str], props: dict[str, str] | None,
          stype: int) -> RemotingCommand:  # fmt: skip
    fields = {
        "a": "plain-group", "b": TOPIC, "c": "TBW102", "d": "4", "e": "1", "f": "0",
        "g": "1700000000000", "h": "0", "j": "0", "k": "false", "m": "false",
    }  # fmt: skip
    if props is not None:
        fields["i"] = encode_properties(props)
    fields.update(change)
    fields = {k: v for k, v in fields.items() if v}
    cmd = RemotingCommand(RequestCode.SEND_MESSAGE_V2, "JAVA", 401, opaque, 0, None, fields,
                          f"body {opaque}".encode(), stype)  # fmt: skip
    return cmd


@pytest.mark.parametrize("flush", ["ASYNC_FLUSH", "SYNC_FLUSH"])
async def test_binary_sends_answer_and_store_as_json_ones(tmp_path: Path, flush: str) -> None:
    async with running_cluster(tmp_path, {"flushDiskType": flush}) as (_namesrv, broker):
        await exchange(broker.port, [_send(1, {}, _PLAIN, SerializeType.JSON)])  # the topic
        frames = []
        for n, (_name, change, props) in enumerate(CASES):
            # binary first: a new topic is created by the first of the pair
            frames.append(_send(100 + n, change, props, SerializeType.ROCKETMQ))
            frames.append(_send(200 + n, change, props, SerializeType.JSON))
        assert type(decode_send_frame(encode(frames[0])[4:])) is PlainSend
        answers = await exchange(broker.port, frames)
        log = broker.store.commit_log
        refused = {name for n, (name, _, _) in enumerate(CASES) if answers[100 + n].code}
        assert refused == {
            "queue out of range", "forbidden topic", "bad topic", "batch flag", "bad number"
        }  # fmt: skip
        for n, (name, _change, _props) in enumerate(CASES):
            binary, json = answers[100 + n], answers[200 + n]
            assert binary.serialize_type == SerializeType.ROCKETMQ, name
            assert (binary.code, binary.remark) == (json.code, json.remark), name
            if binary.code != ResponseCode.SUCCESS:
                continue
            ext_b, ext_j = binary.ext_fields or {}, json.ext_fields or {}
            assert ext_b.keys() == ext_j.keys() and ext_b["queueId"] == ext_j["queueId"], name
            rec_b = log.read_record(int(ext_b["msgId"][-16:], 16), check_crc=True)
            rec_j = log.read_record(int(ext_j["msgId"][-16:], 16), check_crc=True)
            assert rec_b.properties == rec_j.properties, name
            if name == "a value holding 0x01":
                assert decode_properties(rec_b.properties)["X"] == "a\x01b"
            assert (
                rec_b.body == f"body {100 + n}".encode()
                and rec_j.body == f"body {200 + n}".encode()
            )
            for field in ("topic", "queue_id", "flag", "sys_flag", "born_timestamp", "born_host",
                          "reconsume_times", "magic"):  # fmt: skip
                assert getattr(rec_b, field) == getattr(rec_j, field), (name, field)
