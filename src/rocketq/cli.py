"""The ``rocketq`` command: run a NameServer, and administer a cluster (mqadmin's commands)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import click
import orjson
from rich.console import Console
from rich.table import Table

from rocketq.admin import AdminClient
from rocketq.admin.api import DEFAULT_DLQ_MAX, DLQ_TOOLS_GROUP, MessageQueue
from rocketq.broker.config import BrokerConfig, load_broker_conf
from rocketq.broker.controller import BrokerController
from rocketq.broker.subscription_group import SubscriptionGroupConfig
from rocketq.common.config import load_properties
from rocketq.common.errors import BrokerError, RocketQError
from rocketq.common.topic import TopicConfig
from rocketq.namesrv import NamesrvConfig, NamesrvController
from rocketq.store.config import StoreConfig
from rocketq.store.format import MessageRecord, create_offset_msg_id

__all__ = ["main", "run_async"]

T = TypeVar("T")

# RocketMQ tools read the NameServer list from NAMESRV_ADDR when -n is not given.
_DEFAULT_NAMESRV = "127.0.0.1:9876"


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop when it is installed, else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
        stream=sys.stderr,
    )


async def _serve_until_signal(
    start: Callable[[], Awaitable[str]], stop: Callable[[], Awaitable[None]]
) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    ready = await start()
    click.echo(ready)
    sys.stdout.flush()
    await stopping.wait()
    click.echo("shutting down...", err=True)
    await stop()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rocketq")
def main() -> None:
    """rocketq: Apache RocketMQ rebuilt in Python.

    Speaks RocketMQ's wire protocol, so RocketMQ's own clients (Java, C++, Go,
    Node) and tools work against it. `rocketq dev` starts a NameServer and a
    broker in one process (127.0.0.1:9876 / :10911); `rocketq namesrv` and
    `rocketq broker -c broker.conf` run them apart; `rocketq admin clusterList
    -n 127.0.0.1:9876` shows the cluster.
    """


@main.command()
@click.option(
    "-p",
    "--port",
    type=int,
    help="Port to listen on (listenPort, default 9876; 0 = any free port).",
)
@click.option(
    "-c",
    "--config-file",
    type=click.Path(exists=True, dir_okay=False),
    help="NameServer properties file with RocketMQ's keys (listenPort, kvConfigPath, ...).",
)
@click.option("--host", help="Address to bind (default 0.0.0.0, every interface).")
@click.option(
    "--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING or ERROR."
)
def namesrv(port: int | None, config_file: str | None, host: str | None, log_level: str) -> None:
    """Run a NameServer in the foreground until Ctrl-C or SIGTERM.

    Brokers register with it every 30 s; clients ask it where each topic lives.
    Prints one line when ready. Routes live in memory only; KV config is kept in
    kvConfigPath (default ~/namesrv/kvConfig.json).
    """
    _setup_logging(log_level)
    config = NamesrvConfig()
    if config_file:
        try:
            unknown = config.update(load_properties(config_file))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--config-file") from exc
        if unknown:
            logging.getLogger("rocketq").warning("ignoring unknown keys: %s", ", ".join(unknown))
    if port is not None:
        config.listen_port = port
    if host is not None:
        config.bind_address = host
    controller = NamesrvController(config)

    async def start() -> str:
        try:
            await controller.start()
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {config.bind_address}:{config.listen_port}: {exc.strerror}. "
                "Is another NameServer running? Pick another port with -p."
            ) from exc
        return (
            f"rocketq NameServer ready: listening on {config.bind_address}:{controller.port} "
            f"(pid {os.getpid()}); Ctrl-C to stop"
        )

    run_async(_serve_until_signal(start, controller.aclose))


def _broker_configs(
    config_file: str | None,
    namesrv: str | None,
    port: int | None,
    host: str | None,
    store: str | None,
) -> tuple[BrokerConfig, StoreConfig]:
    overrides: dict[str, str] = {}
    if namesrv:
        overrides["namesrvAddr"] = namesrv
    if port is not None:
        overrides["listenPort"] = str(port)
    if host:
        overrides["bindAddress"] = host
    if store:
        overrides["storePathRootDir"] = store
    try:
        broker, store_config, unknown = load_broker_conf(config_file, overrides)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--config-file") from exc
    if unknown:
        logging.getLogger("rocketq").warning("ignoring unknown keys: %s", ", ".join(unknown))
    if host and host not in ("0.0.0.0", "::"):
        broker.broker_ip1 = host  # advertise the address we bind
    return broker, store_config


@main.command()
@click.option(
    "-c",
    "--config-file",
    type=click.Path(exists=True, dir_okay=False),
    help="broker.conf with RocketMQ's keys (brokerName, namesrvAddr, storePathRootDir, ...).",
)
@click.option(
    "-n", "--namesrvAddr", "namesrv", help="NameServer address(es), 'host:port;host:port'."
)
@click.option("-p", "--port", type=int, help="Port to listen on (listenPort, default 10911).")
@click.option("--host", help="Address to bind and advertise (default: bind 0.0.0.0).")
@click.option("--store", help="Store directory (storePathRootDir, default ~/store).")
@click.option(
    "--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING or ERROR."
)
def broker(
    config_file: str | None,
    namesrv: str | None,
    port: int | None,
    host: str | None,
    store: str | None,
    log_level: str,
) -> None:
    """Run a broker in the foreground until Ctrl-C or SIGTERM.

    It stores messages under storePathRootDir, registers with every NameServer in
    namesrvAddr every 30 s, and serves RocketMQ clients on listenPort. A clean stop
    flushes everything; after a crash it recovers every acknowledged message.
    """
    _setup_logging(log_level)
    broker_config, store_config = _broker_configs(config_file, namesrv, port, host, store)
    controller = BrokerController(broker_config, store_config)

    async def start() -> str:
        try:
            await controller.start()
        except OSError as exc:
            raise click.ClickException(
                f"cannot start the broker on port {broker_config.listen_port}: {exc}. "
                "Is another broker running? Pick another port with -p."
            ) from exc
        return (
            f"rocketq broker ready: {broker_config.broker_name} listening on "
            f"{broker_config.bind_address}:{controller.port}, store "
            f"{store_config.store_path_root_dir} (pid {os.getpid()}); Ctrl-C to stop"
        )

    run_async(_serve_until_signal(start, controller.aclose))


@main.command()
@click.option("--namesrv-port", default=9876, show_default=True, help="NameServer port.")
@click.option("--broker-port", default=10911, show_default=True, help="Broker port.")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind and advertise."
)
@click.option("--store", default="./store", show_default=True, help="Store directory.")
@click.option(
    "-c",
    "--config-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Optional broker.conf for the broker (ports and store path come from the flags).",
)
@click.option(
    "--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING or ERROR."
)
def dev(
    namesrv_port: int,
    broker_port: int,
    host: str,
    store: str,
    config_file: str | None,
    log_level: str,
) -> None:
    """Run a NameServer and a broker in one process: a whole cluster for development.

    Topics are created on first use (autoCreateTopicEnable). Point any RocketMQ client
    at the printed NameServer address.
    """
    _setup_logging(log_level)
    ns_config = NamesrvConfig(listen_port=namesrv_port, bind_address=host)
    ns_config.kv_config_path = os.path.join(store, "namesrv", "kvConfig.json")
    namesrv_ctl = NamesrvController(ns_config)
    broker_config, store_config = _broker_configs(config_file, None, broker_port, host, store)
    if not config_file:
        broker_config.broker_name = "broker-a"  # RocketMQ's sample broker.conf name

    async def start() -> str:
        await namesrv_ctl.start()
        broker_config.namesrv_addr = namesrv_ctl.address
        broker_ctl = BrokerController(broker_config, store_config)
        stop_list.append(broker_ctl)
        await broker_ctl.start()
        addr = namesrv_ctl.address
        return (
            f"rocketq dev ready: NameServer {addr}, broker {broker_config.broker_addr}, "
            f"store {os.path.abspath(store)}\n"
            f"  try: rocketq admin sendMessage -n {addr} -t TestTopic -p 'hello'\n"
            f"       rocketq admin consumeMessage -n {addr} -t TestTopic"
        )

    stop_list: list[BrokerController] = []

    async def stop() -> None:
        for broker_ctl in stop_list:
            await broker_ctl.aclose()
        await namesrv_ctl.aclose()

    run_async(_serve_until_signal(start, stop))


@main.group()
def bench() -> None:
    """Benchmarks with RocketMQ's options: a producer and a consumer with live TPS and RT."""


@bench.command("producer")
@click.option(
    "-n",
    "--namesrvAddr",
    "namesrv",
    envvar="NAMESRV_ADDR",
    default=_DEFAULT_NAMESRV,
    show_default=True,
    help="NameServer address.",
)
@click.option("-t", "--topic", default="BenchmarkTest", show_default=True, help="Topic.")
@click.option(
    "-w", "--threadCount", "concurrency", default=64, show_default=True, help="Concurrent senders."
)
@click.option("-s", "--messageSize", "size", default=128, show_default=True, help="Body bytes.")
@click.option("-k", "--keyEnable", "keys", is_flag=True, help="Give every message a key.")
@click.option("--seconds", default=30.0, show_default=True, help="How long to run.")
def bench_producer(
    namesrv: str, topic: str, concurrency: int, size: int, keys: bool, seconds: float
) -> None:
    """Send as fast as ``-w`` concurrent senders can, printing TPS and RT every second."""
    from rocketq.bench import run_producer

    run_async(run_producer(namesrv, topic, concurrency, size, seconds, keys))


@bench.command("consumer")
@click.option(
    "-n",
    "--namesrvAddr",
    "namesrv",
    envvar="NAMESRV_ADDR",
    default=_DEFAULT_NAMESRV,
    show_default=True,
    help="NameServer address.",
)
@click.option("-t", "--topic", default="BenchmarkTest", show_default=True, help="Topic.")
@click.option("-g", "--group", default="benchmark_consumer", show_default=True, help="Group.")
@click.option("--seconds", default=30.0, show_default=True, help="How long to run.")
def bench_consumer(namesrv: str, topic: str, group: str, seconds: float) -> None:
    """Consume the topic from its first message, printing TPS and end-to-end RT every second."""
    from rocketq.bench import run_consumer

    run_async(run_consumer(namesrv, topic, group, seconds))


# ---------------------------------------------------------------------------------------------
# admin


def _console() -> Console:
    # Off a terminal (pipes, tests) rich would wrap at 80 columns; tables need more.
    return Console(width=None if sys.stdout.isatty() else 200, soft_wrap=True)


namesrv_option = click.option(
    "-n",
    "--namesrvAddr",
    "namesrv_addr",
    envvar="NAMESRV_ADDR",
    default=_DEFAULT_NAMESRV,
    show_default=True,
    help="NameServer address(es), 'host:port;host:port' (env NAMESRV_ADDR).",
)


def _admin_call(namesrv_addr: str, fn: Callable[[AdminClient], Awaitable[T]]) -> T:
    async def go() -> T:
        async with AdminClient(namesrv_addr) as admin:
            return await fn(admin)

    try:
        return run_async(go())
    except BrokerError as exc:
        raise click.ClickException(f"the server answered code {exc.code}: {exc.remark}") from exc
    except RocketQError as exc:
        raise click.ClickException(f"{exc} (is the NameServer at {namesrv_addr} running?)") from exc


@main.group()
def admin() -> None:
    """Administer a cluster: mqadmin's commands and flags (-n NAMESRV)."""


@admin.command("clusterList")
@namesrv_option
def cluster_list(namesrv_addr: str) -> None:
    """List clusters, broker groups and broker addresses with their load."""

    async def fetch(a: AdminClient) -> tuple[Any, dict[str, dict[str, str]]]:
        info = await a.cluster_info()
        addrs = [addr for b in info.broker_addr_table.values() for addr in b.broker_addrs.values()]
        results = await asyncio.gather(
            *(asyncio.wait_for(a.broker_runtime_info(x), 2.0) for x in addrs),
            return_exceptions=True,
        )
        runtime = {x: r for x, r in zip(addrs, results, strict=True) if isinstance(r, dict)}
        return info, runtime

    info, runtime = _admin_call(namesrv_addr, fetch)
    table = Table(
        "#Cluster Name",
        "#Broker Name",
        "#BID",
        "#Addr",
        "#Version",
        "#InTPS(LOAD)",
        "#OutTPS(LOAD)",
        "#PCWait(ms)",
        "#Hour",
        "#SPACE",
        box=None,
        header_style="bold",
    )
    for cluster in sorted(info.cluster_addr_table):
        for name in sorted(info.cluster_addr_table[cluster]):
            data = info.broker_addr_table.get(name)
            if data is None:
                continue
            for bid, addr in sorted(data.broker_addrs.items()):
                table.add_row(cluster, name, str(bid), addr, *_runtime_columns(runtime.get(addr)))
    _console().print(table)


def _runtime_columns(rt: dict[str, str] | None) -> list[str]:
    if rt is None:
        return ["-"] * 6

    def first(key: str) -> str:
        return (rt.get(key) or "0").split(" ")[0]

    earliest = int(rt.get("earliestMessageTimeStamp") or 0)
    hours = f"{(time.time() * 1000 - earliest) / 3_600_000:.2f}" if earliest else "0.00"
    return [
        rt.get("brokerVersionDesc", "-"),
        first("putTps"),
        first("getTransferedTps"),
        rt.get("pageCacheLockTimeMills", "0"),
        hours,
        rt.get("commitLogDiskRatio", "-"),
    ]


@admin.command("topicList")
@namesrv_option
def topic_list(namesrv_addr: str) -> None:
    """List every topic the NameServer knows, one per line."""
    for topic in _admin_call(namesrv_addr, lambda a: a.topic_list()):
        click.echo(topic)


@admin.command("topicRoute")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic name.")
def topic_route(namesrv_addr: str, topic: str) -> None:
    """Print the route of a topic (brokers, queues, permissions) as JSON."""
    route = _admin_call(namesrv_addr, lambda a: a.topic_route(topic))
    click.echo(orjson.dumps(route.to_obj(), option=orjson.OPT_INDENT_2).decode())


@admin.command("getNamesrvConfig")
@namesrv_option
def get_namesrv_config(namesrv_addr: str) -> None:
    """Print the settings of each NameServer."""
    configs = _admin_call(namesrv_addr, lambda a: a.namesrv_config())
    for addr, values in configs.items():
        click.echo(f"============{addr}============")
        for key, value in values.items():
            click.echo(f"{key:<50s}=  {value}")


@admin.command("updateNamesrvConfig")
@namesrv_option
@click.option("-k", "--key", required=True, help="Setting name, e.g. orderMessageEnable.")
@click.option("-v", "--value", required=True, help="New value.")
def update_namesrv_config(namesrv_addr: str, key: str, value: str) -> None:
    """Change one setting on every NameServer."""
    _admin_call(namesrv_addr, lambda a: a.update_namesrv_config({key: value}))
    click.echo(f"update name server config success: {key}={value}")


@admin.command("updateKvConfig")
@namesrv_option
@click.option("-s", "--namespace", required=True, help="Namespace, e.g. ORDER_TOPIC_CONFIG.")
@click.option("-k", "--key", required=True, help="Key.")
@click.option("-v", "--value", required=True, help="Value.")
def update_kv_config(namesrv_addr: str, namespace: str, key: str, value: str) -> None:
    """Create or update a KV config item on every NameServer."""
    _admin_call(namesrv_addr, lambda a: a.put_kv_config(namespace, key, value))
    click.echo("create or update kv config to namespace success.")


@admin.command("getKvConfig")
@namesrv_option
@click.option("-s", "--namespace", required=True, help="Namespace.")
@click.option("-k", "--key", help="Key; without it, every item of the namespace.")
def get_kv_config(namesrv_addr: str, namespace: str, key: str | None) -> None:
    """Print a KV config item (or a whole namespace)."""
    if key is None:
        items = _admin_call(namesrv_addr, lambda a: a.kv_list(namespace))
        if not items:
            raise click.ClickException(f"no config item in namespace {namespace}")
        for k, v in items.items():
            click.echo(f"{k}={v}")
        return
    value = _admin_call(namesrv_addr, lambda a: a.get_kv_config(namespace, key))
    if value is None:
        raise click.ClickException(f"no config item: namespace {namespace}, key {key}")
    click.echo(value)


@admin.command("deleteKvConfig")
@namesrv_option
@click.option("-s", "--namespace", required=True, help="Namespace.")
@click.option("-k", "--key", required=True, help="Key.")
def delete_kv_config(namesrv_addr: str, namespace: str, key: str) -> None:
    """Delete a KV config item on every NameServer."""
    _admin_call(namesrv_addr, lambda a: a.delete_kv_config(namespace, key))
    click.echo("delete kv config from namespace success.")


@admin.command("wipeWritePerm")
@namesrv_option
@click.option("-b", "--brokerName", "broker_name", required=True, help="Broker name.")
def wipe_write_perm(namesrv_addr: str, broker_name: str) -> None:
    """Stop producers writing to a broker (before taking it down)."""
    counts = _admin_call(namesrv_addr, lambda a: a.set_write_perm(broker_name, False))
    for addr, n in counts.items():
        click.echo(f"wipe write perm of broker[{broker_name}] in name server[{addr}] OK, {n}")


@admin.command("addWritePerm")
@namesrv_option
@click.option("-b", "--brokerName", "broker_name", required=True, help="Broker name.")
def add_write_perm(namesrv_addr: str, broker_name: str) -> None:
    """Give a broker its write permission back."""
    counts = _admin_call(namesrv_addr, lambda a: a.set_write_perm(broker_name, True))
    for addr, n in counts.items():
        click.echo(f"add write perm of broker[{broker_name}] in name server[{addr}] OK, {n}")


# -- topics, brokers and consumer groups (mqadmin's names and flags) -----------------------


def _table(*columns: str) -> Table:
    return Table(*columns, box=None, header_style="bold")


def _human_ms(ms: int) -> str:
    """``UtilAll.timeMillisToHumanString2``: yyyy-MM-dd HH:mm:ss,SSS (local time)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000)) + f",{ms % 1000:03d}"


def _target_addrs(
    a: AdminClient, broker: str | None, cluster: str | None, masters_only: bool = True
) -> Awaitable[list[str]]:
    async def go() -> list[str]:
        if broker:
            return [broker]
        if cluster:
            return list(await a.broker_addrs(cluster, masters_only=masters_only))
        raise click.UsageError("give -b brokerAddr or -c clusterName")

    return go()


def _parse_bool(text: str) -> bool:
    return text.strip().lower() == "true"


@admin.command("updateTopic")
@namesrv_option
@click.option("-b", "--brokerAddr", "broker_addr", help="Create on this broker (ip:port).")
@click.option("-c", "--clusterName", "cluster", help="Create on every master of this cluster.")
@click.option("-t", "--topic", required=True, help="Topic name.")
@click.option("-r", "--readQueueNums", "read_queues", type=int, default=8, show_default=True)
@click.option("-w", "--writeQueueNums", "write_queues", type=int, default=8, show_default=True)
@click.option("-p", "--perm", type=int, default=6, show_default=True, help="2:W 4:R 6:RW.")
@click.option("-o", "--order", default="false", help="Ordered topic (true|false).")
def update_topic(
    namesrv_addr: str,
    broker_addr: str | None,
    cluster: str | None,
    topic: str,
    read_queues: int,
    write_queues: int,
    perm: int,
    order: str,
) -> None:
    """Create or update a topic on a broker or a whole cluster."""
    config = TopicConfig(topic, read_queues, write_queues, perm, order=_parse_bool(order))

    async def go(a: AdminClient) -> list[str]:
        addrs = await _target_addrs(a, broker_addr, cluster)
        for addr in addrs:
            await a.create_topic(addr, config)
        return addrs

    for addr in _admin_call(namesrv_addr, go):
        click.echo(f"create topic to {addr} success.")
    click.echo(config)


@admin.command("deleteTopic")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic name.")
@click.option("-c", "--clusterName", "cluster", required=True, help="Delete from this cluster.")
def delete_topic(namesrv_addr: str, topic: str, cluster: str) -> None:
    """Delete a topic from every broker of a cluster, then from every NameServer."""

    async def go(a: AdminClient) -> None:
        for addr in await a.broker_addrs(cluster, masters_only=False):
            await a.delete_topic_in_broker(addr, topic)
        click.echo(f"delete topic [{topic}] from cluster [{cluster}] success.")
        await a.delete_topic_in_namesrv(topic, cluster)

    _admin_call(namesrv_addr, go)
    click.echo(f"delete topic [{topic}] from NameServer success.")


@admin.command("topicStatus")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic name.")
def topic_status(namesrv_addr: str, topic: str) -> None:
    """Min/max offset and last store time of every queue of a topic."""
    stats = _admin_call(namesrv_addr, lambda a: a.topic_stats(topic))
    table = _table("#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated")
    for mq, t in stats.items():
        last = _human_ms(t.last_update_timestamp) if t.last_update_timestamp > 0 else ""
        table.add_row(mq.broker_name, str(mq.queue_id), str(t.min_offset), str(t.max_offset), last)
    _console().print(table)


@admin.command("brokerStatus")
@namesrv_option
@click.option("-b", "--brokerAddr", "broker_addr", help="Broker address (ip:port).")
@click.option("-c", "--clusterName", "cluster", help="Every broker of this cluster.")
def broker_status(namesrv_addr: str, broker_addr: str | None, cluster: str | None) -> None:
    """Runtime figures of a broker (GET_BROKER_RUNTIME_INFO), sorted by name."""

    async def go(a: AdminClient) -> dict[str, dict[str, str]]:
        addrs = await _target_addrs(a, broker_addr, cluster, masters_only=False)
        return {addr: await a.broker_runtime_info(addr) for addr in addrs}

    results = _admin_call(namesrv_addr, go)
    for addr, info in results.items():
        for key in sorted(info):
            prefix = f"{addr:<24s} " if len(results) > 1 or not broker_addr else ""
            click.echo(f"{prefix}{key:<32s}: {info[key]}")


@admin.command("consumerProgress")
@namesrv_option
@click.option("-g", "--groupName", "group", required=True, help="Consumer group.")
@click.option("-t", "--topicName", "topic", help="Only this topic.")
def consumer_progress(namesrv_addr: str, group: str, topic: str | None) -> None:
    """Broker offset, consumer offset and lag of every queue a group consumes."""
    stats = _admin_call(namesrv_addr, lambda a: a.consume_stats(group, topic))
    table = _table(
        "#Topic", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset", "#Diff", "#LastTime"
    )
    for mq, w in stats.offset_table.items():
        last = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(w.last_timestamp / 1000))
            if w.last_timestamp
            else "N/A"
        )
        table.add_row(
            mq.topic,
            mq.broker_name,
            str(mq.queue_id),
            str(w.broker_offset),
            str(w.consumer_offset),
            str(w.broker_offset - w.consumer_offset),
            last,
        )
    _console().print(table)
    click.echo(f"\nConsume TPS: {stats.consume_tps:.2f}")
    click.echo(f"Diff Total: {stats.diff_total()}")


@admin.command("updateSubGroup")
@namesrv_option
@click.option("-b", "--brokerAddr", "broker_addr", help="Create on this broker.")
@click.option("-c", "--clusterName", "cluster", help="Create on every master of this cluster.")
@click.option("-g", "--groupName", "group", required=True, help="Consumer group.")
@click.option("-s", "--consumeEnable", "consume_enable", default="true")
@click.option("-m", "--consumeFromMinEnable", "from_min", default="false")
@click.option("-d", "--consumeBroadcastEnable", "broadcast", default="false")
@click.option("-q", "--retryQueueNums", "retry_queues", type=int, default=1)
@click.option("-r", "--retryMaxTimes", "retry_max", type=int, default=16)
@click.option("-i", "--brokerId", "broker_id", type=int, default=0)
@click.option("-w", "--whichBrokerWhenConsumeSlowly", "slow_broker", type=int, default=1)
@click.option("-a", "--notifyConsumerIdsChanged", "notify", default="true")
def update_sub_group(
    namesrv_addr: str,
    broker_addr: str | None,
    cluster: str | None,
    group: str,
    consume_enable: str,
    from_min: str,
    broadcast: str,
    retry_queues: int,
    retry_max: int,
    broker_id: int,
    slow_broker: int,
    notify: str,
) -> None:
    """Create or update a consumer group's settings."""
    config = SubscriptionGroupConfig(
        group,
        consume_enable=_parse_bool(consume_enable),
        consume_from_min_enable=_parse_bool(from_min),
        consume_broadcast_enable=_parse_bool(broadcast),
        retry_queue_nums=retry_queues,
        retry_max_times=retry_max,
        broker_id=broker_id,
        which_broker_when_consume_slowly=slow_broker,
        notify_consumer_ids_changed_enable=_parse_bool(notify),
    )

    async def go(a: AdminClient) -> list[str]:
        addrs = await _target_addrs(a, broker_addr, cluster)
        for addr in addrs:
            await a.create_subscription_group(addr, config)
        return addrs

    for addr in _admin_call(namesrv_addr, go):
        click.echo(f"create subscription group to {addr} success.")
    click.echo(config)


def _parse_timestamp(text: str) -> int:
    """``now`` (-1), epoch ms, or ``yyyy-MM-dd#HH:mm:ss:SSS`` (local time)."""
    text = text.strip()
    if text == "now":
        return -1
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        base, _, ms = text.rpartition(":")
        stamp = time.mktime(time.strptime(base, "%Y-%m-%d#%H:%M:%S"))
        return int(stamp * 1000) + int(ms)
    except ValueError as exc:
        raise click.BadParameter(
            "use now, milliseconds or yyyy-MM-dd#HH:mm:ss:SSS", param_hint="-s"
        ) from exc


@admin.command("resetOffsetByTime")
@namesrv_option
@click.option("-g", "--group", required=True, help="Consumer group.")
@click.option("-t", "--topic", required=True, help="Topic.")
@click.option("-s", "--timestamp", required=True, help="now | epoch ms | yyyy-MM-dd#HH:mm:ss:SSS.")
@click.option("-f", "--force", default="true", help="Also move offsets forward (true|false).")
@click.option("-c", "--cplus", is_flag=True, help="The consumers are C++ clients.")
def reset_offset_by_time(
    namesrv_addr: str, group: str, topic: str, timestamp: str, force: str, cplus: bool
) -> None:
    """Move a group's offsets on a topic to a point in time (without restarting consumers)."""
    stamp, forced = _parse_timestamp(timestamp), _parse_bool(force)

    async def go(a: AdminClient) -> Any:
        try:
            return await a.reset_offset_by_time(topic, group, stamp, forced, cplus)
        except BrokerError as exc:
            if exc.code != 206:  # CONSUMER_NOT_ONLINE: commit the offsets directly
                raise
            return await a.reset_offset_by_time_old(topic, group, stamp, forced)

    result = _admin_call(namesrv_addr, go)
    if isinstance(result, list):
        table = _table(
            "#brokerName",
            "#queueId",
            "#brokerOffset",
            "#consumerOffset",
            "#timestampOffset",
            "#resetOffset",
        )
        for r in result:
            table.add_row(
                r.mq.broker_name,
                str(r.mq.queue_id),
                str(r.broker_offset),
                str(r.consumer_offset),
                str(r.timestamp_offset),
                str(r.rollback_offset),
            )
    else:
        click.echo(
            f"rollback consumer offset by specified group[{group}], topic[{topic}], "
            f"force[{forced}], timestamp(string)[{timestamp}], timestamp(long)[{stamp}]"
        )
        table = _table("#brokerName", "#queueId", "#offset")
        for mq, offset in result.items():
            table.add_row(mq.broker_name, str(mq.queue_id), str(offset))
    _console().print(table)


@admin.command("updateBrokerConfig")
@namesrv_option
@click.option("-b", "--brokerAddr", "broker_addr", help="Broker address.")
@click.option("-c", "--clusterName", "cluster", help="Every master of this cluster.")
@click.option("-k", "--key", required=True, help="Setting name.")
@click.option("-v", "--value", required=True, help="New value.")
def update_broker_config(
    namesrv_addr: str, broker_addr: str | None, cluster: str | None, key: str, value: str
) -> None:
    """Change one setting of a broker (or every master of a cluster) at runtime."""

    async def go(a: AdminClient) -> list[str]:
        addrs = await _target_addrs(a, broker_addr, cluster)
        for addr in addrs:
            await a.update_broker_config(addr, {key: value})
        return addrs

    for addr in _admin_call(namesrv_addr, go):
        click.echo(f"update broker config success, {addr}")


@admin.command("getBrokerConfig")
@namesrv_option
@click.option("-b", "--brokerAddr", "broker_addr", help="Broker address.")
@click.option("-c", "--clusterName", "cluster", help="Every broker of this cluster.")
def get_broker_config(namesrv_addr: str, broker_addr: str | None, cluster: str | None) -> None:
    """Print every setting of a broker (or of each broker of a cluster)."""

    async def go(a: AdminClient) -> dict[str, dict[str, str]]:
        addrs = await _target_addrs(a, broker_addr, cluster, masters_only=False)
        return {addr: await a.broker_config(addr) for addr in addrs}

    for addr, values in _admin_call(namesrv_addr, go).items():
        click.echo(f"============{addr}============")
        for key, value in values.items():
            click.echo(f"{key:<50s}=  {value}")
        click.echo()


# -- messages ----------------------------------------------------------------------------


def _print_message(record: MessageRecord, msg_id: str | None = None) -> None:
    """``QueryMsgByIdSubCommand#printMsg`` (the body is printed, not written to a file)."""
    props = record.properties_map()
    offset_id = msg_id or create_offset_msg_id(record.store_host, record.physical_offset)
    rows = [
        ("OffsetID:", offset_id),
        ("Topic:", record.topic),
        ("Tags:", f"[{props.get('TAGS')}]"),
        ("Keys:", f"[{props.get('KEYS')}]"),
        ("Queue ID:", record.queue_id),
        ("Queue Offset:", record.queue_offset),
        ("CommitLog Offset:", record.physical_offset),
        ("Reconsume Times:", record.reconsume_times),
        ("Born Timestamp:", _human_ms(record.born_timestamp)),
        ("Store Timestamp:", _human_ms(record.store_timestamp)),
        ("Born Host:", f"{record.born_host[0]}:{record.born_host[1]}"),
        ("Store Host:", f"{record.store_host[0]}:{record.store_host[1]}"),
        ("System Flag:", record.sys_flag),
        ("Properties:", props),
        ("Message Body:", record.body.decode("utf-8", "replace")),
    ]
    for name, value in rows:
        click.echo(f"{name:<20s} {value}")


@admin.command("queryMsgById")
@namesrv_option
@click.option("-i", "--msgId", "msg_id", required=True, help="Offset message id.")
def query_msg_by_id(namesrv_addr: str, msg_id: str) -> None:
    """Show a message by its offset msgId (the broker address and offset are in the id)."""
    ids = [one.strip() for one in msg_id.split(",") if one.strip()]

    async def go(a: AdminClient) -> list[MessageRecord]:
        return [await a.view_message(one) for one in ids]

    for one, record in zip(ids, _admin_call(namesrv_addr, go), strict=True):
        _print_message(record, one)


@admin.command("queryMsgByKey")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic.")
@click.option("-k", "--msgKey", "key", required=True, help="Message key.")
def query_msg_by_key(namesrv_addr: str, topic: str, key: str) -> None:
    """List the messages of a topic carrying a key."""
    records = _admin_call(namesrv_addr, lambda a: a.query_message(topic, key, 64))
    table = _table("#Message ID", "#QID", "#Offset")
    for r in records:
        uniq = r.properties_map().get("UNIQ_KEY")
        msg_id = uniq or create_offset_msg_id(r.store_host, r.physical_offset)
        table.add_row(msg_id, str(r.queue_id), str(r.queue_offset))
    _console().print(table)


@admin.command("queryMsgByOffset")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic.")
@click.option("-b", "--brokerName", "broker_name", required=True, help="Broker name.")
@click.option("-i", "--queueId", "queue_id", type=int, required=True, help="Queue id.")
@click.option("-o", "--offset", type=int, required=True, help="Queue offset.")
def query_msg_by_offset(
    namesrv_addr: str, topic: str, broker_name: str, queue_id: int, offset: int
) -> None:
    """Show the message at a queue offset."""

    async def go(a: AdminClient) -> Any:
        queues = dict(await a.subscribe_queues(topic))
        addr = queues.get(MessageQueue(topic, broker_name, queue_id))
        if addr is None:
            raise click.ClickException(f"no queue {queue_id} of {topic} on {broker_name}")
        return await a.pull(addr, topic, queue_id, offset, 1)

    result = _admin_call(namesrv_addr, go)
    if result.messages:
        _print_message(result.messages[0])


@admin.command("sendMessage")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic.")
@click.option("-p", "--body", required=True, help="Message body (UTF-8 text).")
@click.option("-k", "--key", help="Message keys (space-separated).")
@click.option("-c", "--tags", help="Message tag.")
@click.option("-b", "--broker", help="Send to this broker (name).")
@click.option("-i", "--qid", type=int, help="Send to this queue (needs -b).")
def send_message(
    namesrv_addr: str,
    topic: str,
    body: str,
    key: str | None,
    tags: str | None,
    broker: str | None,
    qid: int | None,
) -> None:
    """Send one message and print where it went."""
    if qid is not None and broker is None:
        raise click.UsageError("Broker name must be set if the queue is chosen!")
    result = _admin_call(
        namesrv_addr,
        lambda a: a.send_message(topic, body.encode(), tags, key, broker, qid),
    )
    table = _table("#Broker Name", "#QID", "#Send Result", "#MsgId")
    mq = result.message_queue
    table.add_row(mq.broker_name, str(mq.queue_id), result.status, result.msg_id)
    _console().print(table)


@admin.command("consumeMessage")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic.")
@click.option("-b", "--brokerName", "broker_name", help="Only this broker.")
@click.option("-i", "--queueId", "queue_id", type=int, help="Only this queue (needs -b).")
@click.option("-o", "--offset", type=int, help="Start at this offset (needs -i).")
@click.option("-g", "--consumerGroup", "group", default="TOOLS_CONSUMER", show_default=True)
@click.option("-c", "--MessageNumber", "count", type=int, default=128, show_default=True)
def consume_message(
    namesrv_addr: str,
    topic: str,
    broker_name: str | None,
    queue_id: int | None,
    offset: int | None,
    group: str,
    count: int,
) -> None:
    """Pull messages from the start of each queue (or from -o) and print them."""
    if queue_id is not None and broker_name is None:
        raise click.UsageError("Please set the brokerName before queueId!")
    if offset is not None and queue_id is None:
        raise click.UsageError("Please set queueId before offset!")
    if count <= 0:
        raise click.UsageError("Please input a positive messageNumber!")

    async def go(a: AdminClient) -> None:
        left = count
        for mq, addr in await a.subscribe_queues(topic):
            if broker_name and mq.broker_name != broker_name:
                continue
            if queue_id is not None and mq.queue_id != queue_id:
                continue
            start = await a.min_offset(addr, topic, mq.queue_id)
            left -= await _pull_queue(a, addr, mq, max(start, offset or 0), left, group)
            if left <= 0:
                return

    _admin_call(namesrv_addr, go)


async def _pull_queue(
    a: AdminClient, addr: str, mq: MessageQueue, offset: int, left: int, group: str
) -> int:
    printed = 0
    while printed < left:
        result = await a.pull(addr, mq.topic, mq.queue_id, offset, min(32, left - printed), group)
        if result.code != 0 and result.code != 20:  # not found / moved: this queue is done
            click.echo(f"{mq} print msg finished. status={result.code}, offset={offset}")
            break
        for r in result.messages:
            msg_id = r.properties_map().get("UNIQ_KEY") or create_offset_msg_id(
                r.store_host, r.physical_offset
            )
            click.echo(
                f"MSGID: {msg_id} queueId={r.queue_id}, queueOffset={r.queue_offset}, "
                f"properties={r.properties_map()} BODY: {r.body.decode('utf-8', 'replace')}"
            )
            printed += 1
        offset = result.next_begin_offset
    return printed


# -- dead-letter queues ------------------------------------------------------------------

_tool_group_option = click.option(
    "--toolGroup",
    "tool_group",
    default=DLQ_TOOLS_GROUP,
    show_default=True,
    help="Group whose offsets on the DLQ mark what was re-sent (drained).",
)


@admin.command("dlqList")
@namesrv_option
@click.option("-g", "--consumerGroup", "group", required=True, help="Consumer group.")
@click.option("-m", "--maxNum", "max_num", type=int, default=DEFAULT_DLQ_MAX, show_default=True)
@click.option("-a", "--all", "show_all", is_flag=True, help="Also list drained messages.")
@_tool_group_option
def dlq_list(namesrv_addr: str, group: str, max_num: int, show_all: bool, tool_group: str) -> None:
    """List the messages of a group's dead-letter queue (%DLQ%group) not drained yet."""
    if max_num <= 0:
        raise click.UsageError("Please input a positive maxNum!")
    messages = _admin_call(
        namesrv_addr, lambda a: a.dlq_messages(group, max_num, None if show_all else tool_group)
    )
    table = _table(
        "#MsgId", "#Origin Topic", "#Tags", "#Keys", "#Reconsume", "#Store Time", "#Body"
    )
    for m in messages:
        table.add_row(
            m.msg_id,
            m.origin_topic or "-",
            m.tags or "",
            m.keys or "",
            str(m.reconsume_times),
            _human_ms(m.store_timestamp),
            m.body_preview(),
        )
    _console().print(table)
    click.echo(f"\n{len(messages)} message(s) in %DLQ%{group}")


@admin.command("dlqResend")
@namesrv_option
@click.option("-g", "--consumerGroup", "group", required=True, help="Consumer group.")
@click.option(
    "-i", "--msgId", "msg_ids", multiple=True, help="UNIQ_KEY to re-send (repeat or a,b); all."
)
@click.option("-d", "--drain", is_flag=True, help="Then mark the re-sent messages drained.")
@click.option("-m", "--maxNum", "max_num", type=int, default=DEFAULT_DLQ_MAX, show_default=True)
@_tool_group_option
def dlq_resend(
    namesrv_addr: str,
    group: str,
    msg_ids: tuple[str, ...],
    drain: bool,
    max_num: int,
    tool_group: str,
) -> None:
    """Re-send dead-letter messages to their original topic as new messages."""
    ids = [one.strip() for text in msg_ids for one in text.split(",") if one.strip()]
    results = _admin_call(
        namesrv_addr,
        lambda a: a.resend_dlq(
            group, ids or None, drain=drain, tool_group=tool_group, max_num=max_num
        ),
    )
    for m, r in results:
        mq = r.message_queue
        click.echo(
            f"{m.msg_id} -> SendResult [sendStatus={r.status}, msgId={r.msg_id}, "
            f"offsetMsgId={r.offset_msg_id}, messageQueue=MessageQueue [topic={mq.topic}, "
            f"brokerName={mq.broker_name}, queueId={mq.queue_id}], queueOffset={r.queue_offset}]"
        )
    click.echo(f"re-sent {len(results)} message(s) from %DLQ%{group}")
    if drain:
        click.echo(f"marked them drained for {tool_group}")


if __name__ == "__main__":
    main()
