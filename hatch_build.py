"""Hatch build hook: generate the protobuf modules of rocketq's gRPC schema
(``src/rocketq/broker/grpc/v2``) and compile the optional C kernels
(``src/rocketq/*/_kernels.pyx``, DESIGN principle 19) before the wheel (or editable
install) is built.

The kernels are built in place, next to their ``.pyx`` (the ``.so`` is gitignored), with
Cython and the machine's own C compiler. No compiler, no Python headers: a warning, and
rocketq runs on its pure-Python modules, which stay the reference.

Run as a script (``python hatch_build.py --inplace``, what ``make`` does) it only compiles
the kernels, and only those older than their ``.pyx`` or a ``.pxi`` it includes; hatchling
is not needed then.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # run as a script by make, in a venv without hatchling
    BuildHookInterface = object

ROOT = Path(__file__).parent
GENERATOR = ROOT / "src" / "rocketq" / "broker" / "grpc" / "v2" / "generate.py"
# Every compiled kernel module: a .pyx beside the pure-Python modules it twins.
KERNELS = tuple(
    ROOT / "src" / "rocketq" / package / "_kernels.pyx"
    for package in ("common", "remoting", "store", "broker")
)
# A kernel's Cython ``include "<file>"`` lines (a path relative to the .pyx): the files its
# build reads besides the .pyx (remoting/_frames.pxi, included by two kernels).
INCLUDE = re.compile(r'^include\s+"([^"]+)"', re.MULTILINE)
# Seconds a compile may take before it counts as failed (gcc -O2 takes ~10 s here).
COMPILE_TIMEOUT = 300


def extension_path(pyx: Path) -> Path:
    """Where the compiled module of ``pyx`` goes: beside it, with this Python's suffix."""
    return pyx.with_suffix(sysconfig.get_config_var("EXT_SUFFIX") or ".so")


def kernel_sources(pyx: Path) -> list[Path]:
    """``pyx`` and the files it includes: a change to any of them makes its build stale."""
    return [pyx, *(pyx.parent / name for name in INCLUDE.findall(pyx.read_text()))]


def is_stale(pyx: Path, out: Path) -> bool:
    """``out`` (the extension of ``pyx``) is missing or older than ``pyx`` or a file it
    includes. A source that cannot be read counts as stale: the compile then says why."""
    try:
        built = out.stat().st_mtime
        return any(path.stat().st_mtime > built for path in kernel_sources(pyx))
    except (OSError, UnicodeDecodeError):
        return True


def compile_kernel(pyx: Path) -> Path:
    """Cython ``pyx`` to C, then C to an extension module with the compiler Python was
    built with (``LDSHARED``: compile and link in one step). Raises on any failure."""
    c_file = pyx.with_suffix(".c")
    out = extension_path(pyx)
    # Linked beside it, then renamed over it: a process that has the old module mapped
    # keeps its file, never sees a half-written one.
    partial = out.with_name(out.name + ".partial")
    subprocess.run(
        [sys.executable, "-m", "cython", "-3", "--fast-fail", str(pyx), "-o", str(c_file)],
        check=True,
        timeout=COMPILE_TIMEOUT,
    )
    config = sysconfig.get_config_vars()
    command = [
        *shlex.split(config.get("LDSHARED") or "cc -shared"),
        *shlex.split(config.get("CCSHARED") or "-fPIC"),
        *shlex.split(config.get("CFLAGS") or ""),
        "-O2",
        "-I",
        sysconfig.get_paths()["include"],
        str(c_file),
        "-o",
        str(partial),
    ]
    try:
        subprocess.run(command, check=True, timeout=COMPILE_TIMEOUT)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def build_kernels(force: bool = False) -> list[Path]:
    """Compile every kernel whose extension is missing or older than its ``.pyx`` or a file
    that ``.pyx`` includes.

    Returns the extension modules present afterwards. A kernel that cannot be compiled
    (no compiler, no Cython, no headers) is reported on stderr and skipped.
    """
    built = []
    for pyx in KERNELS:
        out = extension_path(pyx)
        if not pyx.exists():
            continue
        # The freshness test is inside the try too: whatever fails here (a source gone, a
        # compiler missing) leaves rocketq pure Python, never a failed install (principle 19).
        try:
            if force or is_stale(pyx, out):
                compile_kernel(pyx)
        except (OSError, subprocess.SubprocessError) as exc:
            out.unlink(missing_ok=True)  # never leave a stale build beside a newer .pyx
            print(
                f"WARNING: rocketq's compiled core ({pyx.name}) was not built ({exc}); "
                "rocketq runs in pure Python (slower). Install a C compiler and the "
                "Python headers to build it.",
                file=sys.stderr,
            )
            continue
        built.append(out)
    return built


class ProtoBuildHook(BuildHookInterface):  # type: ignore[misc,valid-type]
    """Runs ``generate.py`` (grpcio-tools' protoc) on the ``.proto`` files and compiles the
    C kernels when a compiler is there."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Generate ``*_pb2.py``/``*_pb2.pyi`` next to the ``.proto`` files; build kernels."""
        spec = importlib.util.spec_from_file_location("_rocketq_proto_generate", GENERATOR)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for path in module.generate():
            self.app.display_info(f"generated {path.name}")
        built = build_kernels()
        for path in built:
            self.app.display_info(f"compiled {path.name}")
        if built and version != "editable":
            # A wheel holding a compiled module is tied to this Python and platform.
            build_data["pure_python"] = False
            build_data["infer_tag"] = True


if __name__ == "__main__":
    if sys.argv[1:] not in ([], ["--inplace"], ["--inplace", "--force"]):
        sys.exit("usage: python hatch_build.py --inplace [--force]")
    build_kernels(force="--force" in sys.argv)
