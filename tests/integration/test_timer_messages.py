"""RocketMQ 5 timer messages (TIMER_DELIVER_MS / TIMER_DELAY_SEC) against real processes."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.client.config import ClientConfig, ConsumerConfig
from rocketq.client.consume_service import ConsumeConcurrentlyStatus
from rocketq.client.message import Message, MessageExt
from rocketq.client.producer import AsyncProducer
from rocketq.client.push_consumer import AsyncPushConsumer
from rocketq.common.errors import BrokerError
from rocketq.remoting.codes import ResponseCode
from rocketq.testing import BrokerProcess, NamesrvProcess


def client(ns: NamesrvProcess) -> ClientConfig:
    return ClientConfig(namesrv_addr=ns.addr, poll_name_server_interval=500, rebalance_interval=500)


async def wait_for(predicate: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def pull_all(admin: AdminClient, addr: str, topic: str, queues: int) -> list[bytes]:
    out: list[bytes] = []
    for qid in range(queues):
        offset = 0
        while True:
            try:
                result = await admin.pull(addr, topic, qid, offset)
            except BrokerError:
                break
            if not result.messages:
                break
            out += [m.body for m in result.messages]
            offset = result.next_begin_offset
    return out


async def test_timer_messages_fire_within_100ms(tmp_path: Path) -> None:
    arrivals: dict[str, tuple[float, MessageExt]] = {}

    async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
        now = time.time()
        for m in msgs:
            arrivals[m.body.decode()] = (now, m)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    with (
        NamesrvProcess(tmp_path / "ns") as ns,
        BrokerProcess(tmp_path / "b", ns.addr, {"timerMaxDelaySec": "3600"}),
    ):
        config = ConsumerConfig(
            consume_from_where="CONSUME_FROM_FIRST_OFFSET", offset_store_dir=str(tmp_path)
        )
        consumer = AsyncPushConsumer("timer-cg", config=config, client_config=client(ns))
        consumer.subscribe("Timed", "*")
        consumer.register_listener(listener)
        async with AsyncProducer("timer-pg", client_config=client(ns)) as producer:
            await producer.send(Message("Timed", b"warm-up"))
            await consumer.start()
            await wait_for(lambda: "warm-up" in arrivals)
            due: dict[str, float] = {}
            for name, delay in (("a", 1.0), ("b", 2.5), ("c", 3.0)):
                at = int((time.time() + delay) * 1000)
                due[name] = at / 1000
                await producer.send(Message("Timed", name.encode(), tags="T", deliver_time_ms=at))
            due["sec"] = time.time() + 2
            await producer.send(Message("Timed", b"sec", properties={"TIMER_DELAY_SEC": "2"}))
            await wait_for(lambda: all(k in arrivals for k in due), timeout=15)
            with pytest.raises(BrokerError) as refused:
                far = int((time.time() + 3601) * 1000)
                await producer.send(Message("Timed", b"far", deliver_time_ms=far))
        await consumer.aclose()
    assert refused.value.code == ResponseCode.MESSAGE_ILLEGAL
    assert "3600000ms" in refused.value.remark
    for name, at in due.items():
        late = arrivals[name][0] - at
        assert -0.02 <= late <= 0.1, f"{name} came {late:+.3f} s off its time"
    props = arrivals["a"][1].properties
    assert props["TIMER_OUT_MS"] == str(int(due["a"] * 1000)) and props["TAGS"] == "T"
    assert "REAL_TOPIC" not in props and "REAL_QID" not in props


async def test_disabled_wheel_refuses_timer_messages(tmp_path: Path) -> None:
    with (
        NamesrvProcess(tmp_path / "ns") as ns,
        BrokerProcess(tmp_path / "b", ns.addr, {"timerWheelEnable": "false"}),
    ):
        async with AsyncProducer("off-pg", client_config=client(ns)) as producer:
            await producer.send(Message("Off", b"plain"))
            with pytest.raises(BrokerError) as refused:
                at = int((time.time() + 5) * 1000)
                await producer.send(Message("Off", b"t", deliver_time_ms=at))
    assert refused.value.code == ResponseCode.SYSTEM_ERROR
    assert "timerWheelEnable is false" in refused.value.remark


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "clean"])
async def test_pending_timers_survive_a_restart_exactly_once(tmp_path: Path, sig: int) -> None:
    # A 2 s roll window (20 slots of 100 ms): the +4..+6 s messages are rolled once.
    config = {"timerRollWindowSlot": "20", "timerFlushIntervalMs": "300"}
    count = 3000
    with NamesrvProcess(tmp_path / "ns") as ns:
        broker = BrokerProcess(tmp_path / "b", ns.addr, config).start()
        try:
            async with AsyncProducer("kill-pg", client_config=client(ns)) as producer:
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
                deadline = time.monotonic() + 60
                bodies = await pull_all(admin, restarted.addr, "Killed", 4)
                while len(bodies) < count + 1 and time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                    bodies = await pull_all(admin, restarted.addr, "Killed", 4)
                await asyncio.sleep(1.5)  # nothing more may come: no repeats
                bodies = await pull_all(admin, restarted.addr, "Killed", 4)
        finally:
            restarted.stop()
    timed = [b for b in bodies if b != b"warm-up"]
    assert len(set(timed)) == count, f"{count - len(set(timed))} lost"
    assert len(timed) == count, f"{len(timed) - count} delivered twice"
