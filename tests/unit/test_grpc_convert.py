"""gRPC front end, pure parts: receipt handles, queue permissions, message conversions."""

from __future__ import annotations

import gzip
import unicodedata
from collections.abc import Callable

import pytest

from rocketq.broker.grpc.clients import queue_permission
from rocketq.broker.grpc.convert import (
    MAX_MESSAGE_GROUP_SIZE,
    MAX_USER_PROPERTY_SIZE,
    USER_PROPERTY_MAX_NUM,
    BadMessage,
    endpoints_of,
    is_blank,
    message_to_pb,
    parse_peer,
    stored_from_pb,
)
from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.grpc.v2 import service_pb2
from rocketq.broker.pop import ReceiptHandle
from rocketq.common.record import decode_record, encode_record
from rocketq.common.topic import PERM_READ, PERM_WRITE
from rocketq.remoting.body import QueueData

MAX_BODY = 4 * 1024 * 1024


def test_receipt_handle_round_trip() -> None:
    handle = ReceiptHandle(7, 1_700_000_000_123, 30_000, 0, "0", "broker-a", 3, 7, 4096)
    text = handle.encode()
    assert text == "7 1700000000123 30000 0 0 broker-a 3 7 4096"
    assert ReceiptHandle.decode(text) == handle


@pytest.mark.parametrize("text", ["", "1 2 3", "a b c d 0 broker 1 2 3", "1 2 3 4 0 b 1 2 3 4"])
def test_receipt_handle_rejects_foreign_text(text: str) -> None:
    with pytest.raises(ValueError):
        ReceiptHandle.decode(text)


@pytest.mark.parametrize(
    ("queue_id", "read", "write", "perm", "expected"),
    [
        (0, 4, 4, PERM_READ | PERM_WRITE, pb.Permission.READ_WRITE),
        (3, 4, 2, PERM_READ | PERM_WRITE, pb.Permission.READ),
        (3, 2, 4, PERM_READ | PERM_WRITE, pb.Permission.WRITE),
        (0, 4, 4, PERM_READ, pb.Permission.READ),
        (0, 4, 4, 0, pb.Permission.NONE),
    ],
)
def test_queue_permission(queue_id: int, read: int, write: int, perm: int, expected: int) -> None:
    # the broker's QueueData for the topic (what the NameServer route carries)
    assert queue_permission(queue_id, QueueData("broker-a", read, write, perm)) == expected


def test_peer_and_endpoints() -> None:
    assert parse_peer("ipv4:10.0.0.5:5555") == ("10.0.0.5", 5555)
    assert parse_peer("ipv6:[::1]:6000") == ("127.0.0.1", 6000)
    assert parse_peer("ipv6:[::ffff:10.1.2.3]:7") == ("10.1.2.3", 7)
    assert endpoints_of("10.0.0.1", 8081).scheme == pb.AddressScheme.IPv4
    assert endpoints_of("::1", 8081).scheme == pb.AddressScheme.IPv6
    assert endpoints_of("broker.example", 8081).addresses[0].port == 8081


def _producer_message(**system: object) -> pb.Message:
    msg = pb.Message(topic=pb.Resource(name="T"), body=b"hello")
    msg.user_properties["color"] = "red"
    msg.system_properties.message_id = "01ABCDEF"
    msg.system_properties.tag = "TagA"
    msg.system_properties.keys.extend(["k1", "k2"])
    msg.system_properties.born_timestamp.seconds = 1_700_000_000
    for key, value in system.items():
        setattr(msg.system_properties, key, value)
    return msg


def test_producer_message_stored_and_received_back() -> None:
    stored = stored_from_pb(_producer_message(), 2, ("10.0.0.9", 4000), "C", MAX_BODY)
    assert stored.props == {
        "color": "red", "TAGS": "TagA", "KEYS": "k1 k2", "UNIQ_KEY": "01ABCDEF", "CLUSTER": "C"
    }  # fmt: skip
    assert stored.born_timestamp == 1_700_000_000_000
    record = decode_record(encode_record(stored))
    out = message_to_pb(record, "h", 30_000, 2, "T")
    sp = out.system_properties
    assert (out.body, out.topic.name) == (b"hello", "T")
    assert dict(out.user_properties) == {"color": "red"}
    assert (sp.message_id, sp.tag, list(sp.keys)) == ("01ABCDEF", "TagA", ["k1", "k2"])
    assert (sp.receipt_handle, sp.delivery_attempt, sp.invisible_duration.seconds) == ("h", 2, 30)
    assert sp.body_encoding == pb.Encoding.IDENTITY
    # MD5 of b"hello" in upper-case hex, as the Java proxy sends it and every SDK checks it
    assert sp.body_digest.type == pb.DigestType.MD5
    assert sp.body_digest.checksum == "5D41402ABC4B2A76B9719D911017C592"


def test_gzip_body_is_stored_plain() -> None:
    msg = _producer_message(body_encoding=pb.Encoding.GZIP)
    msg.body = gzip.compress(b"zipped")
    assert stored_from_pb(msg, 0, ("1.2.3.4", 1), "C", MAX_BODY).body == b"zipped"


def _set(msg: pb.Message, field: str, value: str) -> None:
    setattr(msg.system_properties, field, value)


# A control character (Character.isISOControl) where the proxy refuses one; a message id is
# not checked by the proxy, but its 0x02 would break the stored properties string.
_CONTROL_CHANGES: dict[str, Callable[[pb.Message], None]] = {
    "key_control": lambda m: m.user_properties.update({"a\x01b": "v"}),
    "value_control": lambda m: m.user_properties.update({"color": "re\x7fd"}),
    "tag_control": lambda m: _set(m, "tag", "T\x02"),
    "keys_control": lambda m: m.system_properties.keys.append("k\x00"),
    "group_control": lambda m: _set(m, "message_group", "g\x9f"),
    "id_separator": lambda m: _set(m, "message_id", "01AB\x02CD"),
}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("reserved_key", pb.Code.ILLEGAL_MESSAGE_PROPERTY_KEY),
        ("empty_body", pb.Code.MESSAGE_BODY_EMPTY),
        ("big_body", pb.Code.MESSAGE_BODY_TOO_LARGE),
        ("no_id", pb.Code.ILLEGAL_MESSAGE_ID),
        ("bad_tag", pb.Code.ILLEGAL_MESSAGE_TAG),
        ("key_control", pb.Code.ILLEGAL_MESSAGE_PROPERTY_KEY),
        ("value_control", pb.Code.ILLEGAL_MESSAGE_PROPERTY_KEY),  # the proxy's code for both
        ("tag_control", pb.Code.ILLEGAL_MESSAGE_TAG),
        ("keys_control", pb.Code.ILLEGAL_MESSAGE_KEY),
        ("group_control", pb.Code.ILLEGAL_MESSAGE_GROUP),
        ("id_separator", pb.Code.BAD_REQUEST),
    ],
)
def test_bad_producer_messages(change: str, code: int) -> None:
    msg = _producer_message()
    if change == "reserved_key":
        msg.user_properties["UNIQ_KEY"] = "x"
    elif change == "empty_body":
        msg.body = b""
    elif change == "big_body":
        msg.body = b"x" * 11
    elif change == "no_id":
        msg.system_properties.message_id = ""
    elif change in _CONTROL_CHANGES:
        _CONTROL_CHANGES[change](msg)
    else:
        msg.system_properties.tag = "A||B"
    with pytest.raises(BadMessage) as info:
        stored_from_pb(msg, 0, ("1.2.3.4", 1), "C", 10)
    assert info.value.code == code


def test_service_has_every_rpc_of_the_5x_protocol() -> None:
    service = service_pb2.DESCRIPTOR.services_by_name["MessagingService"]
    assert service.full_name == "apache.rocketmq.v2.MessagingService"
    streaming = {m.name: (m.client_streaming, m.server_streaming) for m in service.methods}
    assert streaming["Telemetry"] == (True, True)
    assert streaming["ReceiveMessage"] == (False, True)
    assert len(streaming) == 17


def test_control_characters_are_javas_iso_controls() -> None:
    from rocketq.broker.grpc.convert import has_control_character

    controls = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]]
    assert all(has_control_character(f"a{c}b") for c in controls)
    assert not any(has_control_character(c) for c in (" ", "~", "\xa0", "é", "\u2028", "中"))


def _store(msg: pb.Message) -> dict[str, str]:
    props = stored_from_pb(msg, 0, ("1.2.3.4", 1), "C", MAX_BODY).props
    assert props is not None
    return props


def _refused(msg: pb.Message) -> int:
    with pytest.raises(BadMessage) as info:
        stored_from_pb(msg, 0, ("1.2.3.4", 1), "C", MAX_BODY)
    return info.value.code


def _with_properties(count: int) -> pb.Message:
    msg = _producer_message()
    msg.user_properties.clear()
    msg.user_properties.update({f"p{i}": "v" for i in range(count)})
    return msg


def test_user_property_count_limit() -> None:
    # ProxyConfig.userPropertyMaxNum (128): 128 is fine, 129 is MESSAGE_PROPERTIES_TOO_LARGE
    assert USER_PROPERTY_MAX_NUM == 128
    assert len(_store(_with_properties(128))) == 128 + 4  # TAGS, KEYS, UNIQ_KEY, CLUSTER
    assert _refused(_with_properties(129)) == pb.Code.MESSAGE_PROPERTIES_TOO_LARGE


def _sized(total: int) -> pb.Message:
    """A message whose user property keys and values, tag and keys are ``total`` UTF-8
    bytes: "color"/"red" (8), "TagA" (4), "k1"/"k2" (4), then a value of two-byte chars."""
    msg = _producer_message()
    left = total - 16 - len("big")
    msg.user_properties["big"] = "é" * (left // 2) + "x" * (left % 2)
    return msg


def test_user_property_size_counts_utf8_bytes_of_properties_tag_and_keys() -> None:
    # ProxyConfig.maxUserPropertySize (16 KiB): the sum may reach it, not pass it
    assert MAX_USER_PROPERTY_SIZE == 16 * 1024
    assert "big" in _store(_sized(MAX_USER_PROPERTY_SIZE))
    assert _refused(_sized(MAX_USER_PROPERTY_SIZE + 1)) == pb.Code.MESSAGE_PROPERTIES_TOO_LARGE
    # the keys and the tag count: one more byte of key is one too many, one less of tag fits
    msg = _sized(MAX_USER_PROPERTY_SIZE)
    msg.system_properties.keys.append("z")
    assert _refused(msg) == pb.Code.MESSAGE_PROPERTIES_TOO_LARGE
    msg.system_properties.tag = "Tag"  # one byte shorter: back at the limit
    assert _store(msg)["KEYS"] == "k1 k2 z"


def test_count_is_checked_before_reserved_names() -> None:
    # buildMessageProperty counts first, then looks at each key
    msg = _with_properties(129)
    msg.user_properties["UNIQ_KEY"] = "x"
    assert _refused(msg) == pb.Code.MESSAGE_PROPERTIES_TOO_LARGE


@pytest.mark.parametrize(
    ("group", "code"),
    [
        ("g" * (MAX_MESSAGE_GROUP_SIZE - 1), pb.Code.OK),
        ("g" * MAX_MESSAGE_GROUP_SIZE, pb.Code.ILLEGAL_MESSAGE_GROUP),
        ("é" * 31 + "g", pb.Code.OK),  # 63 bytes
        ("é" * 32, pb.Code.ILLEGAL_MESSAGE_GROUP),  # 32 chars but 64 bytes
        (" \t ", pb.Code.ILLEGAL_MESSAGE_GROUP),
        ("\u3000", pb.Code.ILLEGAL_MESSAGE_GROUP),  # Java whitespace (ideographic space)
        ("\xa0", pb.Code.OK),  # a no-break space is not Java whitespace
        (" g ", pb.Code.OK),
        ("", pb.Code.OK),  # no group
    ],
)
def test_message_group_rules(group: str, code: int) -> None:
    # ProxyConfig.maxMessageGroupSize (64) counts UTF-8 bytes and is itself too many
    msg = _producer_message(message_group=group)
    if code == pb.Code.OK:
        assert _store(msg).get("__SHARDINGKEY") == (group or None)
    else:
        assert _refused(msg) == code


@pytest.mark.parametrize(
    ("keys", "code"),
    [
        ([" "], pb.Code.ILLEGAL_MESSAGE_KEY),
        (["k", "\t\n"], pb.Code.ILLEGAL_MESSAGE_KEY),
        (["\u2028"], pb.Code.ILLEGAL_MESSAGE_KEY),
        ([" k "], pb.Code.OK),
        (["", "k"], pb.Code.OK),  # an empty key is skipped by validateMessageKey
    ],
)
def test_message_key_may_not_be_only_whitespace(keys: list[str], code: int) -> None:
    msg = _producer_message()
    del msg.system_properties.keys[:]
    msg.system_properties.keys.extend(keys)
    if code == pb.Code.OK:
        assert _store(msg)["KEYS"] == " ".join(keys)
    else:
        assert _refused(msg) == code


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("  ", pb.Code.ILLEGAL_MESSAGE_TAG),
        ("A|B", pb.Code.ILLEGAL_MESSAGE_TAG),
        ("A B", pb.Code.OK),
        ("", pb.Code.OK),  # validateTag skips an empty tag
    ],
)
def test_tag_rules(tag: str, code: int) -> None:
    msg = _producer_message(tag=tag)
    if code == pb.Code.OK:
        assert _store(msg)["TAGS"] == tag
    else:
        assert _refused(msg) == code


def test_blank_message_id_is_refused() -> None:
    # buildMessageProperty: StringUtils.isBlank(messageId) -> ILLEGAL_MESSAGE_ID
    assert _refused(_producer_message(message_id=" \t")) == pb.Code.ILLEGAL_MESSAGE_ID


def test_is_blank_is_javas_whitespace() -> None:
    separators = {
        chr(c) for c in range(0x10000) if unicodedata.category(chr(c)) in {"Zs", "Zl", "Zp"}
    }
    java = (separators - {"\xa0", "\u2007", "\u202f"}) | set("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f")
    assert {chr(c) for c in range(0x10000) if is_blank(chr(c))} == java
    assert is_blank("") and is_blank(" \u3000\t") and not is_blank(" x ")


def test_only_a_non_empty_trace_context_is_stored() -> None:
    assert "TRACE_CONTEXT" not in _store(_producer_message(trace_context=""))
    assert _store(_producer_message(trace_context="00-ab-cd-01"))["TRACE_CONTEXT"] == "00-ab-cd-01"
