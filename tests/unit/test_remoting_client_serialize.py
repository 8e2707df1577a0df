"""The request header serialization of a RemotingClient (Java's ``RemotingCommand``
``serializeTypeConfigInThisServer``): JSON unless ``ROCKETMQ_SERIALIZE_TYPE`` or the client
says ROCKETMQ; every way a request leaves uses it, and the answer comes back in it."""

from __future__ import annotations

import pytest

from rocketq.common.errors import ClientError
from rocketq.remoting.client import SERIALIZE_TYPE_ENV, RemotingClient, serialize_type_from_env
from rocketq.remoting.codes import RequestCode, SerializeType
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection, ProcessorTable
from rocketq.remoting.server import RemotingServer


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, SerializeType.JSON), ("", SerializeType.JSON), (" ROCKETMQ ", SerializeType.ROCKETMQ),
     ("JSON", SerializeType.JSON)],
)  # fmt: skip
def test_the_environment_names_the_serialization(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: SerializeType
) -> None:
    if value is None:
        monkeypatch.delenv(SERIALIZE_TYPE_ENV, raising=False)
    else:
        monkeypatch.setenv(SERIALIZE_TYPE_ENV, value)
    assert serialize_type_from_env() is expected
    assert RemotingClient().serialize_type is expected


def test_an_unknown_serialization_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERIALIZE_TYPE_ENV, "XML")
    with pytest.raises(ClientError, match=SERIALIZE_TYPE_ENV):
        RemotingClient()


@pytest.mark.parametrize("stype", [SerializeType.JSON, SerializeType.ROCKETMQ])
async def test_every_request_is_sent_in_the_clients_serialization(stype: SerializeType) -> None:
    seen: list[int] = []

    def echo(_conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        seen.append(cmd.serialize_type)
        return cmd.make_response(0, None, {"k": "v"})

    table = ProcessorTable()
    table.register(RequestCode.HEART_BEAT, echo)
    server = RemotingServer(table, host="127.0.0.1", port=0)
    await server.start()
    remoting = RemotingClient(serialize_type=stype)
    addr = f"127.0.0.1:{server.port}"
    try:
        first = await remoting.invoke(addr, RemotingCommand(RequestCode.HEART_BEAT))  # connects
        future = remoting.request_now(addr, RemotingCommand(RequestCode.HEART_BEAT), 3.0)
        assert future is not None
        second = await future
        await remoting.invoke_oneway(addr, RemotingCommand(RequestCode.HEART_BEAT))
        await remoting.invoke(addr, RemotingCommand(RequestCode.HEART_BEAT))  # after the one-way
    finally:
        await remoting.aclose()
        await server.aclose()
    assert seen == [stype] * 4
    assert (first.serialize_type, first.ext_fields) == (stype, {"k": "v"})
    assert (second.serialize_type, second.ext_fields) == (stype, {"k": "v"})
