"""Markers by place: everything under ``tests/interop`` is ``interop``; a few slow tests in
modules that do not mark themselves are ``slow`` by node id. (Modules mark their own slow
tests with ``pytest.mark.slow``.) ``make test-fast`` deselects both."""

from __future__ import annotations

import importlib
import os
import shlex
import shutil
import sysconfig
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

import hatch_build  # the repository root's build hook: which files a kernel is built from
from rocketq.common import speedups

if TYPE_CHECKING:
    from rocketq.common.record import StoredMessage
    from rocketq.remoting.command import RemotingCommand

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


# --- the compiled core and its pure-Python reference (DESIGN principle 19) ------------------


# The modules holding @speedups.twin functions.
TWINNED_MODULES = (
    "rocketq.broker.plain_send",
    "rocketq.common.hashing",
    "rocketq.common.message",
    "rocketq.common.record",
    "rocketq.remoting.codec",
    "rocketq.remoting.send_codec",
    "rocketq.store.commit_log",
    "rocketq.store.index_file",
    "rocketq.store.put",
)


class Kernels(SimpleNamespace):
    """The twinned functions of one implementation (``rocketq.common.speedups.REFERENCE``
    names), plus ``encode_record`` composed from that implementation's own pieces."""

    def encode_record(self, msg: StoredMessage) -> bytes:
        """``record.encode_record`` over this implementation's kernels."""
        topic, props = msg.topic.encode(), msg.properties.encode()
        total = self.checked_record_length(msg, topic, props)
        return b"".join(
            self.record_parts(msg, topic, props, total, msg.queue_offset,
                              msg.physical_offset, msg.store_timestamp, msg.store_host)
        )  # fmt: skip

    def encode(self, cmd: RemotingCommand) -> bytes:
        """``codec.encode`` over this implementation's ``encode_parts``."""
        return b"".join(self.encode_parts(cmd))


def compiler_present() -> bool:
    """The compiled core can be built here: the C compiler Python's build configuration
    names (``LDSHARED``, what hatch_build.py runs) is on PATH and Python's headers exist."""
    cc = shlex.split(sysconfig.get_config_var("LDSHARED") or "cc")
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    return bool(cc) and shutil.which(cc[0]) is not None and headers.exists()


def compiled_kernels(name: str = "rocketq.common._kernels") -> ModuleType:
    """A compiled kernel module, imported directly (even under ROCKETQ_PURE_PYTHON=1). Not
    built: a failure where it could have been built (a compiler, or CI), else a skip."""
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        why = f"the compiled core is not built ({exc})"
        if speedups.pure_python_requested() or not (compiler_present() or os.environ.get("CI")):
            pytest.skip(why)
        pytest.fail(
            f"{why}: `make core` (or `pip install -e .`) builds it with the C compiler that "
            f"is present; set {speedups.ENV_VAR}=1 to test the pure-Python path only"
        )
    built = Path(module.__file__ or "")
    source = built.parent / "_kernels.pyx"
    if source.exists():
        # The .pyx and every file it includes (remoting/_frames.pxi, in two kernels): one
        # edited without a rebuild would have these tests run the old code.
        made = built.stat().st_mtime
        stale = [
            str(path)
            for path in hatch_build.kernel_sources(source)
            if not path.exists() or path.stat().st_mtime > made
        ]
        if stale:
            pytest.fail(
                f"{built.name} is older than {', '.join(stale)} (or it is missing): "
                "`make core` rebuilds it"
            )
    return module


def twin_implementation(kind: str) -> Kernels:
    """Every twin in rocketq as its pure-Python reference (``kind`` "pure") or its compiled
    kernel ("compiled": fails or skips as :func:`compiled_kernels` when not built)."""
    for module in TWINNED_MODULES:  # every twin registers itself on import
        importlib.import_module(module)
    if kind == "pure":
        return Kernels(**speedups.REFERENCE)
    return Kernels(**{
        name: getattr(compiled_kernels(speedups.kernel_module_name(fn)), name)
        for name, fn in speedups.REFERENCE.items()
    })  # fmt: skip


def twin_implementations() -> tuple[Kernels, Kernels]:
    """(pure-Python references, compiled kernels) of every twin in rocketq."""
    return twin_implementation("pure"), twin_implementation("compiled")


def outcome_of(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, or the type of the exception it raised: what a pure-Python reference
    and its compiled twin must agree on."""
    try:
        return fn(*args)
    except Exception as exc:
        return type(exc)


@pytest.fixture(scope="session")
def both() -> tuple[Kernels, Kernels]:
    """(pure-Python references, compiled kernels) of every twin, for side-by-side cases."""
    return twin_implementations()


@pytest.fixture(scope="session", params=["pure", "compiled"])
def impl(request: pytest.FixtureRequest) -> Kernels:
    """Each twin's pure-Python reference, then its compiled kernel: a test taking ``impl``
    runs the same cases over both."""
    return twin_implementation(request.param)
