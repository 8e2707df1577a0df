"""rocketq's schema of RocketMQ 5's gRPC protocol (package ``apache.rocketmq.v2``):
``definition.proto`` and ``service.proto``, and their generated modules ``definition_pb2``
and ``service_pb2`` (made at build time; see ``generate.py``)."""

from rocketq.broker.grpc.v2.generate import ensure_generated

ensure_generated()
