"""Real RocketMQ clients (the C++ client and ali-ons) against real rocketq processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rocketq.testing import BrokerProcess, NamesrvProcess

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CPP_PYTHON = ROOT / ".cache" / "interop" / "cpp-venv" / "bin" / "python"
CPP_DRIVER = HERE / "clients" / "cpp_client.py"
ONS_DRIVER = HERE / "js" / "ons_client.js"
NODE_MODULES = HERE / "js" / "node_modules"


class Driver:
    """One driver process; its JSON lines are collected as they come."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
        self.lines: list[dict[str, object]] = []
        self.stderr: list[str] = []
        self.started = threading.Event()
        self._threads = [
            threading.Thread(target=self._read_out, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            self.lines.append(obj)
            if obj.get("event") == "started":
                self.started.set()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    @property
    def messages(self) -> list[dict[str, object]]:
        """Per-delivery lines of a consumer."""
        return [m for m in self.lines if "body" in m and "topic" in m]

    def wait(self, timeout: float = 120) -> dict[str, object]:
        """Wait for the process to end; return its final ``done`` line."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"driver timed out; stderr tail: {''.join(self.stderr[-20:])}"
            ) from None
        for t in self._threads:
            t.join(5)
        done = [m for m in self.lines if "done" in m]
        assert done, f"no done line; stderr tail: {''.join(self.stderr[-20:])}"
        return done[-1]

    def terminate(self) -> None:
        """Ask the driver to stop (it closes its client cleanly)."""
        if self.proc.poll() is None:
            self.proc.terminate()

    def kill(self) -> None:
        """Kill the driver."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def cpp_python() -> Path:
    """The C++ client's venv python (``make test`` installs it)."""
    if not CPP_PYTHON.exists():
        subprocess.run(["python3", str(HERE / "setup_clients.py"), "--cpp-only"], check=True)
    return CPP_PYTHON


@pytest.fixture(scope="session")
def node() -> str:
    """node, with ali-ons installed (``make test`` installs it)."""
    exe = shutil.which("node")
    assert exe, "node is needed for the ali-ons interop tests"
    if not (NODE_MODULES / "ali-ons").exists():
        subprocess.run(["python3", str(HERE / "setup_clients.py"), "--js-only"], check=True)
    return exe


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[NamesrvProcess, BrokerProcess]]:
    """A NameServer and one broker (broker-a) with short retry delays."""
    levels = " ".join(["1s"] * 18)
    with (
        NamesrvProcess(tmp_path / "ns") as ns,
        BrokerProcess(tmp_path / "b", ns.addr, {"messageDelayLevel": levels}) as broker,
    ):
        yield ns, broker


@pytest.fixture
def drivers() -> Iterator[list[Driver]]:
    """Drivers a test starts; all killed afterwards."""
    started: list[Driver] = []
    yield started
    for d in started:
        d.kill()
