"""The master's side of one slave link (RocketMQ 4.9 ``HAConnection``).

Two loops per slave, run together so that either one failing ends both:

* read: the slave's 8-byte offset reports. The first says where to start streaming; every
  one is the slave's acknowledgement (``slaveAckOffset``) and may release SYNC_MASTER puts.
  A slave silent for ``haHousekeepingInterval`` is dropped, as is one that claims more than
  the master has (in its first report too, unlike 4.9.4).
* write: CommitLog bytes from ``nextTransferFromWhere``, a 12-byte header in front of at
  most ``haTransferBatchSize`` bytes of one file; a heartbeat header when nothing was sent
  for ``haSendHeartbeatInterval``. Woken by the store's append path, never by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from rocketq.store.config import StoreConfig
from rocketq.store.ha.codec import HAProtocolError, ReportDecoder, encode_header
from rocketq.store.ha.flow import FlowMeter
from rocketq.store.ha.state import HALink, HALinkEvent, HALinkState

__all__ = ["CommitLogSource", "HAConnection", "HALinkClosedError", "run_both"]

log = logging.getLogger("rocketq.store.ha")

# Reports are 8 bytes; a read this large takes everything a slave can have queued.
_READ_SIZE = 64 * 1024


class CommitLogSource(Protocol):
    """What a master's HA link reads from the store."""

    def max_phy_offset(self) -> int:
        """CommitLog end."""
        ...

    def get_commit_log_data(self, offset: int, max_size: int) -> bytes | None:
        """Up to ``max_size`` readable bytes from ``offset``, within its file; None if none."""
        ...


class HALinkClosedError(ConnectionError):
    """The peer closed the link or went silent past the housekeeping interval."""


async def read_or_close(
    reader: asyncio.StreamReader, silence: float, peer: str, size: int = _READ_SIZE
) -> bytes:
    """One read of an HA link: what came, or :class:`HALinkClosedError` when the ``peer``
    ("master"/"slave") hung up or sent nothing for ``silence`` seconds
    (``haHousekeepingInterval``: heartbeats keep a live link talking)."""
    try:
        async with asyncio.timeout(silence):
            data = await reader.read(size)
    except TimeoutError:
        raise HALinkClosedError(f"nothing from the {peer} for {silence:g} s") from None
    if not data:
        raise HALinkClosedError(f"{peer} closed the connection")
    return data


async def run_both(first: Coroutine[Any, Any, None], second: Coroutine[Any, Any, None]) -> None:
    """Run two never-ending loops of one link; when either fails, stop the other and raise
    its error. (Not a TaskGroup: on Python 3.11 a TaskGroup that is already aborting
    because a child failed swallows a cancellation of its parent, so ``aclose`` could
    hang; 3.12 re-raises it.)"""
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(first), loop.create_task(second)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
    for task in done:
        error = task.exception()
        if error is not None:
            raise error
    raise HALinkClosedError("a link loop ended")


class HAConnection:
    """Streams the CommitLog to one slave and tracks what it acknowledged."""

    def __init__(
        self,
        source: CommitLogSource,
        config: StoreConfig,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_ack: Callable[[int], None],
    ) -> None:
        self._source = source
        self._config = config
        self._reader = reader
        self._writer = writer
        self._on_ack = on_ack
        peer = writer.get_extra_info("peername")
        self.address = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.link = HALink.master()
        self.slave_request_offset = -1  # first report: where the slave wants data from
        self.slave_ack_offset = -1  # latest report
        self.flow = FlowMeter()  # CommitLog bytes sent, for haStatus
        self.next_transfer_from_where = -1
        self._reported = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wakeup(self) -> None:
        """New CommitLog bytes were appended (called from the store's put path)."""
        self._wakeup.set()

    async def run(self) -> None:
        """Serve the slave until the link fails or :meth:`close` is called."""
        self._task = asyncio.get_running_loop().create_task(
            self._serve(), name=f"ha-connection-{self.address}"
        )
        await asyncio.wait([self._task])
        if not self._task.cancelled() and self._task.exception() is not None:
            log.error("HA connection %s failed", self.address, exc_info=self._task.exception())

    def close(self) -> None:
        """Stop serving; :meth:`run` returns once the loops have ended."""
        self.link.handle(HALinkEvent.CLOSE)
        if self._task is not None:
            self._task.cancel()
        else:
            self._writer.close()

    async def _serve(self) -> None:
        log.info("HA slave %s connected", self.address)
        try:
            await run_both(self._read_loop(), self._write_loop())
        except HALinkClosedError as exc:
            log.info("HA slave %s gone: %s", self.address, exc)
        except (OSError, HAProtocolError) as exc:
            log.warning("HA slave %s dropped: %s", self.address, exc)
        finally:
            self.link.handle(HALinkEvent.FAILED)
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            log.info("HA slave %s closed", self.address)

    async def _read_loop(self) -> None:
        decoder = ReportDecoder()
        silence = self._config.ha_housekeeping_interval / 1000
        while True:
            data = await read_or_close(self._reader, silence, "slave")
            offset = decoder.feed(data)
            if offset is not None:
                self._on_report(offset)

    def _on_report(self, offset: int) -> None:
        # A report beyond the master's end is never an ack, not even the first one: such a
        # slave holds other bytes at those offsets (the master lost its tail in an OS crash).
        # 4.9.4 takes it and so releases SYNC_MASTER puts the slave never got; drop the link.
        end = self._source.max_phy_offset()
        if offset > end:
            raise HAProtocolError(f"slave reported {offset}, beyond the master's end {end}")
        if self.link.state is HALinkState.HANDSHAKE:
            self.slave_request_offset = offset
            log.info("HA slave %s requests offset %d", self.address, offset)
        self.slave_ack_offset = offset
        self.link.handle(HALinkEvent.REPORT)
        self._reported.set()
        self._on_ack(offset)

    def _start_offset(self) -> int:
        """Where streaming starts: an empty slave gets the master's last file only."""
        if self.slave_request_offset != 0:
            return self.slave_request_offset
        end = self._source.max_phy_offset()
        return max(0, end - end % self._config.mapped_file_size_commit_log)

    async def _write_loop(self) -> None:
        await self._reported.wait()
        self.next_transfer_from_where = self._start_offset()
        log.info("HA slave %s: transfer from %d", self.address, self.next_transfer_from_where)
        batch = self._config.ha_transfer_batch_size
        heartbeat = self._config.ha_send_heartbeat_interval / 1000
        last_write = time.monotonic()
        while True:
            self._wakeup.clear()
            where = self.next_transfer_from_where
            data = self._source.get_commit_log_data(where, batch)
            if data:
                self._writer.writelines((encode_header(where, len(data)), data))
                self.next_transfer_from_where = where + len(data)
                self.flow.add(len(data))
            else:
                idle = time.monotonic() - last_write
                if idle < heartbeat:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(heartbeat - idle):
                            await self._wakeup.wait()
                    continue
                self._writer.write(encode_header(where, 0))
            last_write = time.monotonic()
            await self._writer.drain()
