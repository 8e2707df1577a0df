"""Message operations of the admin API: view, query, pull and send (``mqadmin``'s
``queryMsgById``, ``queryMsgByKey``, ``consumeMessage``, ``sendMessage``), as a mixin of
:class:`~rocketq.admin.api.AdminClient`."""

from __future__ import annotations

import os
import random
import socket
import struct
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rocketq.admin.types import MessageQueue, PullResult, SendResult
from rocketq.common.errors import BrokerError, ClientError
from rocketq.common.message import MessageConst, encode_properties
from rocketq.common.topic import AUTO_CREATE_TOPIC_KEY_TOPIC, PERM_READ, PERM_WRITE
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.headers import (
    PullMessageRequestHeader,
    PullMessageResponseHeader,
    QueryMessageRequestHeader,
    SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
    ViewMessageRequestHeader,
)
from rocketq.store.format import MessageRecord, decode_offset_msg_id, decode_record

if TYPE_CHECKING:
    from rocketq.remoting.body import TopicRouteData

__all__ = ["MessagesMixin", "check_response", "decode_records", "new_uniq_id"]

# MixAll: the group mqadmin pulls with, the UNIQ_KEY query flag.
TOOLS_CONSUMER_GROUP = "TOOLS_CONSUMER"
UNIQUE_MSG_QUERY_FLAG = "_UNIQUE_KEY_QUERY"
# Long.MAX_VALUE: "no end" for time ranges.
_LONG_MAX = (1 << 63) - 1
# PullSysFlag.SUBSCRIPTION: the expression travels in the request (no heartbeat needed).
_PULL_SUBSCRIPTION_FLAG = 0x4
_PULL_CODES = frozenset(
    {
        ResponseCode.SUCCESS,
        ResponseCode.PULL_NOT_FOUND,
        ResponseCode.PULL_RETRY_IMMEDIATELY,
        ResponseCode.PULL_OFFSET_MOVED,
    }
)
# Response codes of a stored message, as SendStatus names.
_SEND_STATUS: dict[int, str] = {
    ResponseCode.SUCCESS: "SEND_OK",
    ResponseCode.FLUSH_DISK_TIMEOUT: "FLUSH_DISK_TIMEOUT",
    ResponseCode.FLUSH_SLAVE_TIMEOUT: "FLUSH_SLAVE_TIMEOUT",
    ResponseCode.SLAVE_NOT_AVAILABLE: "SLAVE_NOT_AVAILABLE",
}


def check_response(response: RemotingCommand) -> RemotingCommand:
    """The response itself when it succeeded, else BrokerError(code, remark)."""
    if response.code != ResponseCode.SUCCESS:
        raise BrokerError(response.code, response.remark)
    return response


class MessagesMixin:
    """View, query, pull and send; the queues a topic is sent to and read from."""

    remoting: RemotingClient
    timeout: float
    _uniq_seq: int

    if TYPE_CHECKING:  # provided by AdminClient

        async def topic_route(self, topic: str) -> TopicRouteData: ...

        async def _route_brokers(self, topic: str) -> list[tuple[str, str]]: ...

        async def _broker(self, addr: str, cmd: RemotingCommand) -> RemotingCommand: ...

    async def view_message(self, msg_id: str) -> MessageRecord:
        """VIEW_MESSAGE_BY_ID at the broker and offset encoded in an offset msgId."""
        try:
            (host, port), offset = decode_offset_msg_id(msg_id)
        except ValueError as exc:
            raise ClientError(f"not an offset msgId: {msg_id!r}") from exc
        ext = ViewMessageRequestHeader(offset=offset).to_ext()
        resp = await self._broker(
            f"{host}:{port}", RemotingCommand.request(RequestCode.VIEW_MESSAGE_BY_ID, ext)
        )
        return decode_record(resp.body or b"")

    async def query_message(
        self,
        topic: str,
        key: str,
        max_num: int = 64,
        begin: int = 0,
        end: int = _LONG_MAX,
        unique: bool = False,
    ) -> list[MessageRecord]:
        """QUERY_MESSAGE on every broker of the topic; ``unique``: key is a UNIQ_KEY."""
        out: list[MessageRecord] = []
        for _name, addr in await self._route_brokers(topic):
            ext = QueryMessageRequestHeader(
                topic=topic, key=key, max_num=max_num, begin_timestamp=begin, end_timestamp=end
            ).to_ext()
            if unique:
                ext[UNIQUE_MSG_QUERY_FLAG] = "true"
            resp = await self.remoting.invoke(
                addr, RemotingCommand.request(RequestCode.QUERY_MESSAGE, ext), self.timeout
            )
            if resp.code == ResponseCode.QUERY_NOT_FOUND:
                continue
            out.extend(decode_records(check_response(resp).body or b""))
        keep = [
            r
            for r in out
            if not unique
            or r.properties_map().get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX) == key
        ]
        return sorted(keep, key=lambda r: (r.store_timestamp, r.physical_offset))

    async def pull(
        self,
        broker_addr: str,
        topic: str,
        queue_id: int,
        offset: int,
        max_nums: int = 32,
        group: str = TOOLS_CONSUMER_GROUP,
    ) -> PullResult:
        """One PULL_MESSAGE without suspending or committing, subscription ``*``."""
        ext = PullMessageRequestHeader(
            consumer_group=group,
            topic=topic,
            queue_id=queue_id,
            queue_offset=offset,
            max_msg_nums=max_nums,
            sys_flag=_PULL_SUBSCRIPTION_FLAG,
            commit_offset=0,
            suspend_timeout_millis=0,
            subscription="*",
            sub_version=0,
            expression_type="TAG",
        ).to_ext()
        resp = await self.remoting.invoke(
            broker_addr, RemotingCommand.request(RequestCode.PULL_MESSAGE, ext), self.timeout
        )
        if resp.code not in _PULL_CODES:
            raise BrokerError(resp.code, resp.remark)
        h = PullMessageResponseHeader.from_ext(resp.ext_fields)
        records = decode_records(resp.body or b"") if resp.code == ResponseCode.SUCCESS else []
        return PullResult(resp.code, h.next_begin_offset, h.min_offset, h.max_offset, records)

    async def send_message(
        self,
        topic: str,
        body: bytes,
        tags: str | None = None,
        keys: str | None = None,
        broker_name: str | None = None,
        queue_id: int | None = None,
        group: str | None = None,
        *,
        properties: Mapping[str, str] | None = None,
        flag: int = 0,
    ) -> SendResult:
        """SEND_MESSAGE_V2 to one queue of the topic (a chosen one, or the next of the route;
        TBW102's route for a topic the NameServer does not know, as Java's producer does);
        ``properties``: user properties sent along (``tags``/``keys`` win over theirs)."""
        mqs = await self._publish_queues(topic)
        if broker_name is not None:
            mqs = [
                m
                for m in mqs
                if m[0].broker_name == broker_name
                and (queue_id is None or m[0].queue_id == queue_id)
            ]
        if not mqs:
            raise ClientError(
                f"no writable queue of topic {topic} (broker {broker_name}, queue {queue_id})"
            )
        mq, addr = mqs[random.randrange(len(mqs))]
        self._uniq_seq += 1
        uniq = new_uniq_id(self._uniq_seq)
        props: dict[str, str | None] = {
            **(properties or {}),
            MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX: uniq,
            MessageConst.WAIT_STORE_MSG_OK: "true",
        }
        if tags is not None:
            props[MessageConst.TAGS] = tags
        if keys is not None:
            props[MessageConst.KEYS] = keys
        ext = SendMessageRequestHeaderV2(
            producer_group=group or str(int(time.time() * 1000)),
            topic=topic,
            default_topic=AUTO_CREATE_TOPIC_KEY_TOPIC,
            default_topic_queue_nums=4,
            queue_id=mq.queue_id,
            sys_flag=0,
            born_timestamp=int(time.time() * 1000),
            flag=flag,
            properties=encode_properties(props, trailing_separator=False),
            reconsume_times=0,
        ).to_ext()
        resp = await self.remoting.invoke(
            addr, RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, ext, body), self.timeout
        )
        status = _SEND_STATUS.get(resp.code)
        if status is None:
            raise BrokerError(resp.code, resp.remark)
        h = SendMessageResponseHeader.from_ext(resp.ext_fields)
        return SendResult(
            status, uniq, h.msg_id, MessageQueue(topic, mq.broker_name, h.queue_id), h.queue_offset
        )

    async def _publish_queues(self, topic: str) -> list[tuple[MessageQueue, str]]:
        try:
            route, cap = await self.topic_route(topic), None
        except BrokerError as exc:
            if exc.code != ResponseCode.TOPIC_NOT_EXIST:
                raise
            route, cap = await self.topic_route(AUTO_CREATE_TOPIC_KEY_TOPIC), 4
        masters = {b.broker_name: b.master_addr() for b in route.broker_datas}
        out: list[tuple[MessageQueue, str]] = []
        for q in route.queue_datas:
            addr = masters.get(q.broker_name)
            if addr is None or not q.perm & PERM_WRITE:
                continue
            count = q.write_queue_nums if cap is None else min(cap, q.read_queue_nums)
            out.extend((MessageQueue(topic, q.broker_name, i), addr) for i in range(count))
        return sorted(out)

    async def subscribe_queues(self, topic: str) -> list[tuple[MessageQueue, str]]:
        """Readable queues of a topic with the address to pull each from."""
        route = await self.topic_route(topic)
        masters = {
            b.broker_name: b.master_addr() or next(iter(b.broker_addrs.values()), None)
            for b in route.broker_datas
        }
        out: list[tuple[MessageQueue, str]] = []
        for q in route.queue_datas:
            addr = masters.get(q.broker_name)
            if addr is not None and q.perm & PERM_READ:
                out.extend(
                    (MessageQueue(topic, q.broker_name, i), addr) for i in range(q.read_queue_nums)
                )
        return sorted(out)


def decode_records(data: bytes) -> list[MessageRecord]:
    """Concatenated stored records (a pull or query body) -> decoded messages."""
    out, pos = [], 0
    while pos < len(data):
        record = decode_record(data, pos)
        out.append(record)
        pos += record.total_size
    return out


def new_uniq_id(seq: int) -> str:
    """A UNIQ_KEY like ``MessageClientIDSetter``'s: ip, pid, random, ms time, ``seq`` (hex)."""
    head = socket.inet_aton(_local_ipv4())
    head += struct.pack(">HI", os.getpid() & 0xFFFF, random.getrandbits(32))
    tail = struct.pack(">IH", int(time.time() * 1000) & 0xFFFFFFFF, seq & 0xFFFF)
    return (head + tail).hex().upper()


def _local_ipv4() -> str:
    """This host's outbound IPv4 address (a UDP connect sends nothing), else loopback."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"
