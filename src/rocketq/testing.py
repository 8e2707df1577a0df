"""Helpers to run rocketq servers inside your own tests.

``NamesrvProcess`` starts a real ``rocketq namesrv`` in a child process on a free
loopback port and stops it again::

    with NamesrvProcess(tmp_path) as ns:
        admin = AdminClient(ns.addr)

``running_namesrv`` runs one in the current event loop instead (no process), and
``running_cluster`` a NameServer and a broker::

    async with running_cluster(tmp_path) as (namesrv, broker):
        ...

``async_wait_until`` (in a coroutine) and ``wait_until`` (in plain code) poll a condition
until it holds; a test waits for what it expects, never for a fixed time::

    received = await async_wait_until(lambda: len(got) >= 10)
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from rocketq.namesrv import NamesrvConfig, NamesrvController

if TYPE_CHECKING:
    from rocketq.broker.controller import BrokerController

__all__ = [
    "BrokerProcess",
    "NamesrvProcess",
    "async_wait_until",
    "running_cluster",
    "running_namesrv",
    "wait_until",
]

# A NameServer starts in well under a second; allow for a loaded 2-core CI machine.
DEFAULT_START_TIMEOUT = 30.0
# How long a condition may take to hold: things that normally take well under a second
# (a rebalance, a long-poll wake-up, a shortened expiry) on a loaded 2-core CI machine.
DEFAULT_WAIT_TIMEOUT = 30.0
# How often it is checked: often enough that a test ends soon after it holds, seldom
# enough that the checks do not compete with the servers for the CPU.
DEFAULT_WAIT_INTERVAL = 0.05
_READY = re.compile(r"ready: listening on ([\d.]+):(\d+)")
_BROKER_READY = re.compile(r"rocketq broker ready: (\S+) listening on ([\d.]+):(\d+)")
_T = TypeVar("_T")


def _timed_out(predicate: object, timeout: float, message: str) -> AssertionError:
    what = message or getattr(predicate, "__qualname__", repr(predicate))
    return AssertionError(f"not true within {timeout} s: {what}")


def wait_until(
    predicate: Callable[[], _T],
    timeout: float = DEFAULT_WAIT_TIMEOUT,
    interval: float = DEFAULT_WAIT_INTERVAL,
    message: str = "",
) -> _T:
    """Call ``predicate`` every ``interval`` seconds until it returns a true value and return
    that value; raise ``AssertionError`` (naming ``message`` or the predicate) after
    ``timeout`` seconds. Blocking: in a coroutine use ``async_wait_until`` (a blocking wait
    there would stop the very loop that has to make the condition true, so it raises
    ``RuntimeError``)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("wait_until blocks the running event loop; use async_wait_until")
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise _timed_out(predicate, timeout, message)
        time.sleep(interval)
    return value


async def async_wait_until(
    predicate: Callable[[], _T | Awaitable[_T]],
    timeout: float = DEFAULT_WAIT_TIMEOUT,
    interval: float = DEFAULT_WAIT_INTERVAL,
    message: str = "",
) -> _T:
    """``wait_until`` for coroutines: ``predicate`` may be a plain function or return an
    awaitable (``async def``); the loop keeps running between checks."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(predicate, timeout, message)
        await asyncio.sleep(interval)


class _ServerProcess:
    """A ``python -m rocketq ...`` child process that prints a ready line; the base of
    ``NamesrvProcess`` and ``BrokerProcess``."""

    kind = "server"
    ready_pattern: re.Pattern[str] = _READY

    def __init__(self, workdir: str | os.PathLike[str], start_timeout: float) -> None:
        self.workdir = Path(workdir)
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.output: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def addr(self) -> str:
        """``127.0.0.1:port`` for clients."""
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where the process's stderr (its log) goes."""
        return self.workdir / f"{self.kind}.log"

    def command(self) -> list[str]:
        """The ``rocketq`` arguments (after ``python -m rocketq``)."""
        raise NotImplementedError

    def on_ready(self, match: re.Match[str]) -> None:
        """Take what the ready line says (at least the port)."""
        raise NotImplementedError

    def _launch(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rocketq", *self.command()],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            m = self.ready_pattern.search(line)
            if m:
                self.on_ready(m)
                self._reader = threading.Thread(target=self._drain, daemon=True)
                self._reader.start()
                return
        self.stop()
        logged = self.log_path.read_text()
        raise RuntimeError(f"{self.kind} did not become ready:\n{''.join(self.output)}\n{logged}")

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Stop the process (SIGTERM, then SIGKILL after ``timeout``); return its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class NamesrvProcess(_ServerProcess):
    """A ``rocketq namesrv`` child process bound to 127.0.0.1 on a free port."""

    kind = "namesrv"
    ready_pattern = _READY

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        config: dict[str, str] | None = None,
        *,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        super().__init__(workdir, start_timeout)
        self.config = {"kvConfigPath": str(self.workdir / "kvConfig.json"), **(config or {})}

    def command(self) -> list[str]:
        conf = self.workdir / "namesrv.conf"
        conf.write_text("".join(f"{k}={v}\n" for k, v in self.config.items()))
        return ["namesrv", "-p", "0", "--host", "127.0.0.1", "-c", str(conf)]

    def on_ready(self, match: re.Match[str]) -> None:
        self.port = int(match.group(2))

    def start(self) -> NamesrvProcess:
        """Start the process and wait for its ready line."""
        self._launch()
        return self

    def __enter__(self) -> NamesrvProcess:
        return self.start()


class BrokerProcess(_ServerProcess):
    """A ``rocketq broker`` child process on 127.0.0.1 and a free port, registered with
    ``namesrv_addr``; its store is ``workdir/store`` and ``config`` goes to a broker.conf::

        with NamesrvProcess(tmp_path / "ns") as ns, BrokerProcess(tmp_path / "b", ns.addr) as b:
            ...  # b.addr, b.broker_name
    """

    kind = "broker"
    ready_pattern = _BROKER_READY

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        namesrv_addr: str,
        config: dict[str, str] | None = None,
        *,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        super().__init__(workdir, start_timeout)
        self.namesrv_addr = namesrv_addr
        self.config = {"brokerName": "broker-a", **(config or {})}
        self.broker_name = self.config["brokerName"]

    @property
    def store_dir(self) -> Path:
        """The broker's storePathRootDir."""
        return self.workdir / "store"

    def command(self) -> list[str]:
        conf = self.workdir / "broker.conf"
        conf.write_text("".join(f"{k}={v}\n" for k, v in self.config.items()))
        return [
            "broker",
            "-n",
            self.namesrv_addr,
            "-p",
            self.config.get("listenPort", "0"),  # a fixed port survives a restart
            "--host",
            "127.0.0.1",
            "--store",
            str(self.store_dir),
            "-c",
            str(conf),
        ]

    def on_ready(self, match: re.Match[str]) -> None:
        self.broker_name, self.port = match.group(1), int(match.group(3))

    def start(self) -> BrokerProcess:
        """Start the process and wait for its ready line."""
        self._launch()
        return self

    def __enter__(self) -> BrokerProcess:
        return self.start()


@contextlib.asynccontextmanager
async def running_namesrv(config: NamesrvConfig | None = None) -> AsyncIterator[NamesrvController]:
    """A NameServer in this event loop on 127.0.0.1 and a free port."""
    config = config or NamesrvConfig(kv_config_path="")
    config.bind_address = "127.0.0.1"
    config.listen_port = 0
    controller = NamesrvController(config)
    await controller.start()
    try:
        yield controller
    finally:
        await controller.aclose()


@contextlib.asynccontextmanager
async def running_cluster(
    store_dir: str | os.PathLike[str], broker_config: dict[str, str] | None = None
) -> AsyncIterator[tuple[NamesrvController, BrokerController]]:
    """A NameServer and a broker (broker-a) in this event loop, on 127.0.0.1 and free ports,
    storing under ``store_dir``; ``broker_config`` takes broker.conf keys::

        async with running_cluster(tmp_path) as (namesrv, broker):
            producer = AsyncProducer("group", namesrv.address)
    """
    from rocketq.broker.config import load_broker_conf
    from rocketq.broker.controller import BrokerController

    async with running_namesrv() as namesrv:
        overrides = {"brokerName": "broker-a", **(broker_config or {})}
        overrides |= {
            "namesrvAddr": namesrv.address,
            "listenPort": "0",
            "bindAddress": "127.0.0.1",
            "storePathRootDir": str(store_dir),
        }
        broker_cfg, store_cfg, _unknown = load_broker_conf(None, overrides)
        broker_cfg.broker_ip1 = "127.0.0.1"
        broker = BrokerController(broker_cfg, store_cfg)
        await broker.start()
        try:
            yield namesrv, broker
        finally:
            await broker.aclose()
