"""Consumer offset stores: where a consumer keeps "next offset to consume" per queue.

Mirrors Java's ``client/consumer/store``: ``RemoteBrokerOffsetStore`` (CLUSTERING: the
broker keeps offsets; QUERY_CONSUMER_OFFSET / UPDATE_CONSUMER_OFFSET, client-behaviour.md
§6) and ``LocalFileOffsetStore`` (BROADCASTING: a JSON file per client and group).

Offsets returned by ``read_offset``: ``>= 0`` known; ``-1`` unknown (no offset stored, or
a memory-only read missed); ``-2`` the store could not be asked (Java 5.x
``RemoteBrokerOffsetStore``: any error other than ``OffsetNotFoundException``).

The broker calls are injected as two async callables, so this module needs no
transport and tests need no broker. Every method runs on the consumer's event loop;
file I/O runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
from collections.abc import Awaitable, Collection, Mapping
from pathlib import Path
from typing import Any, Protocol

import orjson

from rocketq.client.message import MessageQueue
from rocketq.common.errors import BrokerError, ClientError
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.fastjson import ObjectKey
from rocketq.remoting.fastjson import loads as fastjson_loads

__all__ = [
    "OFFSETS_FILE_NAME",
    "CommitOffset",
    "FetchOffset",
    "LocalFileOffsetStore",
    "OffsetNotFoundError",
    "OffsetStore",
    "ReadOffsetType",
    "RemoteBrokerOffsetStore",
    "default_local_offset_store_dir",
    "format_queue_key",
    "parse_queue_key",
]

_log = logging.getLogger(__name__)

# LocalFileOffsetStore's file name inside <dir>/<clientId>/<group>/.
OFFSETS_FILE_NAME = "offsets.json"


class ReadOffsetType(enum.Enum):
    """Where ``read_offset`` looks (Java ``ReadOffsetType``)."""

    READ_FROM_MEMORY = "READ_FROM_MEMORY"
    READ_FROM_STORE = "READ_FROM_STORE"
    MEMORY_FIRST_THEN_STORE = "MEMORY_FIRST_THEN_STORE"


class OffsetNotFoundError(BrokerError):
    """The broker has no offset for the group and queue (QUERY_NOT_FOUND, Java 5.x
    ``OffsetNotFoundException``); ``read_offset`` answers -1 for it."""

    def __init__(self, remark: str | None = None) -> None:
        super().__init__(ResponseCode.QUERY_NOT_FOUND, remark or "offset not found")


class OffsetStore(Protocol):
    """What a consumer needs from an offset store (Java ``OffsetStore``)."""

    async def load(self) -> None:
        """Read persisted offsets into memory (at consumer start)."""
        ...

    def update_offset(self, mq: MessageQueue, offset: int, increase_only: bool) -> None:
        """Set the in-memory offset; with ``increase_only`` never move it backwards."""
        ...

    async def read_offset(self, mq: MessageQueue, read_type: ReadOffsetType) -> int:
        """The offset of ``mq``: >= 0, -1 unknown, -2 the store failed."""
        ...

    def memory_offset(self, mq: MessageQueue) -> int:
        """``read_offset(mq, READ_FROM_MEMORY)`` without a coroutine (every pull asks)."""
        ...

    async def persist_all(self, mqs: Collection[MessageQueue]) -> None:
        """Persist the offsets of ``mqs`` (every 5 s and at shutdown)."""
        ...

    async def persist(self, mq: MessageQueue) -> None:
        """Persist one queue's offset (when the queue is rebalanced away)."""
        ...

    def remove_offset(self, mq: MessageQueue) -> None:
        """Forget the in-memory offset of a queue no longer consumed."""
        ...

    def clone_offset_table(self, topic: str | None = None) -> dict[MessageQueue, int]:
        """A copy of the in-memory offsets, of one topic or (blank/None) all."""
        ...


class FetchOffset(Protocol):
    """QUERY_CONSUMER_OFFSET for the group; raises ``OffsetNotFoundError`` when none is stored."""

    def __call__(self, mq: MessageQueue, /) -> Awaitable[int]:
        """The broker's offset of ``mq``."""
        ...


class CommitOffset(Protocol):
    """UPDATE_CONSUMER_OFFSET for the group (Java sends it oneway)."""

    def __call__(self, mq: MessageQueue, offset: int, /) -> Awaitable[None]:
        """Store ``offset`` for ``mq`` on the broker."""
        ...


def _is_not_found(exc: Exception) -> bool:
    return isinstance(exc, OffsetNotFoundError) or (
        isinstance(exc, BrokerError) and exc.code == ResponseCode.QUERY_NOT_FOUND
    )


class _MemoryTable:
    """The in-memory ``offsetTable`` both stores share."""

    def __init__(self) -> None:
        self._table: dict[MessageQueue, int] = {}

    def update_offset(self, mq: MessageQueue, offset: int, increase_only: bool) -> None:
        """Set the in-memory offset; with ``increase_only`` never move it backwards."""
        old = self._table.get(mq)
        if old is None or not increase_only or offset > old:
            self._table[mq] = offset

    def memory_offset(self, mq: MessageQueue) -> int:
        """The in-memory offset, -1 when none (``read_offset`` with READ_FROM_MEMORY)."""
        return self._table.get(mq, -1)

    def remove_offset(self, mq: MessageQueue) -> None:
        """Forget the in-memory offset of a queue no longer consumed."""
        if self._table.pop(mq, None) is not None:
            _log.info("remove unnecessary messageQueue offset. mq=%s", mq)

    def clone_offset_table(self, topic: str | None = None) -> dict[MessageQueue, int]:
        """A copy of the in-memory offsets, of one topic or (blank/None) all."""
        if topic is None or not topic.strip():
            return dict(self._table)
        return {mq: off for mq, off in self._table.items() if mq.topic == topic}


class RemoteBrokerOffsetStore(_MemoryTable):
    """CLUSTERING offsets: kept in memory, fetched from and committed to the broker."""

    def __init__(self, fetch: FetchOffset, commit: CommitOffset, *, group: str = "") -> None:
        super().__init__()
        self._fetch = fetch
        self._commit = commit
        self._group = group

    async def load(self) -> None:
        """Nothing to load: the broker is asked per queue."""

    async def read_offset(self, mq: MessageQueue, read_type: ReadOffsetType) -> int:
        """Memory first (unless ``READ_FROM_STORE``), then the broker; see module doc."""
        if read_type is not ReadOffsetType.READ_FROM_STORE:
            offset = self._table.get(mq)
            if offset is not None:
                return offset
            if read_type is ReadOffsetType.READ_FROM_MEMORY:
                return -1
        try:
            offset = await self._fetch(mq)
        except Exception as exc:
            if _is_not_found(exc):
                return -1
            _log.warning("fetchConsumeOffsetFromBroker exception, %s: %r", mq, exc)
            return -2
        self.update_offset(mq, offset, False)
        return offset

    async def persist_all(self, mqs: Collection[MessageQueue]) -> None:
        """Commit every held offset of ``mqs``; forget held queues not in ``mqs``.

        Failures are logged per queue (Java logs and goes on); commits run concurrently.
        """
        if not mqs:
            return
        wanted = set(mqs)
        to_send = [(mq, off) for mq, off in self._table.items() if mq in wanted]
        for mq in [mq for mq in self._table if mq not in wanted]:
            del self._table[mq]
            _log.info("remove unused mq, %s, %s", mq, self._group)
        await asyncio.gather(*(self._send(mq, off) for mq, off in to_send))

    async def persist(self, mq: MessageQueue) -> None:
        """Commit one queue's held offset, if any."""
        offset = self._table.get(mq)
        if offset is not None:
            await self._send(mq, offset)

    async def _send(self, mq: MessageQueue, offset: int) -> None:
        try:
            await self._commit(mq, offset)
        except Exception as exc:
            _log.error("updateConsumeOffsetToBroker exception, %s %s: %r", self._group, mq, exc)


def default_local_offset_store_dir() -> Path:
    """Java's default ``LOCAL_OFFSET_STORE_DIR``: ``~/.rocketmq_offsets``."""
    return Path.home() / ".rocketmq_offsets"


def format_queue_key(mq: MessageQueue) -> str:
    """The JSON key of a queue in ``offsets.json``: ``"topic@brokerName@queueId"``."""
    return f"{mq.topic}@{mq.broker_name}@{mq.queue_id}"


def parse_queue_key(key: object) -> MessageQueue:
    """Read a key written by ``format_queue_key`` or a fastjson ``MessageQueue`` key.

    Topic names cannot contain ``@`` but broker names may (``room@broker``), so the topic
    ends at the first ``@`` and the queue id starts after the last.
    """
    if isinstance(key, ObjectKey):
        return MessageQueue.from_obj(key.as_dict())
    if isinstance(key, str):
        topic, sep, rest = key.partition("@")
        broker, sep2, queue_id = rest.rpartition("@")
        if sep and sep2 and queue_id.lstrip("-").isdigit():
            return MessageQueue(topic, broker, int(queue_id))
    raise ValueError(f"not a message queue key: {key!r}")


class LocalFileOffsetStore(_MemoryTable):
    """BROADCASTING offsets in ``<dir>/<clientId>/<group>/offsets.json``.

    Content: ``{"offsetTable": {"topic@brokerName@queueId": offset, ...}}``; fastjson's
    object-keyed form written by Java is read too. A write goes to ``offsets.json.tmp``,
    the previous file is kept as ``offsets.json.bak`` and the new one renamed over it; a
    missing, empty or corrupt file is read from ``.bak``.
    """

    def __init__(self, client_id: str, group: str, store_dir: Path | None = None) -> None:
        super().__init__()
        base = store_dir if store_dir is not None else default_local_offset_store_dir()
        self.path = base / client_id / group / OFFSETS_FILE_NAME
        self._write_lock = asyncio.Lock()

    async def load(self) -> None:
        """Read the file into memory; raises ``ClientError`` if file and backup are corrupt."""
        stored = await asyncio.to_thread(self._read_file)
        for mq, offset in stored.items():
            self._table[mq] = offset
            _log.info("load consumer's offset, %s %s %s", self.path, mq, offset)

    async def read_offset(self, mq: MessageQueue, read_type: ReadOffsetType) -> int:
        """Memory first (unless ``READ_FROM_STORE``), then the file; -1 if unknown."""
        if read_type is not ReadOffsetType.READ_FROM_STORE:
            offset = self._table.get(mq)
            if offset is not None:
                return offset
            if read_type is ReadOffsetType.READ_FROM_MEMORY:
                return -1
        try:
            stored = await asyncio.to_thread(self._read_file)
        except ClientError:
            return -1
        offset = stored.get(mq)
        if offset is None:
            return -1
        self.update_offset(mq, offset, False)
        return offset

    async def persist_all(self, mqs: Collection[MessageQueue]) -> None:
        """Write the held offsets of ``mqs`` over the stored ones (others stay, as 5.x)."""
        if not mqs:
            return
        wanted = set(mqs)
        await self._merge_into_file({mq: off for mq, off in self._table.items() if mq in wanted})

    async def persist(self, mq: MessageQueue) -> None:
        """Write one queue's held offset into the file (Java 5.x)."""
        offset = self._table.get(mq)
        if offset is not None:
            await self._merge_into_file({mq: offset})

    async def _merge_into_file(self, offsets: Mapping[MessageQueue, int]) -> None:
        async with self._write_lock:  # one writer of offsets.json.tmp at a time
            try:
                await asyncio.to_thread(self._merge_sync, dict(offsets))
            except (OSError, ClientError) as exc:
                _log.error("persist consumer offset exception, %s: %r", self.path, exc)

    def _merge_sync(self, offsets: dict[MessageQueue, int]) -> None:
        merged = self._read_file()
        merged.update(offsets)
        table = {format_queue_key(mq): off for mq, off in sorted(merged.items())}
        data = orjson.dumps({"offsetTable": table}, option=orjson.OPT_INDENT_2)
        _atomic_write(self.path, data)

    def _read_file(self) -> dict[MessageQueue, int]:
        """``readLocalOffset``: the file, else its ``.bak``; {} when neither exists."""
        bak = self.path.with_name(self.path.name + ".bak")
        content = _read_bytes(self.path)
        if content:
            try:
                return _parse_offsets(content)
            except ValueError as exc:
                _log.warning("readLocalOffset %s: %s; trying %s", self.path, exc, bak.name)
        content = _read_bytes(bak)
        if not content:
            return {}
        try:
            return _parse_offsets(content)
        except ValueError as exc:
            raise ClientError(f"cannot read local offsets {bak}: {exc}") from exc


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        _log.warning("Load local offset store file %s exception: %r", path, exc)
        return None


def _parse_offsets(content: bytes) -> dict[MessageQueue, int]:
    """Parse ``{"offsetTable": {...}}``; ValueError on anything else."""
    try:
        doc: Any = fastjson_loads(content)
    except Exception as exc:  # orjson / fastjson parse errors
        raise ValueError(f"bad JSON: {exc}") from exc
    table = doc.get("offsetTable", {}) if isinstance(doc, dict) else None
    if not isinstance(table, dict):
        raise ValueError("no offsetTable object")
    result: dict[MessageQueue, int] = {}
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"offset of {key!r} is not an integer: {value!r}")
        result[parse_queue_key(key)] = value
    return result


def _atomic_write(path: Path, data: bytes) -> None:
    """``MixAll#string2File`` made crash safe: tmp + fsync, keep .bak, rename over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    previous = _read_bytes(path)
    if previous:
        bak = path.with_name(path.name + ".bak")
        with open(bak, "wb") as f:
            f.write(previous)
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
