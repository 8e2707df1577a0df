"""Markers by place: everything under ``tests/interop`` is ``interop``; a few slow tests in
modules that do not mark themselves are ``slow`` by node id. (Modules mark their own slow
tests with ``pytest.mark.slow``.) ``make test-fast`` deselects both."""

from __future__ import annotations

from pathlib import Path

import pytest

INTEROP_DIR = Path(__file__).parent / "interop"

# node id prefix -> why it is slow (each is more than ~3 s on a 2-core machine).
SLOW_NODES = {
    "tests/integration/test_transactions.py::": "every test lets check passes run for seconds",
    "tests/integration/test_broker_admin.py::test_cli_commands": "a dozen CLI processes",
    "tests/integration/test_dlq_admin.py::test_dlq_list_and_resend_through_the_cli": (
        "retries into the DLQ, then CLI processes"
    ),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add ``interop`` and ``slow`` where the test module cannot say it itself."""
    for item in items:
        if item.path.is_relative_to(INTEROP_DIR):
            item.add_marker(pytest.mark.interop)
        if any(item.nodeid.startswith(prefix) for prefix in SLOW_NODES):
            item.add_marker(pytest.mark.slow)
