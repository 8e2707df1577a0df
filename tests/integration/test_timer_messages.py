"""RocketMQ 5 timer messages (TIMER_DELIVER_MS / TIMER_DELAY_SEC) in the in-process cluster,
and across a broker restart against real processes. How late a timer message comes is
measured by ``benchmarks/delay_precision.py``, not decided here."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.client.config import ClientConfig
from rocketq.client.message import Message
from rocketq.client.producer import AsyncProducer
from rocketq.common.errors import BrokerError
from rocketq.common.topic import TopicConfig
from rocketq.remoting.codes import ResponseCode
from rocketq.testing import BrokerProcess, NamesrvProcess, async_wait_until, running_cluster
from tests.integration.conftest import pull_all

# Store timestamps are whole milliseconds: a message due at t may carry t - 1.
CLOCK_GRANULARITY_MS = 1


def client(namesrv_addr: str) -> ClientConfig:
    return ClientConfig(
        namesrv_addr=namesrv_addr, poll_name_server_interval=500, rebalance_interval=500
    )


async def test_timer_messages_are_never_early_and_keep_their_order(tmp_path: Path) -> None:
    async with (
        running_cluster(tmp_path / "store", {"timerMaxDelaySec": "3600"}) as (ns, broker),
        AdminClient(ns.address) as admin,
        AsyncProducer("timer-pg", client_config=client(ns.address)) as producer,
    ):
        addr = broker.config.broker_addr
        await admin.create_topic(addr, TopicConfig("Timed", 1, 1))
        due: dict[bytes, int] = {}  # body -> the earliest it may be delivered (ms)
        start = time.time()
        for name, delay in (("c", 1.5), ("a", 0.5), ("b", 1.2)):  # sent out of order
            at = int((start + delay) * 1000)
            due[name.encode()] = at
            await producer.send(Message("Timed", name.encode(), tags="T", deliver_time_ms=at))
        due[b"sec"] = int(time.time() * 1000) + 1000  # the broker's clock starts after this
        await producer.send(Message("Timed", b"sec", properties={"TIMER_DELAY_SEC": "1"}))

        async def all_delivered() -> list | None:  # type: ignore[type-arg]
            got = await pull_all(admin, addr, "Timed", 1)
            return got if len(got) == len(due) else None

        delivered = await async_wait_until(all_delivered)
        with pytest.raises(BrokerError) as refused:
            far = int((time.time() + 3601) * 1000)
            await producer.send(Message("Timed", b"far", deliver_time_ms=far))
    assert refused.value.code == ResponseCode.MESSAGE_ILLEGAL
    assert "3600000ms" in refused.value.remark
    for m in delivered:
        assert m.store_timestamp >= due[m.body] - CLOCK_GRANULARITY_MS, f"{m.body!r} came early"
    bodies = [m.body for m in delivered]
    assert [b for b in bodies if b != b"sec"] == [b"a", b"b", b"c"]  # in the order of their times
    props = delivered[bodies.index(b"a")].properties
    assert props["TIMER_OUT_MS"] == str(due[b"a"]) and props["TAGS"] == "T"
    assert "REAL_TOPIC" not in props and "REAL_QID" not in props


async def test_disabled_wheel_refuses_timer_messages(tmp_path: Path) -> None:
    async with (
        running_cluster(tmp_path / "store", {"timerWheelEnable": "false"}) as (ns, _),
        AsyncProducer("off-pg", client_config=client(ns.address)) as producer,
    ):
        await producer.send(Message("Off", b"plain"))
        with pytest.raises(BrokerError) as refused:
            at = int((time.time() + 5) * 1000)
            await producer.send(Message("Off", b"t", deliver_time_ms=at))
    assert refused.value.code == ResponseCode.SYSTEM_ERROR
    assert "timerWheelEnable is false" in refused.value.remark


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "clean"])
async def test_pending_timers_survive_a_restart_exactly_once(tmp_path: Path, sig: int) -> None:
    # A 2 s roll window (20 slots of 100 ms): the +4..+6 s messages are rolled once.
    config = {"timerRollWindowSlot": "20", "timerFlushIntervalMs": "300"}
    count = 3000
    with NamesrvProcess(tmp_path / "ns") as ns:
        broker = BrokerProcess(tmp_path / "b", ns.addr, config).start()
        try:
            async with AsyncProducer("kill-pg", client_config=client(ns.addr)) as producer:
                await producer.send(Message("Killed", b"warm-up"))
                sem = asyncio.Semaphore(64)
                start = time.time()

                async def one(i: int) -> None:
                    at = int((start + 1 + 5 * i / count) * 1000)  # spread over +1..+6 s
                    async with sem:
                        await producer.send(Message("Killed", f"t{i}".encode(), deliver_time_ms=at))

                await asyncio.gather(*(one(i) for i in range(count)))
            await asyncio.sleep(max(0.0, start + 3 - time.time()))  # about half delivered
        finally:
            broker.stop(sig)
        restarted = BrokerProcess(tmp_path / "b", ns.addr, config).start()
        try:
            async with AdminClient(ns.addr) as admin:

                async def all_delivered() -> bool:
                    return len(await pull_all(admin, restarted.addr, "Killed", 4)) >= count + 1

                await async_wait_until(all_delivered, timeout=60, interval=0.5)
                await asyncio.sleep(1.5)  # nothing more may come: no repeats
                records = await pull_all(admin, restarted.addr, "Killed", 4)
        finally:
            restarted.stop()
    timed = [m.body for m in records if m.body != b"warm-up"]
    assert len(set(timed)) == count, f"{count - len(set(timed))} lost"
    assert len(timed) == count, f"{len(timed) - count} delivered twice"
