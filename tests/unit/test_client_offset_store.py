"""Offset stores: the broker one with fake fetch/commit seams, the file one in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rocketq.client.message import MessageQueue
from rocketq.client.offset_store import (
    LocalFileOffsetStore,
    OffsetNotFoundError,
    OffsetStore,
    ReadOffsetType,
    RemoteBrokerOffsetStore,
    format_queue_key,
    parse_queue_key,
)
from rocketq.common.errors import BrokerError, ClientError, RemotingTimeoutError

MQ0 = MessageQueue("T", "broker-a", 0)
MQ1 = MessageQueue("T", "broker-a", 1)
OTHER = MessageQueue("U", "room@broker-b", 2)


class FakeBroker:
    """Stands in for QUERY_CONSUMER_OFFSET / UPDATE_CONSUMER_OFFSET."""

    def __init__(self) -> None:
        self.offsets: dict[MessageQueue, int] = {}
        self.commits: list[tuple[MessageQueue, int]] = []
        self.fetch_error: Exception | None = None
        self.commit_error_for: set[MessageQueue] = set()

    async def fetch(self, mq: MessageQueue) -> int:
        if self.fetch_error is not None:
            raise self.fetch_error
        if mq not in self.offsets:
            raise OffsetNotFoundError()
        return self.offsets[mq]

    async def commit(self, mq: MessageQueue, offset: int) -> None:
        if mq in self.commit_error_for:
            raise RemotingTimeoutError("no answer")
        self.commits.append((mq, offset))
        self.offsets[mq] = offset


@pytest.fixture
def broker() -> FakeBroker:
    return FakeBroker()


@pytest.fixture
def remote(broker: FakeBroker) -> RemoteBrokerOffsetStore:
    return RemoteBrokerOffsetStore(broker.fetch, broker.commit, group="g")


def test_both_stores_satisfy_the_protocol(remote: RemoteBrokerOffsetStore, tmp_path: Path) -> None:
    stores: list[OffsetStore] = [remote, LocalFileOffsetStore("cid", "g", tmp_path)]
    assert len(stores) == 2


async def test_update_offset_increase_only(remote: RemoteBrokerOffsetStore) -> None:
    remote.update_offset(MQ0, 10, True)
    remote.update_offset(MQ0, 5, True)
    assert await remote.read_offset(MQ0, ReadOffsetType.READ_FROM_MEMORY) == 10
    remote.update_offset(MQ0, 5, False)
    assert await remote.read_offset(MQ0, ReadOffsetType.READ_FROM_MEMORY) == 5


async def test_remote_read_types(remote: RemoteBrokerOffsetStore, broker: FakeBroker) -> None:
    assert await remote.read_offset(MQ0, ReadOffsetType.READ_FROM_MEMORY) == -1
    assert await remote.read_offset(MQ0, ReadOffsetType.MEMORY_FIRST_THEN_STORE) == -1
    broker.offsets[MQ0] = 42
    assert await remote.read_offset(MQ0, ReadOffsetType.MEMORY_FIRST_THEN_STORE) == 42
    # the broker's answer is now in memory
    assert await remote.read_offset(MQ0, ReadOffsetType.READ_FROM_MEMORY) == 42
    broker.offsets[MQ0] = 50
    assert await remote.read_offset(MQ0, ReadOffsetType.MEMORY_FIRST_THEN_STORE) == 42
    assert await remote.read_offset(MQ0, ReadOffsetType.READ_FROM_STORE) == 50
    assert await remote.read_offset(MQ0, ReadOffsetType.READ_FROM_MEMORY) == 50


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OffsetNotFoundError(), -1),
        (BrokerError(22, "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first"), -1),
        (BrokerError(1, "system error"), -2),
        (RemotingTimeoutError("timeout"), -2),
        (OSError("connection reset"), -2),
    ],
)
async def test_remote_fetch_errors(
    remote: RemoteBrokerOffsetStore, broker: FakeBroker, error: Exception, expected: int
) -> None:
    broker.fetch_error = error
    assert await remote.read_offset(MQ0, ReadOffsetType.READ_FROM_STORE) == expected
    assert remote.clone_offset_table() == {}


async def test_remote_persist_all_commits_and_drops_unused(
    remote: RemoteBrokerOffsetStore, broker: FakeBroker
) -> None:
    await remote.persist_all([])  # nothing asked: nothing sent, nothing dropped
    remote.update_offset(MQ0, 3, False)
    remote.update_offset(MQ1, 4, False)
    remote.update_offset(OTHER, 5, False)
    await remote.persist_all({MQ0, OTHER})
    assert sorted(broker.commits) == sorted([(MQ0, 3), (OTHER, 5)])
    assert remote.clone_offset_table() == {MQ0: 3, OTHER: 5}


async def test_remote_commit_failure_is_logged_and_others_still_sent(
    remote: RemoteBrokerOffsetStore, broker: FakeBroker, caplog: pytest.LogCaptureFixture
) -> None:
    broker.commit_error_for = {MQ0}
    remote.update_offset(MQ0, 3, False)
    remote.update_offset(MQ1, 4, False)
    await remote.persist_all({MQ0, MQ1})
    assert broker.commits == [(MQ1, 4)]
    assert "updateConsumeOffsetToBroker" in caplog.text
    await remote.persist(MQ1)
    await remote.persist(OTHER)  # not held: nothing sent
    assert broker.commits == [(MQ1, 4), (MQ1, 4)]


async def test_remove_and_clone_by_topic(remote: RemoteBrokerOffsetStore) -> None:
    remote.update_offset(MQ0, 1, False)
    remote.update_offset(OTHER, 2, False)
    assert remote.clone_offset_table("T") == {MQ0: 1}
    assert remote.clone_offset_table("  ") == {MQ0: 1, OTHER: 2}
    remote.remove_offset(MQ0)
    remote.remove_offset(MQ0)
    assert remote.clone_offset_table(None) == {OTHER: 2}


# -- local file -----------------------------------------------------------------------------


def test_queue_keys_round_trip() -> None:
    assert format_queue_key(OTHER) == "U@room@broker-b@2"
    assert parse_queue_key("U@room@broker-b@2") == OTHER
    assert parse_queue_key(format_queue_key(MQ0)) == MQ0
    for bad in ("T", "T@b", "T@b@x", 7):
        with pytest.raises(ValueError):
            parse_queue_key(bad)


async def test_local_persist_and_load(tmp_path: Path) -> None:
    store = LocalFileOffsetStore("10.0.0.1@123#456", "group-1", tmp_path)
    assert store.path == tmp_path / "10.0.0.1@123#456" / "group-1" / "offsets.json"
    await store.load()  # no file yet
    assert store.clone_offset_table() == {}
    store.update_offset(MQ0, 7, False)
    store.update_offset(OTHER, 9, False)
    store.update_offset(MQ1, 1, False)
    await store.persist_all({MQ0, OTHER})
    assert json.loads(store.path.read_text()) == {
        "offsetTable": {"T@broker-a@0": 7, "U@room@broker-b@2": 9}
    }

    again = LocalFileOffsetStore("10.0.0.1@123#456", "group-1", tmp_path)
    await again.load()
    assert again.clone_offset_table() == {MQ0: 7, OTHER: 9}


async def test_local_persist_merges_and_keeps_bak(tmp_path: Path) -> None:
    store = LocalFileOffsetStore("c", "g", tmp_path)
    store.update_offset(MQ0, 1, False)
    await store.persist_all({MQ0})
    store.update_offset(MQ1, 2, False)
    await store.persist(MQ1)
    await store.persist(OTHER)  # not held: file unchanged
    assert json.loads(store.path.read_text())["offsetTable"] == {
        "T@broker-a@0": 1,
        "T@broker-a@1": 2,
    }
    bak = store.path.with_name("offsets.json.bak")
    assert json.loads(bak.read_text())["offsetTable"] == {"T@broker-a@0": 1}
    assert not store.path.with_name("offsets.json.tmp").exists()


async def test_local_read_types(tmp_path: Path) -> None:
    store = LocalFileOffsetStore("c", "g", tmp_path)
    assert await store.read_offset(MQ0, ReadOffsetType.MEMORY_FIRST_THEN_STORE) == -1
    store.update_offset(MQ0, 5, False)
    await store.persist_all({MQ0})
    store.update_offset(MQ0, 6, False)
    assert await store.read_offset(MQ0, ReadOffsetType.READ_FROM_MEMORY) == 6
    assert await store.read_offset(MQ0, ReadOffsetType.READ_FROM_STORE) == 5
    assert await store.read_offset(MQ0, ReadOffsetType.READ_FROM_MEMORY) == 5
    assert await store.read_offset(MQ1, ReadOffsetType.READ_FROM_MEMORY) == -1
    store.remove_offset(MQ0)
    assert await store.read_offset(MQ0, ReadOffsetType.MEMORY_FIRST_THEN_STORE) == 5


async def test_local_corrupt_file_falls_back_to_bak(tmp_path: Path) -> None:
    store = LocalFileOffsetStore("c", "g", tmp_path)
    store.update_offset(MQ0, 1, False)
    await store.persist_all({MQ0})
    store.update_offset(MQ0, 2, False)
    await store.persist_all({MQ0})  # .bak holds offset 1
    store.path.write_text('{"offsetTable": {"T@broker-a@0": ')  # torn write
    fresh = LocalFileOffsetStore("c", "g", tmp_path)
    await fresh.load()
    assert fresh.clone_offset_table() == {MQ0: 1}
    store.path.write_text("")  # empty file: also the backup
    assert await fresh.read_offset(MQ0, ReadOffsetType.READ_FROM_STORE) == 1


async def test_local_both_corrupt(tmp_path: Path) -> None:
    store = LocalFileOffsetStore("c", "g", tmp_path)
    store.path.parent.mkdir(parents=True)
    store.path.write_text("not json")
    store.path.with_name("offsets.json.bak").write_text('{"offsetTable": []}')
    with pytest.raises(ClientError, match="cannot read local offsets"):
        await store.load()
    assert await store.read_offset(MQ0, ReadOffsetType.READ_FROM_STORE) == -1


async def test_local_reads_java_fastjson_object_keys(tmp_path: Path) -> None:
    store = LocalFileOffsetStore("c", "g", tmp_path)
    store.path.parent.mkdir(parents=True)
    store.path.write_text(
        '{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:12,'
        '{"brokerName":"room@broker-b","queueId":2,"topic":"U"}:3}}'
    )
    await store.load()
    assert store.clone_offset_table() == {MQ0: 12, OTHER: 3}


async def test_memory_offset_is_read_offset_from_memory(tmp_path: Path) -> None:
    async def fetch(mq: MessageQueue) -> int:
        return 7

    async def commit(mq: MessageQueue, offset: int) -> None:
        return None

    mq = MessageQueue("T", "b", 0)
    for store in (RemoteBrokerOffsetStore(fetch, commit), LocalFileOffsetStore("c", "g", tmp_path)):
        assert store.memory_offset(mq) == -1
        assert await store.read_offset(mq, ReadOffsetType.READ_FROM_MEMORY) == -1
        store.update_offset(mq, 12, False)
        assert store.memory_offset(mq) == 12
        assert await store.read_offset(mq, ReadOffsetType.READ_FROM_MEMORY) == 12
