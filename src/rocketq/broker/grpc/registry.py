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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from rocketq.broker.client_manager import ClientChannelInfo, ConsumerManager, ProducerManager
from rocketq.broker.grpc.convert import message_to_pb
from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.grpc.v2 import service_pb2 as svc
from rocketq.broker.registrar import Registrar
from rocketq.broker.subscription_group import SubscriptionGroupManager
from rocketq.broker.topic_config import TopicConfigManager
from rocketq.common.message import MessageConst
from rocketq.common.record import MessageRecord
from rocketq.common.topic import PERM_READ, PERM_WRITE, retry_topic
from rocketq.remoting.command import DEFAULT_VERSION
from rocketq.remoting.heartbeat import (
    EXPRESSION_SQL92,
    EXPRESSION_TAG,
    ConsumerData,
    build_subscription,
)
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
_EXPRESSION_TYPES = {pb.FilterType.TAG: EXPRESSION_TAG, pb.FilterType.SQL: EXPRESSION_SQL92}


@dataclass(frozen=True, slots=True)
class ClientTables:
    """The broker's client tables and its NameServer registration (for retry topics)."""

    consumer_manager: ConsumerManager
    producer_manager: ProducerManager
    registrar: Registrar | None = None


class GrpcClientChannel:
    """What a remoting ``Connection`` is for a remoting client: the key of a gRPC client in
    the client tables, its address, and the outbox of its open Telemetry stream."""

    def __init__(self, client_id: str, peer: str) -> None:
        self.client_id = client_id
        self.peer = peer
        self.is_open = True
        self.outbox: Outbox | None = None

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

    def close(self, reason: str = "") -> None:
        """Closed: expired or gone (the client tables drop it)."""
        if self.is_open:
            log.debug("gRPC client %s closed: %s", self.client_id, reason)
        self.is_open = False

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

    def channel(self, client_id: str, peer: str) -> GrpcClientChannel:
        """The open channel of a client (a new one when it was closed)."""
        found = self.channels.get(client_id)
        if found is None or not found.is_open:
            found = self.channels[client_id] = GrpcClientChannel(client_id, peer)
        return found

    def attach(self, client_id: str, peer: str, outbox: Outbox) -> None:
        """The client's Telemetry stream is open: commands for it go to ``outbox``."""
        self.channel(client_id, peer).outbox = outbox

    async def register(self, client_id: str, peer: str, settings: pb.Settings) -> None:
        """Put the client in the tables its settings name (again: a heartbeat)."""
        channel = self.channel(client_id, peer)
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
        for entry in settings.subscription.subscriptions:
            kind = _EXPRESSION_TYPES.get(entry.expression.type, EXPRESSION_TAG)
            data.subscription_data_set.append(
                build_subscription(entry.topic.name, entry.expression.expression, kind)
            )
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
