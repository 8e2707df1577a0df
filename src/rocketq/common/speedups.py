"""The optional compiled core (DESIGN principle 19): C twins of a few hot pure functions.

``rocketq.common._kernels`` is a Cython module (``_kernels.pyx`` beside this file) that
``make`` / ``pip install`` compile with the machine's own C compiler when there is one.
Each kernel has the name and the signature of the pure-Python function it twins; that
function is marked :func:`twin` and is replaced by the kernel at import time::

    @speedups.twin
    def java_string_hash(text: str) -> int:
        ...  # the reference: what the kernel must do, byte for byte

The pure-Python functions stay the reference and the fallback: they run when the module
was not built (no compiler), and when ``ROCKETQ_PURE_PYTHON=1`` is in the environment at
import time. The tests run every twin both ways (``tests/unit/test_kernels.py``).

``ACTIVE`` tells which path runs; ``describe()`` says it in words (``python -m
rocketq.common.speedups``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any, Final, TypeVar

__all__ = ["ACTIVE", "ENV_VAR", "KERNELS_MODULE", "REFERENCE", "describe", "kernels", "twin"]

# Set to 1 (anything but "" or "0") to run the pure-Python reference even where the
# compiled core is built: for comparisons, and for the tests' pure-Python runs.
ENV_VAR: Final = "ROCKETQ_PURE_PYTHON"
KERNELS_MODULE: Final = "rocketq.common._kernels"

_F = TypeVar("_F", bound=Callable[..., Any])


def pure_python_requested() -> bool:
    """True when ``ROCKETQ_PURE_PYTHON`` asks for the pure-Python path."""
    return os.environ.get(ENV_VAR, "") not in ("", "0")


def _load() -> tuple[ModuleType | None, str]:
    if pure_python_requested():
        return None, f"{ENV_VAR}=1"
    try:
        return importlib.import_module(KERNELS_MODULE), ""
    except ImportError as exc:
        return None, f"not built: {exc}"


kernels, _WHY_OFF = _load()
# True when the compiled kernels replace their pure-Python twins in this process.
ACTIVE: Final[bool] = kernels is not None
# name -> the pure-Python reference of every twinned function imported so far (the tests
# compare it with the kernel of the same name).
REFERENCE: dict[str, Callable[..., Any]] = {}


def twin(pure: _F) -> _F:
    """Decorator: the compiled kernel named like ``pure`` when the core is active, else
    ``pure`` itself; ``pure`` is kept in :data:`REFERENCE` either way."""
    REFERENCE[pure.__name__] = pure
    if kernels is None:
        return pure
    # A module built from an older .pyx may lack a kernel: that one stays pure (make rebuilds
    # it; the tests fail on it).
    compiled: _F = getattr(kernels, pure.__name__, pure)
    return compiled


def describe() -> str:
    """``compiled core: on`` or ``compiled core: off (<why>)``."""
    return "compiled core: on" if ACTIVE else f"compiled core: off ({_WHY_OFF})"


if __name__ == "__main__":
    print(describe())
