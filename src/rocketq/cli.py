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
from rocketq.broker.config import BrokerConfig, load_broker_conf
from rocketq.broker.controller import BrokerController
from rocketq.common.config import load_properties
from rocketq.common.errors import BrokerError, RocketQError
from rocketq.namesrv import NamesrvConfig, NamesrvController
from rocketq.store.config import StoreConfig

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
    Node) and tools work against it. Start a NameServer with `rocketq namesrv`,
    then inspect it with `rocketq admin clusterList -n 127.0.0.1:9876`.
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
    "--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING or ERROR."
)
def dev(namesrv_port: int, broker_port: int, host: str, store: str, log_level: str) -> None:
    """Run a NameServer and a broker in one process: a whole cluster for development.

    Topics are created on first use (autoCreateTopicEnable). Point any RocketMQ client
    at the printed NameServer address.
    """
    _setup_logging(log_level)
    ns_config = NamesrvConfig(listen_port=namesrv_port, bind_address=host)
    ns_config.kv_config_path = os.path.join(store, "namesrv", "kvConfig.json")
    namesrv_ctl = NamesrvController(ns_config)
    broker_config, store_config = _broker_configs(None, None, broker_port, host, store)
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


if __name__ == "__main__":
    main()
