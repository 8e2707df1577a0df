"""``rocketq bench``: RocketMQ's benchmark Producer and Consumer, with a live display.

Options follow RocketMQ's ``benchmark`` tools (``-t`` topic, ``-w`` concurrency, ``-s``
body size, ``-k`` keys, ``-n`` NameServer). Every second a line shows TPS and the
average, p99 and max response time; the end prints a summary. Requests carry RocketMQ's
binary header, as the Java tools' do (``ROCKETMQ_SERIALIZE_TYPE=JSON`` for JSON headers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.table import Table

from rocketq.client.config import ClientConfig, ConsumerConfig
from rocketq.client.consume_service import ConsumeConcurrentlyStatus
from rocketq.client.instance import MQClientInstance
from rocketq.client.message import Message, MessageExt
from rocketq.client.producer import AsyncProducer
from rocketq.client.push_consumer import AsyncPushConsumer
from rocketq.remoting.client import SERIALIZE_TYPE_ENV
from rocketq.remoting.codes import SerializeType

__all__ = ["BenchStats", "run_consumer", "run_producer"]


@dataclass(slots=True)
class BenchStats:
    """Counts and response times of one second (or of the whole run)."""

    ok: int = 0
    failed: int = 0
    # Out of the repr: asyncio.Runner formats the main task, result included, when it
    # closes (signal handler restore), and a run's RTs made that take a quarter second.
    rts: list[float] = field(default_factory=list, repr=False)

    def line(self, seconds: float) -> tuple[str, str, str, str, str]:
        """TPS, failures, avg / p99 / max RT in ms."""
        rts = sorted(self.rts)
        avg = sum(rts) / len(rts) if rts else 0.0
        p99 = rts[min(len(rts) - 1, int(len(rts) * 0.99))] if rts else 0.0
        top = rts[-1] if rts else 0.0
        tps = self.ok / seconds if seconds > 0 else 0.0
        return f"{tps:,.0f}", str(self.failed), f"{avg:.2f}", f"{p99:.2f}", f"{top:.2f}"


def _table(title: str, rows: list[tuple[str, ...]]) -> Table:
    table = Table("second", "TPS", "failed", "avg RT ms", "p99 RT ms", "max RT ms", title=title)
    for row in rows[-15:]:
        table.add_row(*row)
    return table


async def _tick(stop: asyncio.Event | None) -> None:
    """One second, or less when ``stop`` is set in the meantime."""
    if stop is None:
        await asyncio.sleep(1.0)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), 1.0)


async def _report(
    title: str,
    current: list[BenchStats],
    total: BenchStats,
    seconds: float,
    stop: asyncio.Event | None = None,
) -> None:
    rows: list[tuple[str, ...]] = []
    console = Console()
    start, cpu_start = time.monotonic(), time.process_time()
    with Live(_table(title, rows), console=console, refresh_per_second=2, transient=False) as live:
        while time.monotonic() - start < seconds and not (stop and stop.is_set()):
            await _tick(stop)
            done, current[0] = current[0], BenchStats()
            total.ok += done.ok
            total.failed += done.failed
            total.rts.extend(done.rts)
            rows.append((str(len(rows) + 1), *done.line(1.0)))
            live.update(_table(title, rows))
    tps, failed, avg, p99, top = total.line(time.monotonic() - start)
    cpu = time.process_time() - cpu_start
    console.print()
    console.print(
        f"[bold]{title} summary[/]: {total.ok:,} ok, {failed} failed, {tps} msgs/s, "
        f"RT avg {avg} ms, p99 {p99} ms, max {top} ms, {_cpu_per_message(cpu, total.ok)}"
    )


def _cpu_per_message(cpu: float, messages: int) -> str:
    """This process's CPU time (all its threads) per message, in µs: the client's cost,
    steadier on a shared machine than the rate."""
    per = cpu * 1e6 / messages if messages else 0.0
    return f"client CPU {per:,.1f} µs/msg"


def _binary_headers(instance: MQClientInstance) -> None:
    """Requests with RocketMQ's binary header, as RocketMQ's benchmark Producer and Consumer
    send them (both set ``rocketmq.serialize.type`` to ROCKETMQ), unless
    ``ROCKETMQ_SERIALIZE_TYPE`` names the serialization to use."""
    if not os.environ.get(SERIALIZE_TYPE_ENV, "").strip():
        instance.remoting.serialize_type = SerializeType.ROCKETMQ


async def run_producer(
    namesrv: str, topic: str, concurrency: int, size: int, seconds: float, keys: bool
) -> BenchStats:
    """``concurrency`` senders each sending sync, for ``seconds``."""
    current, total = [BenchStats()], BenchStats()
    body = b"x" * size
    producer = AsyncProducer("benchmark_producer", client_config=ClientConfig(namesrv_addr=namesrv))
    _binary_headers(producer.instance)
    async with producer:
        await producer.send(Message(topic, body))  # route + auto-create before timing
        clock = time.perf_counter
        deadline = clock() + seconds

        async def sender(n: int) -> None:
            # The load generator's own work per send kept small (one clock read before
            # and one after, positional Message): its CPU counts in the client's figure.
            send = producer.send
            i = 0
            while True:
                msg = Message(topic, body, None, f"k{n}-{i}") if keys else Message(topic, body)
                started = clock()
                if started >= deadline:
                    break
                try:
                    await send(msg)
                except Exception:
                    current[0].failed += 1
                else:
                    stats = current[0]
                    stats.ok += 1
                    stats.rts.append((clock() - started) * 1000)
                i += 1

        await asyncio.gather(
            _report("producer", current, total, seconds), *(sender(n) for n in range(concurrency))
        )
    return total


async def run_consumer(
    namesrv: str, topic: str, group: str, seconds: float, batch: int = 32, count: int = 0
) -> BenchStats:
    """A push consumer; RT = now - the message's born time.

    ``batch`` is the listener's batch (consumeMessageBatchMaxSize). With ``count`` > 0 the
    run ends once that many messages arrived and prints the drain rate, from the first
    message to the ``count``-th: how fast a new group empties a backlog.
    """
    current, total = [BenchStats()], BenchStats()
    config = ConsumerConfig(
        consume_from_where="CONSUME_FROM_FIRST_OFFSET", consume_message_batch_max_size=batch
    )
    consumer = AsyncPushConsumer(
        group, config=config, client_config=ClientConfig(namesrv_addr=namesrv)
    )
    _binary_headers(consumer.instance)
    consumer.subscribe(topic, "*")
    drained = asyncio.Event()
    seen = [0]
    # (perf_counter, process_time, messages seen) at the first message and at the count-th
    marks: list[tuple[float, float, int]] = []

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        now = time.time() * 1000
        if not marks:
            marks.append((time.perf_counter(), time.process_time(), 0))
        stats, n = current[0], len(msgs)
        stats.ok += n
        if n == 1:  # batches of one (RocketMQ's default): no generator per call
            stats.rts.append(now - msgs[0].born_timestamp)
        else:
            stats.rts.extend([now - m.born_timestamp for m in msgs])
        seen[0] += n
        if count and seen[0] >= count and not drained.is_set():
            marks.append((time.perf_counter(), time.process_time(), seen[0]))
            drained.set()
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    consumer.register_listener(listener)
    # The report runs from the start: with a backlog, start() returns only after the first
    # rebalance has begun pulling every queue, and messages flow meanwhile.
    report = asyncio.ensure_future(
        _report("consumer", current, total, seconds, drained if count else None)
    )
    try:
        await consumer.start()
        await report
    finally:
        report.cancel()
        await consumer.aclose()
    if count:
        _print_drain(count, seen[0], marks)
    return total


def _print_drain(count: int, seen: int, marks: list[tuple[float, float, int]]) -> None:
    """The rate and CPU from the first message to the ``count``-th (messages that came
    while the consumer closed are not counted)."""
    if len(marks) < 2:
        Console().print(f"[bold]drain[/]: only {seen:,} of {count:,} messages arrived in time")
        return
    (start, cpu_start, _), (end, cpu_end, reached) = marks
    elapsed = end - start
    Console().print(
        f"[bold]drain[/]: {reached:,} messages in {elapsed:.2f} s after the first: "
        f"{reached / elapsed:,.0f} msgs/s, {_cpu_per_message(cpu_end - cpu_start, reached)}"
    )
