"""POP persistence over a real store in tmp_path (RocketMQ 5's checkpoints, acks and revive):
a store dropped without its clean exit — a crash — loses no un-acked message and brings no
acked one back. In process, with a fake clock: the revive service is driven by
``revive_due`` instead of its loop, so no test waits for an invisible time."""

from __future__ import annotations

from pathlib import Path

from rocketq.broker.consumer_offset import ConsumerOffsetManager
from rocketq.broker.pop import PoppedMessage, PopService
from rocketq.broker.pop.records import REVIVE_GROUP, pop_retry_topic, revive_topic
from rocketq.common.message import MessageConst, encode_properties
from rocketq.common.record import StoredMessage
from rocketq.store.config import StoreConfig
from rocketq.store.message_store import DefaultMessageStore

TOPIC, GROUP, QUEUES = "PT", "pg", 4
INVISIBLE_MS = 60_000
START = 1_700_000_000_000


class Clock:
    """Wall milliseconds the test moves."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> int:
        self.now += 1  # time passes a little between calls
        return self.now


class Broker:
    """The parts of a broker POP uses: store, offsets, POP engine (no revive loop)."""

    def __init__(self, root: Path, clock: Clock) -> None:
        config = StoreConfig(
            store_path_root_dir=str(root / "store"),
            mapped_file_size_commit_log=4 * 1024 * 1024,
            mapped_file_size_consume_queue=20 * 4096,
        )
        self.store = DefaultMessageStore(config)
        self.offsets = ConsumerOffsetManager(root / "config" / "consumerOffset.json")
        self.pop = PopService(self.store, self.offsets, "broker-a", "C", clock=clock,
                              retry_first_percent=0)  # fmt: skip

    @classmethod
    async def open(cls, root: Path, clock: Clock) -> Broker:
        broker = cls(root, clock)
        broker.offsets.load()
        await broker.store.start()
        broker.pop.revive.recover()
        return broker

    async def crash(self) -> None:
        """Stop the store's tasks and unmap its files without the clean-exit steps (no
        offsets persisted either)."""
        store = self.store
        for tasks in (store.flush_service._tasks, store._tasks, store.clean_service._tasks):
            await tasks.aclose()
        store.commit_log.close()
        for cq in store.consume_queues.values():
            cq.close()
        if store.index_service is not None:
            store.index_service.close()
        store.lock.release()

    async def receive_all(self, limit: int = 10_000) -> list[PoppedMessage]:
        out: list[PoppedMessage] = []
        while len(out) < limit:
            found = await self.pop.pop(GROUP, TOPIC, range(QUEUES), 32, INVISIBLE_MS)
            if not found:
                return out
            out += found
        return out


def msg_id(popped: PoppedMessage) -> str:
    return popped.record.properties_map()[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX]


async def put_messages(broker: Broker, count: int) -> None:
    for i in range(count):
        props = {MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX: f"M{i:04d}", "TAGS": "t"}
        body = f"body {i}".encode()
        stored = StoredMessage(TOPIC, i % QUEUES, body, encode_properties(props), props=props)
        result = await broker.store.put_message(stored)
        assert result.status.stored


async def test_crash_keeps_unacked_and_never_returns_acked(tmp_path: Path) -> None:
    clock = Clock()
    broker = await Broker.open(tmp_path, clock)
    await put_messages(broker, 1000)
    first = await broker.receive_all()
    assert sorted(msg_id(p) for p in first) == [f"M{i:04d}" for i in range(1000)]
    assert {p.attempt for p in first} == {1}
    broker.offsets.persist()  # a periodic flush happened once, early
    acked, moved = set(), set()
    for n, popped in enumerate(first):
        if n % 3 == 0:
            assert await broker.pop.ack(GROUP, TOPIC, popped.handle)
            acked.add(msg_id(popped))
        elif n % 10 == 1:  # invisible for longer: comes back later, still un-acked
            new = await broker.pop.change_invisible(GROUP, TOPIC, popped.handle, 2 * INVISIBLE_MS)
            assert new is not None
            moved.add(msg_id(popped))
    unacked = {msg_id(p) for p in first} - acked
    assert len(acked) == 334
    await broker.crash()

    broker = await Broker.open(tmp_path, clock)
    assert await broker.receive_all() == []  # nothing handed out again as new
    clock.now += INVISIBLE_MS
    assert await broker.pop.revive.revive_due() == len(unacked) - len(moved)
    clock.now += INVISIBLE_MS
    assert await broker.pop.revive.revive_due() == len(moved)
    await broker.crash()  # after reviving, before anyone received the copies

    broker = await Broker.open(tmp_path, clock)
    clock.now += 3 * INVISIBLE_MS
    assert await broker.pop.revive.revive_due() == 0  # revived once, never twice
    again = await broker.receive_all()
    assert sorted(msg_id(p) for p in again) == sorted(unacked)
    assert {p.attempt for p in again} == {2}
    for popped in again:
        assert popped.handle.topic_type == "1"  # read from the pop retry topic
        assert await broker.pop.ack(GROUP, TOPIC, popped.handle)
    clock.now += 3 * INVISIBLE_MS
    assert await broker.pop.revive.revive_due() == 0
    assert await broker.receive_all() == []
    await broker.store.aclose()


async def test_revive_offset_and_retry_topic_names(tmp_path: Path) -> None:
    clock = Clock()
    broker = await Broker.open(tmp_path, clock)
    await put_messages(broker, 4)
    popped = await broker.receive_all()
    assert len(popped) == 4
    topic = revive_topic("C")
    assert topic == "rmq_sys_REVIVE_LOG_C"
    # one checkpoint per queue read, in the revive queue the handles name
    revive_queue = popped[0].handle.revive_queue_id
    assert broker.store.get_max_offset_in_queue(topic, revive_queue) == QUEUES
    assert broker.offsets.query(REVIVE_GROUP, topic, revive_queue) == -1
    for p in popped:
        assert await broker.pop.ack(GROUP, TOPIC, p.handle)
    # every checkpoint resolved: the revive offset is past the last record (acks too)
    end = broker.store.get_max_offset_in_queue(topic, revive_queue)
    assert broker.offsets.query(REVIVE_GROUP, topic, revive_queue) == end - 1
    assert broker.offsets.query(GROUP, TOPIC, 0) == 1
    assert pop_retry_topic(TOPIC, GROUP) == "%RETRY%pg_PT"
    await broker.store.aclose()
