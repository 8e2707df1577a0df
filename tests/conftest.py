"""Markers by place: everything under ``tests/interop`` is ``interop``; a few slow tests in
modules that do not mark themselves are ``slow`` by node id. (Modules mark their own slow
tests with ``pytest.mark.slow``.) ``make test-fast`` deselects both."""

from __future__ import annotations

from pathlib import Path

import pytest

INTEROP_DIR = Path(__file__).parent / "interop"

# node id prefix -> why it is slow.
SLOW_NODES = {
    "tests/integration/test_transactions.py::": "every test lets check passes run for seconds",
    "tests/integration/test_broker_admin.py::test_cli_commands": "a dozen CLI processes",
    "tests/integration/test_dlq_admin.py::test_dlq_list_and_resend_through_the_cli": (
        "retries into the DLQ, then CLI processes"
    ),
    # The longest of the rest (1.6-3 s each on an idle 2-core machine), so that
    # `make test-fast` stays under a minute; `make test` runs them.
    "tests/integration/test_message_features.py::test_always_failing_message_reaches_dlq": (
        "waits out three retry delays"
    ),
    "tests/integration/test_message_features.py::test_consume_timeout_sends_a_stuck_message": (
        "waits out a consume timeout"
    ),
    "tests/integration/test_namesrv_routes.py::test_re_registration_keeps_broker_alive": (
        "re-registers across an expiry period"
    ),
    "tests/integration/test_namesrv_routes.py::test_two_namesrvs_hold_routes_independently": (
        "two NameServers and their registrations"
    ),
    "tests/integration/test_grpc_server.py::test_dead_letters_forwarded_and_after_max": (
        "waits out invisible times up to the DLQ"
    ),
    "tests/integration/test_admin_cli.py::test_json_on_the_older_commands": "CLI processes",
    "tests/integration/test_client_cluster.py::test_broadcasting_delivers_to_every_consumer": (
        "consumer processes"
    ),
    "tests/integration/test_dlq_admin.py::test_dlq_list_resend_and_drain_through_admin_client": (
        "retries into the DLQ"
    ),
    "tests/integration/test_timer_messages.py::test_timer_messages_are_never_early": (
        "waits for timers due in 0.5-1.5 s"
    ),
    "tests/integration/test_namesrv_routes.py::test_broker_expires_after_shortened_timeout": (
        "waits out a 1.5 s expiry"
    ),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add ``interop`` and ``slow`` where the test module cannot say it itself."""
    for item in items:
        if item.path.is_relative_to(INTEROP_DIR):
            item.add_marker(pytest.mark.interop)
        if any(item.nodeid.startswith(prefix) for prefix in SLOW_NODES):
            item.add_marker(pytest.mark.slow)
