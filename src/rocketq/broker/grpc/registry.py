"""gRPC clients in the broker's producer and consumer tables (the Java proxy's
``ClientActivity#heartbeat``/``processAndWriteClientSettings`` with ``GrpcClientChannel``):
what a remoting client's HEART_BEAT registers, a 5.x client registers through the settings
on its Telemetry stream and its Heartbeats, so ``consumerProgress``,
``consumerConnection``, ``producerConnection`` and ``queryTopicConsumeByWho`` see it.

* A producer is registered under each topic it publishes to: the proxy names a gRPC
  producer's group after the topic (``PGROUP`` of its half messages is the topic too).
* A consumer group's ``%RETRY%<group>`` topic is created on its first heartbeat and the
  broker registers at once, as ``ClientManageProcessor#heartBeat`` does, so tools that
  find a group's brokers through that topic's route (``examineConsumeStats``) find it.
* The channel closes when its Telemetry stream ends or the client says goodbye
  (NotifyClientTermination); a silent one expires with the remoting channels.
* Transaction check-backs reach a gRPC producer as a ``RecoverOrphanedTransactionCommand``
  on its Telemetry stream (``GrpcClientChannel.check_transaction_state``, called by the
  broker's transaction check service where it would send CHECK_TRANSACTION_STATE).
* The admin requests the broker relays to consumers (GET_CONSUMER_RUNNING_INFO,
  CONSUME_MESSAGE_DIRECTLY) go out as Telemetry commands with a nonce and come back as the
  client's answer to that nonce (``GrpcClientChannel.invoke``, the proxy's
  ``ProxyChannel#writeAndFlush``; see :mod:`.relay`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from rocketq.broker.client_manager import ClientChannelInfo, ConsumerManager, ProducerManager
from rocketq.broker.grpc.convert import message_to_pb
from rocketq.broker.grpc.relay import (
    RELAY_TIMEOUT_S,
    PendingReplies,
    RelayAnswer,
    consume_directly_answer,
    running_info_body,
    running_info_properties,
    subscriptions_of,
    thread_stack_answer,
    timeout_answer,
)
from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.grpc.v2 import service_pb2 as svc
from rocketq.broker.registrar import Registrar
from rocketq.broker.subscription_group import SubscriptionGroupManager
from rocketq.broker.topic_config import TopicConfigManager
from rocketq.common.errors import RemotingError
from rocketq.common.message import MessageConst
from rocketq.common.record import MessageRecord, RecordFormatError, decode_records
from rocketq.common.topic import PERM_READ, PERM_WRITE, retry_topic
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import DEFAULT_VERSION, RemotingCommand
from rocketq.remoting.headers.broker import GetConsumerRunningInfoRequestHeader
from rocketq.remoting.heartbeat import ConsumerData
from rocketq.store.commit_log import AppendResult

__all__ = ["ClientTables", "GrpcClientChannel", "GrpcClientRegistry"]

log = logging.getLogger("rocketq.broker.grpc")

# Telemetry commands queued for one client while its stream writer is busy; more are
# dropped (a transaction check is asked again on the next check pass).
OUTBOX_LIMIT = 1024
# What a Telemetry stream's writer takes: a command, or None when the stream is to end.
Outbox = asyncio.Queue[svc.TelemetryCommand | None]
# v2 Language -> RocketMQ LanguageCode names where they differ (the proxy's mapping).
_LANGUAGE_CODES = {pb.Language.DOT_NET: "DOTNET", pb.Language.GOLANG: "GO"}
# ConsumeType of a push consumer (the client pulls for it) and of a simple consumer.
_CONSUME_TYPES = {
    pb.ClientType.PUSH_CONSUMER: "CONSUME_PASSIVELY",
    pb.ClientType.SIMPLE_CONSUMER: "CONSUME_ACTIVELY",
}
# The property holding a popped message's receipt handle (GrpcConverter puts it in the
# Message it builds, when the stored record has one).
_POP_CK = "POP_CK"


@dataclass(frozen=True, slots=True)
class ClientTables:
    """The broker's client tables and its NameServer registration (for retry topics)."""

    consumer_manager: ConsumerManager
    producer_manager: ProducerManager
    registrar: Registrar | None = None


class GrpcClientChannel:
    """What a remoting ``Connection`` is for a remoting client: the key of a gRPC client in
    the client tables, its address, the outbox of its open Telemetry stream, the settings
    it registered with, and its requests waiting for an answer on that stream."""

    def __init__(
        self,
        client_id: str,
        peer: str,
        nonces: Iterator[int] | None = None,
        relay_timeout: float = RELAY_TIMEOUT_S,
    ) -> None:
        self.client_id = client_id
        self.peer = peer
        self.is_open = True
        self.outbox: Outbox | None = None
        self.settings: pb.Settings | None = None
        # Whether the consumer group is FIFO (consumeMessageOrderly), as last registered.
        self.orderly = False
        self.started_ms = int(time.time() * 1000)
        self.relay_timeout = relay_timeout
        self.replies = PendingReplies(nonces if nonces is not None else itertools.count())

    def push(self, command: svc.TelemetryCommand) -> bool:
        """Queue a command for the client's Telemetry stream; False when it cannot go."""
        if not self.is_open or self.outbox is None or self.outbox.qsize() >= OUTBOX_LIMIT:
            return False
        self.outbox.put_nowait(command)
        return True

    def check_transaction_state(
        self, half: MessageRecord, props: Mapping[str, str], appended: AppendResult
    ) -> bool:
        """Ask the producer to resolve a half message (the proxy's
        ``RecoverOrphanedTransactionCommand``); its transaction id is the re-put half's
        offset msgId, which EndTransaction finds the half by."""
        message = message_to_pb(half, "", 0, 1, props.get(MessageConst.REAL_TOPIC))
        message.system_properties.message_type = pb.MessageType.TRANSACTION
        command = svc.RecoverOrphanedTransactionCommand(
            message=message, transaction_id=appended.msg_id
        )
        return self.push(svc.TelemetryCommand(recover_orphaned_transaction_command=command))

    async def invoke(self, request: RemotingCommand, timeout: float) -> RemotingCommand:
        """``Connection.invoke`` for the broker's admin relay (the proxy's
        ``ProxyChannel#writeAndFlush``): GET_CONSUMER_RUNNING_INFO and
        CONSUME_MESSAGE_DIRECTLY are asked on the Telemetry stream and the client's answer
        comes back as the response. Raises RemotingError for any other request and when
        the stream is not open or closes while waiting."""
        if request.code == RequestCode.GET_CONSUMER_RUNNING_INFO:
            answer = await self._running_info(request, timeout)
        elif request.code == RequestCode.CONSUME_MESSAGE_DIRECTLY:
            answer = await self._verify_message(request, timeout)
        else:
            raise RemotingError(
                f"request code {request.code} cannot be relayed to gRPC client {self.client_id}"
            )
        return request.make_response(answer.code, answer.remark, None, answer.body)

    async def _running_info(self, request: RemotingCommand, timeout: float) -> RelayAnswer:
        """The stack from the client when ``jstackEnable`` (PrintThreadStackTraceCommand),
        with what the broker knows from the client's settings. Without jstack the broker
        answers alone (the proxy sends nothing then and the admin waits out its timeout)."""
        header = GetConsumerRunningInfoRequestHeader.from_ext(request.ext_fields)
        settings = self.settings or pb.Settings()
        props = running_info_properties(
            settings,
            _CONSUME_TYPES.get(settings.client_type, ""),
            self.orderly,
            self.started_ms,
        )
        subs = subscriptions_of(settings)
        if not header.jstack_enable:
            return RelayAnswer(ResponseCode.SUCCESS, None, running_info_body(props, subs, None))
        reply = await self._ask(
            lambda nonce: svc.TelemetryCommand(
                print_thread_stack_trace_command=svc.PrintThreadStackTraceCommand(nonce=nonce)
            ),
            timeout,
        )
        if reply is None:
            return timeout_answer(
                self.client_id, "PrintThreadStackTraceCommand", self._wait(timeout)
            )
        return thread_stack_answer(reply, props, subs)

    async def _verify_message(self, request: RemotingCommand, timeout: float) -> RelayAnswer:
        """The stored message as the v2 Message a receive hands out (VerifyMessageCommand);
        the client's VerifyMessageResult becomes a ConsumeMessageDirectlyResult."""
        try:
            records = decode_records(request.body or b"")
        except RecordFormatError as exc:
            raise RemotingError(f"no message to verify: {exc}") from exc
        if not records:
            raise RemotingError("no message to verify: the msgId names no stored message")
        record = records[0]
        handle = record.properties_map().get(_POP_CK, "")
        message = message_to_pb(record, handle, 0, record.reconsume_times + 1)
        reply = await self._ask(
            lambda nonce: svc.TelemetryCommand(
                verify_message_command=svc.VerifyMessageCommand(nonce=nonce, message=message)
            ),
            timeout,
        )
        if reply is None:
            return timeout_answer(self.client_id, "VerifyMessageCommand", self._wait(timeout))
        return consume_directly_answer(reply)

    async def _ask(
        self, build: Callable[[str], svc.TelemetryCommand], timeout: float
    ) -> svc.TelemetryCommand | None:
        """Send the command ``build`` makes for a new nonce; the client's answer to that
        nonce, or None when none came in time."""
        nonce = self.replies.open()
        if not self.push(build(nonce)):
            self.replies.discard(nonce)
            raise RemotingError(f"gRPC client {self.client_id} has no open Telemetry stream")
        return await self.replies.wait(nonce, self._wait(timeout))

    def _wait(self, timeout: float) -> float:
        return min(timeout, self.relay_timeout)

    def report(self, command: svc.TelemetryCommand) -> bool:
        """An answer on the Telemetry stream (ThreadStackTrace, VerifyMessageResult):
        completes the request with its nonce; False when none waits for it."""
        kind = command.WhichOneof("command")
        if kind == "thread_stack_trace":
            nonce = command.thread_stack_trace.nonce
        elif kind == "verify_message_result":
            nonce = command.verify_message_result.nonce
        else:
            return False
        return self.replies.complete(nonce, command)

    def close(self, reason: str = "") -> None:
        """Closed: expired or gone (the client tables drop it); waiting requests fail."""
        if self.is_open:
            log.debug("gRPC client %s closed: %s", self.client_id, reason)
        self.is_open = False
        self.replies.fail_all(f"gRPC client {self.client_id} closed: {reason or 'gone'}")

    def __repr__(self) -> str:
        return f"GrpcClientChannel({self.client_id}@{self.peer})"


class GrpcClientRegistry:
    """Registers gRPC clients from their settings and heartbeats."""

    def __init__(
        self,
        tables: ClientTables,
        topic_config_manager: TopicConfigManager,
        subscription_group_manager: SubscriptionGroupManager | None,
    ) -> None:
        self.tables = tables
        self.topics = topic_config_manager
        self.groups = subscription_group_manager
        self.channels: dict[str, GrpcClientChannel] = {}
        # Nonces of relayed requests, unique in the broker (GrpcChannelManager's counter).
        self.nonces = itertools.count()
        # How long a relayed request waits for the client (see relay.RELAY_TIMEOUT_S).
        self.relay_timeout = RELAY_TIMEOUT_S

    def channel(self, client_id: str, peer: str) -> GrpcClientChannel:
        """The open channel of a client (a new one when it was closed)."""
        found = self.channels.get(client_id)
        if found is None or not found.is_open:
            found = GrpcClientChannel(client_id, peer, self.nonces, self.relay_timeout)
            self.channels[client_id] = found
        return found

    def report(self, client_id: str, command: svc.TelemetryCommand) -> None:
        """A client's answer to a relayed request (``ClientActivity#reportThreadStackTrace``,
        ``#reportVerifyMessageResult``): completes the request waiting for its nonce."""
        channel = self.channels.get(client_id)
        if channel is None or not channel.report(command):
            log.info("gRPC client %s answered no waiting request: %s", client_id, command)

    def attach(self, client_id: str, peer: str, outbox: Outbox) -> None:
        """The client's Telemetry stream is open: commands for it go to ``outbox``."""
        self.channel(client_id, peer).outbox = outbox

    async def register(self, client_id: str, peer: str, settings: pb.Settings) -> None:
        """Put the client in the tables its settings name (again: a heartbeat)."""
        channel = self.channel(client_id, peer)
        channel.settings = settings
        info = ClientChannelInfo(channel, client_id, _language(settings), DEFAULT_VERSION)
        if settings.client_type == pb.ClientType.PRODUCER:
            for topic in settings.publishing.topics:
                self.tables.producer_manager.register(topic.name, info)
            return
        consume_type = _CONSUME_TYPES.get(settings.client_type)
        group = settings.subscription.group.name
        if consume_type is None or not group:
            return
        data = ConsumerData(group, consume_type=consume_type)
        data.subscription_data_set.extend(subscriptions_of(settings))
        config = self.groups.find(group) if self.groups is not None else None
        channel.orderly = config is not None and config.consume_message_orderly
        # gRPC clients get no NOTIFY_CONSUMER_IDS_CHANGED: their assignments are the whole
        # topic (POP), so membership changes need no rebalance.
        self.tables.consumer_manager.register(info, data, False)
        await self._ensure_retry_topic(group)

    async def _ensure_retry_topic(self, group: str) -> None:
        config = self.groups.find(group) if self.groups is not None else None
        retry = retry_topic(group)
        if config is None or self.topics.select(retry) is not None:
            return
        self.topics.create_in_send_back(retry, config.retry_queue_nums, PERM_READ | PERM_WRITE)
        if self.tables.registrar is not None:
            await self.tables.registrar.register_broker_all()

    def unregister(self, client_id: str) -> None:
        """The client is gone: drop it from every table."""
        channel = self.channels.pop(client_id, None)
        if channel is None:
            return
        channel.close("client terminated")
        self.tables.consumer_manager.connection_closed(channel)
        self.tables.producer_manager.connection_closed(channel)


def _language(settings: pb.Settings) -> str:
    code = settings.user_agent.language
    if code == pb.Language.LANGUAGE_UNSPECIFIED:
        return "OTHER"
    return _LANGUAGE_CODES.get(code, pb.Language.Name(code))
