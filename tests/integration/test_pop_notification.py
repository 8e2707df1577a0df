"""Where a consumer group with no offset yet starts, on a queue whose first offset
retention has moved past 0 (a real store with tiny files; the clean service deletes the old
ones):

* NOTIFICATION counts the queue's messages from its first (min) offset, as RocketMQ 5's
  ``NotificationProcessor#getPopOffset`` does, whatever a pop would start from;
* a pop starts at the first message with initMode MIN and at the last one with MAX
  (``PopMessageProcessor#getInitOffset``), and commits that start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rocketq.broker.config import BrokerConfig
from rocketq.broker.consumer_offset import ConsumerOffsetManager
from rocketq.broker.pop import PopService
from rocketq.broker.pop.service import INIT_MODE_MAX, INIT_MODE_MIN
from rocketq.broker.processor.notification import NotificationProcessor
from rocketq.broker.subscription_group import SubscriptionGroupManager
from rocketq.broker.topic_config import TopicConfigManager
from rocketq.common.message import encode_properties
from rocketq.common.topic import TopicConfig
from rocketq.remoting import RemotingCommand, RequestCode, ResponseCode
from rocketq.store.clean import CleanService
from rocketq.store.config import StoreConfig
from rocketq.store.format import StoredMessage
from rocketq.store.message_store import DefaultMessageStore

TOPIC, GROUP = "NotifyT", "notify-new-g"
# ~300-byte records in 4 KiB commit log files, 20 entries per consume queue file: a few
# dozen messages span several files of both, so a clean removes whole files of each.
COMMIT_LOG_FILE = 4096
CONSUME_QUEUE_FILE = 20 * 20
MESSAGES = 60
# "Now" for the clean service: 04:30 (deleteWhen's default hour), 5 days on (files are
# then past fileReservedTime, 72 h).
DAYS_AHEAD = 5
DELETE_HOUR = 4


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DefaultMessageStore]:
    config = StoreConfig(
        store_path_root_dir=str(tmp_path),
        mapped_file_size_commit_log=COMMIT_LOG_FILE,
        mapped_file_size_consume_queue=CONSUME_QUEUE_FILE,
        delete_commit_log_files_interval=0,
        delete_consume_queue_files_interval=0,
    )
    store = DefaultMessageStore(config)
    await store.start()
    yield store
    await store.aclose()


async def _fill(store: DefaultMessageStore, count: int) -> None:
    for i in range(count):
        message = StoredMessage(
            topic=TOPIC,
            queue_id=0,
            body=bytes(200),
            properties=encode_properties({"KEYS": f"k{i}"}),
            born_timestamp=1,
            born_host=("127.0.0.1", 5000),
        )
        assert (await store.put_message(message)).status.stored


async def _delete_old_files(store: DefaultMessageStore) -> None:
    day = datetime.now() + timedelta(days=DAYS_AHEAD)
    stamp = int(day.replace(hour=DELETE_HOUR, minute=30).timestamp() * 1000)
    clean = CleanService(
        store.config, store.commit_log, store.consume_queues, store.index_service,
        clock=lambda: stamp, disk_usage=lambda _path: 0.1,
    )  # fmt: skip
    await clean.run_once()


def _notification(group: str) -> RemotingCommand:
    ext = {"consumerGroup": group, "topic": TOPIC, "queueId": "-1", "pollTime": "0",
           "bornTime": "0"}  # fmt: skip
    return RemotingCommand.request(RequestCode.NOTIFICATION, ext)


async def _pop_service(store: DefaultMessageStore, root: Path) -> tuple[PopService, int]:
    """A PopService over the store once retention moved the queue's first offset past 0."""
    await _fill(store, MESSAGES)
    await _delete_old_files(store)
    low = store.get_min_offset_in_queue(TOPIC, 0)
    assert 0 < low < store.get_max_offset_in_queue(TOPIC, 0) == MESSAGES
    topics = TopicConfigManager(root / "topics.json", BrokerConfig(broker_name="broker-n"))
    topics.update(TopicConfig(TOPIC, 1, 1))
    offsets = ConsumerOffsetManager(root / "consumerOffset.json")
    return PopService(store, offsets, "broker-n", topics=topics), low


async def test_new_group_is_notified_from_the_first_offset(
    store: DefaultMessageStore, tmp_path: Path
) -> None:
    service, low = await _pop_service(store, tmp_path)
    broker, topics, offsets = BrokerConfig(broker_name="broker-n"), service.topics, service.offsets
    assert topics is not None
    groups = SubscriptionGroupManager(tmp_path / "subscriptionGroup.json", True)
    processor = NotificationProcessor(broker, topics, groups, lambda: service)

    # a brand-new group: the messages from the first offset on count
    assert service.notification_offset(GROUP, TOPIC, 0) == low
    answer = await processor.process(None, _notification(GROUP))  # type: ignore[arg-type]
    assert (answer.code, answer.ext_fields) == (ResponseCode.SUCCESS, {"hasMsg": "true"})
    # asking commits nothing
    assert offsets.query(GROUP, TOPIC, 0) < 0
    # a group that consumed everything is not notified; one behind is
    offsets.commit("caught-up", TOPIC, 0, MESSAGES)
    answer = await processor.process(None, _notification("caught-up"))  # type: ignore[arg-type]
    assert answer.ext_fields == {"hasMsg": "false"}
    offsets.commit("behind", TOPIC, 0, MESSAGES - 1)
    answer = await processor.process(None, _notification("behind"))  # type: ignore[arg-type]
    assert answer.ext_fields == {"hasMsg": "true"}
    # an offset below the first one counts from the first one
    offsets.commit("stale", TOPIC, 0, 0)
    assert service.notification_offset("stale", TOPIC, 0) == low


async def test_a_new_groups_pop_starts_where_its_init_mode_says(
    store: DefaultMessageStore, tmp_path: Path
) -> None:
    service, low = await _pop_service(store, tmp_path)
    offsets = service.offsets
    first = await service.pop("from-min", TOPIC, [0], 1, 60_000, init_mode=INIT_MODE_MIN)
    assert [p.record.queue_offset for p in first] == [low]
    assert offsets.query("from-min", TOPIC, 0) == low + 1
    last = await service.pop("from-max", TOPIC, [0], 32, 60_000, init_mode=INIT_MODE_MAX)
    assert [p.record.queue_offset for p in last] == [MESSAGES - 1]
    assert offsets.query("from-max", TOPIC, 0) == MESSAGES
    # the gRPC receives' default is MAX, as the Proxy's
    default = await service.pop("grpc-like", TOPIC, [0], 32, 60_000)
    assert [p.record.queue_offset for p in default] == [MESSAGES - 1]
    # a group with an offset goes on from it, whatever the mode
    again = await service.pop("from-min", TOPIC, [0], 1, 60_000, init_mode=INIT_MODE_MAX)
    assert [p.record.queue_offset for p in again] == [low + 1]
