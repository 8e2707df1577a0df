"""The slave's side of replication (RocketMQ 4.9 ``HAService.HAClient``).

Connects to the master's HA port, reports its CommitLog max offset at once, after every
read that grew it and at least every ``haSendHeartbeatInterval``, and writes each chunk it
receives at the offset the chunk names (``appendToCommitLog``, which also builds the
ConsumeQueue and index entries). A chunk for any other offset than the local end (unless
the local log is empty), a garbled header, EOF or ``haHousekeepingInterval`` without a byte
from the master close the link; it is retried every ``haConnectRetryInterval``. A slave
never truncates its log: after a restart it resumes from whatever its recovery kept.

The link's states are driven by :data:`~rocketq.store.ha.state.SLAVE_TRANSITIONS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from rocketq.store.config import StoreConfig
from rocketq.store.ha.codec import (
    MAX_BODY_SIZE,
    HAProtocolError,
    TransferChunk,
    TransferDecoder,
    encode_report,
)
from rocketq.store.ha.connection import read_or_close, run_both
from rocketq.store.ha.flow import FlowMeter
from rocketq.store.ha.state import HALink, HALinkEvent, HALinkState

__all__ = ["CommitLogSink", "HAClient", "HAClientStats", "valid_master_address"]

log = logging.getLogger("rocketq.store.ha")

# Java's slave reads into a 4 MiB buffer; take as much per read (a few chunks per wake-up).
_READ_SIZE = 4 * 1024 * 1024
# How long a connect may take before it counts as failed (remoting's connectTimeoutMillis).
_CONNECT_TIMEOUT = 3.0
# RocketMQ takes haMasterAddress only when it is at least this long ("a:1" is not an address).
_MIN_ADDRESS_LENGTH = 6


class CommitLogSink(Protocol):
    """What a slave's HA link writes to."""

    def max_phy_offset(self) -> int:
        """CommitLog end (including a record cut at the end of the last chunk)."""
        ...

    def append_to_commit_log(self, offset: int, data: bytes | memoryview) -> bool:
        """Store master bytes at ``offset``; False when ``offset`` is not the local end."""
        ...


@dataclass(frozen=True, slots=True)
class HAClientStats:
    """The slave's replication picture (for brokerStatus / haStatus)."""

    master_address: str
    state: str
    reported_offset: int  # last offset reported to the master
    max_offset: int  # local CommitLog end
    connects: int  # links set up so far
    transferred_bytes_per_second: int = 0  # CommitLog bytes applied in the last second
    last_read_timestamp: int = 0  # wall-clock ms of the last read from the master (0: never)
    last_write_timestamp: int = 0  # wall-clock ms of the last report to the master (0: never)


def valid_master_address(addr: str | None) -> bool:
    """``host:port`` as RocketMQ accepts it for haMasterAddress."""
    if not addr or len(addr) < _MIN_ADDRESS_LENGTH or ":" not in addr:
        return False
    return addr.rsplit(":", 1)[1].isdigit()


class HAClient:
    """Follows one master; ``start`` / ``aclose``; the address may change at any time."""

    def __init__(self, sink: CommitLogSink, config: StoreConfig) -> None:
        self._sink = sink
        self._config = config
        self.link = HALink.slave()
        self.master_address = ""
        self.reported_offset = 0
        self.connects = 0
        self._address_known = asyncio.Event()
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._last_write = 0.0
        self._last_read_ms = self._last_write_ms = 0
        self.flow = FlowMeter()  # CommitLog bytes applied, for haStatus
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._steps: dict[HALinkState, Callable[[], Awaitable[HALinkEvent]]] = {
            HALinkState.READY: self._await_address,
            HALinkState.HANDSHAKE: self._connect,
            HALinkState.TRANSFER: self._transfer,
            HALinkState.SUSPEND: self._suspend,
        }
        if valid_master_address(config.ha_master_address):
            self.update_master_address(config.ha_master_address)

    def update_master_address(self, addr: str) -> None:
        """Follow the master at ``addr`` (``host:port``) from the next connect on."""
        if not valid_master_address(addr):
            log.warning("ignoring HA master address %r: not host:port", addr)
            return
        if addr != self.master_address:
            log.info("HA master address %r -> %r", self.master_address, addr)
            self.master_address = addr
        self._address_known.set()

    def pause(self) -> None:
        """Stop reading from the master and reporting (operations, tests); the link stays."""
        self._resumed.clear()

    def resume(self) -> None:
        """Undo :meth:`pause`."""
        self._resumed.set()

    def start(self) -> None:
        """Start following the master (as soon as its address is known)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ha-client")

    async def aclose(self) -> None:
        """Close the link and stop."""
        if self._task is None:
            return
        self._closing = True
        self._task.cancel()
        await asyncio.wait([self._task])
        self._task = None
        self.link.handle(HALinkEvent.CLOSE)

    def stats(self) -> HAClientStats:
        """A snapshot of the link."""
        return HAClientStats(
            self.master_address,
            self.link.state.value,
            self.reported_offset,
            self._sink.max_phy_offset(),
            self.connects,
            self.flow.per_second(),
            self._last_read_ms,
            self._last_write_ms,
        )

    async def _run(self) -> None:
        while not self._closing:  # a cancellation is the normal way out; this is the backstop
            step = self._steps[self.link.state]
            try:
                event = await step()
            except Exception:  # a bug: keep replicating, but say so loudly
                log.exception("HA client step %s failed", self.link.state.value)
                await self._close_streams()
                event = HALinkEvent.FAILED
            self.link.handle(event)

    async def _await_address(self) -> HALinkEvent:
        await self._address_known.wait()
        return HALinkEvent.MASTER_ADDRESS

    async def _suspend(self) -> HALinkEvent:
        await asyncio.sleep(self._config.ha_connect_retry_interval / 1000)
        return HALinkEvent.RETRY

    async def _connect(self) -> HALinkEvent:
        host, _, port = self.master_address.rpartition(":")
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                self._streams = await asyncio.open_connection(host, int(port), limit=_READ_SIZE)
        except (OSError, TimeoutError) as exc:
            log.warning("HA connect to master %s failed: %s", self.master_address, exc)
            return HALinkEvent.FAILED
        self.connects += 1
        log.info("HA connected to master %s", self.master_address)
        return HALinkEvent.CONNECTED

    async def _transfer(self) -> HALinkEvent:
        assert self._streams is not None
        reader, writer = self._streams
        try:
            # connectMaster: currentReportedOffset := local max; it goes out at once
            self._report(writer, self._sink.max_phy_offset())
            await run_both(self._read_loop(reader, writer), self._heartbeat_loop(writer))
        except (OSError, HAProtocolError) as exc:
            log.warning("HA link to %s lost: %s", self.master_address, exc)
        finally:
            await self._close_streams()
        return HALinkEvent.FAILED

    async def _close_streams(self) -> None:
        if self._streams is None:
            return
        writer = self._streams[1]
        self._streams = None
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    def _report(self, writer: asyncio.StreamWriter, offset: int) -> None:
        # 8 bytes: never drained (the read side notices a dead master).
        writer.write(encode_report(offset))
        self.reported_offset = offset
        self._last_write = time.monotonic()
        self._last_write_ms = int(time.time() * 1000)

    async def _heartbeat_loop(self, writer: asyncio.StreamWriter) -> None:
        interval = self._config.ha_send_heartbeat_interval / 1000
        while True:
            await asyncio.sleep(max(0.0, self._last_write + interval - time.monotonic()))
            await self._resumed.wait()
            if time.monotonic() - self._last_write >= interval:
                self._report(writer, self._sink.max_phy_offset())

    async def _read_loop(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = TransferDecoder(MAX_BODY_SIZE)
        silence = self._config.ha_housekeeping_interval / 1000
        while True:
            data = await read_or_close(reader, silence, "master", _READ_SIZE)
            self._last_read_ms = int(time.time() * 1000)
            await self._resumed.wait()  # paused: what came in is neither applied nor acked
            for chunk in decoder.feed(data):
                self._apply(chunk)
            end = self._sink.max_phy_offset()
            if end > self.reported_offset:  # reportSlaveMaxOffsetPlus
                self._report(writer, end)

    def _apply(self, chunk: TransferChunk) -> None:
        local = self._sink.max_phy_offset()
        if local and local != chunk.offset:
            raise HAProtocolError(f"master sent offset {chunk.offset}, the slave is at {local}")
        if chunk.body and not self._sink.append_to_commit_log(chunk.offset, chunk.body):
            raise HAProtocolError(f"slave cannot store master bytes at {chunk.offset}")
        self.flow.add(len(chunk.body))
