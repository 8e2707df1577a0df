"""Fixtures for the integration tests: NameServers (a process, or in the test's event loop),
consumer processes, and pull_all to read a topic back."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.client.message import MessageExt
from rocketq.common.errors import BrokerError
from rocketq.namesrv import NamesrvConfig, NamesrvController
from rocketq.testing import NamesrvProcess, running_namesrv

DRIVER = Path(__file__).with_name("client_driver.py")


@pytest.fixture
def namesrv(tmp_path: Path) -> Iterator[NamesrvProcess]:
    """A NameServer process whose brokers never expire during a test."""
    with NamesrvProcess(tmp_path / "ns", {"brokerChannelExpiredTime": "600000"}) as ns:
        yield ns


@pytest.fixture
async def loop_namesrv(tmp_path: Path) -> AsyncIterator[NamesrvController]:
    """``namesrv`` in the test's event loop (``running_namesrv``): for async tests that need
    no process."""
    config = NamesrvConfig(
        kv_config_path=str(tmp_path / "kvConfig.json"), broker_channel_expired_time=600_000
    )
    async with running_namesrv(config) as ns:
        yield ns


@pytest.fixture
async def fast_expiry_namesrv() -> AsyncIterator[NamesrvController]:
    """A NameServer that scans every 100 ms and expires silent brokers after 1.5 s."""
    config = NamesrvConfig(
        kv_config_path="", scan_not_active_broker_interval=100, broker_channel_expired_time=1500
    )
    async with running_namesrv(config) as ns:
        yield ns


class ConsumerProcess:
    """``client_driver.py`` in a child process; collects the messages it prints."""

    def __init__(self, namesrv: str, group: str, topic: str, *args: str, name: str = "c") -> None:
        cmd = [sys.executable, str(DRIVER), namesrv, group, topic, "--name", name, *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.messages: list[dict[str, object]] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self.ready.wait(30):
            self.kill()
            raise RuntimeError("consumer did not start")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.messages.append(json.loads(line))
            elif line.strip() == "ready":
                self.ready.set()

    def stop(self) -> None:
        """SIGTERM: a clean shutdown (offsets persisted, group left)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)

    def kill(self) -> None:
        """SIGKILL: a crash."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)


@pytest.fixture
def consumers() -> Iterator[list[ConsumerProcess]]:
    """Consumers started by a test; all stopped afterwards."""
    started: list[ConsumerProcess] = []
    yield started
    for c in started:
        c.kill()


async def pull_all(admin: AdminClient, addr: str, topic: str, queues: int) -> list[MessageExt]:
    """Every message in queues ``0..queues-1`` of ``topic`` at ``addr``, queue by queue in
    queue order (none for a topic the broker does not have yet)."""
    out: list[MessageExt] = []
    for qid in range(queues):
        offset = 0
        while True:
            try:
                result = await admin.pull(addr, topic, qid, offset)
            except BrokerError:
                break
            if not result.messages:
                break
            out += result.messages
            offset = result.next_begin_offset
    return out
