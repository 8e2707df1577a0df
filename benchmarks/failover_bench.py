"""Controller-mode failover (issue 12) with real processes: a NameServer running the controller
(``enableControllerInNamesrv``) and three ``rocketq broker`` processes of one group.

* **failover time**: the master is killed (``kill -9``) or hung (``SIGSTOP``) and the time
  until the NameServer's route names another master is measured; the old master is then
  restarted (or continued) and rejoins as a slave, and the next round starts once all three
  are in the SyncStateSet again. A killed master is noticed by its closed connection, a hung
  one only by ``controllerHeartBeatTimeoutMills`` (set by ``--heartbeat-timeout-ms``).
* **send throughput**: 8 concurrent sync senders of 1 KiB bodies for ``--seconds`` against the
  controller-mode group with ``allAckInSyncStateSet=true`` and against a classic
  ``SYNC_MASTER`` with two slaves, in the same session.

    .venv/bin/python benchmarks/failover_bench.py                 # 20 kills of each kind
    .venv/bin/python benchmarks/failover_bench.py --rounds 5 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from rocketq.admin import AdminClient
from rocketq.client.config import ClientConfig, ProducerConfig
from rocketq.client.message import Message, SendStatus
from rocketq.client.producer import AsyncProducer
from rocketq.common.errors import RocketQError
from rocketq.common.topic import TopicConfig
from rocketq.testing import BrokerProcess, NamesrvProcess, async_wait_until

GROUP = "bench-a"
TOPIC = "FailoverBench"
QUEUES = 8
BODY = b"x" * 1024
SENDERS = 8
# Long enough for a broker restart on a loaded 2-core machine.
SETTLE_DEADLINE = 60.0
# Broker timers shortened through config, as in tests/integration/test_controller_mode.py.
BROKER_TIMERS = {
    "brokerHeartbeatInterval": "200",
    "syncBrokerMetadataPeriod": "300",
    "checkSyncStateSetPeriod": "300",
    "syncControllerMetadataPeriod": "1000",
    "haSendHeartbeatInterval": "500",
    "haHousekeepingInterval": "5000",
    "haConnectRetryInterval": "200",
    "slaveTimeout": "3000",
}


def free_ports(count: int) -> list[int]:
    """Ports the kernel had free a moment ago."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


@contextlib.contextmanager
def controller_namesrv(root: Path) -> Iterator[tuple[NamesrvProcess, str]]:
    """A NameServer with the controller inside; yields it and the controller address."""
    peer, raft = free_ports(2)
    conf = {
        "enableControllerInNamesrv": "true",
        "controllerDLegerGroup": "group1",
        "controllerDLegerPeers": f"n0-127.0.0.1:{peer}",
        "controllerRaftPeers": f"n0-127.0.0.1:{raft}",
        "controllerDLegerSelfId": "n0",
        "controllerStorePath": str(root / "controller"),
        "scanNotActiveBrokerInterval": "300",
        "scanInactiveMasterInterval": "300",
        "brokerChannelExpiredTime": "600000",
    }
    with NamesrvProcess(root / "ns", conf) as ns:
        yield ns, f"127.0.0.1:{peer}"


class Group:
    """Three brokers on fixed ports (a restart keeps them): controller mode or classic."""

    def __init__(self, root: Path, namesrv: str, extra: list[dict[str, str]]) -> None:
        ports = free_ports(6)
        self.namesrv = namesrv
        self.dirs = [root / f"b{i}" for i in range(3)]
        self.configs = [
            {"brokerName": GROUP, "listenPort": str(ports[2 * i]),
             "haListenPort": str(ports[2 * i + 1]), **BROKER_TIMERS, **extra[i]}
            for i in range(3)
        ]  # fmt: skip
        self.procs = [
            BrokerProcess(d, namesrv, c) for d, c in zip(self.dirs, self.configs, strict=True)
        ]

    def start(self, i: int | None = None) -> None:
        for j in range(3) if i is None else [i]:
            self.procs[j] = BrokerProcess(self.dirs[j], self.namesrv, self.configs[j]).start()

    def index_of(self, addr: str) -> int:
        return next(i for i, p in enumerate(self.procs) if p.addr == addr)

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                if proc.proc is not None:
                    os.kill(proc.proc.pid, signal.SIGCONT)
            proc.stop()


async def route(admin: AdminClient) -> dict[int, str]:
    info = await admin.cluster_info()
    data = info.broker_addr_table.get(GROUP)
    return dict(data.broker_addrs) if data is not None else {}


async def settled(admin: AdminClient, controller: str | None) -> dict[int, str]:
    """Wait for a master and two slaves in the route (and, controller mode, three replicas
    in the SyncStateSet: only those may be elected)."""

    async def ready() -> dict[int, str] | None:
        r = await route(admin)
        if 0 not in r or len(r) != 3:
            return None
        if controller is not None:
            state = await admin.sync_state_data(controller, [GROUP])
            if len(state[GROUP]["inSyncReplicas"]) != 3:
                return None
        return r

    try:
        return await async_wait_until(ready, SETTLE_DEADLINE, 0.05, "group did not settle")
    except AssertionError as exc:
        state = await admin.sync_state_data(controller, [GROUP]) if controller else {}
        raise GroupStuck(f"{exc}; route {await route(admin)}, controller {state}") from None


class GroupStuck(Exception):
    """The group did not get back to a master, two slaves and a full SyncStateSet."""


async def create_topic(admin: AdminClient, master: str, slaves: list[str]) -> None:
    await admin.create_topic(master, TopicConfig(TOPIC, QUEUES, QUEUES))

    async def slaves_know_it() -> bool:
        for addr in slaves:
            try:
                await admin.pull(addr, TOPIC, 0, 0)
            except RocketQError:
                return False
        return True

    await async_wait_until(slaves_know_it, SETTLE_DEADLINE, message="slaves lack the topic")


async def one_failover(
    admin: AdminClient, group: Group, controller: str, sig: signal.Signals
) -> float:
    """Signal the master; seconds until the route names another; then let it rejoin."""
    before = await settled(admin, controller)
    old = before[0]
    i = group.index_of(old)
    proc = group.procs[i].proc
    assert proc is not None
    t0 = time.monotonic()
    os.kill(proc.pid, sig)
    try:

        async def moved() -> bool:
            return (await route(admin)).get(0) not in (None, old)

        await async_wait_until(moved, SETTLE_DEADLINE, 0.005, "no new master")
        took = time.monotonic() - t0
    finally:
        if sig == signal.SIGSTOP:
            os.kill(proc.pid, signal.SIGCONT)
    if sig == signal.SIGKILL:
        proc.wait()
        group.start(i)
    return took


async def failover_times(
    root: Path, sig: signal.Signals, rounds: int, heartbeat_timeout_ms: int
) -> list[float]:
    with controller_namesrv(root) as (ns, controller):
        extra = {
            "enableControllerMode": "true",
            "controllerAddr": controller,
            "brokerId": "-1",
            "allAckInSyncStateSet": "true",
            "controllerHeartBeatTimeoutMills": str(heartbeat_timeout_ms),
        }
        group = Group(root, ns.addr, [extra] * 3)
        try:
            group.start()
            async with AdminClient(ns.addr) as admin:
                times: list[float] = []
                for n in range(rounds):
                    try:
                        took = await one_failover(admin, group, controller, sig)
                    except GroupStuck as exc:
                        print(f"  {sig.name} round {n + 1}: stopped, {exc}", flush=True)
                        break
                    print(f"  {sig.name} round {n + 1}: {took * 1000:.0f} ms", flush=True)
                    times.append(took)
                return times
        finally:
            group.stop()


async def send_rate(namesrv: str, seconds: float) -> tuple[float, int]:
    """SEND_OK per second from SENDERS sync senders, and the failed sends."""
    stop = asyncio.Event()
    ok = failed = 0

    async def sender(p: AsyncProducer) -> None:
        nonlocal ok, failed
        while not stop.is_set():
            try:
                result = await p.send(Message(TOPIC, BODY))
            except RocketQError:
                failed += 1
                continue
            if result.status is SendStatus.SEND_OK:
                ok += 1
            else:
                failed += 1

    config = ProducerConfig(send_msg_timeout=4000, retry_times_when_send_failed=0)
    client = ClientConfig(namesrv_addr=namesrv, poll_name_server_interval=500)
    async with AsyncProducer("failover-bench-pg", config=config, client_config=client) as p:
        await p.send(Message(TOPIC, BODY))  # route loaded, connection open
        tasks = [asyncio.create_task(sender(p)) for _ in range(SENDERS)]
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks)
        return ok / (time.monotonic() - t0), failed


async def throughput(root: Path, mode: str, seconds: float) -> tuple[float, int]:
    """Send rate against a settled group: ``controller`` (allAckInSyncStateSet) or
    ``classic`` (SYNC_MASTER and two slaves)."""
    with controller_namesrv(root) as (ns, controller):
        if mode == "controller":
            extra = [{"enableControllerMode": "true", "controllerAddr": controller,
                      "brokerId": "-1", "allAckInSyncStateSet": "true"}] * 3  # fmt: skip
        else:
            extra = [{"brokerRole": "SYNC_MASTER", "brokerId": "0"}] + [
                {"brokerRole": "SLAVE", "brokerId": str(i)} for i in (1, 2)
            ]
        group = Group(root, ns.addr, extra)
        try:
            group.start()
            async with AdminClient(ns.addr) as admin:
                r = await settled(admin, controller if mode == "controller" else None)
                await create_topic(admin, r[0], [a for b, a in r.items() if b])
            return await send_rate(ns.addr, seconds)
        finally:
            group.stop()


def summary(times: list[float]) -> str:
    ms = [t * 1000 for t in times]
    return f"n={len(ms)} median {statistics.median(ms):.0f} ms, max {max(ms):.0f} ms"


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="failover-bench-") as tmp:
        root = Path(tmp)
        results: dict[str, str] = {}
        for mode in ("controller", "classic") if args.seconds > 0 else ():
            rate, failed = await throughput(root / f"tp-{mode}", mode, args.seconds)
            results[f"send {mode}"] = f"{rate:,.0f} msg/s ({failed} failed)"
            print(f"send throughput, {mode}: {results[f'send {mode}']}", flush=True)
        for sig in (signal.SIGKILL, signal.SIGSTOP):
            times = await failover_times(
                root / f"fo-{sig.name}", sig, args.rounds, args.heartbeat_timeout_ms
            )
            results[f"failover {sig.name}"] = summary(times)
            print(f"failover {sig.name}: {summary(times)}", flush=True)
        print("\n" + "\n".join(f"{k}: {v}" for k, v in results.items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="kills of each kind")
    parser.add_argument("--seconds", type=float, default=20.0, help="send phase length (0: none)")
    parser.add_argument("--heartbeat-timeout-ms", type=int, default=2000)
    asyncio.run(main(parser.parse_args()))
