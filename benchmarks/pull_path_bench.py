"""The broker's PULL_MESSAGE path in one process (issue 11): request header, checks,
filter, store read, body, response encoded and written, CPU microseconds per pull.

A real store in a temporary directory holds ``--queues`` x ``--messages`` records of 1 KiB
(interleaved, as a producer's round robin leaves them). A ``PullMessageProcessor`` built
from its parts answers pulls of 32 over a ``Connection`` whose transport only counts the
bytes, queue after queue from the first offset, as a new push group drains a backlog:

* ``java``: as RocketMQ's Java push consumer asks (no subscription in the request, the
  group's heartbeat subscription ``*``; commit offset and suspend flags);
* ``rocketq``: as rocketq's push consumer asks (the subscription ``*`` in the request).

No sockets and no frame decoding: the socket write and the loop are not in the figure.
Run it from different trees to compare them (``PYTHONPATH=<tree>/src``), alternately:

    .venv/bin/python benchmarks/pull_path_bench.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rocketq.broker.client_manager import ConsumerGroupInfo, ConsumerManager
from rocketq.broker.config import BrokerConfig
from rocketq.broker.consumer_offset import ConsumerOffsetManager
from rocketq.broker.processor.pull import PullMessageProcessor
from rocketq.broker.subscription_group import SubscriptionGroupManager
from rocketq.broker.topic_config import TopicConfigManager
from rocketq.common.message import encode_properties
from rocketq.common.topic import TopicConfig
from rocketq.remoting.codes import RequestCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.heartbeat import build_subscription
from rocketq.store.config import StoreConfig
from rocketq.store.format import StoredMessage
from rocketq.store.message_store import DefaultMessageStore

_TOPIC = "PullPath"
_PULL = 32  # a push consumer's pullBatchSize
_JAVA_FLAGS = 0x1 | 0x2  # COMMIT_OFFSET | SUSPEND: no SUBSCRIPTION
_ROCKETQ_FLAGS = 0x1 | 0x2 | 0x4
_PROPS = encode_properties(
    {"UNIQ_KEY": "FD000000000000000000000000000002629F30946E091CAD97440003", "TAGS": "fill"}
)


class CountingTransport(asyncio.Transport):
    """Counts what the connection writes."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """A loopback peer."""
        return ("127.0.0.1", 40000) if name in ("peername", "sockname") else default

    def write(self, data: Any) -> None:
        """Count."""
        self.bytes += len(data)

    def writelines(self, list_of_data: Any) -> None:
        """Count."""
        for data in list_of_data:
            self.bytes += len(data)

    def is_closing(self) -> bool:
        """Never."""
        return False


def _request(group: str, queue_id: int, offset: int, flags: int) -> RemotingCommand:
    ext = {
        "consumerGroup": group,
        "topic": _TOPIC,
        "queueId": str(queue_id),
        "queueOffset": str(offset),
        "maxMsgNums": str(_PULL),
        "sysFlag": str(flags),
        "commitOffset": str(max(offset - _PULL, 0)),
        "suspendTimeoutMillis": "15000",
        "subVersion": "1",
    }
    if flags & 0x4:
        ext["subscription"] = "*"
        ext["expressionType"] = "TAG"
    return RemotingCommand(RequestCode.PULL_MESSAGE, ext_fields=ext)


async def _drain(pull: PullMessageProcessor, queues: int, messages: int, java: bool) -> float:
    """A new group reads every queue to its end: CPU microseconds per pull."""
    conn, transport = Connection(), CountingTransport()
    conn.connection_made(transport)
    group = f"g{time.monotonic_ns()}"
    sub = build_subscription(_TOPIC, "*")
    pull.consumer_manager.groups.setdefault(group, ConsumerGroupInfo(group))
    pull.consumer_manager.groups[group].update_subscriptions([sub])
    flags = _JAVA_FLAGS if java else _ROCKETQ_FLAGS
    offsets = [0] * queues
    pulls = 0
    began = time.process_time()
    while min(offsets) < messages:
        for queue_id in range(queues):
            req = _request(group, queue_id, offsets[queue_id], flags)
            response = pull.process(conn, req)
            assert response is not None and response.code == 0, response
            conn.write(response)
            assert response.ext_fields is not None
            offsets[queue_id] = int(response.ext_fields["nextBeginOffset"])
            pulls += 1
        await asyncio.sleep(0)  # the connection writes what this turn answered
    spent = time.process_time() - began
    assert transport.bytes > pulls * _PULL * 1024
    return spent / pulls * 1e6


async def _processor(root: Path, queues: int, messages: int) -> PullMessageProcessor:
    store_config = StoreConfig(store_path_root_dir=str(root), mapped_file_size_commit_log=1 << 30)
    store = DefaultMessageStore(store_config)
    await store.start()
    batch = [
        StoredMessage(topic=_TOPIC, queue_id=i % queues, body=b"x" * 1024, properties=_PROPS)
        for i in range(256)
    ]
    for _ in range(queues * messages // len(batch)):
        await store.put_messages(batch, wait_store=False)
    config = BrokerConfig(broker_name="broker-a")
    topics = TopicConfigManager(root / "topics.json", config)
    topics.update(TopicConfig(_TOPIC, queues, queues))
    return PullMessageProcessor(
        config=config,
        store_config=store_config,
        store=store,
        topic_config_manager=topics,
        subscription_group_manager=SubscriptionGroupManager(root / "groups.json"),
        consumer_manager=ConsumerManager(lambda group, channels: None),
        consumer_offset_manager=ConsumerOffsetManager(root / "offsets.json"),
    )


async def main() -> None:
    """Fill, then drain with both kinds of request alternately."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queues", type=int, default=4)
    parser.add_argument("--messages", type=int, default=8192, help="per queue")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pull = await _processor(Path(tmp), args.queues, args.messages)
        try:
            times: dict[str, list[float]] = {"java": [], "rocketq": []}
            for _ in range(args.rounds):
                for kind in times:
                    us = await _drain(pull, args.queues, args.messages, kind == "java")
                    times[kind].append(us)
        finally:
            await pull.store.aclose()
    for kind, values in times.items():
        print(f"{kind:>7} pulls: {statistics.median(values):6.2f} us per pull of {_PULL} "
              f"(min {min(values):.2f}, {args.rounds} rounds)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
