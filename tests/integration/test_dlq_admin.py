"""Dead-letter queues through AdminClient and the ``rocketq admin dlqList/dlqResend`` CLI,
against real NameServer, broker and consumer processes.

A consumer that always fails with ``--max-reconsume 1`` sends a message to ``%DLQ%group``
within a few seconds (delay levels are all 1 s); the admin lists it, re-sends it to its
original topic and marks it drained; a second, always-succeeding group receives the copy.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator

import pytest

from rocketq.admin.api import AdminClient, DlqMessage
from rocketq.client.config import ClientConfig, ConsumerConfig
from rocketq.client.consume_service import ConsumeConcurrentlyStatus
from rocketq.client.message import Message, MessageExt, SendStatus
from rocketq.client.producer import AsyncProducer
from rocketq.client.push_consumer import AsyncPushConsumer
from rocketq.common.topic import TopicConfig
from rocketq.testing import BrokerProcess, NamesrvProcess
from tests.integration.brokers import wait_until
from tests.integration.conftest import ConsumerProcess

# Short delay levels so that the one retry comes back within a second.
FAST_LEVELS = " ".join(["1s"] * 18)
# Bookkeeping properties a DLQ copy carries and a re-sent message must not.
BOOKKEEPING = {"RETRY_TOPIC", "ORIGIN_MESSAGE_ID", "REAL_TOPIC", "REAL_QID", "DELAY", "DELAY_SRC"}
USER_PROPS = {"color": "blue", "traceNo": "42"}


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[NamesrvProcess, BrokerProcess]]:
    root = tmp_path_factory.mktemp("dlq")
    conf = {"brokerName": "broker-d", "messageDelayLevel": FAST_LEVELS}
    with (
        NamesrvProcess(root / "ns", {"brokerChannelExpiredTime": "600000"}) as ns,
        BrokerProcess(root / "broker", ns.addr, conf) as broker,
    ):
        yield ns, broker


async def _send(ns: str, topic: str, bodies: list[str]) -> list[str]:
    """Send with tags, keys and user properties; the UNIQ_KEYs, in order."""
    async with AsyncProducer("dlq-producer", client_config=ClientConfig(namesrv_addr=ns)) as p:
        ids = []
        for i, body in enumerate(bodies):
            msg = Message(topic, body.encode(), tags="TagA", keys=f"order-{i}")
            msg.properties.update(USER_PROPS)
            ids.append((await p.send(msg)).msg_id)
        return ids


async def _dead_letters(
    ns: NamesrvProcess, broker: BrokerProcess, topic: str, group: str, bodies: list[str]
) -> list[DlqMessage]:
    """Create ``topic``, let an always-failing consumer send ``bodies`` to the DLQ, stop it."""
    async with AdminClient(ns.addr) as admin:
        await admin.create_topic(broker.addr, TopicConfig(topic, 2, 2))
        failing = ConsumerProcess(
            ns.addr, group, topic, "--fail-times", "100", "--max-reconsume", "1", name="f"
        )
        try:
            await _send(ns.addr, topic, bodies)

            async def all_dead() -> bool:
                return len(await admin.dlq_messages(group)) >= len(bodies)

            await wait_until(all_dead, timeout=40, interval=0.2)
        finally:
            failing.stop()  # else it would fail the re-sent copies into the DLQ again
        return await admin.dlq_messages(group)


def _rocketq(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "rocketq", "admin", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


async def test_dlq_list_resend_and_drain_through_admin_client(
    cluster: tuple[NamesrvProcess, BrokerProcess],
) -> None:
    ns, broker = cluster
    async with AdminClient(ns.addr) as admin:
        assert await admin.dlq_messages("gdlq-none") == []  # no DLQ topic yet: empty

    dead = await _dead_letters(ns, broker, "DlqOrig", "gdlq", ["payload-1"])
    [m] = dead
    assert m.origin_topic == "DlqOrig"
    assert m.mq.topic == "%DLQ%gdlq" and m.mq.broker_name == "broker-d"
    assert (m.body, m.tags, m.keys) == (b"payload-1", "TagA", "order-0")
    assert m.reconsume_times >= 1 and m.store_timestamp > 0
    assert m.body_preview() == "payload-1"
    assert m.user_properties() == USER_PROPS
    assert BOOKKEEPING & set(m.properties) >= {"RETRY_TOPIC", "ORIGIN_MESSAGE_ID"}

    received: list[MessageExt] = []

    async def listener(msgs: list[MessageExt], context: object) -> object:
        received.extend(msgs)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    client = ClientConfig(namesrv_addr=ns.addr, rebalance_interval=1000, instance_name="ok")
    config = ConsumerConfig(
        consume_from_where="CONSUME_FROM_FIRST_OFFSET",
        offset_store_dir=tempfile.mkdtemp(prefix="rocketq-offsets-"),
    )
    ok = AsyncPushConsumer("gdlq-ok", config=config, client_config=client)
    ok.subscribe("DlqOrig")
    ok.register_listener(listener)
    await ok.start()
    try:
        async with AdminClient(ns.addr) as admin:
            [(old, result)] = await admin.resend_dlq("gdlq", [m.msg_id], drain=True)
            assert old.msg_id == m.msg_id
            assert result.status is SendStatus.SEND_OK and result.message_queue.topic == "DlqOrig"
            assert result.msg_id != m.msg_id
            assert await admin.dlq_messages("gdlq") == []  # drained: not listed again
            assert [x.msg_id for x in await admin.dlq_messages("gdlq", tool_group=None)] == [
                m.msg_id
            ]
            await admin.resend_dlq("gdlq", drain=True)  # nothing left: a no-op

        async def copy_received() -> bool:
            return any(r.msg_id == result.msg_id for r in received)

        await wait_until(copy_received, timeout=30, interval=0.1)
    finally:
        await ok.aclose()
    [copy] = [r for r in received if r.msg_id == result.msg_id]
    assert (copy.topic, copy.body, copy.tags, copy.keys) == (
        "DlqOrig",
        b"payload-1",
        "TagA",
        "order-0",
    )
    assert copy.user_properties == USER_PROPS
    assert copy.reconsume_times == 0
    assert not BOOKKEEPING & set(copy.properties)
    assert sorted(r.body for r in received) == [b"payload-1", b"payload-1"]  # original + copy


async def test_dlq_list_and_resend_through_the_cli(
    cluster: tuple[NamesrvProcess, BrokerProcess], consumers: list[ConsumerProcess]
) -> None:
    ns, broker = cluster
    dead = await _dead_letters(ns, broker, "DlqCli", "gcli", ["first", "second"])
    first, second = (m.msg_id for m in dead)  # DLQ order (one queue)

    out = await asyncio.to_thread(_rocketq, "dlqList", "-n", ns.addr, "-g", "gcli")
    assert first in out and second in out and "DlqCli" in out and "TagA" in out
    assert "2 message(s) in %DLQ%gcli" in out

    out = await asyncio.to_thread(
        _rocketq, "dlqResend", "-n", ns.addr, "-g", "gcli", "-i", first, "--drain"
    )
    assert f"{first} -> SendResult [sendStatus=SEND_OK" in out and "topic=DlqCli" in out
    assert "re-sent 1 message(s)" in out
    out = await asyncio.to_thread(_rocketq, "dlqList", "-n", ns.addr, "-g", "gcli")
    assert first not in out and second in out and "1 message(s)" in out

    out = await asyncio.to_thread(_rocketq, "dlqResend", "-n", ns.addr, "-g", "gcli", "-d")
    assert f"{second} -> SendResult [sendStatus=SEND_OK" in out and first not in out
    out = await asyncio.to_thread(_rocketq, "dlqList", "-n", ns.addr, "-g", "gcli")
    assert "0 message(s) in %DLQ%gcli" in out
    out = await asyncio.to_thread(_rocketq, "dlqList", "-n", ns.addr, "-g", "gcli", "--all")
    assert first in out and second in out

    cmd = ["dlqResend", "-n", ns.addr, "-g", "gcli", "-i", "NOSUCHID"]
    bad = subprocess.run(
        [sys.executable, "-m", "rocketq", "admin", *cmd], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode != 0 and "NOSUCHID" in bad.stderr

    ok = ConsumerProcess(ns.addr, "gcli-ok", "DlqCli", name="ok")
    consumers.append(ok)

    async def both_twice() -> bool:  # the originals and the re-sent copies
        return Counter(str(m["body"]) for m in ok.messages) == Counter(first=2, second=2)

    await wait_until(both_twice, timeout=30, interval=0.1)
    assert {m["keys"] for m in ok.messages} == {"order-0", "order-1"}


def test_cli_lists_an_empty_dlq(cluster: tuple[NamesrvProcess, BrokerProcess]) -> None:
    ns, _broker = cluster
    out = _rocketq("dlqList", "-n", ns.addr, "-g", "nobody")
    assert "0 message(s) in %DLQ%nobody" in out
