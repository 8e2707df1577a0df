"""``rocketq bench``: RocketMQ's benchmark Producer and Consumer, with a live display.

Options follow RocketMQ's ``benchmark`` tools (``-t`` topic, ``-w`` concurrency, ``-s``
body size, ``-k`` keys, ``-n`` NameServer). Every second a line shows TPS and the
average, p99 and max response time; the end prints a summary.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.table import Table

from rocketq.client.config import ClientConfig, ConsumerConfig
from rocketq.client.consume_service import ConsumeConcurrentlyStatus
from rocketq.client.message import Message, MessageExt
from rocketq.client.producer import AsyncProducer
from rocketq.client.push_consumer import AsyncPushConsumer

__all__ = ["BenchStats", "run_consumer", "run_producer"]


@dataclass(slots=True)
class BenchStats:
    """Counts and response times of one second (or of the whole run)."""

    ok: int = 0
    failed: int = 0
    rts: list[float] = field(default_factory=list)

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


async def _report(title: str, current: list[BenchStats], total: BenchStats, seconds: float) -> None:
    rows: list[tuple[str, ...]] = []
    console = Console()
    start = time.monotonic()
    with Live(_table(title, rows), console=console, refresh_per_second=2, transient=False) as live:
        while time.monotonic() - start < seconds:
            await asyncio.sleep(1.0)
            done, current[0] = current[0], BenchStats()
            total.ok += done.ok
            total.failed += done.failed
            total.rts.extend(done.rts)
            rows.append((str(len(rows) + 1), *done.line(1.0)))
            live.update(_table(title, rows))
    tps, failed, avg, p99, top = total.line(time.monotonic() - start)
    console.print()
    console.print(
        f"[bold]{title} summary[/]: {total.ok:,} ok, {failed} failed, {tps} msgs/s, "
        f"RT avg {avg} ms, p99 {p99} ms, max {top} ms"
    )


async def run_producer(
    namesrv: str, topic: str, concurrency: int, size: int, seconds: float, keys: bool
) -> BenchStats:
    """``concurrency`` senders each sending sync, for ``seconds``."""
    current, total = [BenchStats()], BenchStats()
    body = b"x" * size
    async with AsyncProducer(
        "benchmark_producer", client_config=ClientConfig(namesrv_addr=namesrv)
    ) as producer:
        await producer.send(Message(topic, body))  # route + auto-create before timing
        deadline = time.monotonic() + seconds

        async def sender(n: int) -> None:
            i = 0
            while time.monotonic() < deadline:
                msg = Message(topic, body, keys=f"k{n}-{i}" if keys else None)
                started = time.perf_counter()
                try:
                    await producer.send(msg)
                    current[0].ok += 1
                    current[0].rts.append((time.perf_counter() - started) * 1000)
                except Exception:
                    current[0].failed += 1
                i += 1

        await asyncio.gather(
            _report("producer", current, total, seconds), *(sender(n) for n in range(concurrency))
        )
    return total


async def run_consumer(namesrv: str, topic: str, group: str, seconds: float) -> BenchStats:
    """A push consumer; RT = now - the message's born time."""
    current, total = [BenchStats()], BenchStats()
    config = ConsumerConfig(
        consume_from_where="CONSUME_FROM_FIRST_OFFSET", consume_message_batch_max_size=32
    )
    consumer = AsyncPushConsumer(
        group, config=config, client_config=ClientConfig(namesrv_addr=namesrv)
    )
    consumer.subscribe(topic, "*")

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        now = time.time() * 1000
        current[0].ok += len(msgs)
        current[0].rts.extend(now - m.born_timestamp for m in msgs)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    consumer.register_listener(listener)
    await consumer.start()
    try:
        await _report("consumer", current, total, seconds)
    finally:
        await consumer.aclose()
    return total
