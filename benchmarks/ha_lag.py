"""Replication between real processes: lag of a slave behind its master under a paced load,
and the time a fresh slave takes to copy a full master.

    .venv/bin/python benchmarks/ha_lag.py lag [--rate 10000] [--seconds 30] [--role ASYNC_MASTER]
    .venv/bin/python benchmarks/ha_lag.py catchup [--gib 1.0]
    .venv/bin/python benchmarks/ha_lag.py catchup --java [--gib 1.0]   # Apache 4.9.4 (anchor kit)

``lag``: a NameServer, a master and a slave (``rocketq`` processes, as ``rocketq.testing``
starts them); one producer sends batches of 1 KiB messages to one queue every 10 ms, which
makes ``--rate`` messages per second. A sampler asks the master and the slave for that
queue's max offset in turn, as fast as they answer. The lag of a master sample (taken at
``t`` and reading ``n``) is the time from ``t`` to the first slave sample that reads at least
``n``; every figure therefore includes up to one sampling round (printed beside it).

``catchup``: fill a master with ``--gib`` GiB of 1 KiB messages (batches), then start an
empty slave and time until its CommitLog max offset equals the master's. Both use a
CommitLog file larger than the data (``mappedFileSizeCommitLog``), because an empty slave
starts at the master's last file (``HAConnection``): with 1 GiB files and 1 GiB of data the
slave would copy only the part in the last file.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from rocketq.admin import AdminClient
from rocketq.client.config import ClientConfig, ProducerConfig
from rocketq.client.message import Message
from rocketq.client.producer import AsyncProducer
from rocketq.common.topic import TopicConfig
from rocketq.testing import BrokerProcess, NamesrvProcess, async_wait_until

TOPIC = "HaLagTopic"
BODY = b"x" * 1024
TICK = 0.010  # one batch every 10 ms
BATCH_LIMIT = 256  # messages per batch request (256 KiB, well under the 4 MiB body limit)


def group_configs(role: str, file_size: int | None) -> tuple[dict[str, str], dict[str, str]]:
    common = {"brokerName": "lag-a", "haSendHeartbeatInterval": "1000"}
    if file_size:
        common["mappedFileSizeCommitLog"] = str(file_size)
    master = {**common, "brokerRole": role}
    slave = {**common, "brokerRole": "SLAVE", "brokerId": "1", "syncBrokerMetadataPeriod": "500"}
    return master, slave


async def paced_sender(namesrv: str, rate: int, stop: asyncio.Event) -> int:
    """Batches every TICK so that ``rate`` messages per second go out; messages sent."""
    config = ProducerConfig(send_msg_timeout=10_000)
    per_tick = max(1, round(rate * TICK))
    sent = 0
    async with AsyncProducer("ha-lag-pg", config=config,
                             client_config=ClientConfig(namesrv_addr=namesrv)) as p:  # fmt: skip
        start = time.monotonic()
        tick = 0
        while not stop.is_set():
            due = per_tick * (tick + 1)
            while sent < due:
                n = min(BATCH_LIMIT, due - sent)
                await p.send_batch([Message(TOPIC, BODY) for _ in range(n)])
                sent += n
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * TICK - time.monotonic()))
    return sent


async def sample(admin: AdminClient, addr: str, out: list[tuple[float, int]]) -> None:
    out.append((time.monotonic(), await admin.max_offset(addr, TOPIC, 0)))


def lags(master: list[tuple[float, int]], slave: list[tuple[float, int]]) -> list[float]:
    """For each master sample, seconds until a slave sample covered it."""
    slave_offsets = [s for _, s in slave]
    running = [max(slave_offsets[: i + 1]) for i in range(len(slave_offsets))]
    out = []
    for t, n in master:
        i = bisect.bisect_left(running, n)
        if i < len(slave):
            out.append(max(0.0, slave[i][0] - t))
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def run_lag(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, NamesrvProcess(Path(tmp) / "ns") as ns:
        master_cfg, slave_cfg = group_configs(args.role, None)
        with (
            BrokerProcess(Path(tmp) / "m", ns.addr, master_cfg) as master,
            BrokerProcess(Path(tmp) / "s", ns.addr, slave_cfg) as slave,
        ):
            async with AdminClient(ns.addr) as admin:
                await admin.create_topic(master.addr, TopicConfig(TOPIC, 1, 1))
                await async_wait_until(lambda: _has_topic(admin, slave.addr), 30)
                stop = asyncio.Event()
                sender = asyncio.create_task(paced_sender(ns.addr, args.rate, stop))
                await asyncio.sleep(2)  # warm-up, not measured
                m_samples: list[tuple[float, int]] = []
                s_samples: list[tuple[float, int]] = []
                t_end = time.monotonic() + args.seconds
                base = await admin.max_offset(master.addr, TOPIC, 0)
                while time.monotonic() < t_end:
                    await sample(admin, master.addr, m_samples)
                    await sample(admin, slave.addr, s_samples)
                stop.set()
                await sender
                for _ in range(200):  # let the slave finish what the last samples named
                    await sample(admin, slave.addr, s_samples)
                sent = m_samples[-1][1] - base
    values = lags(m_samples, s_samples)
    rnd = args.seconds / len(m_samples)
    print(f"{args.role}: {sent / args.seconds:,.0f} msgs/s measured over {args.seconds:g} s "
          f"(1 KiB, batches every {TICK * 1000:g} ms); {len(values)} samples, one sampling "
          f"round = {rnd * 1000:.2f} ms")  # fmt: skip
    print("lag ms: " + ", ".join(
        f"p{p:g} {pct(values, p) * 1000:.2f}" for p in (50, 90, 99, 99.9)
    ) + f", max {max(values) * 1000:.2f}")  # fmt: skip


async def _has_topic(admin: AdminClient, addr: str) -> bool:
    try:
        await admin.max_offset(addr, TOPIC, 0)
    except Exception:  # TOPIC_NOT_EXIST until SlaveSynchronize copied it
        return False
    return True


async def fill(namesrv: str, total_bytes: int) -> None:
    config = ProducerConfig(send_msg_timeout=30_000)
    async with AsyncProducer("ha-fill-pg", config=config,
                             client_config=ClientConfig(namesrv_addr=namesrv)) as p:  # fmt: skip
        batch = [Message(TOPIC, BODY) for _ in range(BATCH_LIMIT)]
        per_batch = BATCH_LIMIT * (len(BODY) + 150)  # ~ record size of a 1 KiB message
        sends = [p.send_batch(batch) for _ in range(4)]
        done = 0
        while done < total_bytes:
            await asyncio.gather(*sends)
            done += 4 * per_batch
            sends = [p.send_batch(batch) for _ in range(4)]
        await asyncio.gather(*sends)


async def run_catchup(args: argparse.Namespace) -> None:
    total = int(args.gib * 1024**3)
    file_size = 2 * 1024**3 if total >= 1024**3 else 1024**3
    master_cfg, slave_cfg = group_configs("ASYNC_MASTER", file_size)
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="ha-catchup-"))
    with NamesrvProcess(root / "ns") as ns, BrokerProcess(root / "m", ns.addr, master_cfg) as m:
        async with AdminClient(ns.addr) as admin:
            await admin.create_topic(m.addr, TopicConfig(TOPIC, 1, 1))
            t0 = time.monotonic()
            await fill(ns.addr, total)
            end = int((await admin.broker_runtime_info(m.addr))["commitLogMaxOffset"])
            print(f"master filled: {end / 1024**3:.3f} GiB in {time.monotonic() - t0:.1f} s")
            t1 = time.monotonic()
            with BrokerProcess(root / "s", ns.addr, slave_cfg) as slave:
                started = time.monotonic()
                while True:
                    info = await admin.broker_runtime_info(slave.addr)
                    if int(info["commitLogMaxOffset"]) >= end:
                        break
                    await asyncio.sleep(0.05)
                done = time.monotonic()
    print(
        f"fresh slave copied {end / 1024**3:.3f} GiB: {done - started:.1f} s after its process "
        f"was ready ({done - t1:.1f} s including its start) = "
        f"{end / 1024**2 / (done - started):.0f} MiB/s; mappedFileSizeCommitLog={file_size}"
    )


ANCHOR_RUN = Path("/tmp/anchors/run")
# Java's MappedFile size is an int: 1.5 GiB is the largest round size above 1 GiB.
JAVA_FILE_SIZE = 1536 * 1024 * 1024


def java_broker(name: str, role: str, broker_id: int, port: int) -> None:
    """Start a 4.9.4 broker from the anchor kit (conf run/NAME.conf, store under /tmp/anchors)."""
    store = f"/tmp/anchors/store-{name}"
    shutil.rmtree(store, ignore_errors=True)
    conf = (
        f"brokerClusterName=DefaultCluster\nbrokerName=broker-a\nbrokerId={broker_id}\n"
        f"brokerRole={role}\nflushDiskType=ASYNC_FLUSH\nnamesrvAddr=127.0.0.1:9876\n"
        f"brokerIP1=127.0.0.1\nbrokerIP2=127.0.0.1\nlistenPort={port}\nhaListenPort={port + 1}\n"
        f"mappedFileSizeCommitLog={JAVA_FILE_SIZE}\nstorePathRootDir={store}\n"
        f"storePathCommitLog={store}/commitlog\n"
    )
    (ANCHOR_RUN / f"{name}.conf").write_text(conf)
    subprocess.run([str(ANCHOR_RUN / "start-broker.sh"), name], check=True)


async def run_catchup_java(args: argparse.Namespace) -> None:
    total = int(args.gib * 1024**3)
    subprocess.run([str(ANCHOR_RUN / "start-namesrv.sh")], check=True)
    try:
        java_broker("cu-master", "ASYNC_MASTER", 0, 10911)
        async with AdminClient("127.0.0.1:9876") as admin:
            await async_wait_until(lambda: _runtime(admin, "127.0.0.1:10911"), 60)
            await admin.create_topic("127.0.0.1:10911", TopicConfig(TOPIC, 1, 1))
            t0 = time.monotonic()
            await fill("127.0.0.1:9876", total)
            end = int((await admin.broker_runtime_info("127.0.0.1:10911"))["commitLogMaxOffset"])
            print(f"master filled: {end / 1024**3:.3f} GiB in {time.monotonic() - t0:.1f} s")
            t1 = time.monotonic()
            java_broker("cu-slave", "SLAVE", 1, 10921)
            info = await async_wait_until(lambda: _runtime(admin, "127.0.0.1:10921"), 60, 0.05)
            started = time.monotonic()
            while int(info["commitLogMaxOffset"]) < end:
                await asyncio.sleep(0.05)
                info = await admin.broker_runtime_info("127.0.0.1:10921")
            done = time.monotonic()
    finally:
        subprocess.run([str(ANCHOR_RUN / "stop.sh"), "all"], check=False)
    print(
        f"4.9.4 fresh slave copied {end / 1024**3:.3f} GiB: {done - started:.1f} s after it "
        f"answered ({done - t1:.1f} s including its start) = "
        f"{end / 1024**2 / (done - started):.0f} MiB/s; mappedFileSizeCommitLog={JAVA_FILE_SIZE}"
    )


async def _runtime(admin: AdminClient, addr: str) -> dict[str, str] | None:
    try:
        return await admin.broker_runtime_info(addr)
    except Exception:  # not up yet
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    lag = sub.add_parser("lag")
    lag.add_argument("--rate", type=int, default=10_000)
    lag.add_argument("--seconds", type=float, default=30.0)
    lag.add_argument("--role", default="ASYNC_MASTER")
    catchup = sub.add_parser("catchup")
    catchup.add_argument("--gib", type=float, default=1.0)
    catchup.add_argument("--dir", default="", help="work directory (default: a new temp dir)")
    catchup.add_argument("--java", action="store_true", help="Apache RocketMQ 4.9.4 instead")
    args = parser.parse_args()
    if args.cmd == "lag":
        asyncio.run(run_lag(args))
    else:
        asyncio.run(run_catchup_java(args) if args.java else run_catchup(args))


if __name__ == "__main__":
    main()
