"""Real NameServer processes on 127.0.0.1 for the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rocketq.testing import NamesrvProcess


@pytest.fixture
def namesrv(tmp_path: Path) -> Iterator[NamesrvProcess]:
    """A NameServer whose brokers never expire during a test."""
    with NamesrvProcess(tmp_path / "ns", {"brokerChannelExpiredTime": "600000"}) as ns:
        yield ns


@pytest.fixture
def fast_expiry_namesrv(tmp_path: Path) -> Iterator[NamesrvProcess]:
    """A NameServer that scans every 100 ms and expires silent brokers after 1.5 s."""
    config = {"scanNotActiveBrokerInterval": "100", "brokerChannelExpiredTime": "1500"}
    with NamesrvProcess(tmp_path / "ns-fast", config) as ns:
        yield ns
