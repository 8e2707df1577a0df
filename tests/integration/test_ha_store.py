"""Classic master-slave replication between two DefaultMessageStores in one event loop:
a master with an HAService on 127.0.0.1 and a slave with an HAClient, over real sockets and
real files (64 KiB CommitLog files so that replication crosses many file rolls)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from rocketq.store.config import ASYNC_MASTER, SLAVE, SYNC_FLUSH, SYNC_MASTER, StoreConfig
from rocketq.store.format import StoredMessage, encode_properties
from rocketq.store.ha.client import HAClient
from rocketq.store.message_store import DefaultMessageStore
from rocketq.store.result import PutMessageStatus
from rocketq.testing import async_wait_until

FILE_SIZE = 64 * 1024
TOPICS = ("HaTopicA", "HaTopicB")
QUEUES = 4
DEADLINE = 60.0  # generous: a loaded 2-core machine must never fail a test by being slow


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """The shared ``async_wait_until`` with this file's deadline and a short poll."""
    await async_wait_until(predicate, timeout, 0.01, what)


def config(root: Path, role: str, **overrides: object) -> StoreConfig:
    cfg = StoreConfig(
        store_path_root_dir=str(root),
        mapped_file_size_commit_log=FILE_SIZE,
        mapped_file_size_consume_queue=20 * 500,
        flush_interval_commit_log=10,
        flush_interval_consume_queue=10,
        broker_role=role,
        ha_send_heartbeat_interval=200,
        ha_connect_retry_interval=50,
    )
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


def message(i: int, size: int = 100) -> StoredMessage:
    props = encode_properties({"TAGS": f"tag{i % 3}", "KEYS": f"k{i} common", "UNIQ_KEY": f"U{i}"})
    return StoredMessage(
        topic=TOPICS[i % 2],
        queue_id=(i // 2) % QUEUES,
        body=bytes([i % 251]) * (size + i % 37),
        properties=props,
        born_timestamp=1,
        born_host=("127.0.0.1", 5000),
    )


async def start_master(
    root: Path, role: str = ASYNC_MASTER, port: int = 0, **kw: object
) -> DefaultMessageStore:
    store = DefaultMessageStore(config(root, role, **kw), ha_listen=("127.0.0.1", port))
    await store.start()
    return store


async def start_slave(
    root: Path, master: DefaultMessageStore | int, **kw: object
) -> DefaultMessageStore:
    store = DefaultMessageStore(config(root, SLAVE, **kw), ("127.0.0.1", 10921))
    await store.start()
    port = master if isinstance(master, int) else ha_port(master)
    store.update_master_address(f"127.0.0.1:{port}")
    return store


def ha_port(master: DefaultMessageStore) -> int:
    assert master.ha_service is not None
    return master.ha_service.port


def client(slave: DefaultMessageStore) -> HAClient:
    assert slave.ha_client is not None
    return slave.ha_client


async def put_many(store: DefaultMessageStore, start: int, count: int) -> None:
    """Singles and batches of up to 7 (a batch lands in one file as a unit)."""
    i = start
    while i < start + count:
        n = min(1 + i % 7 if i % 5 == 0 else 1, start + count - i)
        result = await store.put_messages([message(j) for j in range(i, i + n)])
        assert result.status is PutMessageStatus.PUT_OK, result
        i += n


async def linked(master: DefaultMessageStore, slaves: int = 1) -> None:
    service = master.ha_service
    assert service is not None
    await wait_until(lambda: service.connection_count == slaves, f"{slaves} slave link(s)")


async def caught_up(master: DefaultMessageStore, slave: DefaultMessageStore) -> None:
    await wait_until(
        lambda: slave.max_phy_offset() == master.max_phy_offset(), "the slave to catch up"
    )


def assert_same_commit_log(master: DefaultMessageStore, slave: DefaultMessageStore) -> None:
    assert slave.max_phy_offset() == master.max_phy_offset()
    start = slave.min_phy_offset()
    assert start >= master.min_phy_offset()
    for offset in range(start, master.max_phy_offset(), FILE_SIZE):
        size = min(FILE_SIZE, master.max_phy_offset() - offset)
        with (
            master.commit_log.get_data(offset, size) as a,
            slave.commit_log.get_data(offset, size) as b,
        ):
            assert a == b, f"commitlog differs in the file at {offset}"


def queue_contents(
    store: DefaultMessageStore, topic: str, queue_id: int, start: int
) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    offset = start
    while offset < store.get_max_offset_in_queue(topic, queue_id):
        result = store.get_message("g", topic, queue_id, offset, 32)
        out.extend((q, bytes(v)) for q, v in zip(result.queue_offsets, result.buffers, strict=True))
        result.release()
        offset = result.next_begin_offset
    return out


def assert_same_queues(master: DefaultMessageStore, slave: DefaultMessageStore) -> None:
    for topic in TOPICS:
        for queue_id in range(QUEUES):
            low = slave.get_min_offset_in_queue(topic, queue_id)
            assert slave.get_max_offset_in_queue(topic, queue_id) == master.get_max_offset_in_queue(
                topic, queue_id
            )
            assert queue_contents(slave, topic, queue_id, low) == queue_contents(
                master, topic, queue_id, low
            )


def assert_same_index(
    master: DefaultMessageStore, slave: DefaultMessageStore, keys: list[str]
) -> None:
    for key in keys:
        found = 0
        for topic in TOPICS:
            a = master.query_message(topic, key, 64, 0, 2**62).buffers
            b = slave.query_message(topic, key, 64, 0, 2**62).buffers
            assert a == b, key
            found += len(a)
        assert found, f"no message has the key {key}"


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[DefaultMessageStore, DefaultMessageStore]]:
    master = await start_master(tmp_path / "master")
    slave = await start_slave(tmp_path / "slave", master)
    yield master, slave
    await slave.aclose()
    await master.aclose()


async def test_slave_replicates_commit_log_queues_and_index(
    pair: tuple[DefaultMessageStore, DefaultMessageStore],
) -> None:
    master, slave = pair
    await linked(master)
    await put_many(master, 0, 5000)
    assert master.max_phy_offset() > 10 * FILE_SIZE
    await caught_up(master, slave)
    assert slave.min_phy_offset() == 0
    assert_same_commit_log(master, slave)
    assert_same_queues(master, slave)
    assert_same_index(master, slave, ["k0", "k1234", "k4999", "U77", "common"])
    stats = master.ha_stats()
    assert stats is not None and stats.connection_count == 1
    await wait_until(
        lambda: (
            master.ha_service is not None
            and master.ha_service.push2slave_max_offset == master.max_phy_offset()
        ),
        "the final ack",
    )
    slave_stats = client(slave).stats()
    assert slave_stats.state == "TRANSFER" and slave_stats.max_offset == master.max_phy_offset()


async def test_empty_slave_starts_at_the_masters_last_file(tmp_path: Path) -> None:
    master = await start_master(tmp_path / "master")
    await put_many(master, 0, 3000)
    last_file = master.max_phy_offset() - master.max_phy_offset() % FILE_SIZE
    assert last_file > 0
    slave = await start_slave(tmp_path / "slave", master)
    try:
        await caught_up(master, slave)
        assert slave.min_phy_offset() == last_file
        await put_many(master, 3000, 1500)  # and it keeps following across file rolls
        await caught_up(master, slave)
        assert_same_commit_log(master, slave)
        for topic in TOPICS:
            for queue_id in range(QUEUES):
                low = slave.get_min_offset_in_queue(topic, queue_id)
                assert low > 0  # the early entries were never copied: ConsumeQueue placeholders
                assert master.get_commit_log_offset_in_queue(topic, queue_id, low) >= last_file
                assert queue_contents(slave, topic, queue_id, low) == queue_contents(
                    master, topic, queue_id, low
                )
        # a restart keeps the same view
        await slave.aclose()
        slave = await start_slave(tmp_path / "slave", master)
        await put_many(master, 4500, 200)
        await caught_up(master, slave)
        assert slave.min_phy_offset() == last_file
        assert_same_queues(master, slave)
    finally:
        await slave.aclose()
        await master.aclose()


async def test_sync_master_answers_after_the_slave_acked(tmp_path: Path) -> None:
    master = await start_master(tmp_path / "master", SYNC_MASTER, flush_disk_type=SYNC_FLUSH)
    slave = await start_slave(tmp_path / "slave", master)
    try:
        await linked(master)

        async def writer(w: int) -> None:
            for i in range(w * 1000, w * 1000 + 150):
                result = await master.put_messages([message(i)])
                end = result.appended[-1].physical_offset + result.appended[-1].size
                assert result.status is PutMessageStatus.PUT_OK, result
                assert slave.max_phy_offset() >= end  # the slave has the bytes already

        await asyncio.gather(*(writer(w) for w in range(8)))
        batch = await master.put_messages([message(i) for i in range(9000, 9005)])
        assert batch.status is PutMessageStatus.PUT_OK
        # WAIT=false does not wait for the slave (nor for the disk)
        assert (
            await master.put_message(message(1), wait_store=False)
        ).status is PutMessageStatus.PUT_OK
        await caught_up(master, slave)
        assert_same_commit_log(master, slave)
    finally:
        await slave.aclose()
        await master.aclose()


async def test_sync_master_without_slave_answers_slave_not_available(tmp_path: Path) -> None:
    # slaveTimeout of 10 minutes: a put that waited instead of answering would hang the test
    master = await start_master(tmp_path / "master", SYNC_MASTER, slave_timeout=600_000)
    try:
        result = await asyncio.wait_for(master.put_message(message(1)), DEADLINE)
        assert result.status is PutMessageStatus.SLAVE_NOT_AVAILABLE
        assert result.status.stored and master.get_max_offset_in_queue(TOPICS[1], 0) == 1
    finally:
        await master.aclose()
    # a SYNC_MASTER without any HA service has no slave either
    alone = DefaultMessageStore(config(tmp_path / "alone", SYNC_MASTER, slave_timeout=600_000))
    await alone.start()
    try:
        result = await asyncio.wait_for(alone.put_message(message(1)), DEADLINE)
        assert result.status is PutMessageStatus.SLAVE_NOT_AVAILABLE
    finally:
        await alone.aclose()


@pytest.mark.parametrize("key", ["ha_slave_fallbehind_max", "ha_max_gap_not_in_sync"])
async def test_sync_master_with_a_slave_too_far_behind(tmp_path: Path, key: str) -> None:
    master = await start_master(tmp_path / "master", SYNC_MASTER, slave_timeout=600_000)
    slave = await start_slave(tmp_path / "slave", master)
    try:
        await linked(master)
        assert (await master.put_message(message(1))).status is PutMessageStatus.PUT_OK
        setattr(master.config, key, 1)  # any unacknowledged byte is now too far
        client(slave).pause()
        result = await asyncio.wait_for(master.put_message(message(2)), DEADLINE)
        assert result.status is PutMessageStatus.SLAVE_NOT_AVAILABLE
    finally:
        await slave.aclose()
        await master.aclose()


async def test_sync_master_times_out_when_the_slave_stops_reading(tmp_path: Path) -> None:
    master = await start_master(
        tmp_path / "master", SYNC_MASTER, slave_timeout=300, flush_disk_type=SYNC_FLUSH
    )
    slave = await start_slave(tmp_path / "slave", master)
    try:
        await linked(master)
        assert (await master.put_message(message(1))).status is PutMessageStatus.PUT_OK
        client(slave).pause()
        result = await master.put_message(message(2))
        assert result.status is PutMessageStatus.FLUSH_SLAVE_TIMEOUT
        assert result.status.stored and master.get_max_offset_in_queue(TOPICS[0], 1) == 1
        client(slave).resume()
        assert (await master.put_message(message(3))).status is PutMessageStatus.PUT_OK
        await caught_up(master, slave)
    finally:
        await slave.aclose()
        await master.aclose()


async def test_slave_restart_and_crash_resume_from_their_own_end(tmp_path: Path) -> None:
    master = await start_master(tmp_path / "master")
    slave = await start_slave(tmp_path / "slave", master)
    try:
        await linked(master)  # from the first byte on
        await put_many(master, 0, 1000)
        await caught_up(master, slave)
        await slave.aclose()  # clean stop, then the master moves on
        await put_many(master, 1000, 1000)
        slave = await start_slave(tmp_path / "slave", master)
        await caught_up(master, slave)
        # crash: stop following, leave a torn record at the end, skip every clean-exit step
        await client(slave).aclose()
        end = slave.max_phy_offset()
        assert slave.commit_log.append_raw(end, struct.pack(">ii", 500, -626843481) + b"torn")
        await crash(slave)
        await put_many(master, 2000, 1000)
        slave = await start_slave(tmp_path / "slave", master)
        assert slave.max_phy_offset() == end  # recovery cut the torn tail
        await caught_up(master, slave)
        assert_same_commit_log(master, slave)
        assert_same_queues(master, slave)
        assert_same_index(master, slave, ["k5", "k1500", "k2999"])
    finally:
        await slave.aclose()
        await master.aclose()


async def crash(store: DefaultMessageStore) -> None:
    """Stop the store's tasks and unmap its files without the clean-exit steps."""
    for tasks in (store.flush_service._tasks, store._tasks, store.clean_service._tasks):
        await tasks.aclose()  # cancelled at once, as a kill stops them
    store.commit_log.close()
    for cq in store.consume_queues.values():
        cq.close()
    if store.index_service is not None:
        store.index_service.close()
    store.lock.release()


async def test_slave_reconnects_after_the_master_restarts(tmp_path: Path) -> None:
    master = await start_master(tmp_path / "master")
    port = ha_port(master)
    slave = await start_slave(tmp_path / "slave", port)
    try:
        await linked(master)
        await put_many(master, 0, 500)
        await caught_up(master, slave)
        connects = client(slave).connects
        await master.aclose()
        await wait_until(
            lambda: client(slave).link.state.value != "TRANSFER", "the slave to notice"
        )
        master = await start_master(tmp_path / "master", port=port)
        await put_many(master, 500, 500)
        await caught_up(master, slave)
        assert client(slave).connects > connects
        assert_same_commit_log(master, slave)
        assert_same_queues(master, slave)
    finally:
        await slave.aclose()
        await master.aclose()


# -- the wire, as a Java peer sees it -------------------------------------------------------


async def read_chunk(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    offset, size = struct.unpack(">qi", await reader.readexactly(12))
    return offset, await reader.readexactly(size)


async def test_a_raw_slave_gets_whole_files_in_batches_and_heartbeats(tmp_path: Path) -> None:
    """A Java slave's view of a rocketq master: report 0, receive the last file from its
    start in chunks of at most haTransferBatchSize that never cross a file, then heartbeats."""
    master = await start_master(tmp_path / "master", ha_transfer_batch_size=10_000)
    await put_many(master, 0, 700)  # ~2.6 files
    reader, writer = await asyncio.open_connection("127.0.0.1", ha_port(master))
    try:
        writer.write(struct.pack(">q", 0))
        end = master.max_phy_offset()
        where = end - end % FILE_SIZE
        while where < end:
            offset, body = await read_chunk(reader)
            assert offset == where and 0 < len(body) <= 10_000
            assert offset // FILE_SIZE == (offset + len(body) - 1) // FILE_SIZE
            with master.commit_log.get_data(offset, len(body)) as view:
                assert body == view
            where += len(body)
        writer.write(struct.pack(">q", 7) + struct.pack(">q", end)[:3])  # a report and a bit
        assert await read_chunk(reader) == (end, b"")  # heartbeat: nothing new to send
        service = master.ha_service
        assert service is not None
        await wait_until(lambda: service.push2slave_max_offset == 7, "the ack")
        assert service.stats().slaves[0].ack_offset == 7
        writer.write(struct.pack(">q", end)[3:])  # the rest of the second report
        await wait_until(lambda: service.push2slave_max_offset == end, "the second ack")
        await put_many(master, 700, 1)  # an append wakes the link at once
        offset, body = await read_chunk(reader)
        assert (offset, len(body)) == (end, master.max_phy_offset() - end)
    finally:
        writer.close()
        await master.aclose()


async def test_the_master_drops_a_slave_that_acks_bytes_it_never_had(tmp_path: Path) -> None:
    master = await start_master(tmp_path / "master")
    await put_many(master, 0, 10)
    reader, writer = await asyncio.open_connection("127.0.0.1", ha_port(master))
    try:
        writer.write(struct.pack(">q", master.max_phy_offset()))  # first report: a position
        assert await read_chunk(reader) == (master.max_phy_offset(), b"")
        writer.write(struct.pack(">q", master.max_phy_offset() + 1))
        assert await reader.read() == b""  # closed
        await linked(master, 0)
    finally:
        writer.close()
        await master.aclose()


async def test_a_slave_ahead_of_the_master_releases_no_sync_put(tmp_path: Path) -> None:
    """A slave whose log is longer than the master's (the master lost an unflushed tail in
    an OS crash) holds other bytes at those offsets: its first report must not count as an
    acknowledgement (4.9.4 would take it and answer SYNC_MASTER puts it never replicated)."""
    master = await start_master(tmp_path / "master", SYNC_MASTER, slave_timeout=600_000)
    reader, writer = await asyncio.open_connection("127.0.0.1", ha_port(master))
    try:
        writer.write(struct.pack(">q", 1 << 30))  # first report: far beyond the master's end
        assert await asyncio.wait_for(reader.read(), DEADLINE) == b""  # dropped
        await linked(master, 0)
        result = await asyncio.wait_for(master.put_message(message(1)), DEADLINE)
        assert result.status is PutMessageStatus.SLAVE_NOT_AVAILABLE
        assert master.ha_service is not None and master.ha_service.push2slave_max_offset == 0
    finally:
        writer.close()
        await master.aclose()


async def test_the_master_drops_a_silent_slave(tmp_path: Path) -> None:
    master = await start_master(tmp_path / "master", ha_housekeeping_interval=100)
    reader, writer = await asyncio.open_connection("127.0.0.1", ha_port(master))
    try:
        assert await asyncio.wait_for(reader.read(), DEADLINE) == b""
        await linked(master, 0)
    finally:
        writer.close()
        await master.aclose()


async def fake_master(
    chunks: list[bytes],
) -> tuple[asyncio.Server, asyncio.Queue[int]]:
    """A raw HA master: records each connection's first report, then sends ``chunks``."""
    reports: asyncio.Queue[int] = asyncio.Queue()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (offset,) = struct.unpack(">q", await reader.readexactly(8))
        await reports.put(offset)
        writer.writelines(chunks)
        await reader.read()  # until the slave hangs up
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, reports


@pytest.mark.parametrize(
    "chunks",
    [
        [struct.pack(">qi", 4096, 0)],  # heartbeat for another offset
        [struct.pack(">qi", 0, -3)],  # garbage header
    ],
)
async def test_the_slave_drops_a_master_out_of_step_and_reconnects(
    tmp_path: Path, chunks: list[bytes]
) -> None:
    seed = await start_master(tmp_path / "seed")
    slave = await start_slave(tmp_path / "slave", seed)
    await linked(seed)
    await put_many(seed, 0, 5)
    await caught_up(seed, slave)
    await seed.aclose()
    server, reports = await fake_master(chunks)
    try:
        slave.update_master_address(f"127.0.0.1:{server.sockets[0].getsockname()[1]}")
        end = slave.max_phy_offset()
        assert 0 < end < 4096
        first = await asyncio.wait_for(reports.get(), DEADLINE)
        second = await asyncio.wait_for(reports.get(), DEADLINE)  # it came back
        assert first == second == end  # and never truncated anything
        assert slave.max_phy_offset() == end
    finally:
        await slave.aclose()
        server.close()
        await server.wait_closed()


async def test_a_master_closing_releases_waiting_puts(tmp_path: Path) -> None:
    master = await start_master(tmp_path / "master", SYNC_MASTER, slave_timeout=600_000)
    slave = await start_slave(tmp_path / "slave", master)
    try:
        await linked(master)
        assert (await master.put_message(message(1))).status is PutMessageStatus.PUT_OK
        client(slave).pause()
        put = asyncio.ensure_future(master.put_message(message(2)))
        service = master.ha_service
        assert service is not None
        await wait_until(lambda: service.group_transfer.waiting == 1, "the put to wait")
        stats = service.stats()
        (behind,) = stats.slaves
        assert behind.fall_behind == master.max_phy_offset() - behind.ack_offset > 0
        assert stats.push2slave_max_offset == behind.ack_offset
        await master.aclose()
        result = await asyncio.wait_for(put, DEADLINE)
        assert result.status is PutMessageStatus.FLUSH_SLAVE_TIMEOUT
    finally:
        await slave.aclose()
        await master.aclose()
