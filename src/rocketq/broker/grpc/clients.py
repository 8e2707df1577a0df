"""Routes, assignments, heartbeats and the Telemetry stream of the 5.x SDKs (the Java
proxy's ``RouteActivity`` and ``ClientActivity``). A route names the queues of every broker
group holding the topic, each at its own gRPC endpoint (:mod:`.route`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration

from rocketq.broker.config import BrokerConfig
from rocketq.broker.grpc.convert import ok, status
from rocketq.broker.grpc.producer import accepted_message_types
from rocketq.broker.grpc.registry import GrpcClientRegistry, Outbox
from rocketq.broker.grpc.route import GrpcRouteService, RouteBroker
from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.grpc.v2 import service_pb2 as svc
from rocketq.broker.subscription_group import SubscriptionGroupManager
from rocketq.broker.topic_config import TopicConfigManager
from rocketq.common.topic import PERM_READ, PERM_WRITE
from rocketq.remoting.body import QueueData

__all__ = ["ClientActivity", "queue_permission"]

log = logging.getLogger("rocketq.broker.grpc")

Context = grpc.aio.ServicerContext[Any, Any]
# The id the SDKs send with every call (x-mq-client-id metadata).
CLIENT_ID_HEADER = "x-mq-client-id"
# The producer's retry policy the Java proxy hands out (ProxyConfig defaults): 3 attempts,
# backing off 10 ms, doubling, at most 1 s.
PRODUCER_MAX_ATTEMPTS = 3
PRODUCER_BACKOFF_INITIAL = Duration(nanos=10_000_000)
PRODUCER_BACKOFF_MAX = Duration(seconds=1)
PRODUCER_BACKOFF_MULTIPLIER = 2.0
# A consumer's redelivery schedule: RocketMQ's retry delays (delay levels 3.. = 10 s, 30 s,
# 1 m, ... 2 h) and 16 retries (SubscriptionGroupConfig.retryMaxTimes) after the first try.
CONSUMER_RETRY_DELAYS_S = (10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200,
                           1800, 3600, 7200)  # fmt: skip
CONSUMER_MAX_ATTEMPTS = len(CONSUMER_RETRY_DELAYS_S) + 1
# SimpleConsumer settings the Java proxy sends: at most 32 messages a receive, 20 s polls.
RECEIVE_BATCH_SIZE = 32
DEFAULT_LONG_POLLING_S = 20
# A queue id meaning "every queue of the broker" (POP over the whole topic), as the proxy's
# QueryAssignment answers it.
ALL_QUEUES = -1


def queue_permission(queue_id: int, queue_data: QueueData) -> int:
    """The v2 ``Permission`` of one queue of a broker's ``QueueData``: readable below
    readQueueNums, writable below writeQueueNums, as the queue data's permission allows
    (what the broker itself does with that queue id). Apache's ``RouteActivity`` numbers
    the read-only queues first, then the write-only, then the read-write ones, which labels
    ids otherwise than the broker serves them when the two counts differ; equal counts (the
    usual case) give the same route either way."""
    readable = queue_id < queue_data.read_queue_nums and queue_data.perm & PERM_READ
    writable = queue_id < queue_data.write_queue_nums and queue_data.perm & PERM_WRITE
    if readable and writable:
        return pb.Permission.READ_WRITE
    if readable:
        return pb.Permission.READ
    return pb.Permission.WRITE if writable else pb.Permission.NONE


def _permission(perm: int) -> int:
    """``RouteActivity#convertToPermission``: a broker's whole permission."""
    if perm & PERM_READ and perm & PERM_WRITE:
        return pb.Permission.READ_WRITE
    if perm & PERM_READ:
        return pb.Permission.READ
    return pb.Permission.WRITE if perm & PERM_WRITE else pb.Permission.NONE


class ClientActivity:
    """QueryRoute, QueryAssignment, Heartbeat, NotifyClientTermination and Telemetry."""

    def __init__(
        self,
        config: BrokerConfig,
        topic_config_manager: TopicConfigManager,
        routes: GrpcRouteService,
        max_body_size: int,
        subscription_group_manager: SubscriptionGroupManager | None = None,
        registry: GrpcClientRegistry | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.groups = subscription_group_manager
        self.topics = topic_config_manager
        self.routes = routes
        self.max_body_size = max_body_size
        # client id -> the settings it last sent on its Telemetry stream
        self.client_settings: dict[str, pb.Settings] = {}

    # -- routes -----------------------------------------------------------------------------

    async def query_route(
        self, request: svc.QueryRouteRequest, _context: Context
    ) -> svc.QueryRouteResponse:
        """Every queue of the topic on every broker group, each at its broker's endpoint."""
        brokers = await self.routes.brokers(request.topic.name)
        if not brokers:
            return svc.QueryRouteResponse(status=_topic_not_found(request.topic.name))
        # The topic's message type as this broker's table has it (LocalMetadataService),
        # for the queues of every broker.
        config = self.topics.select(request.topic.name)
        accepts = (
            accepted_message_types(config)
            if config is not None
            else [pb.MessageType.MESSAGE_TYPE_UNSPECIFIED]
        )
        queues = [
            pb.MessageQueue(
                topic=request.topic,
                id=queue_id,
                permission=queue_permission(queue_id, b.queue_data),  # type: ignore[arg-type]
                broker=_broker(b),
                accept_message_types=accepts,  # type: ignore[arg-type]
            )
            for b in brokers
            for queue_id in range(max(b.queue_data.read_queue_nums, b.queue_data.write_queue_nums))
        ]
        return svc.QueryRouteResponse(status=ok(), message_queues=queues)

    async def query_assignment(
        self, request: svc.QueryAssignmentRequest, _context: Context
    ) -> svc.QueryAssignmentResponse:
        """One assignment per readable broker group: all its queues (receives pop the whole
        topic of a broker; also for FIFO groups, whose receives pop every queue in order,
        where the Java proxy assigns each queue)."""
        brokers = await self.routes.brokers(request.topic.name)
        if not brokers:
            return svc.QueryAssignmentResponse(status=_topic_not_found(request.topic.name))
        assignments = [
            pb.Assignment(
                message_queue=pb.MessageQueue(
                    topic=request.topic,
                    id=ALL_QUEUES,
                    permission=_permission(b.queue_data.perm),  # type: ignore[arg-type]
                    broker=_broker(b),
                )
            )
            for b in brokers
            if b.queue_data.perm & PERM_READ and b.queue_data.read_queue_nums > 0
        ]
        if not assignments:
            return svc.QueryAssignmentResponse(
                status=status(pb.Code.FORBIDDEN, "no readable queue")
            )
        return svc.QueryAssignmentResponse(status=ok(), assignments=assignments)

    # -- clients ----------------------------------------------------------------------------

    async def heartbeat(
        self, _request: svc.HeartbeatRequest, context: Context
    ) -> svc.HeartbeatResponse:
        """Refresh the client in the broker's client tables (from its last settings)."""
        client_id = _client_id(context)
        settings = self.client_settings.get(client_id)
        if self.registry is not None and settings is not None:
            await self.registry.register(client_id, _peer(context), settings)
        return svc.HeartbeatResponse(status=ok())

    async def notify_client_termination(
        self, _request: svc.NotifyClientTerminationRequest, context: Context
    ) -> svc.NotifyClientTerminationResponse:
        """Forget the client's settings and take it out of the client tables."""
        client_id = _client_id(context)
        self.client_settings.pop(client_id, None)
        if self.registry is not None:
            self.registry.unregister(client_id)
        return svc.NotifyClientTerminationResponse(status=ok())

    async def telemetry(
        self, requests: AsyncIterator[svc.TelemetryCommand], context: Context
    ) -> AsyncIterator[svc.TelemetryCommand]:
        """Answer each ``Settings`` a client sends with the server's view of them, and pass
        on the commands the broker has for the client (transaction check-backs); the
        stream stays open for the client's life."""
        client_id = _client_id(context)
        outbox: Outbox = asyncio.Queue()
        if self.registry is not None:
            self.registry.attach(client_id, _peer(context), outbox)
        reader = asyncio.create_task(self._read_telemetry(requests, context, outbox))
        try:
            while (command := await outbox.get()) is not None:
                yield command
            await reader  # its error, if it failed
        finally:
            reader.cancel()
            if self.registry is not None:
                self.registry.unregister(client_id)

    async def _read_telemetry(
        self, requests: AsyncIterator[svc.TelemetryCommand], context: Context, outbox: Outbox
    ) -> None:
        client_id = _client_id(context)
        try:
            async for command in requests:
                kind = command.WhichOneof("command")
                if kind == "settings":
                    self.client_settings[client_id] = command.settings
                    if self.registry is not None:
                        await self.registry.register(client_id, _peer(context), command.settings)
                    answer = self.settings(command.settings)
                    await outbox.put(svc.TelemetryCommand(status=ok(), settings=answer))
                elif kind in ("thread_stack_trace", "verify_message_result"):
                    if self.registry is not None:  # an answer to a relayed admin request
                        self.registry.report(client_id, command)
                else:
                    log.debug("telemetry %s from %s: %s", kind, client_id, command)
        finally:
            outbox.put_nowait(None)  # the writer ends the stream

    def settings(self, client: pb.Settings) -> pb.Settings:
        """The settings a client of this type gets back (``GrpcClientSettingsManager``)."""
        out = pb.Settings()
        out.CopyFrom(client)
        out.metric.CopyFrom(pb.Metric(on=False))
        if client.client_type == pb.ClientType.PRODUCER:
            out.backoff_policy.CopyFrom(
                pb.RetryPolicy(
                    max_attempts=PRODUCER_MAX_ATTEMPTS,
                    exponential_backoff=pb.ExponentialBackoff(
                        initial=PRODUCER_BACKOFF_INITIAL,
                        max=PRODUCER_BACKOFF_MAX,
                        multiplier=PRODUCER_BACKOFF_MULTIPLIER,
                    ),
                )
            )
            out.publishing.max_body_size = self.max_body_size
            out.publishing.validate_message_type = True
            return out
        out.backoff_policy.CopyFrom(
            pb.RetryPolicy(
                max_attempts=CONSUMER_MAX_ATTEMPTS,
                customized_backoff=pb.CustomizedBackoff(
                    next=[Duration(seconds=s) for s in CONSUMER_RETRY_DELAYS_S]
                ),
            )
        )
        sub = out.subscription
        group = self.groups.find(sub.group.name) if self.groups and sub.group.name else None
        sub.fifo = group is not None and group.consume_message_orderly
        sub.receive_batch_size = RECEIVE_BATCH_SIZE
        if not sub.HasField("long_polling_timeout"):
            sub.long_polling_timeout.seconds = DEFAULT_LONG_POLLING_S
        return out


def _broker(route_broker: RouteBroker) -> pb.Broker:
    return pb.Broker(
        name=route_broker.queue_data.broker_name,
        id=route_broker.broker_id,
        endpoints=route_broker.endpoints,
    )


def _topic_not_found(topic: str) -> pb.Status:
    return status(pb.Code.TOPIC_NOT_FOUND, f"topic {topic} is on no broker")


def _peer(context: Context) -> str:
    """``host:port`` of the client (grpc's ``ipv4:host:port`` without the scheme)."""
    peer = context.peer() or "?"
    scheme, _, rest = peer.partition(":")
    return rest if scheme in ("ipv4", "ipv6") and rest else peer


def _client_id(context: Context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == CLIENT_ID_HEADER:
            return value if isinstance(value, str) else value.decode()
    return ""
