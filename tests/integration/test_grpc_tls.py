"""TLS on the gRPC port (the Proxy's tlsCertPath / tlsKeyPath / tlsTestModeEnable keys):
a broker with a certificate made in the test, and one in test mode with its own
self-signed certificate, each answer QueryRoute over TLS and refuse plaintext."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grpc
import pytest

from rocketq.broker.controller import BrokerController
from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.grpc.v2 import service_pb2 as svc
from rocketq.common.topic import TopicConfig
from rocketq.testing import running_cluster

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

QUERY_ROUTE = "/apache.rocketmq.v2.MessagingService/QueryRoute"
# An unreachable TLS peer fails fast; a served one answers well within it.
CALL_TIMEOUT_S = 10


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as an operator would make them."""
    key, cert = directory / "rocketmq.key", directory / "rocketmq.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def _query_route(channel: grpc.aio.Channel) -> svc.QueryRouteResponse:
    call = channel.unary_unary(
        QUERY_ROUTE,
        request_serializer=svc.QueryRouteRequest.SerializeToString,
        response_deserializer=svc.QueryRouteResponse.FromString,
    )
    request = svc.QueryRouteRequest(topic=pb.Resource(name="TlsT"))
    answer: svc.QueryRouteResponse = await call(request, timeout=CALL_TIMEOUT_S)
    return answer


async def _check_tls_only(broker: BrokerController, trusted: bytes) -> None:
    server = broker.grpc_server
    assert server is not None and server.tls is not None
    broker.topic_config_manager.update(TopicConfig("TlsT", 2, 2))
    credentials = grpc.ssl_channel_credentials(root_certificates=trusted)
    async with grpc.aio.secure_channel(server.address, credentials) as channel:
        answer = await _query_route(channel)
    assert answer.status.code == pb.Code.OK
    assert [q.id for q in answer.message_queues] == [0, 1]
    async with grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _query_route(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_grpc_tls_with_configured_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    conf = {"grpcServerPort": "0", "tlsCertPath": str(cert), "tlsKeyPath": str(key)}
    async with running_cluster(tmp_path / "store", conf) as (_namesrv, broker):
        await _check_tls_only(broker, cert.read_bytes())


async def test_grpc_tls_test_mode_makes_its_own_certificate(tmp_path: Path) -> None:
    conf = {"grpcServerPort": "0", "tlsTestModeEnable": "true"}
    async with running_cluster(tmp_path, conf) as (_namesrv, broker):
        server = broker.grpc_server
        assert server is not None and server.tls is not None
        await _check_tls_only(broker, server.tls.certificate)


async def test_grpc_plaintext_by_default(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, {"grpcServerPort": "0"}) as (_namesrv, broker):
        server = broker.grpc_server
        assert server is not None and server.tls is None
        async with grpc.aio.insecure_channel(server.address) as channel:
            answer = await _query_route(channel)
        assert answer.status.code == pb.Code.TOPIC_NOT_FOUND
