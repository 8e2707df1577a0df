"""SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320)
(RocketMQ ``SendMessageProcessor`` / ``AbstractSendMessageProcessor``)."""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING

from rocketq.broker.schedule import delay_level_of, to_schedule
from rocketq.broker.timer.transform import strip_timer_properties, to_timer
from rocketq.broker.transaction.bridge import is_transaction_prepared
from rocketq.common.errors import BrokerError
from rocketq.common.message import (
    MessageConst,
    SysFlag,
    decode_batch,
    decode_properties,
    encode_properties,
)
from rocketq.common.topic import (
    NOT_ALLOWED_SEND_TOPICS,
    PERM_READ,
    PERM_WRITE,
    RETRY_GROUP_TOPIC_PREFIX,
    TopicConfig,
    dlq_topic,
    topic_name_problem,
)
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers import (
    SendMessageRequestHeader,
    SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
)
from rocketq.store.format import StoredMessage
from rocketq.store.result import PutMessageResult, PutMessageStatus

if TYPE_CHECKING:
    from rocketq.broker.config import BrokerConfig
    from rocketq.broker.registrar import Registrar
    from rocketq.broker.subscription_group import SubscriptionGroupManager
    from rocketq.broker.topic_config import TopicConfigManager
    from rocketq.broker.transaction import TransactionalMessageService
    from rocketq.store.config import StoreConfig
    from rocketq.store.message_store import DefaultMessageStore

__all__ = ["SendMessageProcessor", "parse_host"]

log = logging.getLogger("rocketq.broker")

SendHeader = SendMessageRequestHeader | SendMessageRequestHeaderV2

# MQVersion.Version.V3_4_9: clients from here on may carry maxReconsumeTimes in the header.
_VERSION_MAX_RECONSUME = 121
# SendMessageProcessor.DLQ_NUMS_PER_GROUP.
DLQ_NUMS_PER_GROUP = 1
_STORED_CODES = {
    PutMessageStatus.PUT_OK: ResponseCode.SUCCESS,
    PutMessageStatus.FLUSH_DISK_TIMEOUT: ResponseCode.FLUSH_DISK_TIMEOUT,
    PutMessageStatus.FLUSH_SLAVE_TIMEOUT: ResponseCode.FLUSH_SLAVE_TIMEOUT,
    PutMessageStatus.SLAVE_NOT_AVAILABLE: ResponseCode.SLAVE_NOT_AVAILABLE,
}


def parse_host(addr: str) -> tuple[str, int]:
    """``"ip:port"`` of a peer -> (IPv4 text, port); loopback/v4-mapped IPv6 become IPv4,
    because the C++ client and ali-ons read stored hosts as IPv4 only."""
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    if host.startswith("::ffff:"):
        host = host[7:]
    elif host == "::1":
        host = "127.0.0.1"
    return host, int(port) if port.isdigit() else 0


class SendMessageProcessor:
    """Checks a send the way RocketMQ does, stores it, answers with the offset msgId."""

    def __init__(
        self,
        *,
        config: BrokerConfig,
        store_config: StoreConfig,
        store: DefaultMessageStore,
        topic_config_manager: TopicConfigManager,
        subscription_group_manager: SubscriptionGroupManager,
        transactions: TransactionalMessageService,
        registrar: Registrar,
    ) -> None:
        self.config = config
        self.store_config = store_config
        self.store = store
        self.topic_config_manager = topic_config_manager
        self.subscription_group_manager = subscription_group_manager
        self.transactions = transactions
        self.registrar = registrar

    async def process(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Entry point for codes 10, 310 and 320."""
        header: SendHeader
        if req.code == RequestCode.SEND_MESSAGE:
            header = SendMessageRequestHeader.from_ext(req.ext_fields)
        else:
            # Same field names as V1: used as it is (converting would cost a few µs a send).
            header = SendMessageRequestHeaderV2.from_ext(req.ext_fields)
        # extFields always present: the C++ client dereferences the header even on errors.
        response = req.make_response(ext_fields={})
        try:
            topic_config = self._check(conn, header)
        except BrokerError as exc:
            return _fail(response, exc.code, exc.remark)
        batch = header.batch or req.code == RequestCode.SEND_BATCH_MESSAGE
        try:
            msgs, wait = self._build(conn, req, header, topic_config, batch, response)
        except ValueError as exc:
            return _fail(response, ResponseCode.MESSAGE_ILLEGAL, f"bad batch body: {exc}")
        except BrokerError as exc:  # a timer message refused (HookUtils#handleScheduleMessage)
            return _fail(response, exc.code, exc.remark)
        if not msgs:
            return response
        if not batch and is_transaction_prepared(msgs[0]):  # a half message (§7.1)
            if self.config.reject_transaction_message:
                return _fail(
                    response,
                    ResponseCode.NO_PERMISSION,
                    f"the broker[{self.config.broker_ip1}] sending transaction message "
                    "is forbidden",
                )
            result = await self.transactions.prepare_message(msgs[0], wait)
        else:
            result = await self.store.put_messages(msgs, wait_store=wait)
        return self._answer(response, result, msgs[0].queue_id)

    # -- checks -----------------------------------------------------------------------------

    def _check(self, conn: Connection, header: SendHeader) -> TopicConfig:
        """``msgCheck``: broker and topic permission, name, existence (auto-create), queue."""
        b = self.config
        if not b.broker_permission & PERM_WRITE:
            raise BrokerError(
                ResponseCode.NO_PERMISSION,
                f"the broker[{b.broker_ip1}] sending message is forbidden",
            )
        problem = topic_name_problem(header.topic)
        if problem is not None:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, problem)
        if header.topic in NOT_ALLOWED_SEND_TOPICS:
            raise BrokerError(
                ResponseCode.NO_PERMISSION,
                f"Sending message to topic[{header.topic}] is forbidden.",
            )
        config = self._topic_config(header)
        if config is None:
            raise BrokerError(
                ResponseCode.TOPIC_NOT_EXIST,
                f"topic[{header.topic}] not exist, apply first please! Create it with "
                "mqadmin updateTopic, or enable autoCreateTopicEnable on the broker.",
            )
        if not config.perm & PERM_WRITE:
            raise BrokerError(
                ResponseCode.NO_PERMISSION,
                f"the topic[{header.topic}] sending message is forbidden",
            )
        valid = max(config.write_queue_nums, config.read_queue_nums)
        if header.queue_id >= valid:
            raise BrokerError(
                ResponseCode.SYSTEM_ERROR,
                f"request queueId[{header.queue_id}] is illegal, {config} Producer: {conn.peer}",
            )
        return config

    def _topic_config(self, header: SendHeader) -> TopicConfig | None:
        tcm = self.topic_config_manager
        config = tcm.select(header.topic)
        if config is not None:
            return config
        config = tcm.create_in_send(
            header.topic, header.default_topic, header.default_topic_queue_nums
        )
        if config is None and header.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            config = tcm.create_in_send_back(header.topic, 1, PERM_READ | PERM_WRITE)
        if config is not None:
            log.info("auto-created topic %s", config)
            self.registrar.request_register()
        return config

    # -- building the stored messages -------------------------------------------------------

    def _build(
        self,
        conn: Connection,
        req: RemotingCommand,
        header: SendHeader,
        config: TopicConfig,
        batch: bool,
        response: RemotingCommand,
    ) -> tuple[list[StoredMessage], bool]:
        props = decode_properties(header.properties or "")
        wait = props.pop(MessageConst.WAIT_STORE_MSG_OK, "true").lower() != "false"
        props[MessageConst.CLUSTER] = self.config.broker_cluster_name
        topic, queue_id = header.topic, header.queue_id
        if queue_id < 0:
            queue_id = random.randrange(max(config.write_queue_nums, 1))
        retry = self._retry_or_dlq(req, header, response)
        if retry is None:
            return [], wait
        if retry:  # diverted to the DLQ: no delay any more
            topic, queue_id = retry, 0
            props.pop(MessageConst.DELAY_TIME_LEVEL, None)
        tx = header.sys_flag & SysFlag.TRANSACTION_MASK
        if tx in (SysFlag.TRANSACTION_NOT_TYPE, SysFlag.TRANSACTION_COMMIT_TYPE):
            if delay_level_of(props) > 0:  # a level wins over a timer (checkIfTimerMessage)
                strip_timer_properties(props)
                levels = len(self.store.delay_levels)
                topic, queue_id = to_schedule(props, topic, queue_id, levels)
            elif not batch:  # 5.x timer: park in rmq_sys_wheel_timer until due
                now = int(time.time() * 1000)
                topic, queue_id = to_timer(props, topic, queue_id, self.store_config, now)
        sys_flag = header.sys_flag | (
            SysFlag.MULTI_TAGS if config.topic_filter_type == "MULTI_TAG" else 0
        )
        born = parse_host(conn.peer)

        def stored(body: bytes, flag: int, properties: dict[str, str]) -> StoredMessage:
            return StoredMessage(
                topic=topic,
                queue_id=queue_id,
                body=body,
                flag=flag,
                properties=encode_properties(properties),
                props=properties,
                sys_flag=sys_flag,
                born_timestamp=header.born_timestamp,
                born_host=born,
                reconsume_times=header.reconsume_times or 0,
            )

        if not batch:
            return [stored(req.body or b"", header.flag, props)], wait
        out = []
        for entry in decode_batch(req.body or b""):
            inner = decode_properties(entry.properties)
            inner[MessageConst.CLUSTER] = props[MessageConst.CLUSTER]
            out.append(stored(entry.body, entry.flag, inner))
        return out, wait

    def _retry_or_dlq(
        self, req: RemotingCommand, header: SendHeader, response: RemotingCommand
    ) -> str | None:
        """``handleRetryAndDLQ``: "" to keep the topic, a DLQ topic to divert, None = refused."""
        if not header.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            return ""
        group = header.topic[len(RETRY_GROUP_TOPIC_PREFIX) :]
        group_config = self.subscription_group_manager.find(group)
        if group_config is None:
            _fail(
                response,
                ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                f"subscription group not exist, {group}",
            )
            return None
        max_times = group_config.retry_max_times
        if req.version >= _VERSION_MAX_RECONSUME and header.max_reconsume_times is not None:
            max_times = header.max_reconsume_times
        if (header.reconsume_times or 0) < max_times:
            return ""
        dlq = dlq_topic(group)
        self.topic_config_manager.create_in_send_back(
            dlq, DLQ_NUMS_PER_GROUP, PERM_READ | PERM_WRITE
        )
        self.registrar.request_register()
        return dlq

    # -- answering --------------------------------------------------------------------------

    def _answer(
        self, response: RemotingCommand, result: PutMessageResult, queue_id: int
    ) -> RemotingCommand:
        code = _STORED_CODES.get(result.status)
        if code is None:
            return _fail(response, *_failure(result, self.store_config.max_message_size))
        first = result.appended[0]
        header = SendMessageResponseHeader(
            msg_id=",".join(a.msg_id for a in result.appended),
            queue_id=queue_id,
            queue_offset=first.queue_offset,
        )
        response.code = code
        response.ext_fields = header.to_ext()
        response.ext_fields[MessageConst.MSG_REGION] = self.config.region_id
        response.ext_fields[MessageConst.TRACE_SWITCH] = "true"
        return response


def _failure(result: PutMessageResult, max_size: int) -> tuple[int, str]:
    status = result.status
    if status in (PutMessageStatus.MESSAGE_ILLEGAL, PutMessageStatus.PROPERTIES_SIZE_EXCEEDED):
        return ResponseCode.MESSAGE_ILLEGAL, (
            "the message is illegal, maybe msg body or properties length not matched. "
            f"msg body length limit {max_size}B, msg properties length limit 32KB. {result.remark}"
        )
    if status is PutMessageStatus.SERVICE_NOT_AVAILABLE:
        return ResponseCode.SERVICE_NOT_AVAILABLE, (
            "service not available now. It may be caused by one of the following reasons: "
            f"the broker's disk is full, messages are put to the slave, message store has been "
            f"shut down, etc. ({result.remark})"
        )
    if status is PutMessageStatus.CREATE_MAPPED_FILE_FAILED:
        return ResponseCode.SYSTEM_ERROR, "create mapped file failed, server is busy or broken."
    if status is PutMessageStatus.OS_PAGE_CACHE_BUSY:
        return (
            ResponseCode.SYSTEM_ERROR,
            "[PC_SYNCHRONIZED]broker busy, start flow control for a while",
        )
    return ResponseCode.SYSTEM_ERROR, f"UNKNOWN_ERROR {result.remark}"


def _fail(response: RemotingCommand, code: int, remark: str) -> RemotingCommand:
    response.code = code
    response.remark = remark
    return response
