"""The asyncio remoting client: one reused connection per address, shared by all callers."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from rocketq.common.errors import ClientError, RemotingConnectError, RemotingError
from rocketq.common.tasks import TaskOwner
from rocketq.remoting.codec import DEFAULT_MAX_FRAME_LENGTH
from rocketq.remoting.codes import SerializeType
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection, ProcessorTable

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "SERIALIZE_TYPE_ENV",
    "InvokeCallback",
    "RemotingClient",
    "serialize_type_from_env",
    "split_addr",
]

log = logging.getLogger("rocketq.remoting")

# NettyClientConfig.connectTimeoutMillis default: 3 s.
DEFAULT_CONNECT_TIMEOUT = 3.0
# The usual RPC timeout of RocketMQ's clients (3 s for sends and admin calls).
DEFAULT_TIMEOUT = 3.0

# RemotingCommand.SERIALIZE_TYPE_ENV: how a Java client writes the header of every request it
# sends, JSON unless this says ROCKETMQ (the binary header). RocketMQ's benchmark tools set
# ROCKETMQ (through the rocketmq.serialize.type property, which Python has no counterpart of).
SERIALIZE_TYPE_ENV = "ROCKETMQ_SERIALIZE_TYPE"
_JSON = SerializeType.JSON


def serialize_type_from_env() -> SerializeType:
    """The request serialization ``ROCKETMQ_SERIALIZE_TYPE`` names (JSON when unset or
    blank); another name is an error, as Java's ``RemotingCommand`` refuses to start."""
    name = os.environ.get(SERIALIZE_TYPE_ENV, "").strip()
    if not name:
        return SerializeType.JSON
    try:
        return SerializeType[name]
    except KeyError:
        raise ClientError(
            f"parser specified protocol error. protocol={name} ({SERIALIZE_TYPE_ENV}: "
            f"JSON or ROCKETMQ)"
        ) from None


InvokeCallback = Callable[[RemotingCommand | None, BaseException | None], Awaitable[None] | None]


def split_addr(addr: str) -> tuple[str, int]:
    """``"host:port"`` or ``"[v6]:port"`` -> (host, port)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise RemotingConnectError(f"bad address {addr!r}: expected host:port")
    return host.strip("[]"), int(port)


class RemotingClient:
    """Sends requests to any address; answers server-initiated requests with ``processors``."""

    def __init__(
        self,
        processors: ProcessorTable | None = None,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
        serialize_type: SerializeType | None = None,
    ) -> None:
        self.processors = processors or ProcessorTable()
        # The header serialization of the requests sent through here (their responses come
        # back in it from rocketq, in the broker's own from Java); default: the environment.
        self.serialize_type = (
            serialize_type_from_env() if serialize_type is None else serialize_type
        )
        self._connect_timeout = connect_timeout
        self._max_frame_length = max_frame_length
        self._connections: dict[str, Connection] = {}
        self._connecting: dict[str, asyncio.Future[Connection]] = {}
        # The invoke_async callbacks; closed (no new connections or requests) by aclose.
        self._tasks = TaskOwner(log)

    async def connection(self, addr: str) -> Connection:
        """The open connection to ``addr``, connecting once if needed."""
        conn = self._connections.get(addr)
        if conn is not None and conn.is_open:
            return conn
        if self._tasks.closed:
            raise RemotingConnectError("the remoting client is closed")
        pending = self._connecting.get(addr)
        if pending is None:
            pending = asyncio.ensure_future(self._connect(addr))
            self._connecting[addr] = pending
            pending.add_done_callback(lambda _f: self._connecting.pop(addr, None))
        return await asyncio.shield(pending)

    async def _connect(self, addr: str) -> Connection:
        host, port = split_addr(addr)
        loop = asyncio.get_running_loop()

        def factory() -> Connection:
            return Connection(
                self.processors,
                max_frame_length=self._max_frame_length,
                on_close=lambda c: self._forget(addr, c),
            )

        try:
            _transport, conn = await asyncio.wait_for(
                loop.create_connection(factory, host, port), self._connect_timeout
            )
        except (OSError, TimeoutError) as exc:
            raise RemotingConnectError(f"connect to {addr} failed: {exc or 'timeout'}") from exc
        self._connections[addr] = conn
        return conn

    def _forget(self, addr: str, conn: Connection) -> None:
        if self._connections.get(addr) is conn:
            del self._connections[addr]

    def invoke(
        self, addr: str, cmd: RemotingCommand, timeout: float = DEFAULT_TIMEOUT
    ) -> Coroutine[Any, Any, RemotingCommand]:
        """Request/response (await it): the response, or RemotingTimeoutError/ConnectError/
        SendRequestError.

        Not a coroutine function itself: with the connection open it hands back the
        connection's own ``invoke`` coroutine, one coroutine less per request (every send
        and pull awaits through here); callers await it at once, as they would a coroutine.
        """
        if self.serialize_type is not _JSON:
            cmd.serialize_type = self.serialize_type
        conn = self._connections.get(addr)
        # is_open without the property call: a connection kept here has its transport (it
        # is kept once connected), so it is open until it has a close reason.
        if conn is not None and conn.close_reason is None:
            return conn.invoke(cmd, timeout)
        return self._connect_and_invoke(addr, cmd, timeout)

    def request_now(
        self, addr: str, cmd: RemotingCommand, timeout: float
    ) -> asyncio.Future[RemotingCommand] | None:
        """Write ``cmd`` now on the open connection to ``addr`` and return its response's
        future (the response, or RemotingTimeoutError after ``timeout``, or
        SendRequestError when the connection closes); None when there is no open
        connection yet: await :meth:`invoke` then.

        A synchronous send's fast path (every send of a producer awaits it): no coroutine
        of its own and no in-flight limit, as Java's ``invokeSync`` has none (its
        semaphores bound async and one-way requests only). A caller cancelled while it
        waits cancels the future; the connection drops its entry when the response comes
        or the deadline passes.
        """
        conn = self._connections.get(addr)
        if conn is not None and conn.close_reason is None:  # see invoke
            if self.serialize_type is not _JSON:
                cmd.serialize_type = self.serialize_type
            return conn.send_request(cmd, timeout)
        return None

    async def _connect_and_invoke(
        self, addr: str, cmd: RemotingCommand, timeout: float
    ) -> RemotingCommand:
        conn = await self.connection(addr)
        return await conn.invoke(cmd, timeout)

    async def invoke_oneway(self, addr: str, cmd: RemotingCommand) -> None:
        """Send a request that wants no answer."""
        conn = await self.connection(addr)
        if self.serialize_type is not _JSON:
            cmd.serialize_type = self.serialize_type
        conn.send_oneway(cmd)

    async def invoke_async(
        self,
        addr: str,
        cmd: RemotingCommand,
        timeout: float,
        callback: InvokeCallback,
    ) -> None:
        """Send now and return; ``callback(response, error)`` runs when the answer comes
        (or the failure: a timeout, the connection closing); :meth:`aclose` waits for it."""
        conn = await self.connection(addr)
        if self.serialize_type is not _JSON:
            cmd.serialize_type = self.serialize_type
        future = conn.send_request(cmd, timeout)
        self._tasks.spawn(self._answer(future, callback), f"invoke-async-{cmd.code}-{addr}")

    @staticmethod
    async def _answer(future: asyncio.Future[RemotingCommand], callback: InvokeCallback) -> None:
        response: RemotingCommand | None = None
        error: BaseException | None = None
        try:
            response = await future
        except Exception as exc:
            error = exc
        try:
            result = callback(response, error)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("invoke callback failed")

    def close_connection(self, addr: str, reason: str = "closed by client") -> None:
        """Drop the connection to ``addr`` (e.g. after a failure)."""
        conn = self._connections.pop(addr, None)
        if conn is not None:
            conn.close(reason)

    async def aclose(self) -> None:
        """Close every connection and wait for pending callbacks."""
        self._tasks.close()  # no new connections or requests from here on
        conns = list(self._connections.values())
        self._connections.clear()
        for conn in conns:
            conn.close("client closed")
        for conn in conns:
            with contextlib.suppress(TimeoutError, RemotingError):
                await asyncio.wait_for(conn.wait_closed(), 1.0)
        await self._tasks.aclose(grace=None)  # each callback gets its answer or its error
