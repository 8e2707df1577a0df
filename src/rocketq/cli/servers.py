"""``rocketq namesrv``, ``rocketq broker``, ``rocketq dev``: run the servers in the foreground."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import click

from rocketq.cli.base import (
    main,
    run_async,
    serve_until_signal,
    setup_logging,
)
from rocketq.common import speedups
from rocketq.common.config import load_properties, split_keys
from rocketq.common.config_keys import (
    CONTROLLER_CONFIG_KEYS,
    NAMESRV_CONFIG_KEYS,
    NETTY_CONFIG_KEYS,
)

if TYPE_CHECKING:  # imported where used: `rocketq namesrv` never loads the broker's modules
    from rocketq.broker.config import BrokerConfig
    from rocketq.broker.controller import BrokerController
    from rocketq.controller import ControllerManager
    from rocketq.store.config import StoreConfig

__all__ = ["broker", "dev", "namesrv"]


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
    from rocketq.namesrv import NamesrvConfig, NamesrvController

    setup_logging(log_level)
    config = NamesrvConfig()
    embedded: ControllerManager | None = None
    if config_file:
        values = load_properties(config_file)
        try:
            unknown = config.update(values)
            embedded = _embedded_controller(values)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--config-file") from exc
        if embedded is not None:  # its keys are used, not merely accepted
            from rocketq.controller import ControllerConfig

            used = {*ControllerConfig.keys(), "enableControllerInNamesrv"}
            unknown = [k for k in unknown if k not in used]
        _report_keys(unknown, NAMESRV_CONFIG_KEYS | NETTY_CONFIG_KEYS | CONTROLLER_CONFIG_KEYS)
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
        if embedded is not None:  # NamesrvStartup's ControllerManager (5.x)
            try:
                await embedded.start()
            except OSError as exc:
                await controller.aclose()
                raise click.ClickException(f"cannot start the embedded controller: {exc}") from exc
        return (
            f"rocketq NameServer ready: listening on {config.bind_address}:{controller.port} "
            f"(pid {os.getpid()}); Ctrl-C to stop"
        )

    async def stop() -> None:
        if embedded is not None:
            await embedded.aclose()
        await controller.aclose()

    run_async(serve_until_signal(start, stop))


def _embedded_controller(values: dict[str, str]) -> ControllerManager | None:
    """With enableControllerInNamesrv=true, the controller of the same properties (RocketMQ
    5 runs it in the NameServer process, serving brokers at its controllerDLegerPeers
    address)."""
    if values.get("enableControllerInNamesrv", "false").strip().lower() != "true":
        return None
    from rocketq.controller import ControllerConfig, ControllerManager

    controller_config = ControllerConfig()
    controller_config.update(values)
    return ControllerManager(controller_config)


def _broker_configs(
    config_file: str | None,
    namesrv: str | None,
    port: int | None,
    host: str | None,
    store: str | None,
) -> tuple[BrokerConfig, StoreConfig]:
    from rocketq.broker.config import load_broker_conf

    overrides: dict[str, str] = {}
    if namesrv:
        overrides["namesrvAddr"] = namesrv
    if port is not None:
        overrides["listenPort"] = str(port)
    if host:
        overrides["bindAddress"] = host
    if store:
        overrides["storePathRootDir"] = store
    file_values = load_properties(config_file) if config_file else {}
    if host and host not in ("0.0.0.0", "::") and "brokerIP1" not in file_values:
        overrides["brokerIP1"] = host  # advertise the address we bind, unless told otherwise
    try:
        broker, store_config, unknown = load_broker_conf(config_file, overrides)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--config-file") from exc
    _report_keys(unknown, frozenset())
    return broker, store_config


def _grpc_note(controller: BrokerController) -> str:
    """Where the 5.x SDKs connect, for the ready line."""
    server = controller.grpc_server
    return f" (gRPC for 5.x clients on {server.address})" if server is not None else ""


def _report_keys(keys: list[str], rocketmq_keys: frozenset[str]) -> None:
    """Say which keys change nothing: RocketMQ's keys rocketq does not implement yet, and
    keys no RocketMQ has (likely typos)."""
    accepted, unknown = split_keys(keys, rocketmq_keys)
    log = logging.getLogger("rocketq")
    if accepted:
        log.warning("accepted, not implemented yet: %s", ", ".join(accepted))
    if unknown:
        log.warning("unknown keys ignored (no RocketMQ has them): %s", ", ".join(unknown))


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
    from rocketq.broker.controller import BrokerController

    setup_logging(log_level)
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
            f"{broker_config.bind_address}:{controller.port}{_grpc_note(controller)}, store "
            f"{store_config.store_path_root_dir} (pid {os.getpid()}, {speedups.describe()}); "
            "Ctrl-C to stop"
        )

    run_async(serve_until_signal(start, controller.aclose))


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
    from rocketq.broker.controller import BrokerController
    from rocketq.namesrv import NamesrvConfig, NamesrvController

    setup_logging(log_level)
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
            f"rocketq dev ready: NameServer {addr}, broker {broker_config.broker_addr}"
            f"{_grpc_note(broker_ctl)}, store {os.path.abspath(store)}\n"
            f"  try: rocketq admin sendMessage -n {addr} -t TestTopic -p 'hello'\n"
            f"       rocketq admin consumeMessage -n {addr} -t TestTopic"
        )

    stop_list: list[BrokerController] = []

    async def stop() -> None:
        for broker_ctl in stop_list:
            await broker_ctl.aclose()
        await namesrv_ctl.aclose()

    run_async(serve_until_signal(start, stop))
