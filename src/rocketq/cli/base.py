"""What every ``rocketq`` command shares: the ``rocketq`` and ``rocketq admin`` groups, the event
loop runner, the ``-n`` option, the admin call wrapper and table helpers."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import importlib
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

import click
import orjson

from rocketq.common import speedups
from rocketq.common.errors import BrokerError, RocketQError

if TYPE_CHECKING:  # imported where used: a server's start needs neither
    from rich.console import Console
    from rich.table import Table

    from rocketq.admin import AdminClient

__all__ = [
    "DEFAULT_NAMESRV",
    "admin",
    "admin_call",
    "console",
    "emit",
    "fetch",
    "human_ms",
    "json_mode",
    "jsonable",
    "main",
    "namesrv_option",
    "new_table",
    "parse_bool",
    "parse_timestamp",
    "run_async",
    "serve_until_signal",
    "setup_logging",
    "target_addrs",
]

T = TypeVar("T")

# RocketMQ tools read the NameServer list from NAMESRV_ADDR when -n is not given.
DEFAULT_NAMESRV = "127.0.0.1:9876"


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop when it is installed, else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def setup_logging(level: str) -> None:
    """Log to stderr at ``level`` (DEBUG, INFO, WARNING or ERROR)."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
        stream=sys.stderr,
    )


async def serve_until_signal(
    start: Callable[[], Awaitable[str]], stop: Callable[[], Awaitable[None]]
) -> None:
    """Start a server, print its ready line, and stop it on SIGINT or SIGTERM."""
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


# Where each top-level command is defined; a module is imported only when its command runs
# (or for --help), so `rocketq namesrv` loads neither the clients nor the admin: a server's
# start to ready is mostly import time.
TOP_LEVEL_COMMANDS = {
    "namesrv": "rocketq.cli.servers",
    "broker": "rocketq.cli.servers",
    "dev": "rocketq.cli.servers",
    "controller": "rocketq.cli.controller",
    "bench": "rocketq.cli.bench",
}
# The modules that register `rocketq admin` commands, one per area.
ADMIN_AREAS = (
    "acl",
    "broker_ops",
    "config",
    "consumer",
    "controller_admin",
    "dlq",
    "export",
    "group",
    "message",
    "message_print",
    "topic",
    "trace",
)


class LazyGroup(click.Group):
    """The ``rocketq`` group: imports a command's module the first time it is asked for."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command named ``cmd_name``, importing the module that defines it."""
        module = TOP_LEVEL_COMMANDS.get(cmd_name)
        if cmd_name not in self.commands and module is not None:
            importlib.import_module(module)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command (imports them all: for ``--help``)."""
        for module in sorted(set(TOP_LEVEL_COMMANDS.values())):
            importlib.import_module(module)
        return super().list_commands(ctx)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    package_name="rocketq", message=f"%(prog)s %(version)s ({speedups.describe()})"
)
def main() -> None:
    """rocketq: Apache RocketMQ rebuilt in Python.

    Speaks RocketMQ's wire protocol, so RocketMQ's own clients (Java, C++, Go,
    Node) and tools work against it. `rocketq dev` starts a NameServer and a
    broker in one process (127.0.0.1:9876 / :10911); `rocketq namesrv` and
    `rocketq broker -c broker.conf` run them apart; `rocketq admin clusterList
    -n 127.0.0.1:9876` shows the cluster.
    """


def console() -> Console:
    """A rich console for tables."""
    from rich.console import Console

    # Off a terminal (pipes, tests) rich would wrap at 80 columns; tables need more.
    return Console(width=None if sys.stdout.isatty() else 200, soft_wrap=True)


namesrv_option = click.option(
    "-n",
    "--namesrvAddr",
    "namesrv_addr",
    envvar="NAMESRV_ADDR",
    default=DEFAULT_NAMESRV,
    show_default=True,
    help="NameServer address(es), 'host:port;host:port' (env NAMESRV_ADDR).",
)


def fetch(namesrv_addr: str, fn: Callable[[AdminClient], Awaitable[T]]) -> T:
    """Run ``fn`` with an AdminClient; errors become one-line ClickExceptions."""

    from rocketq.admin import AdminClient

    async def go() -> T:
        async with AdminClient(namesrv_addr) as admin:
            return await fn(admin)

    try:
        return run_async(go())
    except BrokerError as exc:
        raise click.ClickException(f"the server answered code {exc.code}: {exc.remark}") from exc
    except RocketQError as exc:
        raise click.ClickException(f"{exc} (is the NameServer at {namesrv_addr} running?)") from exc


def admin_call(namesrv_addr: str, fn: Callable[[AdminClient], Awaitable[T]]) -> T:
    """:func:`fetch`; with ``--json``, what ``fn`` returned is printed as JSON and the
    command ends there (the commands that print one fetched result rely on this)."""
    result = fetch(namesrv_addr, fn)
    if json_mode():
        emit(result, lambda _r: None)
        raise click.exceptions.Exit(0)
    return result


# -- --json: every admin command can print its result as JSON ---------------------------------

_JSON_MODE: ContextVar[bool] = ContextVar("rocketq_admin_json", default=False)


def json_mode() -> bool:
    """True while an admin command runs with ``--json``."""
    return _JSON_MODE.get()


def _set_json_mode(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    _JSON_MODE.set(bool(value))
    return bool(value)


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values: dataclasses and ``to_obj()`` bodies become objects,
    non-text map keys (queues) text, bytes UTF-8 text, sets sorted lists."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, enum.Enum):
        return obj.name
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).decode("utf-8", "replace")
    if isinstance(obj, dict):
        return {_json_key(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = [jsonable(v) for v in obj]
        return sorted(items, key=str) if isinstance(obj, (set, frozenset)) else items
    to_obj = getattr(obj, "to_obj", None)
    if callable(to_obj):
        return jsonable(to_obj())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    return str(obj)


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, tuple) and all(isinstance(i, tuple) and len(i) == 2 for i in key):
        return orjson.dumps(dict(key)).decode()  # a fastjson object key
    if dataclasses.is_dataclass(key):
        return orjson.dumps(jsonable(key)).decode()
    return str(key)


def emit(result: T, render: Callable[[T], None]) -> None:
    """Print ``result``: as indented JSON with ``--json``, else with ``render``."""
    if json_mode():
        click.echo(orjson.dumps(jsonable(result), option=orjson.OPT_INDENT_2).decode())
    else:
        render(result)


json_option = click.Option(
    ["--json", "as_json"],
    is_flag=True,
    expose_value=False,
    callback=_set_json_mode,
    help="Print the result as JSON (scriptable) instead of mqadmin's layout.",
)


class AdminGroup(click.Group):
    """The ``admin`` group: every command it gets also takes ``--json``; its areas' modules
    are imported on first use."""

    def _load_areas(self) -> None:
        for area in ADMIN_AREAS:
            importlib.import_module(f"rocketq.cli.{area}")

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The admin command named ``cmd_name``."""
        if cmd_name not in self.commands:
            self._load_areas()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every admin command."""
        self._load_areas()
        return super().list_commands(ctx)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Register ``cmd`` with the ``--json`` option added."""
        if not any(p.name == "as_json" for p in cmd.params):
            cmd.params.append(json_option)
        super().add_command(cmd, name)


@main.group(cls=AdminGroup)
def admin() -> None:
    """Administer a cluster: mqadmin's commands and flags (-n NAMESRV)."""


def new_table(*columns: str) -> Table:
    """A borderless table as mqadmin prints them."""
    from rich.table import Table

    return Table(*columns, box=None, header_style="bold")


def human_ms(ms: int) -> str:
    """``UtilAll.timeMillisToHumanString2``: yyyy-MM-dd HH:mm:ss,SSS (local time)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000)) + f",{ms % 1000:03d}"


def target_addrs(
    a: AdminClient, broker: str | None, cluster: str | None, masters_only: bool = True
) -> Awaitable[list[str]]:
    """The brokers a command acts on: ``-b`` itself, else the masters (or all) of ``-c``."""

    async def go() -> list[str]:
        if broker:
            return [broker]
        if cluster:
            return list(await a.broker_addrs(cluster, masters_only=masters_only))
        raise click.UsageError("give -b brokerAddr or -c clusterName")

    return go()


def parse_bool(text: str) -> bool:
    """mqadmin's flags: ``true`` (any case) is True, anything else False."""
    return text.strip().lower() == "true"


def parse_timestamp(text: str) -> int:
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
