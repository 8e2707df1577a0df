"""Start to ready and idle memory of rocketq's servers (issue 11's no-regression figures).

    .venv/bin/python benchmarks/startup_bench.py [--runs 5] [--idle 3]

Each run spawns ``python -m rocketq namesrv`` / ``broker`` / ``dev`` on free ports with a
fresh store and times spawn -> its ``ready`` line; after ``--idle`` seconds the process's
anonymous memory (``RssAnon`` of /proc/<pid>/status) is read, then it is stopped with
SIGTERM. A first untimed run of each fills the bytecode cache (as an installed wheel has
one). Prints the median and the worst of the runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rss_anon_kib(pid: int) -> int:
    """RssAnon of a live process, KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return 0


def one(kind: str, idle: float) -> tuple[float, int]:
    """Seconds from spawn to the ready line, and RssAnon (KiB) after ``idle`` seconds."""
    store = tempfile.mkdtemp(prefix="rq-start-")
    args = {
        "namesrv": ["namesrv", "-p", "0", "--host", "127.0.0.1"],
        # a NameServer nobody listens on: the broker is ready before it registers
        "broker": [
            "broker",
            "-p",
            "0",
            "--host",
            "127.0.0.1",
            "--store",
            store,
            "-n",
            "127.0.0.1:1",
        ],
        "dev": ["dev", "--namesrv-port", "0", "--broker-port", "0", "--store", store],
    }[kind]
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rocketq", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=store,
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if " ready" in line:
                break
        else:
            raise RuntimeError(f"{kind} ended before it was ready")
        ready = time.perf_counter() - started
        time.sleep(idle)
        return ready, rss_anon_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    """Run and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=3.0)
    args = parser.parse_args()
    print(f"{'server':8} {'ready median':>13} {'ready max':>10} {'RssAnon median':>15}")
    for kind in ("namesrv", "broker", "dev"):
        one(kind, 0.0)  # fills the bytecode cache
        results = [one(kind, args.idle) for _ in range(args.runs)]
        ready = [r for r, _ in results]
        anon = [a for _, a in results]
        print(
            f"{kind:8} {statistics.median(ready):12.3f}s {max(ready):9.3f}s "
            f"{statistics.median(anon) / 1024:13.1f} MiB"
        )


if __name__ == "__main__":
    main()
