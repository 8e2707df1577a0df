"""The slave's side of controller-mode replication (RocketMQ 5 ``AutoSwitchHAClient``).

On each connect: send the handshake (controller broker id, flags), read the master's epoch
list, find the last offset both logs agree on (:func:`find_consistent_point`), truncate
the CommitLog, ConsumeQueues and epoch file after it, report the local end and apply the
chunks that follow. A chunk of a new epoch adds that epoch to the epoch file first. The
connect/retry cycle, heartbeats and housekeeping are the classic :class:`HAClient`'s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from rocketq.store.config import StoreConfig
from rocketq.store.ha.autoswitch_codec import (
    MasterDecoder,
    MasterHandshake,
    TransferData,
    encode_slave_handshake,
    encode_slave_report,
)
from rocketq.store.ha.client import CommitLogSink, HAClient
from rocketq.store.ha.codec import HAProtocolError
from rocketq.store.ha.connection import read_or_close, run_both
from rocketq.store.ha.epoch import EpochFileCache, find_consistent_point
from rocketq.store.ha.state import HALinkEvent

__all__ = ["AutoSwitchHAClient", "TruncatableSink"]

log = logging.getLogger("rocketq.store.ha")

_READ_SIZE = 4 * 1024 * 1024


class TruncatableSink(CommitLogSink, Protocol):
    """A slave's store: appends master bytes and truncates to a consistent point."""

    def truncate_files(self, offset: int) -> None:
        """Drop everything from ``offset`` on."""
        ...

    def dispatch_to(self, limit: int | None) -> None:
        """Dispatch (make visible) whole records up to ``limit`` only."""
        ...


class AutoSwitchHAClient(HAClient):
    """Follows one master of a controller-mode group as broker ``broker_id``."""

    def __init__(
        self, sink: TruncatableSink, config: StoreConfig, epochs: EpochFileCache, broker_id: int
    ) -> None:
        super().__init__(sink, config)
        self._store = sink
        self._epochs = epochs
        self.broker_id = broker_id
        self.confirm_offset = -1  # min(master's confirm offset, local end)
        self._master_confirm = -1  # the confirm offset of the last header
        self.truncated_to = -1  # the last consistent point truncated to (stats, tests)
        self._received_epoch = -1

    def _report(self, writer: asyncio.StreamWriter, offset: int) -> None:
        writer.write(encode_slave_report(offset))
        self.reported_offset = offset
        self._last_write = time.monotonic()
        self._last_write_ms = int(time.time() * 1000)

    async def _transfer(self) -> HALinkEvent:
        assert self._streams is not None
        reader, writer = self._streams
        decoder = MasterDecoder()
        try:
            c = self._config
            writer.write(
                encode_slave_handshake(self.broker_id, c.sync_from_last_file, c.async_learner)
            )
            handshake = await self._read_handshake(reader, decoder)
            self._truncate(handshake)
            self._received_epoch = -1
            self._report(writer, self._sink.max_phy_offset())
            await run_both(self._read_chunks(reader, writer, decoder), self._heartbeat_loop(writer))
        except (OSError, HAProtocolError) as exc:
            log.warning("HA link to %s lost: %s", self.master_address, exc)
        finally:
            await self._close_streams()
        return HALinkEvent.FAILED

    async def _read(self, reader: asyncio.StreamReader) -> bytes:
        silence = self._config.ha_housekeeping_interval / 1000
        data = await read_or_close(reader, silence, "master", _READ_SIZE)
        self._last_read_ms = int(time.time() * 1000)
        return data

    async def _read_handshake(
        self, reader: asyncio.StreamReader, decoder: MasterDecoder
    ) -> MasterHandshake:
        while True:
            for msg in decoder.feed(await self._read(reader)):
                if not isinstance(msg, MasterHandshake):
                    raise HAProtocolError("the master sent data before its handshake")
                return msg

    def _truncate(self, handshake: MasterHandshake) -> None:
        """``doTruncate``: a slave without epochs is new and keeps what it has. So is a
        slave whose CommitLog is empty: it holds no byte that could disagree, whatever its
        epoch file says (Java looks for a consistent point there too and finds none when
        the master's epochs are all newer - an empty old master then never rejoins)."""
        local = self._epochs.entries()
        end = self._sink.max_phy_offset()
        if not local or end == 0:
            if local:
                log.info("slave log is empty: its epochs %s are dropped", local)
                self._epochs.truncate_suffix_by_offset(0)
            log.info("slave is new: no truncation (master at %d)", handshake.max_offset)
            return
        point = find_consistent_point(local, end, list(handshake.entries), handshake.max_offset)
        if point < 0:
            raise HAProtocolError(
                f"no consistent point between local epochs {local} and the master's "
                f"{list(handshake.entries)}"
            )
        if point < end:
            log.warning("truncating the CommitLog from %d to %d (master's epochs)", end, point)
            self._store.truncate_files(point)
        self._epochs.truncate_suffix_by_offset(point)
        self.truncated_to = point

    async def _read_chunks(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, decoder: MasterDecoder
    ) -> None:
        while True:
            data = await self._read(reader)
            await self._resumed.wait()
            for msg in decoder.feed(data):
                if isinstance(msg, MasterHandshake):
                    raise HAProtocolError("a second handshake from the master")
                self._apply_data(msg)
            end = self._sink.max_phy_offset()
            if end > self.reported_offset:
                self._report(writer, end)

    def _apply_data(self, msg: TransferData) -> None:
        if msg.epoch != self._received_epoch:
            self._received_epoch = msg.epoch
            if msg.epoch > self._epochs.last_epoch():
                self._epochs.append(msg.epoch, msg.epoch_start_offset)
        if msg.confirm_offset != self._master_confirm:
            self._master_confirm = msg.confirm_offset
            # Consumers of a slave see only what every in-sync replica has (the confirm
            # offset, ha.md 11.5): what a failover may still drop stays hidden. Set before
            # the body goes in: it holds for this chunk already.
            self._store.dispatch_to(msg.confirm_offset)
        if msg.body:
            local = self._sink.max_phy_offset()
            if local and local != msg.offset:
                raise HAProtocolError(f"master sent offset {msg.offset}, the slave is at {local}")
            if not self._sink.append_to_commit_log(msg.offset, msg.body):
                raise HAProtocolError(f"slave cannot store master bytes at {msg.offset}")
            self.flow.add(len(msg.body))
        self.confirm_offset = min(msg.confirm_offset, self._sink.max_phy_offset())
