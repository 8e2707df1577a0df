"""DESIGN's layers, checked on the source: ``common`` <- ``remoting`` <- ``store``/``namesrv``/
``controller`` <- ``broker``; ``client`` needs only ``common`` and ``remoting``; ``admin``
builds on ``client``. A run-time import against the arrows fails here (imports under
``if TYPE_CHECKING:`` are for the type checker only and are not counted)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rocketq

SRC = Path(rocketq.__file__).parent

# Each layered package and the rocketq packages it may import at run time (besides itself).
ALLOWED: dict[str, frozenset[str]] = {
    "common": frozenset(),
    "remoting": frozenset({"common"}),
    "store": frozenset({"common", "remoting"}),
    "namesrv": frozenset({"common", "remoting"}),
    "controller": frozenset({"common", "remoting"}),
    "broker": frozenset({"common", "remoting", "store"}),
    "client": frozenset({"common", "remoting"}),
    "admin": frozenset({"client", "common", "remoting"}),
}
# The top of the stack may import anything: the command line, the user's test helpers, the
# benchmark entry point and the package's own front doors.
UNRESTRICTED = frozenset({"cli", "testing", "bench", "__init__", "__main__"})


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except the bodies of ``if TYPE_CHECKING:`` (their ``else`` still runs)."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return out


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names, resolving ``from . import x``."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_in(code: str, path: Path) -> set[str]:
    """The ``rocketq`` modules ``code`` (the text of ``path``) imports at run time;
    ``from rocketq import x`` counts as an import of ``rocketq.x``."""
    module = _module_name(path)
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(code, str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(module, path, node)
            if target == "rocketq":
                found.update(f"rocketq.{alias.name}" for alias in node.names)
            else:
                found.add(target)
    return {name for name in found if name == "rocketq" or name.startswith("rocketq.")}


def _layer(module: str) -> str:
    """``rocketq.broker.timer.wheel`` -> ``broker``; the root package -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def violations() -> list[str]:
    """``importer -> imported`` for every run-time import against DESIGN's arrows."""
    bad: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        source = rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem
        if source in UNRESTRICTED:
            continue
        assert source in ALLOWED, f"{rel}: package {source!r} has no place in the layer table"
        for imported in sorted(imports_in(path.read_text(), path)):
            target = _layer(imported)
            if target != source and target not in ALLOWED[source]:
                bad.append(f"{_module_name(path)} -> {imported}")
    return bad


def test_runtime_imports_follow_the_layers() -> None:
    assert violations() == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("from rocketq.store.format import X", {"rocketq.store.format"}),
        ("import rocketq.broker", {"rocketq.broker"}),
        ("from rocketq import store", {"rocketq.store"}),
        ("from . import types", {"rocketq.admin"}),
        ("from ..store import format", {"rocketq.store"}),
        ("if TYPE_CHECKING:\n    from rocketq.store import S", set()),
        ("if TYPE_CHECKING:\n    pass\nelse:\n    from rocketq.store import S", {"rocketq.store"}),
        ("def f():\n    from rocketq.broker import B", {"rocketq.broker"}),
        ("import os", set()),
    ],
)
def test_the_checker_sees_imports(code: str, expected: set[str]) -> None:
    # As if the code were rocketq/admin/probe.py, so that relative imports resolve.
    assert imports_in(code, SRC / "admin" / "probe.py") == expected
