"""``rocketq bench``: the producer fills a topic and the consumer drains exactly that backlog."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rocketq.bench import run_consumer, run_producer
from rocketq.testing import running_cluster


@pytest.mark.parametrize("batch", [1, 32])
async def test_consumer_stops_after_count_and_reports_the_drain(
    tmp_path: Path, batch: int, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_cluster(tmp_path) as (namesrv, _broker):
        sent = await run_producer(namesrv.address, "BenchTopic", 4, 64, 0.5, keys=True)
        assert sent.ok > 0
        assert sent.failed == 0
        # A generous time cap: the run must end because the count was reached, not by time.
        got = await run_consumer(
            namesrv.address, "BenchTopic", f"bench_cg_{batch}", 60.0, batch, sent.ok
        )
    assert got.ok >= sent.ok
    out = capsys.readouterr().out
    drain = re.search(r"drain: ([\d,]+) messages in [\d.]+ s after the first", out)
    assert drain is not None
    assert int(drain.group(1).replace(",", "")) >= sent.ok
