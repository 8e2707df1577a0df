"""Install the third-party RocketMQ clients the interop tests drive (idempotent).

Run with the project's python (``make test`` does this)::

    .venv/bin/python tests/interop/setup_clients.py [--check] [--force]
        [--cpp-only | --js-only | --grpc-only]

* C++ client: PyPI ``rocketmq==0.4.4`` (bundles librocketmq 1.2.3).  Its import name
  ``rocketmq`` would shadow nothing of ours, but it is kept out of the project venv anyway:
  it goes into ``<repo>/.cache/interop/cpp-venv`` and the drivers run as subprocesses of
  that venv's python.
* RocketMQ 5.x Python client: PyPI ``rocketmq-python-client==5.1.2`` (gRPC). Its import
  name is also ``rocketmq``, so it gets its own venv, ``<repo>/.cache/interop/grpc-venv``.
* JavaScript clients: npm ``ali-ons`` 3.12.0 (remoting) and ``rocketmq-client-nodejs`` 1.0.8
  (the 5.x Node.js client, gRPC; Node >= 16.19), pinned by
  ``tests/interop/js/package-lock.json``; installed with ``npm ci`` (fallback ``npm install``)
  into ``tests/interop/js/node_modules``. Neither needs a network at run time.

Stamp files record what was installed, so a second run only hashes two small files and
returns in well under a second.  Exit status 0 = ready, 1 = install failed or (``--check``)
something is missing, 2 = usage error.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CACHE = REPO / ".cache" / "interop"
CPP_VENV = CACHE / "cpp-venv"
CPP_STAMP = CPP_VENV / ".rocketq-installed"
CPP_REQUIREMENT = "rocketmq==0.4.4"
GRPC_VENV = CACHE / "grpc-venv"
GRPC_STAMP = GRPC_VENV / ".rocketq-installed"
GRPC_REQUIREMENT = "rocketmq-python-client==5.1.2"
JS_DIR = HERE / "js"
JS_MODULES = JS_DIR / "node_modules"
JS_STAMP = JS_MODULES / ".rocketq-installed"
# The packages package.json names; each must be in node_modules after an install.
JS_PACKAGES = ("ali-ons", "rocketmq-client-nodejs")


def say(msg: str) -> None:
    print(f"[setup_clients] {msg}", flush=True)


def fail(msg: str) -> int:
    print(f"[setup_clients] ERROR: {msg}", file=sys.stderr, flush=True)
    return 1


def cpp_python() -> Path:
    return CPP_VENV / "bin" / "python"


def cpp_stamp_text() -> str:
    return f"{CPP_REQUIREMENT}\n"


def grpc_python() -> Path:
    return GRPC_VENV / "bin" / "python"


def grpc_ready() -> bool:
    return grpc_python().exists() and read(GRPC_STAMP) == f"{GRPC_REQUIREMENT}\n"


def js_stamp_text() -> str:
    h = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        h.update(name.encode())
        h.update((JS_DIR / name).read_bytes())
    return h.hexdigest() + "\n"


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def cpp_ready() -> bool:
    return cpp_python().exists() and read(CPP_STAMP) == cpp_stamp_text()


def js_missing() -> list[str]:
    return [name for name in JS_PACKAGES if not (JS_MODULES / name / "package.json").exists()]


def js_ready() -> bool:
    return not js_missing() and read(JS_STAMP) == js_stamp_text()


def run(cmd: list[str], cwd: Path | None = None) -> bool:
    say("$ " + " ".join(cmd))
    try:
        proc = subprocess.run(cmd, cwd=cwd, check=False)
    except OSError as exc:
        print(f"[setup_clients] cannot run {cmd[0]}: {exc}", file=sys.stderr, flush=True)
        return False
    return proc.returncode == 0


def install_cpp() -> int:
    t0 = time.monotonic()
    say(f"installing the C++ client ({CPP_REQUIREMENT}) into {CPP_VENV}")
    if CPP_VENV.exists():
        shutil.rmtree(CPP_VENV)
    CACHE.mkdir(parents=True, exist_ok=True)
    # The project's interpreter is itself a venv python; `-m venv` bases the new venv on
    # the same base interpreter, which is what we want (any CPython 3 works for 0.4.4).
    if not run([sys.executable, "-m", "venv", str(CPP_VENV)]):
        return fail(f"could not create the virtual environment {CPP_VENV}")
    py = str(cpp_python())
    pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if not run([*pip, CPP_REQUIREMENT]):
        return fail(
            f"pip could not install {CPP_REQUIREMENT} (needs network access to PyPI and a "
            "manylinux x86_64 host)"
        )
    check = "import rocketmq.client as c; print(c.__file__)"
    if not run([py, "-c", check]):
        return fail("rocketmq installed but `import rocketmq.client` fails (librocketmq.so)")
    CPP_STAMP.write_text(cpp_stamp_text())
    say(f"C++ client ready ({time.monotonic() - t0:.1f} s): {py}")
    return 0


def install_grpc() -> int:
    t0 = time.monotonic()
    say(f"installing the 5.x Python client ({GRPC_REQUIREMENT}) into {GRPC_VENV}")
    if GRPC_VENV.exists():
        shutil.rmtree(GRPC_VENV)
    CACHE.mkdir(parents=True, exist_ok=True)
    if not run([sys.executable, "-m", "venv", str(GRPC_VENV)]):
        return fail(f"could not create the virtual environment {GRPC_VENV}")
    py = str(grpc_python())
    pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if not run([*pip, GRPC_REQUIREMENT]):
        return fail(f"pip could not install {GRPC_REQUIREMENT} (needs network access to PyPI)")
    if not run([py, "-c", "import rocketmq.v5, rocketmq.grpc_protocol"]):
        return fail(f"{GRPC_REQUIREMENT} installed but `import rocketmq.v5` fails")
    GRPC_STAMP.write_text(f"{GRPC_REQUIREMENT}\n")
    say(f"5.x Python client ready ({time.monotonic() - t0:.1f} s): {py}")
    return 0


def install_js() -> int:
    t0 = time.monotonic()
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return fail("node and npm are required for the JavaScript interop clients (Node >= 16.19)")
    say(f"installing {', '.join(JS_PACKAGES)} into {JS_MODULES}")
    flags = ["--no-audit", "--no-fund", "--loglevel=error"]
    ok = run([npm, "ci", *flags], cwd=JS_DIR)
    if not ok:
        say("npm ci failed; falling back to npm install")
        ok = run([npm, "install", *flags], cwd=JS_DIR)
    if not ok:
        return fail(f"npm could not install the packages of {JS_DIR / 'package.json'}")
    if missing := js_missing():
        return fail(f"npm finished but node_modules lacks {', '.join(missing)}")
    JS_STAMP.write_text(js_stamp_text())
    say(f"{', '.join(JS_PACKAGES)} ready ({time.monotonic() - t0:.1f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--cpp-only", action="store_true", help="only the C++ client venv")
    only.add_argument("--js-only", action="store_true", help="only the JavaScript clients")
    only.add_argument("--grpc-only", action="store_true", help="only the 5.x Python client venv")
    ap.add_argument("--force", action="store_true", help="reinstall even if stamps match")
    ap.add_argument("--check", action="store_true", help="install nothing; exit 1 if not ready")
    args = ap.parse_args(argv)

    only = args.cpp_only or args.js_only or args.grpc_only
    want_cpp = args.cpp_only or not only
    want_js = args.js_only or not only
    want_grpc = args.grpc_only or not only
    todo = []
    if want_cpp and (args.force or not cpp_ready()):
        todo.append(("cpp", install_cpp))
    if want_js and (args.force or not js_ready()):
        todo.append(("js", install_js))
    if want_grpc and (args.force or not grpc_ready()):
        todo.append(("grpc", install_grpc))

    if args.check:
        if todo:
            return fail("not installed: " + ", ".join(name for name, _ in todo))
        say("interop clients installed")
        return 0
    if not todo:
        say("interop clients up to date")
        return 0
    for _, step in todo:
        rc = step()
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    sys.exit(main())
