"""``rocketq broker`` serves RocketMQ 5's gRPC protocol itself, next to remoting."""

from __future__ import annotations

import re
from pathlib import Path

import grpc

from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.grpc.v2 import service_pb2 as svc
from rocketq.testing import BrokerProcess, NamesrvProcess

_GRPC_READY = re.compile(r"gRPC for 5\.x clients on ([\d.]+):(\d+)")


async def test_broker_process_answers_grpc_routes(tmp_path: Path, namesrv: NamesrvProcess) -> None:
    with BrokerProcess(tmp_path / "b", namesrv.addr, {"brokerName": "grpc-b"}) as broker:
        found = [m for line in broker.output if (m := _GRPC_READY.search(line))]
        assert found, f"no gRPC address in the ready line: {broker.output}"
        host, port = found[0].group(1), int(found[0].group(2))
        async with grpc.aio.insecure_channel(f"{host}:{port}") as channel:
            query = channel.unary_unary(
                "/apache.rocketmq.v2.MessagingService/QueryRoute",
                request_serializer=svc.QueryRouteRequest.SerializeToString,
                response_deserializer=svc.QueryRouteResponse.FromString,
            )
            # TBW102 exists on every broker that auto-creates topics.
            answer = await query(
                svc.QueryRouteRequest(topic=pb.Resource(name="TBW102")), timeout=10
            )
    assert answer.status.code == pb.Code.OK
    endpoint = answer.message_queues[0].broker.endpoints.addresses[0]
    assert (endpoint.host, endpoint.port) == ("127.0.0.1", port)
