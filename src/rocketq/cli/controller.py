"""``rocketq controller -c controller.conf``: a RocketMQ 5 controller in the foreground
(Java's ``ControllerStartup``), one of a Raft group named by ``controllerDLegerPeers``."""

from __future__ import annotations

import logging
import os

import click

from rocketq.cli.base import main, run_async, serve_until_signal, setup_logging
from rocketq.common.config import load_properties, split_keys
from rocketq.common.config_keys import CONTROLLER_CONFIG_KEYS, NETTY_CONFIG_KEYS
from rocketq.common.errors import ConfigError
from rocketq.controller import ControllerConfig, ControllerManager

__all__ = ["controller"]


def _load(config_file: str) -> ControllerConfig:
    config = ControllerConfig()
    values = load_properties(config_file)
    try:
        unknown = config.update(values)
        config.self_peer()  # the peers and our id must make sense before we start
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--config-file") from exc
    accepted, typos = split_keys(unknown, CONTROLLER_CONFIG_KEYS | NETTY_CONFIG_KEYS)
    not_done = sorted(set(accepted) | (ControllerConfig.not_implemented_keys() & set(values)))
    log = logging.getLogger("rocketq")
    if not_done:
        log.warning("accepted, not implemented yet: %s", ", ".join(not_done))
    if typos:
        log.warning("unknown keys ignored (no RocketMQ has them): %s", ", ".join(typos))
    return config


@main.command()
@click.option(
    "-c",
    "--config-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="controller.conf with RocketMQ's ControllerConfig keys (controllerDLegerGroup, "
    "controllerDLegerPeers, controllerDLegerSelfId, controllerStorePath, ...).",
)
@click.option("--host", help="Address to bind (default: the host of this peer's address).")
@click.option(
    "--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING or ERROR."
)
def controller(config_file: str, host: str | None, log_level: str) -> None:
    """Run a controller until Ctrl-C or SIGTERM.

    Brokers in controller mode (enableControllerMode=true, controllerAddr=...) register,
    heartbeat and get their role from it; the controllers of controllerDLegerPeers replicate
    their state with Raft and the leader elects a new master when one dies. Each serves
    brokers at its peer address and speaks Raft on controllerRaftPeers (default: port + 1).
    """
    setup_logging(log_level)
    config = _load(config_file)
    manager = ControllerManager(config, bind_host=host)

    async def start() -> str:
        try:
            await manager.start()
        except OSError as exc:
            raise click.ClickException(
                f"cannot start controller {manager.me.peer_id} at {manager.me.address} "
                f"(raft {manager.me.raft_address}): {exc}"
            ) from exc
        return (
            f"rocketq controller ready: {manager.me.peer_id} listening on "
            f"{manager.server.host}:{manager.port}, raft {manager.me.raft_address}, "
            f"store {config.store_dir()} (pid {os.getpid()}); Ctrl-C to stop"
        )

    run_async(serve_until_signal(start, manager.aclose))
