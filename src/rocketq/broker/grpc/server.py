"""``GrpcMessagingServer``: RocketMQ 5's ``apache.rocketmq.v2.MessagingService`` served by
the broker process itself on ``grpcServerPort`` (what Apache RocketMQ needs a separate
Proxy for), with grpcio's asyncio server.

The handler table is built from the service descriptor of rocketq's own schema
(``v2/service.proto``): every RPC of the service gets a handler, so one rocketq does not
implement yet answers ``Code.NOT_IMPLEMENTED`` in its v2 ``Status`` instead of hanging or
failing at the gRPC level. An unexpected error in a handler is logged and answered with
``INTERNAL_SERVER_ERROR``; the server keeps serving everyone else (principle 7).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message as PbMessage
from google.protobuf.message_factory import GetMessageClass

from rocketq.broker.config import BrokerConfig
from rocketq.broker.consumer_offset import ConsumerOffsetManager
from rocketq.broker.grpc.clients import ClientActivity
from rocketq.broker.grpc.convert import endpoints_of, status
from rocketq.broker.grpc.messages import MessageActivity
from rocketq.broker.grpc.producer import ProducerActivity
from rocketq.broker.grpc.registry import ClientTables, GrpcClientRegistry
from rocketq.broker.grpc.route import GrpcRouteService
from rocketq.broker.grpc.tls import TlsMaterial, load_tls_material
from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.grpc.v2 import service_pb2
from rocketq.broker.pop import PopService
from rocketq.broker.subscription_group import SubscriptionGroupManager
from rocketq.broker.topic_config import TopicConfigManager
from rocketq.broker.transaction import TransactionalMessageService
from rocketq.store.message_store import DefaultMessageStore

__all__ = ["DEFAULT_GRPC_SERVER_PORT", "SERVICE_NAME", "GrpcMessagingServer"]

log = logging.getLogger("rocketq.broker.grpc")

# ProxyConfig.grpcServerPort: where the 5.x SDKs connect by default.
DEFAULT_GRPC_SERVER_PORT = 8081
SERVICE_NAME = "apache.rocketmq.v2.MessagingService"
# Held receives are answered at once when the server closes; this bounds how long stop()
# waits for RPCs still running (a Telemetry stream is open for a client's whole life).
SHUTDOWN_GRACE_S = 1.0
# gRPC's default maximum message size is 4 MiB; a 4 MiB body plus its properties is more.
# 130 MiB is what the 5.x SDKs allow themselves (a 128 MiB body limit plus headroom).
MAX_GRPC_MESSAGE_BYTES = 130 * 1024 * 1024

Context = grpc.aio.ServicerContext[Any, Any]
Unary = Callable[[Any, Context], Awaitable[PbMessage]]


class GrpcMessagingServer:
    """The 5.x front end of one broker. ``await start()`` binds ``bind_address:port``
    (port 0 = a free one; :attr:`port` tells which); ``await aclose()`` stops it.

    It receives the parts it uses (principle 17): the store (the same put path as remoting
    sends), the topic, subscription-group and consumer-offset managers, and the config
    (``brokerName``, ``brokerClusterName``, ``brokerIP1`` advertised in routes,
    ``bindAddress``, the TLS keys of :mod:`.tls`), and the broker's
    ``TransactionalMessageService`` for TRANSACTION sends and EndTransaction (without it
    those are refused). With ``client_tables`` (the broker's producer and consumer managers
    and its registrar) gRPC clients are registered in them as remoting clients are (see
    ``registry``). ``pop_service`` is the broker's POP
    engine, shared with remoting's POP_MESSAGE; the broker starts and stops it and wakes
    its long polls. Without it the server owns one of its own."""

    def __init__(
        self,
        config: BrokerConfig,
        store: DefaultMessageStore,
        topic_config_manager: TopicConfigManager,
        subscription_group_manager: SubscriptionGroupManager,
        consumer_offset_manager: ConsumerOffsetManager,
        port: int = DEFAULT_GRPC_SERVER_PORT,
        transactions: TransactionalMessageService | None = None,
        client_tables: ClientTables | None = None,
        pop_service: PopService | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.requested_port = port
        self.port = 0
        # The broker's PopService (it starts, stops and feeds it); without one the server
        # makes and runs its own (a server built alone, as in tests).
        self._owns_pop_service = pop_service is None
        self.pop_service = pop_service or PopService(
            store,
            consumer_offset_manager,
            config.broker_name,
            config.broker_cluster_name,
            topic_config_manager,
        )
        self.registry = (
            GrpcClientRegistry(client_tables, topic_config_manager, subscription_group_manager)
            if client_tables is not None
            else None
        )
        # Routes over every broker of a topic: the NameServers' route, other brokers' gRPC
        # ports asked from them (its own connections, closed with the server).
        self.routes = GrpcRouteService(config, topic_config_manager, self.endpoints)
        self.clients = ClientActivity(
            config,
            topic_config_manager,
            self.routes,
            store.config.max_message_size,
            subscription_group_manager,
            self.registry,
        )
        self.producer = ProducerActivity(config, store, topic_config_manager, transactions)
        self.messages = MessageActivity(
            config, store, topic_config_manager, subscription_group_manager, self.pop_service
        )
        self._server: grpc.aio.Server | None = None
        # The certificate and key served when TLS is configured (see ``tls``).
        self.tls: TlsMaterial | None = None
        self._chained_listener: Callable[[str, int, int, int], None] | None = None

    def endpoints(self) -> pb.Endpoints:
        """This server's address as clients must use it: ``brokerIP1`` and the bound port."""
        return endpoints_of(self.config.broker_ip1, self.port)

    @property
    def address(self) -> str:
        """``brokerIP1:port`` (the SDKs' ``endpoints`` setting)."""
        return f"{self.config.broker_ip1}:{self.port}"

    async def start(self) -> None:
        """Bind and serve; wake held receives on every stored message."""
        options = [
            ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_GRPC_MESSAGE_BYTES),
        ]
        server = grpc.aio.server(options=options)
        server.add_generic_rpc_handlers((self._handler(),))
        self.tls = await load_tls_material(self.config)
        address = f"{self.config.bind_address}:{self.requested_port}"
        if self.tls is None:
            self.port = server.add_insecure_port(address)
        else:
            pair = (self.tls.private_key, self.tls.certificate)
            self.port = server.add_secure_port(address, grpc.ssl_server_credentials([pair]))
        if self.port == 0:
            raise OSError(
                f"grpcServerPort: cannot bind {self.config.bind_address}:{self.requested_port}"
            )
        if self.config.grpc_server_port == 0:
            # A free port was asked for: the config now tells the bound one, so other
            # brokers learn it from GET_BROKER_CONFIG (see ``route``), as listenPort 0 does.
            self.config.grpc_server_port = self.port
        if self._owns_pop_service:
            await self.pop_service.start()
        await server.start()
        self._server = server
        if self._owns_pop_service:
            self._listen_to_store()
        log.info("gRPC MessagingService serving on %s (%s)", self.address,
                 "plaintext" if self.tls is None else "TLS")  # fmt: skip

    async def aclose(self) -> None:
        """Answer held receives, stop serving (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        if self.store.message_arriving_listener is self._on_message_arriving:
            self.store.message_arriving_listener = self._chained_listener
        if self._owns_pop_service:
            await self.pop_service.aclose()
        else:  # held receives answer now, not after the grace period
            self.pop_service.wake_all()
        await server.stop(SHUTDOWN_GRACE_S)
        await self.routes.aclose()

    # -- store dispatch -> long polling -----------------------------------------------------

    def _listen_to_store(self) -> None:
        # The store has one listener slot (the remoting long-polling service): chain to it.
        self._chained_listener = self.store.message_arriving_listener
        self.store.message_arriving_listener = self._on_message_arriving

    def _on_message_arriving(self, topic: str, queue_id: int, max_offset: int, code: int) -> None:
        if self._chained_listener is not None:
            self._chained_listener(topic, queue_id, max_offset, code)
        self.pop_service.notify_message_arriving(topic, queue_id, max_offset, code)

    # -- the handler table ------------------------------------------------------------------

    def _handler(self) -> grpc.GenericRpcHandler:
        service = service_pb2.DESCRIPTOR.services_by_name["MessagingService"]
        implemented: dict[str, Any] = {
            "QueryRoute": self.clients.query_route,
            "Heartbeat": self.clients.heartbeat,
            "QueryAssignment": self.clients.query_assignment,
            "NotifyClientTermination": self.clients.notify_client_termination,
            "Telemetry": self.clients.telemetry,
            "SendMessage": self.producer.send_message,
            "EndTransaction": self.producer.end_transaction,
            "ForwardMessageToDeadLetterQueue": self.messages.forward_message_to_dead_letter_queue,
            "ReceiveMessage": self.messages.receive_message,
            "AckMessage": self.messages.ack_message,
            "ChangeInvisibleDuration": self.messages.change_invisible_duration,
        }
        table = {m.name: _method_handler(m, implemented.get(m.name)) for m in service.methods}
        return grpc.method_handlers_generic_handler(SERVICE_NAME, table)


def _method_handler(method: MethodDescriptor, fn: Any) -> grpc.RpcMethodHandler[Any, Any]:
    request_cls = GetMessageClass(method.input_type)
    response_cls = GetMessageClass(method.output_type)
    codec: dict[str, Any] = {
        "request_deserializer": request_cls.FromString,
        "response_serializer": response_cls.SerializeToString,
    }
    if method.client_streaming and method.server_streaming:
        return grpc.stream_stream_rpc_method_handler(fn or _not_implemented_bidi(method), **codec)
    if method.server_streaming:
        stream = fn or _not_implemented_stream(method, response_cls)
        return grpc.unary_stream_rpc_method_handler(stream, **codec)
    if fn is None:
        return grpc.unary_unary_rpc_method_handler(_not_implemented(method, response_cls), **codec)
    return grpc.unary_unary_rpc_method_handler(_guarded(method.name, fn, response_cls), **codec)


def _not_implemented_status(method: MethodDescriptor) -> pb.Status:
    return status(pb.Code.NOT_IMPLEMENTED, f"{method.name} is not implemented by rocketq yet")


def _not_implemented(method: MethodDescriptor, response_cls: type[PbMessage]) -> Unary:
    async def answer(_request: Any, _context: Context) -> PbMessage:
        return response_cls(status=_not_implemented_status(method))  # type: ignore[call-arg]

    return answer


def _not_implemented_stream(
    method: MethodDescriptor, response_cls: type[PbMessage]
) -> Callable[[Any, Context], AsyncIterator[PbMessage]]:
    async def answer(_request: Any, _context: Context) -> AsyncIterator[PbMessage]:
        yield response_cls(status=_not_implemented_status(method))  # type: ignore[call-arg]

    return answer


def _not_implemented_bidi(method: MethodDescriptor) -> Any:
    async def answer(_requests: Any, context: Context) -> None:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, _not_implemented_status(method).message)

    return answer


def _guarded(name: str, fn: Unary, response_cls: type[PbMessage]) -> Unary:
    """``fn``, with an unexpected error logged and answered as INTERNAL_SERVER_ERROR."""

    async def call(request: Any, context: Context) -> PbMessage:
        try:
            return await fn(request, context)
        except Exception as exc:
            log.exception("gRPC %s failed", name)
            failed = status(pb.Code.INTERNAL_SERVER_ERROR, f"{name} failed: {exc!r}")
            return response_cls(status=failed)  # type: ignore[call-arg]

    return call
