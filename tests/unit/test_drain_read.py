"""The store's unfiltered read (a ``*`` subscription's pulls) returns what the filtered
read returns with a filter that takes everything: same views, offsets and statuses, across
CommitLog file boundaries and the in-memory batch limits."""

from __future__ import annotations

from pathlib import Path

from rocketq.store.config import StoreConfig
from rocketq.store.format import StoredMessage, encode_properties
from rocketq.store.message_store import DefaultMessageStore
from rocketq.store.result import GetMessageResult


class TakesAll:
    """A filter that lets everything through (the store's general loop)."""

    def is_matched_by_consume_queue(self, tags_code: int | None) -> bool:
        return True

    def is_matched_by_commit_log(self, record: memoryview) -> bool:
        return True


def _summary(r: GetMessageResult) -> tuple[object, ...]:
    out = (
        r.status,
        r.next_begin_offset,
        r.min_offset,
        r.max_offset,
        [bytes(v) for v in r.buffers],
        list(r.queue_offsets),
        r.buffer_total_size,
        r.suggest_pulling_from_slave,
    )
    r.release()
    return out


async def test_unfiltered_read_matches_the_filtered_one(tmp_path: Path) -> None:
    config = StoreConfig(
        store_path_root_dir=str(tmp_path),
        mapped_file_size_commit_log=8192,  # a few records per file: reads cross files
        mapped_file_size_consume_queue=20 * 64,
        max_transfer_count_on_message_in_memory=5,
        max_transfer_bytes_on_message_in_memory=3000,
    )
    store = DefaultMessageStore(config)
    await store.start()
    try:
        props = encode_properties({"TAGS": "A"})
        for i in range(60):
            stored = StoredMessage(
                topic="T",
                queue_id=i % 2,
                body=bytes(100 + 37 * (i % 11)),
                properties=props,
                born_timestamp=1,
                born_host=("127.0.0.1", 5000),
            )
            assert (await store.put_message(stored)).status.stored
        for queue_id in (0, 1, 2):
            for offset in range(0, 33):
                for nums in (1, 3, 32):
                    plain = store.get_message("g", "T", queue_id, offset, nums, None)
                    filtered = store.get_message("g", "T", queue_id, offset, nums, TakesAll())
                    assert _summary(plain) == _summary(filtered), (queue_id, offset, nums)
    finally:
        await store.aclose()
