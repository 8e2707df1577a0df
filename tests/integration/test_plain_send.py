"""A send read straight from its frame (``PlainSend``), with a binary header or a JSON one, is
answered and stored exactly as the same send the general decode takes (a JSON header with a
key the plain read refuses, which the general path ignores): same codes and remarks, same
queue, the request's serialize type, and records equal field by field, properties byte for
byte (issue 11)."""

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


# A key SendMessageRequestHeaderV2 does not have: the general path ignores it, the plain
# read refuses the frame.
_GENERAL = {"z": "1"}
_OFFSET = {"binary": 100, "json": 200, "general": 300}  # opaque = offset + case number


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


def _frames(n: int, change: dict[str, str], props: dict[str, str] | None) -> list[RemotingCommand]:
    """Case ``n`` as a binary, a JSON and a general (JSON, refused by the plain read) send."""
    return [
        _send(_OFFSET["binary"] + n, change, props, SerializeType.ROCKETMQ),
        _send(_OFFSET["json"] + n, change, props, SerializeType.JSON),
        _send(_OFFSET["general"] + n, {**change, **_GENERAL}, props, SerializeType.JSON),
    ]


@pytest.mark.parametrize("flush", ["ASYNC_FLUSH", "SYNC_FLUSH"])
async def test_plain_sends_answer_and_store_as_general_ones(tmp_path: Path, flush: str) -> None:
    async with running_cluster(tmp_path, {"flushDiskType": flush}) as (_namesrv, broker):
        await exchange(broker.port, [_send(1, {}, _PLAIN, SerializeType.JSON)])  # the topic
        frames = []
        for n, (_name, change, props) in enumerate(CASES):
            # a plain one first: a new topic is created by the first of the three
            frames += _frames(n, change, props)
        plain, json_plain, general = (decode_send_frame(encode(f)[4:]) for f in frames[:3])
        assert (type(plain), type(json_plain), type(general)) == (
            PlainSend, PlainSend, RemotingCommand
        )  # fmt: skip
        assert json_plain.serialize_type == SerializeType.JSON
        answers = await exchange(broker.port, frames)
        log = broker.store.commit_log
        refused = {
            name for n, (name, _, _) in enumerate(CASES) if answers[_OFFSET["general"] + n].code
        }
        assert refused == {
            "queue out of range", "forbidden topic", "bad topic", "batch flag", "bad number"
        }  # fmt: skip
        for n, (name, _change, _props) in enumerate(CASES):
            expected = answers[_OFFSET["general"] + n]
            assert expected.serialize_type == SerializeType.JSON, name
            rec_g = None
            if expected.code == ResponseCode.SUCCESS:
                ext_g = expected.ext_fields or {}
                rec_g = log.read_record(int(ext_g["msgId"][-16:], 16), check_crc=True)
                assert rec_g.body == f"body {_OFFSET['general'] + n}".encode()
            for kind, stype in (("binary", SerializeType.ROCKETMQ), ("json", SerializeType.JSON)):
                got = answers[_OFFSET[kind] + n]
                assert got.serialize_type == stype, (name, kind)
                assert (got.code, got.remark) == (expected.code, expected.remark), (name, kind)
                if rec_g is None:
                    continue
                ext, ext_g = got.ext_fields or {}, expected.ext_fields or {}
                assert ext.keys() == ext_g.keys(), (name, kind)
                assert ext["queueId"] == ext_g["queueId"], (name, kind)
                rec = log.read_record(int(ext["msgId"][-16:], 16), check_crc=True)
                assert rec.properties == rec_g.properties, (name, kind)
                if name == "a value holding 0x01":
                    assert decode_properties(rec.properties)["X"] == "a\x01b"
                assert rec.body == f"body {_OFFSET[kind] + n}".encode(), (name, kind)
                for field in ("topic", "queue_id", "flag", "sys_flag", "born_timestamp",
                              "born_host", "reconsume_times", "magic"):  # fmt: skip
                    assert getattr(rec, field) == getattr(rec_g, field), (name, kind, field)
