"""The optional compiled core (DESIGN principle 19): C twins of a few hot pure functions.

A package's kernels are one Cython module beside its pure-Python modules
(``rocketq/common/_kernels.pyx``, ``rocketq/remoting/_kernels.pyx``,
``rocketq/store/_kernels.pyx``) that ``make`` / ``pip install`` compile with the machine's
own C compiler when there is one (``hatch_build.py``). Each kernel has the name and the
signature of the pure-Python function (or class) it twins; that function is marked
:func:`twin` and is replaced by the kernel at import time::

    @speedups.twin
    def java_string_hash(text: str) -> int:
        ...  # the reference: what the kernel must do, byte for byte

The pure-Python functions stay the reference and the fallback: they run when the kernels
were not built (no compiler), and when ``ROCKETQ_PURE_PYTHON=1`` is in the environment at
import time. The tests run every twin both ways (the ``impl`` fixture of tests/conftest.py,
``tests/unit/test_kernels.py``).

``ACTIVE`` tells which path runs; ``describe()`` says it in words (``python -m
rocketq.common.speedups``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any, Final, TypeVar

__all__ = [
    "ACTIVE",
    "ENV_VAR",
    "REFERENCE",
    "describe",
    "kernel_module_name",
    "load_kernels",
    "pure_python_requested",
    "twin",
]

# Set to 1 (anything but "" or "0") to run the pure-Python reference even where the
# compiled core is built: for comparisons, and for the tests' pure-Python runs.
ENV_VAR: Final = "ROCKETQ_PURE_PYTHON"

_F = TypeVar("_F", bound=Callable[..., Any])


def pure_python_requested() -> bool:
    """True when ``ROCKETQ_PURE_PYTHON`` asks for the pure-Python path."""
    return os.environ.get(ENV_VAR, "") not in ("", "0")


def kernel_module_name(pure: Callable[..., Any]) -> str:
    """``rocketq.<package>._kernels``: where the twin of ``pure`` lives."""
    return pure.__module__.rsplit(".", 1)[0] + "._kernels"


def load_kernels(name: str) -> ModuleType | None:
    """The compiled module ``name``, or None when pure Python is asked for or it is not
    built (an ``ImportError``; Python caches the module, so this is cheap)."""
    if pure_python_requested():
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


# True when the compiled kernels replace their pure-Python twins in this process.
ACTIVE: Final[bool] = load_kernels("rocketq.common._kernels") is not None
# name -> the pure-Python reference of every twin imported so far (the tests compare it
# with the kernel of the same name).
REFERENCE: dict[str, Callable[..., Any]] = {}


def twin(pure: _F) -> _F:
    """Decorator: the compiled kernel named like ``pure`` when the core is active, else
    ``pure`` itself; ``pure`` is kept in :data:`REFERENCE` either way."""
    name = pure.__name__
    if name in REFERENCE and REFERENCE[name].__module__ != pure.__module__:
        raise ValueError(f"two twins are named {name!r}: kernel names must be unique")
    REFERENCE[name] = pure
    kernels = load_kernels(kernel_module_name(pure)) if ACTIVE else None
    # A module built from an older .pyx may lack a kernel: that one stays pure (make rebuilds
    # it; the tests fail on it).
    compiled: _F = getattr(kernels, name, pure)
    return compiled


def describe() -> str:
    """``compiled core: on`` or ``compiled core: off (<why>)``."""
    if ACTIVE:
        return "compiled core: on"
    if pure_python_requested():
        return f"compiled core: off ({ENV_VAR}=1)"
    return "compiled core: off (not built: no C compiler when rocketq was installed?)"


if __name__ == "__main__":
    print(describe())
