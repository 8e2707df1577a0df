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
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

from rocketq.admin import AdminClient
from rocketq.client.config import ClientConfig, ProducerConfig
from rocketq.client.message import Message, SendStatus
from rocketq.client.producer import AsyncProducer
from rocketq.common.errors import RocketQError
from rocketq.testing import (
    ControllerCluster,
    async_wait_until,
    controller_cluster,
    create_replicated_topic,
)

GROUP = "bench-a"
TOPIC = "FailoverBench"
QUEUES = 8
BODY = b"x" * 1024
SENDERS = 8
# Long enough for a broker restart on a loaded 2-core machine.
SETTLE_DEADLINE = 60.0


class GroupStuck(Exception):
    """The group did not get back to a master, two slaves and a full SyncStateSet."""


async def settled(admin: AdminClient, cluster: ControllerCluster) -> dict[int, str]:
    """A master and two slaves in the route (and, controller mode, three replicas in the
    SyncStateSet: only those may be elected)."""
    try:
        return await cluster.wait_settled(admin, SETTLE_DEADLINE)
    except AssertionError as exc:
        raise GroupStuck(str(exc)) from None


async def create_topic(admin: AdminClient, master: str, slaves: list[str]) -> None:
    await create_replicated_topic(admin, master, slaves, TOPIC, QUEUES, SETTLE_DEADLINE)


async def one_failover(
    admin: AdminClient, cluster: ControllerCluster, sig: signal.Signals
) -> float:
    """Signal the master; seconds until the route names another; then let it rejoin."""
    old = (await settled(admin, cluster))[0]
    i = cluster.index_of(old)
    pid = cluster.pid(old)
    t0 = time.monotonic()
    os.kill(pid, sig)
    try:

        async def moved() -> bool:
            return (await cluster.route(admin)).get(0) not in (None, old)

        await async_wait_until(moved, SETTLE_DEADLINE, 0.005, "no new master")
        took = time.monotonic() - t0
    finally:
        if sig == signal.SIGSTOP:
            os.kill(pid, signal.SIGCONT)
    if sig == signal.SIGKILL:
        cluster.brokers[i].stop()  # reaps the killed process
        cluster.start_broker(i)
    return took


async def failover_times(
    root: Path, sig: signal.Signals, rounds: int, heartbeat_timeout_ms: int
) -> list[float]:
    timeout = {"controllerHeartBeatTimeoutMills": str(heartbeat_timeout_ms)}
    with controller_cluster(root, 3, broker_name=GROUP, broker_config=timeout) as cluster:
        async with AdminClient(cluster.namesrv.addr) as admin:
            times: list[float] = []
            for n in range(rounds):
                try:
                    took = await one_failover(admin, cluster, sig)
                except GroupStuck as exc:
                    print(f"  {sig.name} round {n + 1}: stopped, {exc}", flush=True)
                    break
                print(f"  {sig.name} round {n + 1}: {took * 1000:.0f} ms", flush=True)
                times.append(took)
            return times


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
    classic = [{"brokerRole": "SYNC_MASTER", "brokerId": "0"}] + [
        {"brokerRole": "SLAVE", "brokerId": str(i)} for i in (1, 2)
    ]
    with controller_cluster(
        root,
        3,
        broker_name=GROUP,
        controller_mode=mode == "controller",
        broker_configs=classic if mode == "classic" else (),
    ) as cluster:
        async with AdminClient(cluster.namesrv.addr) as admin:
            r = await settled(admin, cluster)
            await create_topic(admin, r[0], [a for b, a in r.items() if b])
        return await send_rate(cluster.namesrv.addr, seconds)


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
