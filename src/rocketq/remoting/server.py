"""The asyncio remoting server: accepts connections and serves them with a ProcessorTable."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from rocketq.remoting.codec import DEFAULT_MAX_FRAME_LENGTH
from rocketq.remoting.connection import Connection, ProcessorTable

__all__ = ["RemotingServer"]

log = logging.getLogger("rocketq.remoting")


class RemotingServer:
    """Listens on ``host:port`` (port 0 picks a free one) and dispatches requests by code."""

    def __init__(
        self,
        processors: ProcessorTable,
        host: str = "0.0.0.0",
        port: int = 0,
        *,
        max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
        on_connection_closed: Callable[[Connection], None] | None = None,
    ) -> None:
        self.processors = processors
        self.host = host
        self._port = port
        self._max_frame_length = max_frame_length
        self._on_connection_closed = on_connection_closed
        self._server: asyncio.Server | None = None
        self.connections: set[Connection] = set()

    @property
    def port(self) -> int:
        """The bound port (after ``start``)."""
        return self._port

    def _make_connection(self) -> Connection:
        conn = Connection(
            self.processors,
            max_frame_length=self._max_frame_length,
            on_close=self._closed,
            server_side=True,
        )
        self.connections.add(conn)
        return conn

    def _closed(self, conn: Connection) -> None:
        self.connections.discard(conn)
        if self._on_connection_closed is not None:
            self._on_connection_closed(conn)

    async def start(self) -> None:
        """Bind and start accepting."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._make_connection, self.host, self._port, reuse_address=True, backlog=1024
        )
        sock = self._server.sockets[0]
        self._port = int(sock.getsockname()[1])
        log.info("remoting server listening on %s:%d", self.host, self._port)

    async def aclose(self) -> None:
        """Stop accepting, close every connection and wait for them."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.close("server shutting down")
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
