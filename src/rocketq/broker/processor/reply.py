"""SEND_REPLY_MESSAGE (324) and SEND_REPLY_MESSAGE_V2 (325): request-reply's second half
(RocketMQ 4.6+ ``ReplyMessageProcessor``).

A consumer that received a request message sends its reply (topic
``<cluster>_REPLY_TOPIC``, properties CORRELATION_ID and REPLY_TO_CLIENT copied from the
request) with one of these codes. The broker pushes the reply at once with
PUSH_REPLY_MESSAGE_TO_CLIENT (326) over the connection of the client named by
REPLY_TO_CLIENT (the requester's client id, as its heartbeats announced it) and answers
SUCCESS when that client took it. With ``storeReplyMessageEnable`` (the default) the reply
is also stored in its topic, and the answer then carries the stored offset msgId.

As in Java, the push decides the answer's code: a reply whose requester is gone is
answered SYSTEM_ERROR even when it was stored.
"""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING, Any

from rocketq.broker.processor.send import parse_host
from rocketq.common.errors import BrokerError, RemotingError
from rocketq.common.message import MessageConst, decode_properties, encode_properties
from rocketq.common.record import StoredMessage
from rocketq.common.topic import PERM_WRITE, TopicConfig, topic_name_problem
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers import (
    SendMessageRequestHeader,
    SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
)
from rocketq.remoting.headers.reply import ReplyMessageRequestHeader
from rocketq.store.result import PutMessageStatus

if TYPE_CHECKING:
    from rocketq.broker.client_manager import ConsumerManager, ProducerManager
    from rocketq.broker.config import BrokerConfig
    from rocketq.broker.registrar import Registrar
    from rocketq.broker.stats import BrokerStatsManager
    from rocketq.broker.topic_config import TopicConfigManager
    from rocketq.store.message_store import DefaultMessageStore

__all__ = ["ReplyMessageProcessor", "find_client_connection"]

log = logging.getLogger("rocketq.broker")

# Broker2Client#callClient waits 3 s for the requester to take a pushed reply.
PUSH_REPLY_TIMEOUT_S = 3.0
# Put outcomes that count as stored (handlePutMessageResult).
_STORED = frozenset(
    {
        PutMessageStatus.PUT_OK,
        PutMessageStatus.FLUSH_DISK_TIMEOUT,
        PutMessageStatus.FLUSH_SLAVE_TIMEOUT,
        PutMessageStatus.SLAVE_NOT_AVAILABLE,
    }
)


def find_client_connection(
    client_id: str, producers: ProducerManager, consumers: ConsumerManager
) -> Any:
    """An open connection of the client ``client_id`` among the producer channels, then
    the consumer channels (``ProducerManager#findChannel``; a client that only consumes
    can still be asked for its reply); None when it has none."""
    groups = [*producers.groups.values(), *(g.channels for g in consumers.groups.values())]
    for channels in groups:
        for conn, info in channels.items():
            if info.client_id == client_id and getattr(conn, "is_open", True):
                return conn
    return None


class ReplyMessageProcessor:
    """Pushes a reply to its requester and (optionally) stores it."""

    def __init__(
        self,
        *,
        config: BrokerConfig,
        store: DefaultMessageStore,
        topic_config_manager: TopicConfigManager,
        producer_manager: ProducerManager,
        consumer_manager: ConsumerManager,
        registrar: Registrar,
        stats: BrokerStatsManager | None = None,
    ) -> None:
        self.config = config
        self.stats = stats
        self.store = store
        self.topic_config_manager = topic_config_manager
        self.producer_manager = producer_manager
        self.consumer_manager = consumer_manager
        self.registrar = registrar

    async def process(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Entry point for codes 324 and 325."""
        header: SendMessageRequestHeader
        if req.code == RequestCode.SEND_REPLY_MESSAGE_V2:
            header = SendMessageRequestHeaderV2.from_ext(req.ext_fields).to_v1()
        else:
            header = SendMessageRequestHeader.from_ext(req.ext_fields)
        response = req.make_response(ext_fields={})
        response.ext_fields = {
            MessageConst.MSG_REGION: self.config.region_id,
            MessageConst.TRACE_SWITCH: "true",  # BrokerConfig.traceOn, true by default
        }
        try:
            config = self._check(header)
        except BrokerError as exc:
            response.code, response.remark = exc.code, exc.remark
            return response
        queue_id = header.queue_id
        if queue_id < 0:
            queue_id = random.randrange(max(config.write_queue_nums, 1))
        props = decode_properties(header.properties or "")
        pushed, remark = await self._push(conn, header, props, req.body or b"")
        fields = SendMessageResponseHeader(msg_id="0", queue_id=queue_id, queue_offset=0)
        response.code = ResponseCode.SUCCESS if pushed else ResponseCode.SYSTEM_ERROR
        response.remark = None if pushed else remark
        if self.config.store_reply_message_enable:
            fields = await self._store(conn, header, queue_id, req.body or b"") or fields
        response.ext_fields.update(fields.to_ext())
        return response

    def _check(self, header: SendMessageRequestHeader) -> TopicConfig:
        """``msgCheck`` of a reply: broker writable, topic valid and writable, queue id."""
        if not self.config.broker_permission & PERM_WRITE:
            raise BrokerError(
                ResponseCode.NO_PERMISSION,
                f"the broker[{self.config.broker_ip1}] sending message is forbidden",
            )
        problem = topic_name_problem(header.topic)
        if problem is not None:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, problem)
        tcm = self.topic_config_manager
        config = tcm.select(header.topic)
        if config is None:
            config = tcm.create_in_send(
                header.topic, header.default_topic, header.default_topic_queue_nums
            )
            if config is not None:
                self.registrar.request_register()
        if config is None:
            remark = f"topic[{header.topic}] not exist, apply first please!"
            raise BrokerError(ResponseCode.TOPIC_NOT_EXIST, remark)
        if not config.perm & PERM_WRITE:
            remark = f"the topic[{header.topic}] sending message is forbidden"
            raise BrokerError(ResponseCode.NO_PERMISSION, remark)
        if header.queue_id >= max(config.write_queue_nums, config.read_queue_nums):
            remark = f"request queueId[{header.queue_id}] is illegal, {config}"
            raise BrokerError(ResponseCode.SYSTEM_ERROR, remark)
        return config

    async def _push(
        self, conn: Connection, header: SendMessageRequestHeader, props: dict[str, str], body: bytes
    ) -> tuple[bool, str]:
        """``pushReplyMessage``: (taken by the requester, remark when not)."""
        client_id = props.get(MessageConst.MESSAGE_REPLY_TO_CLIENT)
        if client_id is None:
            remark = f"reply message properties[{MessageConst.MESSAGE_REPLY_TO_CLIENT}] is null"
            log.warning(remark)
            return False, remark
        target = find_client_connection(client_id, self.producer_manager, self.consumer_manager)
        if target is None:
            remark = f"push reply message fail, channel of <{client_id}> not found."
            log.warning(remark)
            return False, remark
        now = int(time.time() * 1000)
        props[MessageConst.PUSH_REPLY_TIME] = str(now)
        push = self._push_header(conn, header, encode_properties(props), now)
        cmd = RemotingCommand.request(RequestCode.PUSH_REPLY_MESSAGE_TO_CLIENT, push.to_ext(), body)
        try:
            answer = await target.invoke(cmd, PUSH_REPLY_TIMEOUT_S)
        except RemotingError as exc:
            log.warning("push reply message to <%s> failed: %s", client_id, exc)
            return False, f"push reply message to {client_id}fail."
        if answer.code != ResponseCode.SUCCESS:
            log.warning("push reply message to <%s> answered %s", client_id, answer.remark)
            return False, f"push reply message to {client_id}fail."
        return True, ""

    def _push_header(
        self, conn: Connection, header: SendMessageRequestHeader, properties: str, now: int
    ) -> ReplyMessageRequestHeader:
        born_ip, born_port = parse_host(conn.peer)
        store_ip, store_port = self.store.store_host
        return ReplyMessageRequestHeader(
            producer_group=header.producer_group,
            topic=header.topic,
            default_topic=header.default_topic,
            default_topic_queue_nums=header.default_topic_queue_nums,
            queue_id=header.queue_id,
            sys_flag=header.sys_flag,
            born_timestamp=header.born_timestamp,
            flag=header.flag,
            born_host=f"{born_ip}:{born_port}",
            store_host=f"{store_ip}:{store_port}",
            store_timestamp=now,
            properties=properties,
            reconsume_times=header.reconsume_times,
            unit_mode=header.unit_mode,
        )

    async def _store(
        self, conn: Connection, header: SendMessageRequestHeader, queue_id: int, body: bytes
    ) -> SendMessageResponseHeader | None:
        """Store the reply as it came (its properties text unchanged); the answer's fields
        when it was stored, None when not (the failure is only logged, as in Java)."""
        msg = StoredMessage(
            topic=header.topic,
            queue_id=queue_id,
            body=body,
            flag=header.flag,
            properties=header.properties or "",
            sys_flag=header.sys_flag,
            born_timestamp=header.born_timestamp,
            born_host=parse_host(conn.peer),
            reconsume_times=header.reconsume_times or 0,
        )
        result = await self.store.put_message(msg)
        if result.status not in _STORED or not result.appended:
            log.warning("reply to %s not stored: %s %s", header.topic, result.status, result.remark)
            return None
        first = result.appended[0]
        if self.stats is not None:  # handlePutMessageResult's incTopicPut*/incBrokerPutNums
            self.stats.on_put(header.topic, queue_id, 1, first.size)
        return SendMessageResponseHeader(
            msg_id=first.msg_id, queue_id=queue_id, queue_offset=first.queue_offset
        )
