"""``rocketq bench producer|consumer``: load generators with RocketMQ's benchmark options."""

from __future__ import annotations

import click

from rocketq.cli.base import (
    DEFAULT_NAMESRV,
    main,
    run_async,
)

__all__ = ["bench", "bench_consumer", "bench_producer"]

# The options both benchmarks take, as RocketMQ's benchmark scripts spell them.
_namesrv_option = click.option(
    "-n",
    "--namesrvAddr",
    "namesrv",
    envvar="NAMESRV_ADDR",
    default=DEFAULT_NAMESRV,
    show_default=True,
    help="NameServer address.",
)
_topic_option = click.option(
    "-t", "--topic", default="BenchmarkTest", show_default=True, help="Topic."
)


@main.group()
def bench() -> None:
    """Benchmarks with RocketMQ's options: a producer and a consumer with live TPS and RT."""


@bench.command("producer")
@_namesrv_option
@_topic_option
@click.option(
    "-w", "--threadCount", "concurrency", default=64, show_default=True, help="Concurrent senders."
)
@click.option("-s", "--messageSize", "size", default=128, show_default=True, help="Body bytes.")
@click.option("-k", "--keyEnable", "keys", is_flag=True, help="Give every message a key.")
@click.option("--seconds", default=30.0, show_default=True, help="How long to run.")
def bench_producer(
    namesrv: str, topic: str, concurrency: int, size: int, keys: bool, seconds: float
) -> None:
    """Send as fast as ``-w`` concurrent senders can, printing TPS and RT every second.

    Requests go with RocketMQ's binary header, as RocketMQ's Java benchmark tools send
    them; ROCKETMQ_SERIALIZE_TYPE=JSON in the environment sends JSON headers (a client's
    default) instead.
    """
    from rocketq.bench import run_producer

    run_async(run_producer(namesrv, topic, concurrency, size, seconds, keys))


@bench.command("consumer")
@_namesrv_option
@_topic_option
@click.option("-g", "--group", default="benchmark_consumer", show_default=True, help="Group.")
@click.option("--seconds", default=30.0, show_default=True, help="How long to run at most.")
@click.option(
    "-b",
    "--batch",
    default=32,
    show_default=True,
    help="Messages per listener call (consumeMessageBatchMaxSize; RocketMQ's default is 1).",
)
@click.option(
    "--count",
    default=0,
    help="Stop after this many messages and print the drain rate (a new group's backlog).",
)
def bench_consumer(
    namesrv: str, topic: str, group: str, seconds: float, batch: int, count: int
) -> None:
    """Consume the topic from its first message, printing TPS and end-to-end RT every second.

    Pull requests go with RocketMQ's binary header (ROCKETMQ_SERIALIZE_TYPE=JSON: JSON).
    """
    from rocketq.bench import run_consumer

    run_async(run_consumer(namesrv, topic, group, seconds, batch, count))
