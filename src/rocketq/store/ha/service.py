"""The master's HA service (RocketMQ 4.9 ``HAService``: AcceptSocketService,
GroupTransferService and the connection list).

Any TCP connection to ``haListenPort`` is a slave: there is no handshake and no
authentication, exactly as in RocketMQ, so a Java slave can follow a rocketq master. The
service owns its connections (closed and awaited by :meth:`HAService.aclose`), wakes them
on every append and holds the SYNC_MASTER waits.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from rocketq.store.config import StoreConfig
from rocketq.store.ha.connection import CommitLogSource, HAConnection
from rocketq.store.ha.group_transfer import GroupTransferService
from rocketq.store.result import PutMessageStatus

__all__ = ["HAService", "HAServiceStats", "HASlaveStats"]

log = logging.getLogger("rocketq.store.ha")


@dataclass(frozen=True, slots=True)
class HASlaveStats:
    """One connected slave, as the master sees it."""

    address: str
    state: str
    ack_offset: int  # last offset the slave reported (-1 before its first report)
    transfer_offset: int  # next byte the master will send it (-1 before streaming starts)
    fall_behind: int  # master's CommitLog end minus ack_offset
    transferred_bytes_per_second: int = 0  # CommitLog bytes sent in the last second


@dataclass(frozen=True, slots=True)
class HAServiceStats:
    """The master's replication picture (for brokerStatus / haStatus)."""

    listen_address: str
    connection_count: int
    master_put_where: int
    push2slave_max_offset: int
    slaves: tuple[HASlaveStats, ...]


class HAService:
    """Listens for slaves, streams the CommitLog to each, tracks their acks."""

    def __init__(
        self, source: CommitLogSource, config: StoreConfig, host: str = "0.0.0.0", port: int = 0
    ) -> None:
        self._source = source
        self._config = config
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._connections: list[HAConnection] = []
        self._served: set[asyncio.Event] = set()
        self.group_transfer = GroupTransferService()

    @property
    def port(self) -> int:
        """The bound port (useful when started with port 0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connection_count(self) -> int:
        """Slaves connected now."""
        return len(self._connections)

    @property
    def push2slave_max_offset(self) -> int:
        """The highest offset any slave has acknowledged."""
        return self.group_transfer.push2slave_max_offset

    async def start(self) -> None:
        """Start listening (``AcceptSocketService#beginAccept``)."""
        self._server = await asyncio.start_server(
            self._accept, self._host, self._port, reuse_address=True
        )
        log.info("HA service listening on %s:%d", self._host, self.port)

    async def aclose(self) -> None:
        """Stop listening, close every slave link and release waiting puts."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.close()
        while self._served:  # every _accept has finished its connection
            await next(iter(self._served)).wait()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self.group_transfer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        done = asyncio.Event()
        self._served.add(done)
        conn = HAConnection(self._source, self._config, reader, writer, self.notify_ack)
        self._connections.append(conn)
        try:
            await conn.run()
        finally:
            self._connections.remove(conn)
            self._served.discard(done)
            done.set()

    def notify_append(self) -> None:
        """New CommitLog bytes: wake every slave link's writer."""
        for conn in self._connections:
            conn.wakeup()

    def notify_ack(self, offset: int) -> None:
        """A slave acknowledged ``offset`` (``notifyTransferSome``)."""
        self.group_transfer.notify_ack(offset)

    def is_slave_ok(self, master_put_where: int) -> bool:
        """``isSlaveOK``: a slave is connected and not too far behind."""
        gap = master_put_where - self.push2slave_max_offset
        return bool(self._connections) and gap < self._config.slave_fallbehind_max()

    def submit_replica_request(self, end_offset: int) -> PutMessageStatus | asyncio.Future[bool]:
        """SLAVE_NOT_AVAILABLE at once, or a future that says whether a slave acked
        ``end_offset`` within ``slaveTimeout`` (CommitLog#submitReplicaRequest, 4.9.4)."""
        if not self.is_slave_ok(end_offset):
            return PutMessageStatus.SLAVE_NOT_AVAILABLE
        return self.group_transfer.wait(end_offset, self._config.slave_timeout / 1000)

    def stats(self) -> HAServiceStats:
        """A snapshot of the slaves and their positions."""
        end = self._source.max_phy_offset()
        slaves = tuple(
            HASlaveStats(
                c.address,
                c.link.state.value,
                c.slave_ack_offset,
                c.next_transfer_from_where,
                end - max(c.slave_ack_offset, 0),
                c.flow.per_second(),
            )
            for c in self._connections
        )
        return HAServiceStats(
            f"{self._host}:{self.port}",
            len(self._connections),
            end,
            self.push2slave_max_offset,
            slaves,
        )
