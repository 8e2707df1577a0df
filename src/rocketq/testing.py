"""Helpers to run rocketq servers inside your own tests.

``NamesrvProcess`` starts a real ``rocketq namesrv`` in a child process on a free
loopback port and stops it again::

    with NamesrvProcess(tmp_path) as ns:
        admin = AdminClient(ns.addr)

``running_namesrv`` runs one in the current event loop instead (no process)::

    async with running_namesrv() as ns:
        ...
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

from rocketq.namesrv import NamesrvConfig, NamesrvController

__all__ = ["BrokerProcess", "NamesrvProcess", "running_namesrv"]

# A NameServer starts in well under a second; allow for a loaded 2-core CI machine.
DEFAULT_START_TIMEOUT = 30.0
_READY = re.compile(r"ready: listening on ([\d.]+):(\d+)")
_BROKER_READY = re.compile(r"rocketq broker ready: (\S+) listening on ([\d.]+):(\d+)")


class NamesrvProcess:
    """A ``rocketq namesrv`` child process bound to 127.0.0.1 on a free port."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        config: dict[str, str] | None = None,
        *,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        self.workdir = Path(workdir)
        self.config = {"kvConfigPath": str(self.workdir / "kvConfig.json"), **(config or {})}
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.output: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def addr(self) -> str:
        """``127.0.0.1:port`` for clients."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> NamesrvProcess:
        """Start the process and wait for its ready line."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "namesrv.conf"
        conf.write_text("".join(f"{k}={v}\n" for k, v in self.config.items()))
        cmd = [sys.executable, "-m", "rocketq", "namesrv", "-p", "0", "--host", "127.0.0.1"]
        self.proc = subprocess.Popen(
            [*cmd, "-c", str(conf)],
            stdout=subprocess.PIPE,
            stderr=open(self.workdir / "namesrv.log", "a"),  # noqa: SIM115 - lives with proc
            text=True,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            m = _READY.search(line)
            if m:
                self.port = int(m.group(2))
                self._reader = threading.Thread(target=self._drain, daemon=True)
                self._reader.start()
                return self
        self.stop()
        log = (self.workdir / "namesrv.log").read_text()
        raise RuntimeError(f"namesrv did not become ready:\n{''.join(self.output)}\n{log}")

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

    def __enter__(self) -> NamesrvProcess:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class BrokerProcess:
    """A ``rocketq broker`` child process on 127.0.0.1 and a free port, registered with
    ``namesrv_addr``; its store is ``workdir/store`` and ``config`` goes to a broker.conf::

        with NamesrvProcess(tmp_path / "ns") as ns, BrokerProcess(tmp_path / "b", ns.addr) as b:
            ...  # b.addr, b.broker_name
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        namesrv_addr: str,
        config: dict[str, str] | None = None,
        *,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        self.workdir = Path(workdir)
        self.namesrv_addr = namesrv_addr
        self.config = {"brokerName": "broker-a", **(config or {})}
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.broker_name = self.config["brokerName"]
        self.output: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def addr(self) -> str:
        """``127.0.0.1:port`` for clients."""
        return f"127.0.0.1:{self.port}"

    @property
    def store_dir(self) -> Path:
        """The broker's storePathRootDir."""
        return self.workdir / "store"

    def start(self) -> BrokerProcess:
        """Start the process and wait for its ready line."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "broker.conf"
        conf.write_text("".join(f"{k}={v}\n" for k, v in self.config.items()))
        cmd = [sys.executable, "-m", "rocketq", "broker", "-n", self.namesrv_addr, "-p", "0"]
        cmd += ["--host", "127.0.0.1", "--store", str(self.store_dir), "-c", str(conf)]
        log_path = self.workdir / "broker.log"
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=open(log_path, "a"),  # noqa: SIM115 - lives with proc
            text=True,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            m = _BROKER_READY.search(line)
            if m:
                self.broker_name, self.port = m.group(1), int(m.group(3))
                self._reader = threading.Thread(target=self._drain, daemon=True)
                self._reader.start()
                return self
        self.stop()
        raise RuntimeError(
            f"broker did not become ready:\n{''.join(self.output)}\n{log_path.read_text()}"
        )

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

    def __enter__(self) -> BrokerProcess:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


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
