"""Per-key order of three orderly consumers (one group) that are stopped and started again
at random moments while 20 keys x 2000 messages flow through an 8-queue topic.

What is checked, for the messages each consumer *process* printed (one incarnation):

* Every message was consumed at least once, by some incarnation.
* Per key, in the order a process received them, a sequence number ``s`` after the largest
  one it saw so far (``top``) is fine: the next message (``top + 1``), or a forward jump
  because another consumer owned the queue meanwhile (the skipped messages are covered by
  the first check). A step back (``s <= top``) is allowed only as a re-delivery of a suffix
  this process already saw: every number in ``s..top`` must be one it received before.
  So a process never skips back behind a message it did not see itself, i.e. to an offset
  another consumer had already consumed and committed: re-delivery after a queue moves
  may only start again from the committed offset, never from before it.

Stops are SIGTERM (clean: the consumer persists its offsets and unlocks its queues), so
duplicates across processes are counted and shown, not forbidden.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.client.config import ClientConfig
from rocketq.client.message import Message
from rocketq.client.producer import AsyncProducer, SelectMessageQueueByHash
from rocketq.common.topic import TopicConfig
from rocketq.testing import BrokerProcess, NamesrvProcess, async_wait_until
from tests.integration.conftest import ConsumerProcess

TOPIC, GROUP = "OrderedRestarts", "gordr"
KEYS, PER_KEY, QUEUES, CONSUMERS = 20, 2000, 8, 3
# Sends in flight at once; one key's messages are sent one after another (their order).
IN_FLIGHT = 16
SEED = 20240611
MIN_RESTARTS, MAX_RESTARTS = 4, 8
# Seconds between two restarts: long enough for a takeover (lock retry is 3 s) to happen
# sometimes, short enough that several restarts fall inside the stream.
RESTART_GAP = (0.5, 2.5)
DRAIN_TIMEOUT = 60.0

pytestmark = pytest.mark.slow  # consumer processes stopped and started for ~20 s


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[NamesrvProcess, BrokerProcess]]:
    with (
        NamesrvProcess(tmp_path / "ns", {"brokerChannelExpiredTime": "600000"}) as ns,
        BrokerProcess(tmp_path / "b", ns.addr) as broker,
    ):
        yield ns, broker


async def produce(ns: str, restarted: asyncio.Event) -> None:
    """KEYS tasks, each sending its key's messages in order, at most IN_FLIGHT at once. The
    last tenth waits for ``restarted`` (MIN_RESTARTS done): the restarts fall inside the
    stream however fast the machine sends, so no clock decides what the test covers."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    hold_at = PER_KEY * 9 // 10
    config = ClientConfig(namesrv_addr=ns)
    async with AsyncProducer("ordered-producer", client_config=config) as producer:

        async def one_key(k: int) -> None:
            key = f"key{k}"
            for seq in range(PER_KEY):
                if seq == hold_at:
                    await restarted.wait()
                msg = Message(TOPIC, f"{key}:{seq}".encode(), keys=key)
                async with gate:
                    await producer.send(msg, selector=SelectMessageQueueByHash, arg=key)

        await asyncio.gather(*(one_key(k) for k in range(KEYS)))


def order_violations(messages: list[dict[str, object]]) -> tuple[list[str], int, int]:
    """The module docstring's per-process rule: (violations, re-deliveries, deepest one)."""
    seqs: dict[str, list[int]] = defaultdict(list)
    for m in messages:
        key, seq = str(m["body"]).split(":")
        seqs[key].append(int(seq))
    bad, redeliveries, deepest = [], 0, 0
    for key, run in seqs.items():
        seen: set[int] = set()
        top = -1
        for i, s in enumerate(run):
            if s <= top:
                unseen = [x for x in range(s, top + 1) if x not in seen]
                if unseen:
                    bad.append(f"{key}: back from {top} to {s} (#{i}); never saw {unseen[:5]}")
                redeliveries += 1
                deepest = max(deepest, top + 1 - s)
            seen.add(s)
            top = max(top, s)
    return bad, redeliveries, deepest


async def test_per_key_order_with_random_restarts(
    cluster: tuple[NamesrvProcess, BrokerProcess], consumers: list[ConsumerProcess]
) -> None:
    ns, broker = cluster
    async with AdminClient(ns.addr) as admin:
        await admin.create_topic(broker.addr, TopicConfig(TOPIC, QUEUES, QUEUES))
    rng = random.Random(SEED)
    generation = 0

    def start(slot: int) -> ConsumerProcess:
        nonlocal generation
        generation += 1  # a fresh clientId per incarnation, like a restarted host
        c = ConsumerProcess(ns.addr, GROUP, TOPIC, "--orderly", name=f"o{slot}-{generation}")
        consumers.append(c)
        return c

    live = [start(slot) for slot in range(CONSUMERS)]
    started = time.monotonic()
    restarted = asyncio.Event()
    producing = asyncio.create_task(produce(ns.addr, restarted))
    restarts: list[tuple[float, int, int]] = []  # (seconds, slot, messages seen so far)
    while len(restarts) < MAX_RESTARTS and (len(restarts) < MIN_RESTARTS or not producing.done()):
        await asyncio.sleep(rng.uniform(*RESTART_GAP))
        slot = rng.randrange(CONSUMERS)
        seen = sum(len(c.messages) for c in consumers)
        restarts.append((round(time.monotonic() - started, 1), slot, seen))
        await asyncio.to_thread(live[slot].stop)
        live[slot] = await asyncio.to_thread(start, slot)
        if len(restarts) >= MIN_RESTARTS:
            restarted.set()
    await producing
    produced_at = time.monotonic() - started

    expected = {f"key{k}:{s}" for k in range(KEYS) for s in range(PER_KEY)}

    def missing() -> set[str]:
        return expected - {str(m["body"]) for c in consumers for m in c.messages}

    with contextlib.suppress(AssertionError):  # what is missing is reported below
        await async_wait_until(lambda: not missing(), timeout=DRAIN_TIMEOUT, interval=0.2)
    for c in live:
        await asyncio.to_thread(c.stop)
    lost = missing()
    counts = Counter(str(m["body"]) for c in consumers for m in c.messages)
    summary = (
        f"seed {SEED}; restarts (s, slot, seen) {restarts}; produced in {produced_at:.1f}s; "
        f"all in {time.monotonic() - started:.1f}s; duplicates {counts.total() - len(counts)}"
    )
    print(summary)
    assert not lost, f"{len(lost)} never consumed, e.g. {sorted(lost)[:5]}; {summary}"
    assert len(restarts) >= MIN_RESTARTS
    assert all(r[2] < len(expected) for r in restarts[:MIN_RESTARTS]), "restarts after the flow"
    for c in consumers:
        bad, redeliveries, deepest = order_violations(c.messages)
        name = c.messages[0]["name"] if c.messages else "?"
        print(f"{name}: {len(c.messages)} msgs, {redeliveries} re-deliveries, deepest {deepest}")
        assert not bad, f"{name}: {bad[:5]}; {summary}"
