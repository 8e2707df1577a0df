"""How fast RocketMQ's Java benchmark Producer can go against a broker that does no work.

Runs the Java Producer (``-w 8 -s 1024``, 8 threads each awaiting its ack over one
connection) against rocketq twice per round: once as it is (``real``), once with its
SEND_MESSAGE_V2 processor swapped for one that answers every send at once with a made-up
result and stores nothing (``instant``). The instant broker still reads, decodes and
answers frames on the same event loop, so the difference between the two is what storing
costs the client in round-trip time; the instant figure is the ceiling for any broker on
this machine with this client (its own CPU and two thread hand-offs per send).

Needs the RocketMQ 4.9.4 anchor kit (``ROCKETMQ_HOME`` set, e.g. ``. /tmp/anchors/run/env.sh``,
see ../shared/anchors/rocketmq-4.9.4/README.md). By hand only:

    . /tmp/anchors/run/env.sh && .venv/bin/python benchmarks/send_ceiling.py --seconds 35
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection

# A msgId as a broker answers it: store host 127.0.0.1:10911 and commitlog offset 0.
_MSG_ID = "7F00000100002A9F0000000000000000"


def _instant(_conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
    """A successful send result, nothing stored."""
    queue_id = getattr(cmd, "queue_id", None)  # a PlainSend (binary header) has it read
    if queue_id is None:
        queue_id = (cmd.ext_fields or {}).get("e", "0")
    fields = {"msgId": _MSG_ID, "queueId": str(queue_id), "queueOffset": "0"}
    return cmd.make_response(ResponseCode.SUCCESS, None, fields)


def _instant_many(conn: Connection, cmds: list[RemotingCommand]) -> list[RemotingCommand]:
    return [_instant(conn, cmd) for cmd in cmds]


async def _serve(mode: str, address_file: Path) -> None:
    """The child: a NameServer and a broker in this process until killed."""
    from rocketq.testing import running_cluster

    with tempfile.TemporaryDirectory() as store:
        async with running_cluster(store) as (namesrv, broker):
            if mode == "instant":
                broker.server.processors.register(
                    RequestCode.SEND_MESSAGE_V2, _instant, _instant_many
                )
            address_file.write_text(namesrv.address)
            await asyncio.Event().wait()


def _producer(namesrv: str, seconds: float) -> list[int]:
    """Run the Java benchmark Producer; its per-window send TPS."""
    tools = Path(os.environ["ROCKETMQ_HOME"]) / "bin" / "tools.sh"
    cmd = ["timeout", str(seconds), "sh", str(tools),
           "org.apache.rocketmq.example.benchmark.Producer",
           "-t", "CeilingTopic", "-w", "8", "-s", "1024", "-n", namesrv]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, cwd="/tmp", check=False).stdout
    return [int(m) for m in re.findall(r"Send TPS: (\d+)", out)]


def _round(mode: str, seconds: float) -> list[int]:
    with tempfile.TemporaryDirectory() as tmp:
        address_file = Path(tmp) / "namesrv"
        child = subprocess.Popen([sys.executable, __file__, "--serve", mode, str(address_file)])
        try:
            deadline = time.monotonic() + 30
            while not address_file.exists() or not address_file.read_text():
                if time.monotonic() > deadline or child.poll() is not None:
                    raise SystemExit(f"the {mode} broker did not start")
                time.sleep(0.1)
            return _producer(address_file.read_text(), seconds)
        finally:
            child.kill()
            child.wait()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        import uvloop

        uvloop.run(_serve(sys.argv[2], Path(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=35.0, help="Producer run per pass")
    parser.add_argument("--rounds", type=int, default=2, help="alternating passes of each")
    args = parser.parse_args()
    if "ROCKETMQ_HOME" not in os.environ:
        raise SystemExit("set ROCKETMQ_HOME (source the anchor kit's env.sh) first")
    medians: dict[str, list[float]] = {"real": [], "instant": []}
    for _ in range(args.rounds):
        for mode in medians:
            windows = _round(mode, args.seconds)
            if not windows:
                raise SystemExit(f"the Java Producer printed no TPS against the {mode} broker")
            steady = windows[1:] or windows  # the first window includes warm-up
            medians[mode].append(statistics.median(steady))
            print(f"{mode:8s} windows {windows}", flush=True)
    real, instant = (statistics.median(v) for v in medians.values())
    print(f"median of steady windows: real {real:,.0f}/s  instant {instant:,.0f}/s  "
          f"real/instant {real / instant if instant else 0:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
