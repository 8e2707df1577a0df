"""QueryRoute and QueryAssignment over several brokers of one cluster: every broker group
of the NameServers' route is listed, each at its own gRPC endpoint (rocketq learns a
broker's gRPC port from its GET_BROKER_CONFIG, so two brokers on one host work)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from rocketq.broker.config import load_broker_conf
from rocketq.broker.controller import BrokerController
from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.grpc.v2 import service_pb2 as svc
from rocketq.common.topic import PERM_WRITE, TopicConfig
from rocketq.namesrv import NamesrvController
from rocketq.testing import running_cluster

PREFIX = "/apache.rocketmq.v2.MessagingService/"
Brokers = tuple[NamesrvController, BrokerController, BrokerController]


@contextlib.asynccontextmanager
async def joined_broker(
    namesrv: NamesrvController, store_dir: Path, name: str, extra: dict[str, str] | None = None
) -> AsyncIterator[BrokerController]:
    """One more broker (its own gRPC server on a free port) in the NameServer's cluster."""
    overrides = {
        "brokerName": name,
        "namesrvAddr": namesrv.address,
        "listenPort": "0",
        "bindAddress": "127.0.0.1",
        "storePathRootDir": str(store_dir),
        **(extra or {}),
    }
    config, store_config, _unknown = load_broker_conf(None, overrides)
    config.broker_ip1 = "127.0.0.1"
    broker = BrokerController(config, store_config)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.aclose()


@pytest.fixture
async def brokers(tmp_path: Path) -> AsyncIterator[Brokers]:
    async with (
        running_cluster(tmp_path / "a") as (namesrv, broker_a),
        joined_broker(namesrv, tmp_path / "b", "broker-b") as broker_b,
    ):
        broker_a.topic_config_manager.update(TopicConfig("MT", 4, 4))
        broker_b.topic_config_manager.update(TopicConfig("MT", 2, 3))
        for broker in (broker_a, broker_b):
            await broker.register_broker_all()
        yield namesrv, broker_a, broker_b


async def call(broker: BrokerController, method: str, request: Any, response_cls: Any) -> Any:
    assert broker.grpc_server is not None
    async with grpc.aio.insecure_channel(broker.grpc_server.address) as channel:
        fn = channel.unary_unary(
            PREFIX + method,
            request_serializer=type(request).SerializeToString,
            response_deserializer=response_cls.FromString,
        )
        return await fn(request, timeout=10)


def grpc_port(broker: BrokerController) -> int:
    assert broker.grpc_server is not None
    return broker.grpc_server.port


def listed(answer: svc.QueryRouteResponse) -> list[tuple[str, int, int, int, int]]:
    """(broker, broker id, queue id, gRPC port, permission) of each queue."""
    return [
        (q.broker.name, q.broker.id, q.id, q.broker.endpoints.addresses[0].port, q.permission)
        for q in answer.message_queues
    ]


async def test_route_lists_every_broker_at_its_own_endpoint(brokers: Brokers) -> None:
    _ns, broker_a, broker_b = brokers
    port_a, port_b = grpc_port(broker_a), grpc_port(broker_b)
    assert port_a != port_b
    rw, write = pb.Permission.READ_WRITE, pb.Permission.WRITE
    expected = [("broker-a", 0, i, port_a, rw) for i in range(4)] + [
        ("broker-b", 0, 0, port_b, rw),
        ("broker-b", 0, 1, port_b, rw),
        ("broker-b", 0, 2, port_b, write),  # writable only: readQueueNums is 2
    ]
    request = svc.QueryRouteRequest(topic=pb.Resource(name="MT"))
    for via, first in ((broker_a, "broker-a"), (broker_b, "broker-b")):
        answer = await call(via, "QueryRoute", request, svc.QueryRouteResponse)
        assert answer.status.code == pb.Code.OK
        got = listed(answer)
        assert got[0][0] == first  # the answering broker's own queues first
        assert sorted(got) == sorted(expected)
        for queue in answer.message_queues:
            endpoints = queue.broker.endpoints
            assert endpoints.scheme == pb.AddressScheme.IPv4
            assert endpoints.addresses[0].host == "127.0.0.1"
    missing = svc.QueryRouteRequest(topic=pb.Resource(name="NoSuchTopic"))
    answer = await call(broker_a, "QueryRoute", missing, svc.QueryRouteResponse)
    assert answer.status.code == pb.Code.TOPIC_NOT_FOUND


async def test_topic_only_on_the_other_broker(brokers: Brokers) -> None:
    """A topic this broker does not hold is routed to the broker that does."""
    _ns, broker_a, broker_b = brokers
    broker_b.topic_config_manager.update(TopicConfig("OnlyB", 2, 2))
    await broker_b.register_broker_all()
    request = svc.QueryRouteRequest(topic=pb.Resource(name="OnlyB"))
    answer = await call(broker_a, "QueryRoute", request, svc.QueryRouteResponse)
    assert answer.status.code == pb.Code.OK
    rw = pb.Permission.READ_WRITE
    assert listed(answer) == [("broker-b", 0, i, grpc_port(broker_b), rw) for i in range(2)]
    # the topic's message type is this broker's view: it has no such topic
    assert list(answer.message_queues[0].accept_message_types) == [
        pb.MessageType.MESSAGE_TYPE_UNSPECIFIED
    ]


async def test_assignment_names_every_readable_broker(brokers: Brokers) -> None:
    _ns, broker_a, broker_b = brokers
    request = svc.QueryAssignmentRequest(topic=pb.Resource(name="MT"), group=pb.Resource(name="g"))
    answer = await call(broker_a, "QueryAssignment", request, svc.QueryAssignmentResponse)
    assert answer.status.code == pb.Code.OK
    got = sorted(
        (
            a.message_queue.broker.name,
            a.message_queue.id,
            a.message_queue.broker.endpoints.addresses[0].port,
        )
        for a in answer.assignments
    )
    assert got == [("broker-a", -1, grpc_port(broker_a)), ("broker-b", -1, grpc_port(broker_b))]
    # a broker group without read permission gets no assignment
    broker_b.topic_config_manager.update(TopicConfig("WriteOnly", 2, 2, perm=PERM_WRITE))
    await broker_b.register_broker_all()
    request.topic.name = "WriteOnly"
    answer = await call(broker_a, "QueryAssignment", request, svc.QueryAssignmentResponse)
    assert answer.status.code == pb.Code.FORBIDDEN


async def test_broker_without_grpc_is_left_out_and_unknown_port_is_ours(
    brokers: Brokers, tmp_path: Path
) -> None:
    namesrv, broker_a, _broker_b = brokers
    async with joined_broker(
        namesrv, tmp_path / "c", "broker-c", {"grpcServerPort": "-1"}
    ) as broker_c:
        assert broker_c.grpc_server is None
        broker_c.topic_config_manager.update(TopicConfig("MT", 2, 2))
        await broker_c.register_broker_all()
        request = svc.QueryRouteRequest(topic=pb.Resource(name="MT"))
        answer = await call(broker_a, "QueryRoute", request, svc.QueryRouteResponse)
        assert {q.broker.name for q in answer.message_queues} == {"broker-a", "broker-b"}
    # A broker whose config names no gRPC port (an Apache broker) gets Apache's rule: its
    # host with this server's port. A NameServer answers GET_BROKER_CONFIG without one.
    assert broker_a.grpc_server is not None
    routes = broker_a.grpc_server.routes
    assert await routes.grpc_port(namesrv.address) == grpc_port(broker_a)
