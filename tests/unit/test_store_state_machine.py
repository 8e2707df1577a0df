"""A hypothesis state machine drives the store (appends, batches, reads, clean restarts,
crash restarts, file rolls on tiny files) against a plain in-memory model."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rocketq.store.config import StoreConfig
from rocketq.store.format import StoredMessage, encode_properties
from rocketq.store.message_store import DefaultMessageStore, decode_records
from rocketq.store.result import GetMessageStatus

TOPICS = ["TopicA", "TopicB"]
QUEUES = [0, 1, 2]
bodies = st.binary(min_size=0, max_size=700)
queues = st.tuples(st.sampled_from(TOPICS), st.sampled_from(QUEUES))


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp(prefix="rocketq-sm-"))
        self.config = StoreConfig(
            store_path_root_dir=str(self.dir),
            mapped_file_size_commit_log=4096,
            mapped_file_size_consume_queue=20 * 8,
            flush_interval_commit_log=5,
            flush_interval_consume_queue=5,
        )
        self.model: dict[tuple[str, int], list[bytes]] = {}
        self.store = self._open()

    def _open(self) -> DefaultMessageStore:
        store = DefaultMessageStore(self.config)
        self.loop.run_until_complete(store.start())
        return store

    def _message(self, topic: str, qid: int, body: bytes, n: int) -> StoredMessage:
        props = encode_properties({"TAGS": f"t{n % 3}", "KEYS": f"k{n}"})
        return StoredMessage(topic=topic, queue_id=qid, body=body, properties=props)

    @rule(where=queues, body=bodies)
    def append(self, where: tuple[str, int], body: bytes) -> None:
        items = self.model.setdefault(where, [])
        msg = self._message(*where, body, len(items))
        result = self.loop.run_until_complete(self.store.put_message(msg))
        assert result.status.stored
        assert result.appended[0].queue_offset == len(items)
        items.append(body)

    @rule(where=queues, batch=st.lists(bodies, min_size=1, max_size=5))
    def append_batch(self, where: tuple[str, int], batch: list[bytes]) -> None:
        items = self.model.setdefault(where, [])
        msgs = [self._message(*where, b, len(items) + i) for i, b in enumerate(batch)]
        result = self.loop.run_until_complete(self.store.put_messages(msgs))
        assert result.status.stored
        assert [a.queue_offset for a in result.appended] == list(
            range(len(items), len(items) + len(batch))
        )
        items.extend(batch)

    @rule(where=queues, start=st.integers(0, 40), max_nums=st.integers(1, 40))
    def read(self, where: tuple[str, int], start: int, max_nums: int) -> None:
        items = self.model.get(where, [])
        r = self.store.get_message("g", *where, start, max_nums)
        try:
            if not items:
                assert r.status is GetMessageStatus.NO_MATCHED_LOGIC_QUEUE
            elif start == len(items):
                assert r.status is GetMessageStatus.OFFSET_OVERFLOW_ONE
            elif start > len(items):
                assert r.status is GetMessageStatus.OFFSET_OVERFLOW_BADLY
                assert r.next_begin_offset == len(items)
            else:
                assert r.status is GetMessageStatus.FOUND
                records = decode_records(b"".join(r.buffers))
                got = [rec.body for rec in records]
                assert got == items[start : start + len(got)]
                assert 1 <= len(got) <= max_nums
                assert [rec.queue_offset for rec in records] == r.queue_offsets
                assert r.next_begin_offset == start + len(got)
                assert all(rec.topic == where[0] and rec.queue_id == where[1] for rec in records)
        finally:
            r.release()

    @rule()
    def restart(self) -> None:
        self.loop.run_until_complete(self.store.aclose())
        self.store = self._open()

    @precondition(lambda self: bool(self.model))
    @rule()
    def crash_restart(self) -> None:
        store = self.store
        for tasks in (store.flush_service._tasks, store._tasks, store.clean_service._tasks):
            self.loop.run_until_complete(tasks.aclose())  # cancelled at once, as by a kill
        store.commit_log.close()
        for cq in store.consume_queues.values():
            cq.close()
        store.lock.release()
        self.store = self._open()

    @invariant()
    def offsets_match_model(self) -> None:
        for where, items in self.model.items():
            assert self.store.get_max_offset_in_queue(*where) == len(items)

    def teardown(self) -> None:
        try:
            self.loop.run_until_complete(self.store.aclose())
        finally:
            self.loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)


StoreMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
TestStoreMachine = StoreMachine.TestCase
