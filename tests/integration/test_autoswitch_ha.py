"""Controller-mode replication (the AutoSwitch HA protocol) between DefaultMessageStores in
one event loop, over real sockets and files: epochs, the handshake's truncation of a log
that went further than the new master, and allAckInSyncStateSet waits. The controller's
part (who is master at which epoch) is played by the test calling change_to_master /
change_to_slave as the ReplicasManager does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from rocketq.store.config import ASYNC_MASTER, StoreConfig
from rocketq.store.format import StoredMessage, encode_properties
from rocketq.store.ha.autoswitch import AutoSwitchHAService
from rocketq.store.ha.epoch import EpochFileCache
from rocketq.store.message_store import DefaultMessageStore
from rocketq.store.result import PutMessageStatus
from rocketq.testing import async_wait_until

FILE_SIZE = 64 * 1024
DEADLINE = 60.0  # generous: a loaded machine must not fail a test by being slow


async def wait_until(predicate: Callable[[], bool], what: str) -> None:
    await async_wait_until(predicate, DEADLINE, 0.01, what)


class Node:
    """A store with its AutoSwitch HA service, as a controller-mode broker holds them."""

    def __init__(self, root: Path, broker_id: int, **overrides: object) -> None:
        cfg = StoreConfig(
            store_path_root_dir=str(root),
            mapped_file_size_commit_log=FILE_SIZE,
            mapped_file_size_consume_queue=20 * 500,
            flush_interval_commit_log=10,
            broker_role=ASYNC_MASTER,
            ha_send_heartbeat_interval=200,
            ha_connect_retry_interval=50,
        )
        for key, value in overrides.items():
            setattr(cfg, key, value)
        self.broker_id = broker_id
        self.store = DefaultMessageStore(cfg, ("127.0.0.1", 10_000 + broker_id))
        self.ha = AutoSwitchHAService(self.store, cfg, "127.0.0.1", 0)
        self.ha.local_broker_id = broker_id
        self.store.set_replication("SLAVE", None, None)

    async def start(self) -> Node:
        await self.store.start()
        await self.ha.start()
        return self

    async def aclose(self) -> None:
        await self.store.aclose()
        await self.ha.aclose()

    @property
    def ha_addr(self) -> str:
        return f"127.0.0.1:{self.ha.port}"

    async def follow(self, master: Node, epoch: int) -> None:
        assert await self.ha.change_to_slave(epoch, self.broker_id)
        self.store.update_master_address(master.ha_addr)

    def log_bytes(self) -> bytes:
        end = self.store.max_phy_offset()
        out, pos = b"", 0
        while pos < end:
            chunk = self.store.get_commit_log_data(pos, FILE_SIZE)
            assert chunk, pos
            out += chunk
            pos += len(chunk)
        return out


def message(i: int) -> StoredMessage:
    return StoredMessage(
        topic="AutoSwitchTopic",
        queue_id=i % 2,
        body=b"m%05d" % i * 20,
        properties=encode_properties({"KEYS": f"k{i}", "UNIQ_KEY": f"U{i}"}),
        born_timestamp=1,
        born_host=("127.0.0.1", 5000),
    )


async def put(node: Node, start: int, count: int) -> list[PutMessageStatus]:
    return [(await node.store.put_message(message(i))).status for i in range(start, start + count)]


async def test_epoch_file_layout_and_consistent_point(tmp_path: Path) -> None:
    """RocketMQ's CheckpointFile text: count, masked CRC32, one ``epoch-start`` line each."""
    cache = EpochFileCache(tmp_path / "epochFileCheckpoint")
    assert cache.append(1, 0) and cache.append(3, 500)
    assert not cache.append(2, 600)  # epochs only grow
    text = (tmp_path / "epochFileCheckpoint").read_text().splitlines()
    assert text[0] == "2" and text[2:] == ["1-0", "3-500"]
    again = EpochFileCache(tmp_path / "epochFileCheckpoint")
    again.load()
    assert [(e.epoch, e.start_offset) for e in again.entries()] == [(1, 0), (3, 500)]
    assert again.find_by_offset(499) is not None and again.find_by_offset(499).epoch == 1  # type: ignore[union-attr]


async def test_slave_catches_up_and_old_master_truncates_on_rejoin(tmp_path: Path) -> None:
    a = await Node(tmp_path / "a", 1).start()
    b = await Node(tmp_path / "b", 2).start()
    try:
        assert await a.ha.change_to_master(1)
        a.ha.set_sync_state_set(frozenset({1}))
        assert await put(a, 0, 50) == [PutMessageStatus.PUT_OK] * 50
        await b.follow(a, 1)
        await wait_until(lambda: b.store.max_phy_offset() == a.store.max_phy_offset(), "catch up")
        shared = a.store.max_phy_offset()
        # b stops reading: what a writes now exists on a only
        assert b.ha.client is not None
        b.ha.client.pause()
        await put(a, 50, 20)
        assert a.store.max_phy_offset() > shared
        # failover: b is master of epoch 2 and takes writes, a rejoins as its slave
        assert await b.ha.change_to_master(2)
        b.ha.set_sync_state_set(frozenset({2}))
        assert b.store.max_phy_offset() == shared
        await put(b, 100, 30)
        await a.follow(b, 2)
        await wait_until(lambda: a.store.max_phy_offset() == b.store.max_phy_offset(), "rejoin")
        assert a.ha.client is not None and a.ha.client.truncated_to == shared
        assert a.log_bytes() == b.log_bytes()
        assert [(e.epoch, e.start_offset) for e in a.ha.epochs.entries()] == [(1, 0), (2, shared)]
        # the ConsumeQueues lost a's unreplicated 20 and hold b's 30
        total = sum(cq.max_offset_in_queue() for cq in a.store.consume_queues.values())
        assert total == 50 + 30
        # and a joins b's SyncStateSet once caught up
        await wait_until(lambda: 1 in b.ha.get_sync_state_set(), "a in the set")
    finally:
        await a.aclose()
        await b.aclose()


async def test_all_ack_in_sync_state_set_waits_for_every_member(tmp_path: Path) -> None:
    a = await Node(tmp_path / "a", 1, all_ack_in_sync_state_set=True, slave_timeout=1000).start()
    b = await Node(tmp_path / "b", 2).start()
    try:
        assert await a.ha.change_to_master(1)
        a.ha.set_sync_state_set(frozenset({1}))
        assert await put(a, 0, 5) == [PutMessageStatus.PUT_OK] * 5  # alone: no wait
        proposed: list[frozenset[int]] = []
        a.ha.on_sync_state_set_changed = proposed.append
        await b.follow(a, 1)
        await wait_until(lambda: proposed == [frozenset({1, 2})], "b proposed for the set")
        a.ha.set_sync_state_set(proposed[-1])  # the controller agreed
        assert await put(a, 5, 5) == [PutMessageStatus.PUT_OK] * 5
        assert b.store.max_phy_offset() == a.store.max_phy_offset()
        assert b.ha.client is not None
        b.ha.client.pause()  # a member that does not ack: sends time out
        [status] = await put(a, 10, 1)
        assert status is PutMessageStatus.FLUSH_SLAVE_TIMEOUT
        pending = asyncio.ensure_future(put(a, 11, 1))
        b.ha.client.resume()
        assert await pending == [PutMessageStatus.PUT_OK]
    finally:
        await a.aclose()
        await b.aclose()


async def test_empty_slave_with_unshared_epochs_rejoins_and_joins_the_set(tmp_path: Path) -> None:
    """Failovers of a group that never took a write leave every epoch at offset 0, and a
    slave truncated to 0 forgets them all: an old master may then hold epochs (1, 2) the
    new master (epoch 3 only) does not. With nothing in its log it is a new replica."""
    a = await Node(tmp_path / "a", 1).start()
    b = await Node(tmp_path / "b", 2).start()
    try:
        assert b.ha.epochs.append(1, 0) and b.ha.epochs.append(2, 0)
        assert await a.ha.change_to_master(3)
        a.ha.set_sync_state_set(frozenset({1}))
        proposed: list[frozenset[int]] = []
        a.ha.on_sync_state_set_changed = proposed.append
        await b.follow(a, 3)
        await wait_until(lambda: proposed == [frozenset({1, 2})], "b proposed for the set")
        a.ha.set_sync_state_set(proposed[-1])
        assert await put(a, 0, 10) == [PutMessageStatus.PUT_OK] * 10
        await wait_until(lambda: b.store.max_phy_offset() == a.store.max_phy_offset(), "copy")
        assert [(e.epoch, e.start_offset) for e in b.ha.epochs.entries()] == [(3, 0)]
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_slave_joins_only_at_the_masters_end_while_the_master_is_alone(
    tmp_path: Path,
) -> None:
    """Alone in the set, the master's confirm offset is its end (``getConfirmOffset``), not
    the value it had when it became master: a slave that stops short of the end stays out."""
    a = await Node(tmp_path / "a", 1, all_ack_in_sync_state_set=True).start()
    b = await Node(tmp_path / "b", 2).start()
    try:
        assert await a.ha.change_to_master(1)
        a.ha.set_sync_state_set(frozenset({1}))
        assert await put(a, 0, 20) == [PutMessageStatus.PUT_OK] * 20
        assert a.ha.confirm_offset() == a.store.max_phy_offset()
        proposed: list[frozenset[int]] = []
        a.ha.on_sync_state_set_changed = proposed.append
        await b.follow(a, 1)
        await wait_until(lambda: proposed == [frozenset({1, 2})], "b proposed for the set")
        assert b.store.max_phy_offset() == a.store.max_phy_offset()
    finally:
        await a.aclose()
        await b.aclose()


async def put_together(node: Node, start: int, count: int) -> list[PutMessageStatus]:
    """``put`` with the messages in flight together (each may wait the slaveTimeout)."""
    results = await asyncio.gather(
        *(node.store.put_message(message(i)) for i in range(start, start + count))
    )
    return [r.status for r in results]


def queued(node: Node) -> int:
    """Messages in the node's ConsumeQueues (what its consumers can see)."""
    return sum(cq.max_offset_in_queue() for cq in node.store.consume_queues.values())


async def test_slave_dispatches_only_up_to_the_confirm_offset_new_master_all(
    tmp_path: Path,
) -> None:
    """ha.md 11.5: on a slave, consumers see only what every member of the SyncStateSet
    has (the master's confirm offset); promoted, it dispatches everything it holds."""
    a = await Node(tmp_path / "a", 1, all_ack_in_sync_state_set=True, slave_timeout=2000).start()
    b = await Node(tmp_path / "b", 2).start()
    c = await Node(tmp_path / "c", 3).start()
    try:
        assert await a.ha.change_to_master(1)
        a.ha.set_sync_state_set(frozenset({1, 2, 3}))  # as the controller would hold it
        await b.follow(a, 1)
        await c.follow(a, 1)
        await wait_until(lambda: a.ha.stats().connection_count == 2, "both slaves linked")
        assert await put(a, 0, 10) == [PutMessageStatus.PUT_OK] * 10
        await wait_until(lambda: queued(b) == 10 and queued(c) == 10, "confirmed: visible")
        assert c.ha.client is not None
        c.ha.client.pause()  # c stops acking: the confirm offset stays where c is
        confirmed = a.ha.confirm_offset()
        assert await put_together(a, 10, 5) == [PutMessageStatus.FLUSH_SLAVE_TIMEOUT] * 5
        await wait_until(lambda: b.store.max_phy_offset() == a.store.max_phy_offset(), "b has all")
        await wait_until(
            lambda: b.ha.client is not None and b.ha.client.confirm_offset == confirmed,
            "b heard the confirm offset",
        )
        assert queued(b) == 10 and a.ha.confirm_offset() == confirmed
        c.ha.client.resume()
        await wait_until(lambda: queued(b) == 15, "c acked: b shows the rest")
        c.ha.client.pause()
        assert await put_together(a, 15, 3) == [PutMessageStatus.FLUSH_SLAVE_TIMEOUT] * 3
        await wait_until(lambda: b.store.max_phy_offset() == a.store.max_phy_offset(), "b has all")
        assert queued(b) == 15
        assert await b.ha.change_to_master(2)  # a failover to b: its log is the group's now
        assert queued(b) == 18
    finally:
        for node in (a, b, c):
            await node.aclose()


async def test_restarted_slave_dispatches_only_what_it_receives(tmp_path: Path) -> None:
    """A slave restarted on its store (recovered, queues rebuilt) and following again adds
    ConsumeQueue entries for the new records only."""
    a = await Node(tmp_path / "a", 1).start()
    b = await Node(tmp_path / "b", 2).start()
    try:
        assert await a.ha.change_to_master(1)
        a.ha.set_sync_state_set(frozenset({1}))
        assert await put(a, 0, 10) == [PutMessageStatus.PUT_OK] * 10
        await b.follow(a, 1)
        await wait_until(lambda: queued(b) == 10, "b has the first ten")
        await b.aclose()
        b = await Node(tmp_path / "b", 2).start()
        assert queued(b) == 10
        await b.follow(a, 1)
        assert await put(a, 10, 5) == [PutMessageStatus.PUT_OK] * 5
        await wait_until(lambda: b.store.max_phy_offset() == a.store.max_phy_offset(), "copy")
        await wait_until(lambda: queued(b) >= 15, "b has all fifteen")
        assert queued(b) == 15
    finally:
        await a.aclose()
        await b.aclose()


async def test_master_shows_consumers_only_what_the_whole_set_has(tmp_path: Path) -> None:
    """Java 5's CommitLog#getConfirmOffset on a controller-mode master: with
    allAckInSyncStateSet its consumers see a record only once every member holds it, so a
    failover never takes back a message a consumer has read (and moved its offset past);
    ``readUnCommitted`` shows everything as appended."""
    a = await Node(tmp_path / "a", 1, all_ack_in_sync_state_set=True, slave_timeout=2000).start()
    b = await Node(tmp_path / "b", 2).start()
    woken: list[tuple[str, int, int]] = []
    a.store.message_arriving_listener = lambda t, q, off, _code: woken.append((t, q, off))
    try:
        assert await a.ha.change_to_master(1)
        assert await put(a, 0, 4) == [PutMessageStatus.PUT_OK] * 4
        assert queued(a) == 4  # alone in the set: visible as appended
        a.ha.set_sync_state_set(frozenset({1, 2}))
        await b.follow(a, 1)
        await wait_until(lambda: a.ha.stats().connection_count == 1, "b linked")
        assert await put(a, 4, 6) == [PutMessageStatus.PUT_OK] * 6
        assert queued(a) == 10  # each acknowledged: every member has it
        assert b.ha.client is not None
        b.ha.client.pause()
        woken.clear()
        assert await put_together(a, 10, 5) == [PutMessageStatus.FLUSH_SLAVE_TIMEOUT] * 5
        assert queued(a) == 10 and woken == []  # held back: b does not have them
        b.ha.client.resume()
        await wait_until(lambda: queued(a) == 15, "b acked: the master shows the rest")
        assert len(woken) == 5  # held pulls are woken for what becomes visible
        a.store.config.read_un_committed = True
        b.ha.client.pause()
        await put_together(a, 15, 2)
        a.ha.set_sync_state_set(frozenset({1, 2}))  # any change re-reads the setting
        assert queued(a) == 17
    finally:
        for node in (a, b):
            await node.aclose()
