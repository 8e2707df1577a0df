"""A broker killed with SIGKILL and restarted on the same store serves every message it
acknowledged (SYNC_FLUSH) and keeps consumer offsets up to the last persist. It runs twice:
with the broker as it starts by default (the compiled core where it is built) and with the
broker in pure Python (ROCKETQ_PURE_PYTHON=1 in its environment, DESIGN principle 19)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.admin.api import MessageQueue
from rocketq.client.config import ClientConfig
from rocketq.client.message import Message
from rocketq.client.producer import AsyncProducer
from rocketq.common import speedups
from rocketq.common.topic import TopicConfig
from rocketq.testing import BrokerProcess, NamesrvProcess

pytestmark = pytest.mark.slow  # a broker process is killed and restarted


def core_loaded(pid: int) -> bool:
    """Whether the process has the compiled core mapped (Linux: /proc/<pid>/maps)."""
    return "_kernels." in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.parametrize("core", ["default", "pure"])
async def test_sigkill_restart_keeps_acknowledged_messages_and_offsets(
    tmp_path: Path, core: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if core == "pure":  # the child processes read it at import; this process is unchanged
        monkeypatch.setenv(speedups.ENV_VAR, "1")
    config = {"flushDiskType": "SYNC_FLUSH", "flushConsumerOffsetInterval": "200"}
    with NamesrvProcess(tmp_path / "ns") as ns:
        broker = BrokerProcess(tmp_path / "b", ns.addr, config).start()
        try:
            assert broker.proc is not None
            if os.path.exists("/proc/self/maps"):  # Linux: see which path the child runs
                expected = speedups.ACTIVE and not speedups.pure_python_requested()
                assert core_loaded(broker.proc.pid) == expected
            async with AdminClient(ns.addr) as admin:
                await admin.create_topic(broker.addr, TopicConfig("Durable", 4, 4))
                async with AsyncProducer(
                    "crash-pg", client_config=ClientConfig(namesrv_addr=ns.addr)
                ) as producer:
                    acked = [
                        await producer.send(Message("Durable", f"d{i}".encode(), keys=f"k{i}"))
                        for i in range(400)
                    ]
                for qid in range(4):
                    await admin.update_consumer_offset(
                        broker.addr, "crash-cg", MessageQueue("Durable", "broker-a", qid), 7 + qid
                    )
                await asyncio.sleep(1.0)  # > flushConsumerOffsetInterval: the offsets are persisted
        finally:
            broker.stop(signal.SIGKILL)
        assert (broker.store_dir / "abort").exists()  # it really died

        restarted = BrokerProcess(tmp_path / "b", ns.addr, config).start()
        try:
            async with AdminClient(ns.addr) as admin:
                found: dict[tuple[int, int], bytes] = {}
                for qid in range(4):
                    offset = 0
                    while True:
                        result = await admin.pull(restarted.addr, "Durable", qid, offset)
                        if not result.messages:
                            break
                        for rec in result.messages:
                            found[(qid, rec.queue_offset)] = rec.body
                        offset = result.next_begin_offset
                for i, r in enumerate(acked):
                    key = (r.message_queue.queue_id, r.queue_offset)
                    assert found.get(key) == f"d{i}".encode()
                offsets = await admin.all_consumer_offsets(restarted.addr)
                assert offsets["Durable@crash-cg"] == {0: 7, 1: 8, 2: 9, 3: 10}
        finally:
            restarted.stop()
