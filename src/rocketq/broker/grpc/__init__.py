"""RocketMQ 5's gRPC protocol (``apache.rocketmq.v2.MessagingService``) served by the
broker itself, for the 5.x SDKs: routes, sends and POP receives over the broker's store.

Modules: ``v2/`` the schema (rocketq's own ``.proto`` files, modules generated at build
time), ``convert`` gRPC messages <-> stored records, ``clients`` routes/heartbeats/Telemetry,
``messages`` send/receive/ack, ``server`` the grpc.aio server and its handler table. The
POP engine under ReceiveMessage is :mod:`rocketq.broker.pop`.
"""

from rocketq.broker.grpc.server import DEFAULT_GRPC_SERVER_PORT, GrpcMessagingServer

__all__ = ["DEFAULT_GRPC_SERVER_PORT", "GrpcMessagingServer"]
