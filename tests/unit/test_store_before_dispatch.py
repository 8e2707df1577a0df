"""``DefaultMessageStore.submit_many(puts, before_dispatch)``: the answers are handed over
once the records are written and before the dispatch pass, which still runs before
``submit_many`` returns, also when the hook fails (the broker sends its answers first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rocketq.store.message_store import DefaultMessageStore
from rocketq.store.result import PutMessageResult, PutMessageStatus
from tests.unit.test_store_many import java_msg, make_config


async def test_answers_come_before_the_dispatch_and_it_still_runs(tmp_path: Path) -> None:
    store = DefaultMessageStore(make_config(tmp_path))
    await store.start()
    try:
        seen: list[tuple[list[PutMessageStatus], int]] = []

        def before(answers: list[object]) -> None:
            statuses = [a.status for a in answers if isinstance(a, PutMessageResult)]
            seen.append((statuses, store.get_max_offset_in_queue("T", 0)))

        got = store.submit_many([([java_msg(0)], True), ([java_msg(1)], True)], before)
        assert seen == [([PutMessageStatus.PUT_OK] * 2, 0)]  # written, not yet dispatched
        assert store.get_max_offset_in_queue("T", 0) == 2
        assert [r.appended[0].queue_offset for r in got if isinstance(r, PutMessageResult)] == [
            0, 1,
        ]  # fmt: skip

        def fails(answers: list[object]) -> None:
            raise RuntimeError("answering failed")

        with pytest.raises(RuntimeError):
            store.submit_many([([java_msg(2)], True)], fails)
        assert store.get_max_offset_in_queue("T", 0) == 3  # dispatched all the same
    finally:
        await store.aclose()
