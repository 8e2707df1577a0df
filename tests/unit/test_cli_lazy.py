"""The ``rocketq`` command imports its areas lazily: every area must be known to its group."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import rocketq.cli.base as base

CLI_DIR = Path(base.__file__).parent


def _modules_registering(decorator: str) -> set[str]:
    pattern = re.compile(rf"^@{decorator}\.(command|group)\(", re.M)
    return {p.stem for p in CLI_DIR.glob("*.py") if pattern.search(p.read_text())}


def test_every_admin_area_is_listed() -> None:
    assert _modules_registering("admin") == set(base.ADMIN_AREAS)


def test_every_top_level_module_is_listed() -> None:
    listed = {m.rsplit(".", 1)[1] for m in base.TOP_LEVEL_COMMANDS.values()}
    assert _modules_registering("main") - {"base"} == listed


def test_a_server_command_does_not_import_the_clients_nor_the_broker() -> None:
    code = (
        "import sys; from rocketq.cli import main\n"
        "main.get_command(None, 'namesrv')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('rocketq.client', "
        "'rocketq.admin', 'rocketq.broker'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
