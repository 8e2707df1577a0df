"""Stand-ins for brokers: registrations sent over real sockets, bodies written as Java does."""

from __future__ import annotations

from typing import Any

import orjson

from rocketq.remoting import RemotingClient, RemotingCommand, RequestCode
from rocketq.testing import async_wait_until as wait_until

# ``wait_until`` is the shared ``rocketq.testing.async_wait_until``, kept under this name for
# the modules that import it from here.
__all__ = ["call", "java_register_body", "register_request", "route_json", "wait_until"]


def java_register_body(
    topics: dict[str, tuple[int, int, int]], counter: int = 1, timestamp: int = 1_700_000_000_000
) -> bytes:
    """A RegisterBrokerBody exactly as a 4.9.4 broker's fastjson writes it (bare keys)."""
    configs = ",".join(
        f'"{t}":{{"order":false,"perm":{p},"readQueueNums":{r},"topicFilterType":"SINGLE_TAG",'
        f'"topicName":"{t}","topicSysFlag":0,"writeQueueNums":{w}}}'
        for t, (r, w, p) in topics.items()
    )
    return (
        '{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":'
        f'{{"counter":{counter},"timestamp":{timestamp}}},"topicConfigTable":{{{configs}}}}}}}'
    ).encode()


def register_request(
    broker_name: str,
    broker_addr: str,
    broker_id: int = 0,
    cluster: str = "DefaultCluster",
    body: bytes | None = None,
    **extra: str,
) -> RemotingCommand:
    """REGISTER_BROKER with the header fields a Java broker sends (all strings)."""
    ext = {
        "brokerName": broker_name,
        "brokerAddr": broker_addr,
        "clusterName": cluster,
        "haServerAddr": broker_addr.rsplit(":", 1)[0] + ":10912",
        "brokerId": str(broker_id),
        "compressed": "false",
        "bodyCrc32": "0",
        **extra,
    }
    return RemotingCommand.request(RequestCode.REGISTER_BROKER, ext, body)


async def call(
    client: RemotingClient,
    addr: str,
    code: int,
    ext: dict[str, str] | None = None,
    body: bytes | None = None,
) -> RemotingCommand:
    """One request/response."""
    return await client.invoke(addr, RemotingCommand.request(code, ext, body), 5.0)


async def route_json(client: RemotingClient, addr: str, topic: str) -> dict[str, Any] | None:
    """The raw route JSON of a topic, or None on TOPIC_NOT_EXIST."""
    resp = await call(client, addr, RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic})
    if resp.code == 17:
        return None
    assert resp.code == 0, resp
    result: dict[str, Any] = orjson.loads(resp.body or b"")
    return result
