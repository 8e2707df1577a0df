"""The writer thread of a busy connection (writer.py, compiled core): frames reach the
peer whole and in order, from many loop turns and past a full socket buffer; a closed
writer sends what it holds first; a gone peer fails it. The connection-level cases run
over both implementations (``impl``: the pure reference keeps the transport writing)."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import threading
from collections.abc import AsyncIterator

import pytest

from rocketq.remoting import connection as connection_module
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection, ProcessorTable
from rocketq.remoting.server import RemotingServer
from tests.conftest import Kernels, compiled_kernels

ECHO = 1201
BIG_REPLY = 1202
WAIT_S = 30.0


def _run(writer: object) -> threading.Thread:
    result: dict[str, int] = {}
    thread = threading.Thread(target=lambda: result.setdefault("err", writer.run()))  # type: ignore[attr-defined]
    thread.result = result  # type: ignore[attr-defined]
    thread.start()
    return thread


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while data := sock.recv(1 << 20):
        chunks.append(data)
    return b"".join(chunks)


def test_bytes_arrive_in_order_past_a_full_socket_then_close() -> None:
    kernels = compiled_kernels("rocketq.remoting._kernels")
    left, right = socket.socketpair()
    left.setblocking(False)  # as the event loop's sockets are
    writer = kernels.socket_writer(left.fileno())
    thread = _run(writer)
    frames = [os.urandom(n) for n in (1, 100, 3 << 20, 7, 1 << 20)]
    expected = b"".join(frames)
    for i in range(0, len(frames), 2):
        assert writer.write(frames[i : i + 2]) >= 0
    left.close()  # the writer has its own descriptor
    reader = threading.Thread(target=lambda: received.append(_read_all(right)))
    received: list[bytes] = []
    reader.start()
    writer.close()
    thread.join(WAIT_S)
    reader.join(WAIT_S)
    assert thread.result == {"err": 0}  # type: ignore[attr-defined]
    assert received == [expected]  # all of it, in order, then EOF
    assert writer.write([b"late"]) == -1
    right.close()


def test_a_gone_peer_fails_the_writer() -> None:
    kernels = compiled_kernels("rocketq.remoting._kernels")
    left, right = socket.socketpair()
    left.setblocking(False)
    writer = kernels.socket_writer(left.fileno())
    right.close()
    thread = _run(writer)
    writer.write([b"x" * 1024])
    thread.join(WAIT_S)
    assert thread.result["err"] in (errno.EPIPE, errno.ECONNRESET)  # type: ignore[attr-defined]
    assert writer.error == thread.result["err"]  # type: ignore[attr-defined]
    assert writer.write([b"more"]) == -1
    left.close()


def _echo(_conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
    return cmd.make_response(ext_fields=dict(cmd.ext_fields or {}), body=cmd.body)


@pytest.fixture
async def server(impl: Kernels, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RemotingServer]:
    monkeypatch.setattr(connection_module, "socket_writer", impl.socket_writer)
    table = ProcessorTable()
    table.register(ECHO, _echo)
    srv = RemotingServer(table, host="127.0.0.1", port=0, offload_after=1)
    await srv.start()
    yield srv
    await srv.aclose()


async def test_answers_of_many_turns_match_their_requests(server: RemotingServer) -> None:
    client = RemotingClient()
    addr = f"127.0.0.1:{server.port}"
    try:
        sizes = [0, 1, 1000, 70_000, 2 << 20] * 8
        requests = [
            RemotingCommand.request(ECHO, {"n": str(i)}, os.urandom(size) if size else None)
            for i, size in enumerate(sizes)
        ]
        answers = await asyncio.wait_for(
            asyncio.gather(*(client.invoke(addr, r, WAIT_S) for r in requests)), WAIT_S * 2
        )
        for request, answer in zip(requests, answers, strict=True):
            assert answer.ext_fields == request.ext_fields
            assert (answer.body or None) == request.body
    finally:
        await client.aclose()


async def test_what_was_written_before_close_still_arrives(server: RemotingServer) -> None:
    body = os.urandom(4 << 20)

    def reply_then_close(conn: Connection, cmd: RemotingCommand) -> None:
        conn.answer(cmd, cmd.make_response(body=body))
        asyncio.get_running_loop().call_soon(conn.close, "done")

    server.processors.register(BIG_REPLY, reply_then_close)
    client = RemotingClient()
    addr = f"127.0.0.1:{server.port}"
    try:
        for _ in range(3):  # past offload_after: the writer thread sends
            await client.invoke(addr, RemotingCommand.request(ECHO, {}), WAIT_S)
        answer = await client.invoke(addr, RemotingCommand.request(BIG_REPLY, {}), WAIT_S)
        assert answer.body == body
    finally:
        await client.aclose()
