"""RemotingServer + RemotingClient over real loopback sockets (fast; port 0).

No test waits for time to pass to decide its outcome: processors that must not answer
wait on an event nobody sets, and "no response" is shown by ordering (a later request's
answer arrives first) rather than by a quiet period.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from collections.abc import AsyncIterator

import pytest

from rocketq.common.errors import (
    BrokerError,
    RemotingConnectError,
    RemotingSendRequestError,
    RemotingTimeoutError,
)
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codec import FrameDecoder, encode
from rocketq.remoting.codes import RequestCode, ResponseCode, SerializeType
from rocketq.remoting.command import FLAG_ONEWAY, RemotingCommand
from rocketq.remoting.connection import Connection, ProcessorTable
from rocketq.remoting.server import RemotingServer

ECHO = 1001
ASYNC_ECHO = 1002
FAIL_BROKER = 1003
FAIL_OTHER = 1004
NEVER = 1005
ORDERED = 1006
RECORD = 1007
UNKNOWN = 1999


def echo(_conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
    return cmd.make_response(remark="echo", ext_fields=dict(cmd.ext_fields or {}), body=cmd.body)


async def async_echo(_conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
    await asyncio.sleep(0)  # a yield to the loop, so the answer really comes from a task
    return cmd.make_response(remark="async", ext_fields=dict(cmd.ext_fields or {}))


@pytest.fixture
async def server() -> AsyncIterator[RemotingServer]:
    table = ProcessorTable()
    table.register(ECHO, echo)
    table.register(ASYNC_ECHO, async_echo)
    srv = RemotingServer(table, host="127.0.0.1", port=0)
    await srv.start()
    yield srv
    await srv.aclose()


@pytest.fixture
async def client() -> AsyncIterator[RemotingClient]:
    c = RemotingClient()
    yield c
    await c.aclose()


def addr_of(server: RemotingServer) -> str:
    return f"127.0.0.1:{server.port}"


def never_answer(server: RemotingServer) -> asyncio.Event:
    """Register a NEVER processor that holds every request on an event nobody sets (it is
    never answered); the returned event is set once a request reached it."""
    started = asyncio.Event()
    never = asyncio.Event()

    async def hang(_conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        started.set()
        await never.wait()
        return cmd.make_response()

    server.processors.register(NEVER, hang)
    return started


async def hung_call(
    server: RemotingServer, client: RemotingClient
) -> asyncio.Future[RemotingCommand]:
    """A NEVER request from ``client`` (timeout 30 s) that the server holds, once it holds it."""
    started = never_answer(server)
    call = asyncio.ensure_future(
        client.invoke(addr_of(server), RemotingCommand.request(NEVER), timeout=30)
    )
    await started.wait()
    return call


async def read_commands(reader: asyncio.StreamReader, count: int) -> list[RemotingCommand]:
    """Read from a raw socket until ``count`` commands arrived."""
    decoder = FrameDecoder()
    out: list[RemotingCommand] = []
    while len(out) < count:
        data = await reader.read(65536)
        if not data:
            raise EOFError(f"EOF after {len(out)} commands")
        out += decoder.feed(data)
    return out


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    try:
        while data := await reader.read(65536):
            received += data
    except ConnectionResetError:
        pass
    return received


# ---------------------------------------------------------------------------------------------
# request / response


async def test_request_response(server: RemotingServer, client: RemotingClient) -> None:
    request = RemotingCommand.request(ECHO, {"topic": "T", "queueId": "3"}, b"payload")
    response = await client.invoke(addr_of(server), request, timeout=5)
    assert response.code == ResponseCode.SUCCESS
    assert response.is_response
    assert response.opaque == request.opaque
    assert response.remark == "echo"
    assert response.ext_fields == {"topic": "T", "queueId": "3"}
    assert response.body == b"payload"
    assert response.serialize_type == SerializeType.JSON


async def test_sync_and_async_processors(server: RemotingServer, client: RemotingClient) -> None:
    addr = addr_of(server)
    sync = await client.invoke(addr, RemotingCommand.request(ECHO, {"k": "1"}))
    asyn = await client.invoke(addr, RemotingCommand.request(ASYNC_ECHO, {"k": "2"}))
    assert (sync.code, sync.remark, sync.ext_fields) == (0, "echo", {"k": "1"})
    assert (asyn.code, asyn.remark, asyn.ext_fields) == (0, "async", {"k": "2"})


async def test_500_concurrent_invokes_matched_by_opaque(
    server: RemotingServer, client: RemotingClient
) -> None:
    total = 500
    waiting: dict[int, asyncio.Future[None]] = {}
    all_arrived = asyncio.Event()

    async def ordered(_conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        i = int(cmd.ext("i") or "-1")
        gate = asyncio.get_running_loop().create_future()
        waiting[i] = gate
        if len(waiting) == total:
            all_arrived.set()
        await gate
        return cmd.make_response(ext_fields={"i": str(i)})

    server.processors.register(ORDERED, ordered)
    addr = addr_of(server)
    calls = [
        asyncio.ensure_future(client.invoke(addr, RemotingCommand.request(ORDERED, {"i": str(i)})))
        for i in range(total)
    ]
    await all_arrived.wait()
    # answer in an order unrelated to the sending order
    for i in sorted(waiting, key=lambda n: (n * 7919) % total):
        waiting[i].set_result(None)
    responses = await asyncio.gather(*calls)
    assert [r.ext("i") for r in responses] == [str(i) for i in range(total)]
    assert len({r.opaque for r in responses}) == total
    assert len(server.connections) == 1


async def test_concurrent_first_calls_share_one_connection(
    server: RemotingServer, client: RemotingClient
) -> None:
    addr = addr_of(server)
    conns = await asyncio.gather(*(client.connection(addr) for _ in range(20)))
    assert len({id(c) for c in conns}) == 1
    assert len(server.connections) == 1


# ---------------------------------------------------------------------------------------------
# errors answered by the server


@pytest.mark.parametrize("is_async", [False, True])
async def test_broker_error_becomes_response(
    server: RemotingServer, client: RemotingClient, is_async: bool
) -> None:
    def fail(_conn: Connection, _cmd: RemotingCommand) -> RemotingCommand:
        raise BrokerError(ResponseCode.TOPIC_NOT_EXIST, "No topic route info in name server")

    async def afail(_conn: Connection, _cmd: RemotingCommand) -> RemotingCommand:
        raise BrokerError(ResponseCode.TOPIC_NOT_EXIST, "No topic route info in name server")

    server.processors.register(FAIL_BROKER, afail if is_async else fail)
    response = await client.invoke(addr_of(server), RemotingCommand.request(FAIL_BROKER))
    assert response.code == ResponseCode.TOPIC_NOT_EXIST
    assert response.remark == "No topic route info in name server"
    assert response.is_response


@pytest.mark.parametrize("is_async", [False, True])
async def test_other_exception_becomes_system_error(
    server: RemotingServer, client: RemotingClient, is_async: bool
) -> None:
    def fail(_conn: Connection, _cmd: RemotingCommand) -> RemotingCommand:
        raise ValueError("boom 42")

    async def afail(_conn: Connection, _cmd: RemotingCommand) -> RemotingCommand:
        raise ValueError("boom 42")

    server.processors.register(FAIL_OTHER, afail if is_async else fail)
    response = await client.invoke(addr_of(server), RemotingCommand.request(FAIL_OTHER))
    assert response.code == ResponseCode.SYSTEM_ERROR
    assert response.remark is not None
    assert "boom 42" in response.remark
    # the connection survives a failing processor
    assert (await client.invoke(addr_of(server), RemotingCommand.request(ECHO))).code == 0


async def test_unknown_code_is_not_supported(
    server: RemotingServer, client: RemotingClient
) -> None:
    response = await client.invoke(addr_of(server), RemotingCommand.request(UNKNOWN))
    assert response.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED == 3
    assert response.remark is not None
    assert "1999" in response.remark
    assert "not supported" in response.remark


# ---------------------------------------------------------------------------------------------
# oneway


async def test_oneway_runs_processor_via_client(
    server: RemotingServer, client: RemotingClient
) -> None:
    seen: asyncio.Queue[RemotingCommand] = asyncio.Queue()

    def record(_conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        seen.put_nowait(cmd)
        return cmd.make_response()

    server.processors.register(RECORD, record)
    await client.invoke_oneway(addr_of(server), RemotingCommand.request(RECORD, {"x": "1"}))
    got = await seen.get()
    assert got.is_oneway
    assert got.ext_fields == {"x": "1"}


@pytest.mark.parametrize("oneway_code", [RECORD, FAIL_OTHER, UNKNOWN])
async def test_oneway_gets_no_response(server: RemotingServer, oneway_code: int) -> None:
    seen: list[RemotingCommand] = []

    def record(_conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        seen.append(cmd)
        return cmd.make_response()

    def fail(_conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        seen.append(cmd)
        raise ValueError("oneway failure is only logged")

    server.processors.register(RECORD, record)
    server.processors.register(FAIL_OTHER, fail)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        oneway = RemotingCommand(code=oneway_code, opaque=1, flag=FLAG_ONEWAY)
        normal = RemotingCommand(code=ECHO, opaque=2)
        # Both are handled in order by synchronous processors, so an answer to the oneway
        # would have been written before the answer to the normal request.
        writer.write(encode(oneway) + encode(normal))
        (first,) = await read_commands(reader, 1)
        assert first.opaque == 2
        assert first.remark == "echo"
        if oneway_code != UNKNOWN:
            assert [c.opaque for c in seen] == [1]
    finally:
        writer.close()
        await writer.wait_closed()


# ---------------------------------------------------------------------------------------------
# server -> client requests


async def test_server_initiated_requests_use_client_processors(server: RemotingServer) -> None:
    table = ProcessorTable()
    notified: asyncio.Queue[RemotingCommand] = asyncio.Queue()

    def running_info(_conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        return cmd.make_response(body=b'{"properties":{}}', ext_fields={"from": "client"})

    def notify(_conn: Connection, cmd: RemotingCommand) -> None:
        notified.put_nowait(cmd)

    table.register(RequestCode.GET_CONSUMER_RUNNING_INFO, running_info)
    table.register(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, notify)
    client = RemotingClient(table)
    try:
        await client.invoke(addr_of(server), RemotingCommand.request(ECHO))
        (conn,) = server.connections
        request = RemotingCommand.request(
            RequestCode.GET_CONSUMER_RUNNING_INFO, {"consumerGroup": "g", "clientId": "c"}
        )
        response = await conn.invoke(request, timeout=5)
        assert response.code == ResponseCode.SUCCESS
        assert response.body == b'{"properties":{}}'
        assert response.ext_fields == {"from": "client"}

        conn.send_oneway(
            RemotingCommand.request(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, {"consumerGroup": "g"})
        )
        got = await notified.get()
        assert got.is_oneway
        assert got.ext("consumerGroup") == "g"

        # a code the client does not serve is refused like the server refuses it
        refused = await conn.invoke(RemotingCommand.request(UNKNOWN), timeout=5)
        assert refused.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
    finally:
        await client.aclose()


# ---------------------------------------------------------------------------------------------
# client-side failures


async def test_invoke_timeout(server: RemotingServer, client: RemotingClient) -> None:
    never_answer(server)
    with pytest.raises(RemotingTimeoutError, match="timeout"):
        await client.invoke(addr_of(server), RemotingCommand.request(NEVER), timeout=0.05)
    # the connection is still usable afterwards
    assert (await client.invoke(addr_of(server), RemotingCommand.request(ECHO))).code == 0


async def test_short_timeout_expires_behind_long_ones_and_answers_still_match(
    server: RemotingServer, client: RemotingClient
) -> None:
    """Requests with different timeouts share one connection's deadline table: a short
    one sent after long ones times out, the long ones are still answered, and the
    answered ones leave nothing pending."""
    release = asyncio.Event()

    async def held(_conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        await release.wait()
        return cmd.make_response(remark="late")

    server.processors.register(ORDERED, held)
    never_answer(server)
    addr = addr_of(server)
    long_calls = [
        asyncio.ensure_future(client.invoke(addr, RemotingCommand.request(ORDERED), timeout=30))
        for _ in range(3)
    ]
    with pytest.raises(RemotingTimeoutError, match="timeout 50ms"):
        await client.invoke(addr, RemotingCommand.request(NEVER), timeout=0.05)
    assert not any(call.done() for call in long_calls)
    release.set()
    assert [(await call).remark for call in long_calls] == ["late"] * 3
    conn = await client.connection(addr)
    assert conn._pending == {}


async def test_answered_requests_behind_a_held_one_are_dropped(
    server: RemotingServer, client: RemotingClient
) -> None:
    """A request held at the head of its deadline bucket (a long-polling pull) does not
    keep thousands of answered ones behind it."""
    never_answer(server)
    addr = addr_of(server)
    held = asyncio.ensure_future(client.invoke(addr, RemotingCommand.request(NEVER), timeout=30))
    for _ in range(5):
        await asyncio.gather(
            *(client.invoke(addr, RemotingCommand.request(ECHO), timeout=30) for _ in range(500))
        )
    conn = await client.connection(addr)
    assert len(conn._deadlines) < 1100  # 2501 without compaction
    assert not held.done()
    held.cancel()


async def test_in_flight_limit_holds_callers_until_a_slot_frees(server: RemotingServer) -> None:
    release = asyncio.Event()
    arrived: list[int] = []

    async def held(_conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        arrived.append(int((cmd.ext_fields or {})["n"]))
        await release.wait()
        return cmd.make_response()

    server.processors.register(ORDERED, held)
    loop = asyncio.get_running_loop()
    _transport, conn = await loop.create_connection(
        lambda: Connection(max_in_flight=2), "127.0.0.1", server.port
    )
    try:
        calls = [
            asyncio.ensure_future(
                conn.invoke(RemotingCommand.request(ORDERED, {"n": str(n)}), timeout=30)
            )
            for n in range(4)
        ]
        # An ECHO outside the limit (send_request) is answered after the server read
        # every request written before it: only the first two were.
        probe = await conn.send_request(RemotingCommand.request(ECHO), timeout=30)
        assert probe.code == 0
        assert sorted(arrived) == [0, 1]
        release.set()
        assert [(await call).code for call in calls] == [0] * 4
        assert sorted(arrived) == [0, 1, 2, 3]
    finally:
        conn.close()


async def test_connect_to_closed_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # nothing listens there any more
    client = RemotingClient()
    try:
        with pytest.raises(RemotingConnectError):
            await client.invoke(f"127.0.0.1:{port}", RemotingCommand.request(ECHO))
    finally:
        await client.aclose()


async def test_bad_address_is_connect_error(client: RemotingClient) -> None:
    with pytest.raises(RemotingConnectError):
        await client.invoke("no-port-here", RemotingCommand.request(ECHO))


async def test_server_closing_connection_fails_pending(
    server: RemotingServer, client: RemotingClient
) -> None:
    call = await hung_call(server, client)
    addr = addr_of(server)
    (conn,) = server.connections
    conn.close("test closes it")
    with pytest.raises(RemotingSendRequestError):
        await call
    # the client forgets the dead connection and connects again
    assert (await client.invoke(addr, RemotingCommand.request(ECHO))).code == 0


async def test_answer_written_before_close_is_delivered(
    server: RemotingServer, client: RemotingClient
) -> None:
    def answer_then_close(conn: Connection, cmd: RemotingCommand) -> None:
        conn.write(cmd.make_response(remark="bye"))
        conn.close("done with this peer")

    server.processors.register(RECORD, answer_then_close)
    addr = addr_of(server)
    conn = await client.connection(addr)
    response = await client.invoke(addr, RemotingCommand.request(RECORD))
    assert response.remark == "bye"
    await conn.wait_closed()
    assert conn.close_reason == "closed by peer"
    good = await client.invoke(addr, RemotingCommand.request(ECHO))  # a new connection
    assert good.code == 0


async def test_client_close_fails_pending(server: RemotingServer) -> None:
    client = RemotingClient()
    call = await hung_call(server, client)
    await client.aclose()
    with pytest.raises(RemotingSendRequestError):
        await call
    with pytest.raises(RemotingConnectError):
        await client.invoke(addr_of(server), RemotingCommand.request(ECHO))


async def test_cancelled_invoke_leaves_no_pending_entry(
    server: RemotingServer, client: RemotingClient
) -> None:
    call = await hung_call(server, client)
    addr = addr_of(server)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    conn = await client.connection(addr)
    await asyncio.sleep(0)  # let the future's done-callbacks run
    assert conn._pending == {}


async def test_invoke_async_callback(server: RemotingServer, client: RemotingClient) -> None:
    loop = asyncio.get_running_loop()
    got: asyncio.Future[tuple[RemotingCommand | None, BaseException | None]] = loop.create_future()

    def callback(response: RemotingCommand | None, error: BaseException | None) -> None:
        got.set_result((response, error))

    await client.invoke_async(
        addr_of(server), RemotingCommand.request(ECHO, {"a": "b"}), 5, callback
    )
    response, error = await got
    assert error is None
    assert response is not None
    assert response.ext_fields == {"a": "b"}


async def test_invoke_async_coroutine_callback_and_error(
    server: RemotingServer, client: RemotingClient
) -> None:
    never_answer(server)
    results: asyncio.Queue[tuple[RemotingCommand | None, BaseException | None]] = asyncio.Queue()

    async def callback(response: RemotingCommand | None, error: BaseException | None) -> None:
        await results.put((response, error))

    await client.invoke_async(addr_of(server), RemotingCommand.request(NEVER), 0.05, callback)
    response, error = await results.get()
    assert response is None
    assert isinstance(error, RemotingTimeoutError)


# ---------------------------------------------------------------------------------------------
# bad input closes that one connection only

BAD_INPUT = {
    "garbage": (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", False, "frame length"),
    "oversized length": (struct.pack(">I", 0x7FFFFFFF) + b"\x00" * 16, False, "frame length"),
    "bad header": (struct.pack(">II", 12, 8) + b"not json", False, "not valid JSON"),
    "unknown serialize type": (struct.pack(">II", 6, (9 << 24) | 2) + b"{}", False, "serialize"),
    "truncated frame then EOF": (struct.pack(">II", 100, 20) + b'{"code":10', True, "mid-frame"),
}


@pytest.mark.parametrize(("data", "eof", "reason"), list(BAD_INPUT.values()), ids=list(BAD_INPUT))
async def test_bad_input_closes_only_that_connection(
    server: RemotingServer,
    client: RemotingClient,
    caplog: pytest.LogCaptureFixture,
    data: bytes,
    eof: bool,
    reason: str,
) -> None:
    caplog.set_level(logging.WARNING, logger="rocketq.remoting")
    addr = addr_of(server)
    good = await client.connection(addr)
    assert (await client.invoke(addr, RemotingCommand.request(ECHO))).code == 0

    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(data)
    if eof:
        writer.write_eof()
    assert await read_until_closed(reader) == b""  # closed without an answer
    writer.close()
    await writer.wait_closed()

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(reason in r.getMessage() for r in warnings), [r.getMessage() for r in warnings]
    assert all("closing connection" in r.getMessage() for r in warnings)

    # the other client's connection is untouched and still served
    assert await client.connection(addr) is good
    response = await client.invoke(addr, RemotingCommand.request(ECHO, {"still": "ok"}))
    assert response.ext_fields == {"still": "ok"}


async def test_clean_eof_is_not_a_warning(
    server: RemotingServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="rocketq.remoting")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(encode(RemotingCommand(code=ECHO, opaque=5)))
    writer.write_eof()
    (answer,) = await read_commands(reader, 1)
    assert answer.opaque == 5
    assert await read_until_closed(reader) == b""
    writer.close()
    await writer.wait_closed()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# ---------------------------------------------------------------------------------------------
# answering in the request's serialization


@pytest.mark.parametrize("stype", [SerializeType.JSON, SerializeType.ROCKETMQ])
async def test_answer_uses_request_serialization(
    server: RemotingServer, client: RemotingClient, stype: SerializeType
) -> None:
    for code in (ECHO, ASYNC_ECHO, UNKNOWN):
        request = RemotingCommand.request(code, {"topic": "T"})
        request.serialize_type = stype
        response = await client.invoke(addr_of(server), request)
        assert response.serialize_type == stype


async def test_raw_rocketmq_request_gets_rocketmq_bytes(server: RemotingServer) -> None:
    def route(_conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        remark = f"No topic route info in name server for the topic: {cmd.ext('topic')}"
        return cmd.make_response(ResponseCode.TOPIC_NOT_EXIST, remark)

    server.processors.register(RequestCode.GET_ROUTEINFO_BY_TOPIC, route)
    # remoting.md §3, written by hand: GET_ROUTEINFO_BY_TOPIC, opaque 7, remark "rk", topic "T"
    rocketmq_request = bytes.fromhex(
        "00000027010000230069000191000000070000000000000002726b0000000c0005746f7069630000000154"
    )
    json_header = b'{"code":105,"extFields":{"topic":"T"},"flag":0,"language":"JAVA","opaque":8}'
    json_request = struct.pack(">II", 4 + len(json_header), len(json_header)) + json_header
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(rocketmq_request)
        raw = await reader.readexactly(8)
        total, word = struct.unpack(">II", raw)
        assert word >> 24 == SerializeType.ROCKETMQ
        rest = await reader.readexactly(total - 4)
        (answer,) = FrameDecoder().feed(raw + rest)
        assert (answer.code, answer.opaque, answer.flag) == (17, 7, 1)
        assert answer.remark == "No topic route info in name server for the topic: T"

        writer.write(json_request)
        raw = await reader.readexactly(8)
        total, word = struct.unpack(">II", raw)
        assert word >> 24 == SerializeType.JSON
        rest = await reader.readexactly(total - 4)
        assert rest.startswith(b"{")
        (answer,) = FrameDecoder().feed(raw + rest)
        assert (answer.code, answer.opaque) == (17, 8)
    finally:
        writer.close()
        await writer.wait_closed()


# ---------------------------------------------------------------------------------------------
# many requests of one read


MANY_A = 1101
MANY_B = 1102


async def test_requests_of_one_read_go_to_the_many_processor_in_runs(
    server: RemotingServer,
) -> None:
    runs: list[list[int]] = []
    singles: list[int] = []

    def one(_conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        singles.append(cmd.opaque)
        return cmd.make_response(remark="one")

    def many(_conn: Connection, cmds: list[RemotingCommand]) -> list[RemotingCommand | None]:
        runs.append([c.opaque for c in cmds])
        # the second of a run is answered later (None), the rest now
        return [None if i == 1 else c.make_response(remark="many") for i, c in enumerate(cmds)]

    def fail_many(_conn: Connection, cmds: list[RemotingCommand]) -> list[RemotingCommand]:
        raise ValueError("every request of the run gets SYSTEM_ERROR")

    server.processors.register(MANY_A, one, many)
    server.processors.register(RECORD, one)
    server.processors.register(MANY_B, one, fail_many)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        codes = [MANY_A, MANY_A, MANY_A, RECORD, MANY_A, MANY_B, MANY_B, MANY_A]
        frames = [RemotingCommand(code=c, opaque=i + 1) for i, c in enumerate(codes)]
        writer.write(b"".join(encode(f) for f in frames))  # one write, read as one
        answers = {c.opaque: c for c in await read_commands(reader, 7)}
    finally:
        writer.close()
        await writer.wait_closed()
    # a run of one goes to the many-processor too; codes without one to their processor
    assert runs == [[1, 2, 3], [5], [8]]
    assert singles == [4]
    assert sorted(answers) == [1, 3, 4, 5, 6, 7, 8]  # 2: its processor answers later
    assert answers[1].remark == "many" and answers[3].remark == "many"
    assert answers[4].remark == "one" and answers[5].remark == "many"
    assert answers[6].code == ResponseCode.SYSTEM_ERROR
    assert answers[7].code == ResponseCode.SYSTEM_ERROR


async def test_big_requests_and_big_answers_both_ways_do_not_stall(
    server: RemotingServer, client: RemotingClient
) -> None:
    # 17 MB of requests one way while as much comes back: the client keeps reading while
    # its own writes back up (were both ends to stop reading, neither would move again).
    sizes = [0, 1, 1000, 70_000, 2 << 20] * 8
    requests = [
        RemotingCommand.request(ECHO, {"n": str(i)}, os.urandom(size) if size else None)
        for i, size in enumerate(sizes)
    ]
    answers = await asyncio.wait_for(
        asyncio.gather(*(client.invoke(addr_of(server), r, 30.0) for r in requests)), 60.0
    )
    for request, answer in zip(requests, answers, strict=True):
        assert answer.ext_fields == request.ext_fields
        assert (answer.body or None) == request.body
