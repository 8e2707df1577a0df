"""The push consumer's consume side alone (issue 11): pulls of 32 messages go into a
ProcessQueue and the ConsumeService under the 1000-message flow control, an async listener
that returns at once acknowledges them, offsets go to a RemoteBrokerOffsetStore (nothing
sent). No sockets, no decoding: what the client spends per message after a pull.

    .venv/bin/python benchmarks/drain_consume_bench.py [--messages 200000] [--batch 1]

Prints the process CPU per message (median of --rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import uvloop

from rocketq.client.config import ConsumerConfig
from rocketq.client.consume_service import ConsumeConcurrentlyStatus, ConsumeService
from rocketq.client.message import MessageExt, MessageQueue
from rocketq.client.offset_store import RemoteBrokerOffsetStore
from rocketq.client.process_queue import ProcessQueue
from rocketq.client.stats import ConsumerStatsManager

_PULL = 32  # messages per pull (the broker's maxTransferCountOnMessageInMemory)
_FLOW_LIMIT = 1000  # pullThresholdForQueue


class Side:
    """What ConsumeService uses of a push consumer: config and the offset store."""

    def __init__(self, batch: int) -> None:
        self.config = ConsumerConfig(consume_message_batch_max_size=batch)

        async def fetch(mq: MessageQueue) -> int:
            return 0

        async def commit(mq: MessageQueue, offset: int) -> None:
            return None

        self.offset_store = RemoteBrokerOffsetStore(fetch, commit, group="g")

    def reset_retry_topic(self, msgs: list[MessageExt]) -> None:
        """Nothing to reset: no retry topic here."""

    async def send_message_back(self, msg: MessageExt, delay_level: int, mq: MessageQueue) -> bool:
        """Never called: the listener succeeds."""
        return True

    async def try_lock_later(self, mq: MessageQueue) -> None:
        """Never called: concurrent consumption."""

    def max_reconsume_times(self) -> int:
        """RocketMQ's default."""
        return 16


def _messages(n: int, mq: MessageQueue) -> list[MessageExt]:
    body = bytes(1024)
    return [
        MessageExt(
            mq.topic,
            body,
            {"UNIQ_KEY": f"id{i}", "MAX_OFFSET": str(n)},
            f"id{i}",
            "off",
            mq.queue_id,
            i,
            i * 1100,
            1,
            ("127.0.0.1", 1),
            2,
            ("127.0.0.1", 2),
            0,
            0,
            0,
            0,
        )
        for i in range(n)
    ]


async def _round(messages: int, batch: int) -> float:
    mq = MessageQueue("Drain", "b", 0)
    side = Side(batch)
    seen = [0]
    done = asyncio.Event()

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        seen[0] += len(msgs)
        if seen[0] >= messages:
            done.set()
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    service = ConsumeService(side, listener, orderly=False)
    service.stats, service.stats_group = ConsumerStatsManager(), "g"
    msgs = _messages(messages, mq)
    pq = ProcessQueue()
    cpu = time.process_time()
    for i in range(0, messages, _PULL):
        while pq.msg_count > _FLOW_LIMIT:
            await asyncio.sleep(0)
        chunk = msgs[i : i + _PULL]
        service.submit(chunk, pq, mq, pq.put_messages(chunk))
        await asyncio.sleep(0)  # the next pull response comes in a later loop turn
    await done.wait()
    spent = time.process_time() - cpu
    await service.aclose()
    return spent * 1e6 / messages


def main() -> None:
    """Run the rounds and print the median CPU per message."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results = [uvloop.run(_round(args.messages, args.batch)) for _ in range(args.rounds)]
    print(
        f"batch {args.batch}: {statistics.median(results):.2f} us CPU per message "
        f"(median of {args.rounds}; {', '.join(f'{r:.2f}' for r in results)})"
    )


if __name__ == "__main__":
    main()
