"""Conversions between RocketMQ 5's gRPC messages (``apache.rocketmq.v2``) and rocketq's
stored records: the gRPC ``Message`` a producer sends becomes a ``StoredMessage`` with
RocketMQ's property names, and a stored record goes back out as a gRPC ``Message`` (what
the Java proxy's ``GrpcConverter`` does). Pure functions; no I/O."""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import re
import zlib
from collections.abc import Mapping

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.common.message import MessageConst, SysFlag, encode_properties
from rocketq.common.record import Address, MessageRecord, StoredMessage, create_offset_msg_id

__all__ = [
    "SYSTEM_PROPERTY_NAMES",
    "BadMessage",
    "duration_ms",
    "endpoints_of",
    "has_control_character",
    "is_blank",
    "message_to_pb",
    "message_type_of",
    "ok",
    "parse_peer",
    "status",
    "stored_from_pb",
]

# Property names RocketMQ reserves (MessageConst.STRING_HASH_SET): never shown to a gRPC
# consumer as user properties, and refused as user property keys from a producer.
SYSTEM_PROPERTY_NAMES = frozenset(
    value
    for name, value in vars(MessageConst).items()
    if name.isupper() and isinstance(value, str) and value != MessageConst.KEY_SEPARATOR
) | {"POP_CK", "1ST_POP_TIME", "INNER_NUM", "INNER_BASE", "TRACE_CONTEXT", "BORNHOST"}
# Character.isISOControl: C0 controls, DEL and the C1 controls.
_ISO_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# Character.isWhitespace (what StringUtils.isBlank tests): the Unicode space, line and
# paragraph separators except the no-break ones (U+00A0, U+2007, U+202F), plus TAB, LF, VT,
# FF, CR and the four information separators U+001C..U+001F.
_JAVA_WHITESPACE = re.compile(
    "[\t\n\x0b\x0c\r\x1c-\x1f \u1680\u2000-\u2006\u2008-\u200a\u2028\u2029\u205f\u3000]*"
)
# ProxyConfig.userPropertyMaxNum: SendMessageActivity#buildMessageProperty refuses a message
# with more user properties than this (MESSAGE_PROPERTIES_TOO_LARGE).
USER_PROPERTY_MAX_NUM = 128
# ProxyConfig.maxUserPropertySize: the most UTF-8 bytes the user property keys and values,
# the tag and the keys may take together (more: MESSAGE_PROPERTIES_TOO_LARGE).
MAX_USER_PROPERTY_SIZE = 16 * 1024
# ProxyConfig.maxMessageGroupSize: SendMessageActivity#validateMessageGroup refuses a message
# group of this many UTF-8 bytes or more (ILLEGAL_MESSAGE_GROUP), so 63 is the longest.
MAX_MESSAGE_GROUP_SIZE = 64
_NANOS_PER_MS = 1_000_000
_MS_PER_S = 1000


class BadMessage(ValueError):
    """A gRPC message rocketq cannot store; ``code`` is the v2 status code to answer."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def status(code: int, message: str) -> pb.Status:
    """A v2 ``Status``."""
    return pb.Status(code=code, message=message)  # type: ignore[arg-type]


def ok() -> pb.Status:
    """``Status(OK)``."""
    return pb.Status(code=pb.Code.OK, message="OK")


def duration_ms(duration: Duration) -> int:
    """A protobuf ``Duration`` in milliseconds."""
    return duration.seconds * _MS_PER_S + duration.nanos // _NANOS_PER_MS


def _timestamp(ms: int) -> Timestamp:
    return Timestamp(seconds=ms // _MS_PER_S, nanos=(ms % _MS_PER_S) * _NANOS_PER_MS)


def _timestamp_ms(ts: Timestamp) -> int:
    return ts.seconds * _MS_PER_S + ts.nanos // _NANOS_PER_MS


def parse_peer(peer: str) -> Address:
    """grpcio's ``context.peer()`` (``ipv4:1.2.3.4:5``, ``ipv6:[::1]:5``) -> (host, port);
    loopback and v4-mapped IPv6 become IPv4, as the remoting side stores them."""
    _scheme, _, rest = peer.partition(":")
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if host.startswith("::ffff:"):
        host = host[7:]
    elif host == "::1":
        host = "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        host = "127.0.0.1"  # a unix socket or something else without an IP
    return host, int(port) if port.isdigit() else 0


def endpoints_of(host: str, port: int) -> pb.Endpoints:
    """``Endpoints`` for one address, with the scheme its host has."""
    try:
        version = ipaddress.ip_address(host).version
        scheme = pb.AddressScheme.IPv4 if version == 4 else pb.AddressScheme.IPv6
    except ValueError:
        scheme = pb.AddressScheme.DOMAIN_NAME
    return pb.Endpoints(scheme=scheme, addresses=[pb.Address(host=host, port=port)])


# -- producer -> store -----------------------------------------------------------------------


def _body(msg: pb.Message) -> bytes:
    encoding = msg.system_properties.body_encoding
    if encoding == pb.Encoding.GZIP:
        try:
            return gzip.decompress(msg.body)
        except (OSError, EOFError, zlib.error) as exc:
            raise BadMessage(pb.Code.MESSAGE_CORRUPTED, f"bad GZIP body: {exc}") from exc
    return msg.body


def has_control_character(text: str) -> bool:
    """Java's ``Character.isISOControl`` on any char of ``text`` (the proxy's
    ``GrpcValidator#containControlCharacter``, Guava's ``CharMatcher.javaIsoControl``)."""
    return _ISO_CONTROL.search(text) is not None


def is_blank(text: str) -> bool:
    """Commons Lang's ``StringUtils.isBlank``: empty, or Java whitespace only."""
    return _JAVA_WHITESPACE.fullmatch(text) is not None


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def _check_user_properties(props: Mapping[str, str]) -> int:
    """``SendMessageActivity#buildMessageProperty``: at most ``USER_PROPERTY_MAX_NUM`` user
    properties; none may take a reserved name, and neither a key nor a value may hold a
    control character (the proxy answers ILLEGAL_MESSAGE_PROPERTY_KEY for a bad value too,
    so we do). Returns their UTF-8 size (keys and values), as the proxy adds it up."""
    if len(props) > USER_PROPERTY_MAX_NUM:
        text = f"{len(props)} user properties, more than the {USER_PROPERTY_MAX_NUM} allowed"
        raise BadMessage(pb.Code.MESSAGE_PROPERTIES_TOO_LARGE, text)
    illegal = pb.Code.ILLEGAL_MESSAGE_PROPERTY_KEY
    size = 0
    for key, value in props.items():
        if key in SYSTEM_PROPERTY_NAMES:
            raise BadMessage(illegal, f"property key {key!r} is reserved")
        if has_control_character(key):
            raise BadMessage(illegal, f"property key {key!r} holds a control character")
        if has_control_character(value):
            raise BadMessage(illegal, f"the value of property {key!r} holds a control character")
        size += _utf8_size(key) + _utf8_size(value)
    return size


def _check_tag_and_keys(sp: pb.SystemProperties) -> int:
    """``GrpcValidator#validateTag`` and ``SendMessageActivity#validateMessageKey``: a tag
    that is not empty may not be blank, hold '|' or a control character; a key that is not
    empty may not be blank or hold a control character (0x01/0x02 would also break the
    stored properties string). Returns their UTF-8 size, part of the user property size."""
    tag = sp.tag
    if tag and (is_blank(tag) or "|" in tag or has_control_character(tag)):
        raise BadMessage(pb.Code.ILLEGAL_MESSAGE_TAG, f"illegal tag {tag!r}")
    size = _utf8_size(tag)
    for key in sp.keys:
        if key and is_blank(key):
            raise BadMessage(pb.Code.ILLEGAL_MESSAGE_KEY, f"key {key!r} is only whitespace")
        if has_control_character(key):
            raise BadMessage(pb.Code.ILLEGAL_MESSAGE_KEY, f"key {key!r} holds a control character")
        size += _utf8_size(key)
    return size


def _check_message_group(group: str) -> None:
    """``SendMessageActivity#validateMessageGroup`` (an empty group is no group): not blank,
    under ``MAX_MESSAGE_GROUP_SIZE`` UTF-8 bytes, no control character."""
    if not group:
        return
    code = pb.Code.ILLEGAL_MESSAGE_GROUP
    if is_blank(group):
        raise BadMessage(code, f"message group {group!r} is only whitespace")
    if _utf8_size(group) >= MAX_MESSAGE_GROUP_SIZE:
        text = f"message group is {_utf8_size(group)} bytes, {MAX_MESSAGE_GROUP_SIZE} or more"
        raise BadMessage(code, text)
    if has_control_character(group):
        raise BadMessage(code, f"message group {group!r} holds a control character")


def _properties(msg: pb.Message) -> dict[str, str]:
    """User properties plus the system properties RocketMQ stores as named properties,
    checked in ``buildMessageProperty``'s order."""
    sp = msg.system_properties
    size = _check_user_properties(msg.user_properties) + _check_tag_and_keys(sp)
    if size > MAX_USER_PROPERTY_SIZE:
        text = f"user properties, tag and keys are {size} bytes, more than {MAX_USER_PROPERTY_SIZE}"
        raise BadMessage(pb.Code.MESSAGE_PROPERTIES_TOO_LARGE, text)
    if is_blank(sp.message_id):
        raise BadMessage(pb.Code.ILLEGAL_MESSAGE_ID, "message id is empty or only whitespace")
    _check_message_group(sp.message_group)
    props = dict(msg.user_properties)
    if sp.HasField("tag"):
        props[MessageConst.TAGS] = sp.tag
    if sp.keys:
        props[MessageConst.KEYS] = MessageConst.KEY_SEPARATOR.join(sp.keys)
    props[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX] = sp.message_id
    if sp.message_group:  # an empty group is no group (no SHARDING_KEY), as in Java
        props[MessageConst.SHARDING_KEY] = sp.message_group
    if sp.trace_context:  # Java: only a non-empty one (SendMessageActivity)
        props["TRACE_CONTEXT"] = sp.trace_context
    return props


def stored_from_pb(
    msg: pb.Message, queue_id: int, born_host: Address, cluster: str, max_body_size: int
) -> StoredMessage:
    """The record to store for a producer's gRPC message (NORMAL messages)."""
    body = _body(msg)
    if not body:
        raise BadMessage(pb.Code.MESSAGE_BODY_EMPTY, "message body is empty")
    if len(body) > max_body_size:
        raise BadMessage(
            pb.Code.MESSAGE_BODY_TOO_LARGE,
            f"message body is {len(body)} bytes, more than the {max_body_size} allowed",
        )
    props = _properties(msg)
    props[MessageConst.CLUSTER] = cluster
    try:  # what the checks above let through (a message id holding 0x02, say)
        properties = encode_properties(props)
    except ValueError as exc:
        raise BadMessage(pb.Code.BAD_REQUEST, str(exc)) from exc
    born = msg.system_properties.born_timestamp
    return StoredMessage(
        topic=msg.topic.name,
        queue_id=queue_id,
        body=body,
        properties=properties,
        props=props,
        born_timestamp=_timestamp_ms(born) if born.seconds or born.nanos else 0,
        born_host=born_host,
    )


def message_type_of(props: Mapping[str, str]) -> str:
    """``TopicMessageType.parseFromMessageProperty``: the v2 ``MessageType`` name."""
    if props.get(MessageConst.TRANSACTION_PREPARED) == "true":
        return "TRANSACTION"
    delay_keys = (MessageConst.DELAY_TIME_LEVEL, MessageConst.TIMER_DELIVER_MS,
                  MessageConst.TIMER_DELAY_SEC, MessageConst.TIMER_DELAY_MS)  # fmt: skip
    if any(key in props for key in delay_keys):
        return "DELAY"
    return "FIFO" if MessageConst.SHARDING_KEY in props else "NORMAL"


# -- store -> consumer -------------------------------------------------------------------------


def _user_properties(props: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in props.items() if k not in SYSTEM_PROPERTY_NAMES}


def _plain_body(record: MessageRecord) -> bytes:
    # A remoting producer deflates (zlib) large bodies and sets COMPRESSED; gRPC consumers
    # get IDENTITY bodies.
    if record.sys_flag & SysFlag.COMPRESSED:
        try:
            return zlib.decompress(record.body)
        except zlib.error:
            return record.body
    return record.body


def _digest(body: bytes) -> pb.Digest:
    """MD5 in upper-case hex, as the Java proxy sends it: the SDKs agree on that form, not
    on CRC32's (the Python client compares 8 hex digits, the Node client the decimal)."""
    return pb.Digest(type=pb.DigestType.MD5, checksum=hashlib.md5(body).hexdigest().upper())


def message_to_pb(
    record: MessageRecord,
    receipt_handle: str,
    invisible_ms: int,
    delivery_attempt: int,
    topic: str | None = None,
) -> pb.Message:
    """A stored record as a received gRPC ``Message`` with its pop receipt handle."""
    props = record.properties_map()
    body = _plain_body(record)
    sp = pb.SystemProperties(
        message_id=props.get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
        or create_offset_msg_id(record.store_host, record.physical_offset),
        body_digest=_digest(body),
        body_encoding=pb.Encoding.IDENTITY,
        message_type=message_type_of(props),
        born_timestamp=_timestamp(record.born_timestamp),
        born_host=record.born_host[0],
        store_timestamp=_timestamp(record.store_timestamp),
        store_host=f"{record.store_host[0]}:{record.store_host[1]}",
        receipt_handle=receipt_handle,
        queue_id=record.queue_id,
        queue_offset=record.queue_offset,
        invisible_duration=Duration(
            seconds=invisible_ms // _MS_PER_S, nanos=(invisible_ms % _MS_PER_S) * _NANOS_PER_MS
        ),
        delivery_attempt=delivery_attempt,
    )
    if MessageConst.TAGS in props:
        sp.tag = props[MessageConst.TAGS]
    keys = props.get(MessageConst.KEYS, "")
    sp.keys.extend(k for k in keys.split(MessageConst.KEY_SEPARATOR) if k)
    if MessageConst.SHARDING_KEY in props:
        sp.message_group = props[MessageConst.SHARDING_KEY]
    deliver = props.get(MessageConst.TIMER_DELIVER_MS, "")
    if deliver.isdigit():
        sp.delivery_timestamp.CopyFrom(_timestamp(int(deliver)))
    return pb.Message(
        topic=pb.Resource(name=topic or record.topic),
        user_properties=_user_properties(props),
        system_properties=sp,
        body=body,
    )
