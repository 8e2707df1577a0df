"""Transactional messages against real NameServer and broker processes: commit, rollback,
check-back answered by another producer after a SIGKILL, give-up after
``transactionCheckMax`` checks (broker-features.md §7, client-behaviour.md §8), and the
blocking ``TransactionProducer`` with plain-function hooks."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.client.config import ClientConfig, ConsumerConfig
from rocketq.client.consume_service import ConsumeConcurrentlyStatus
from rocketq.client.message import Message, MessageExt
from rocketq.client.push_consumer import AsyncPushConsumer
from rocketq.client.sync import TransactionProducer
from rocketq.client.transaction import AsyncTransactionProducer, LocalTransactionState
from rocketq.common.message import MessageConst, SysFlag
from rocketq.common.topic import TopicConfig
from rocketq.testing import BrokerProcess, NamesrvProcess

DRIVER = Path(__file__).with_name("tx_producer_driver.py")
# Check every 500 ms messages older than 500 ms; give up after 3 checks.
TX_CONFIG = {
    "transactionTimeOut": "500",
    "transactionCheckInterval": "500",
    "transactionCheckMax": "3",
}
# Long enough for several check passes to have run.
SETTLE_S = 3.0
COMMIT, ROLLBACK, UNKNOW = (
    LocalTransactionState.COMMIT_MESSAGE,
    LocalTransactionState.ROLLBACK_MESSAGE,
    LocalTransactionState.UNKNOW,
)


@pytest.fixture
def cluster(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[NamesrvProcess, BrokerProcess]]:
    """A NameServer and a broker with TX_CONFIG, updated by an indirect parameter."""
    config = {**TX_CONFIG, **getattr(request, "param", {})}
    with (
        NamesrvProcess(tmp_path / "ns", {"brokerChannelExpiredTime": "600000"}) as ns,
        BrokerProcess(tmp_path / "b", ns.addr, config) as broker,
    ):
        yield ns, broker


def client_config(ns: NamesrvProcess, name: str) -> ClientConfig:
    return ClientConfig(
        namesrv_addr=ns.addr, instance_name=name, heartbeat_broker_interval=1000,
        poll_name_server_interval=1000, rebalance_interval=1000,
    )  # fmt: skip


async def create_topic(ns: NamesrvProcess, broker: BrokerProcess, topic: str) -> None:
    async with AdminClient(ns.addr) as admin:
        await admin.create_topic(broker.addr, TopicConfig(topic, 4, 4))


class Received:
    """Messages a push consumer got, by body."""

    def __init__(self) -> None:
        self.messages: list[MessageExt] = []

    def bodies(self) -> Counter[str]:
        return Counter(m.body.decode() for m in self.messages)

    async def listener(self, msgs: list[MessageExt], context: object) -> object:
        self.messages.extend(msgs)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS


@pytest.fixture
async def consume(
    cluster: tuple[NamesrvProcess, BrokerProcess],
) -> AsyncIterator[Callable[[str, str], Received]]:
    ns, _ = cluster
    started: list[AsyncPushConsumer] = []
    pending: list[asyncio.Task[None]] = []

    def start(group: str, topic: str) -> Received:
        received = Received()
        config = ConsumerConfig(
            consume_from_where="CONSUME_FROM_FIRST_OFFSET",
            offset_store_dir=tempfile.mkdtemp(prefix="rocketq-tx-"),
        )
        consumer = AsyncPushConsumer(group, config=config, client_config=client_config(ns, group))
        consumer.subscribe(topic)
        consumer.register_listener(received.listener)
        started.append(consumer)
        pending.append(asyncio.ensure_future(consumer.start()))
        return received

    yield start
    await asyncio.gather(*pending)
    for consumer in started:
        await consumer.aclose()


async def wait_for(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.1)


async def test_commit_is_delivered_exactly_once(
    cluster: tuple[NamesrvProcess, BrokerProcess], consume: Callable[[str, str], Received]
) -> None:
    ns, broker = cluster
    await create_topic(ns, broker, "TxCommit")
    checks: list[str] = []
    producer = AsyncTransactionProducer(
        "tx-commit",
        client_config=client_config(ns, "p-commit"),
        execute_local_transaction=lambda msg, arg: COMMIT,
        check_local_transaction=lambda msg: checks.append(msg.msg_id) or COMMIT,
    )
    async with producer:
        results = [
            await producer.send_message_in_transaction(
                Message("TxCommit", f"c{i}".encode(), tags="t"), arg=i
            )
            for i in range(5)
        ]
    assert all(r.local_transaction_state is COMMIT for r in results)
    received = consume("g-commit", "TxCommit")
    await wait_for(lambda: len(received.bodies()) == 5)
    await asyncio.sleep(SETTLE_S)
    assert received.bodies() == Counter({f"c{i}": 1 for i in range(5)})
    assert checks == []  # every transaction ended at once: nothing to check
    by_id = {r.msg_id for r in results}
    for m in received.messages:
        assert m.msg_id in by_id  # UNIQ_KEY kept
        assert m.sys_flag & SysFlag.TRANSACTION_MASK == SysFlag.TRANSACTION_COMMIT_TYPE
        assert m.tags == "t"
        for key in (MessageConst.TRANSACTION_PREPARED, MessageConst.REAL_TOPIC):
            assert key not in m.properties


async def test_rollback_is_never_delivered(
    cluster: tuple[NamesrvProcess, BrokerProcess], consume: Callable[[str, str], Received]
) -> None:
    ns, broker = cluster
    await create_topic(ns, broker, "TxRollback")
    checks: list[str] = []

    async def execute(msg: Message, arg: object) -> LocalTransactionState:
        await asyncio.sleep(0)
        return COMMIT if arg == "keep" else ROLLBACK

    producer = AsyncTransactionProducer(
        "tx-rollback",
        client_config=client_config(ns, "p-rollback"),
        execute_local_transaction=execute,
        check_local_transaction=lambda msg: checks.append(msg.msg_id) or COMMIT,
    )
    received = consume("g-rollback", "TxRollback")
    async with producer:
        for i in range(5):
            result = await producer.send_message_in_transaction(
                Message("TxRollback", f"r{i}".encode()), arg="drop"
            )
            assert result.local_transaction_state is ROLLBACK
        await producer.send_message_in_transaction(Message("TxRollback", b"last"), arg="keep")
        await wait_for(lambda: "last" in received.bodies())
        await asyncio.sleep(SETTLE_S)  # check passes run while the producer is still online
    assert received.bodies() == Counter({"last": 1})
    assert checks == []


# The dead producer may get (and swallow) checks before it dies, and checks may find no
# producer before the survivor registers: allow plenty, so no timing decides the test.
@pytest.mark.parametrize("cluster", [{"transactionCheckMax": "1000"}], indirect=True)
async def test_check_back_answered_by_another_producer_after_sigkill(
    cluster: tuple[NamesrvProcess, BrokerProcess], consume: Callable[[str, str], Received]
) -> None:
    ns, broker = cluster
    await create_topic(ns, broker, "TxCheck")
    received = consume("g-check", "TxCheck")
    count = 6
    cmd = [sys.executable, str(DRIVER), ns.addr, "tx-check", "TxCheck", str(count)]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:  # the first producer leaves every transaction open, then dies
        assert child.stdout is not None
        line = await asyncio.to_thread(child.stdout.readline)
        assert line.strip() == "sent", line
    finally:
        child.kill()
        child.wait()
    asked: list[str] = []

    def check(msg: MessageExt) -> LocalTransactionState:
        asked.append(msg.keys or "")
        assert msg.topic == "TxCheck"  # the body carries the real topic back
        return COMMIT if (msg.keys or "").startswith("commit") else ROLLBACK

    survivor = AsyncTransactionProducer(
        "tx-check",
        client_config=client_config(ns, "p-survivor"),
        execute_local_transaction=lambda msg, arg: UNKNOW,
        check_local_transaction=check,
    )
    commits = {f"commit-{i}" for i in range(0, count, 2)}
    rollbacks = {f"rollback-{i}" for i in range(1, count, 2)}
    async with survivor:
        await wait_for(lambda: set(received.bodies()) == commits)
        await wait_for(lambda: set(asked) == commits | rollbacks)
        await asyncio.sleep(SETTLE_S)
    assert received.bodies() == Counter(dict.fromkeys(commits, 1))
    assert sorted(asked) == sorted(commits | rollbacks)  # answered once, never asked again


async def test_unknown_forever_is_discarded_after_check_max(
    cluster: tuple[NamesrvProcess, BrokerProcess], consume: Callable[[str, str], Received]
) -> None:
    ns, broker = cluster
    await create_topic(ns, broker, "TxUnknown")
    asked: list[int] = []

    def check(msg: MessageExt) -> LocalTransactionState:
        asked.append(int(msg.properties.get("TRANSACTION_CHECK_TIMES", "0")))
        return UNKNOW

    producer = AsyncTransactionProducer(
        "tx-unknown",
        client_config=client_config(ns, "p-unknown"),
        execute_local_transaction=lambda msg, arg: UNKNOW,
        check_local_transaction=check,
    )
    received = consume("g-unknown", "TxUnknown")
    parked = consume("g-parked", "TRANS_CHECK_MAX_TIME_TOPIC")
    async with producer:
        await producer.send_message_in_transaction(Message("TxUnknown", b"limbo"))
        await wait_for(lambda: len(asked) >= 3)
        await wait_for(lambda: "limbo" in parked.bodies())
        await asyncio.sleep(SETTLE_S)
    assert asked == [1, 2, 3]  # transactionCheckMax checks, then given up
    assert received.messages == []


async def test_blocking_producer_runs_plain_hooks_off_the_loop(
    cluster: tuple[NamesrvProcess, BrokerProcess], consume: Callable[[str, str], Received]
) -> None:
    ns, broker = cluster
    await create_topic(ns, broker, "TxBlocking")
    executed_on: list[str] = []
    checked_on: list[str] = []

    def execute(msg: Message, arg: object) -> LocalTransactionState:
        executed_on.append(threading.current_thread().name)
        return {"commit": COMMIT, "drop": ROLLBACK}.get(str(arg), UNKNOW)

    def check(msg: MessageExt) -> LocalTransactionState:
        checked_on.append(threading.current_thread().name)
        return COMMIT  # the UNKNOW one is committed by the check-back

    def run() -> list[LocalTransactionState]:
        with TransactionProducer(
            "tx-blocking",
            client_config=client_config(ns, "p-blocking"),
            execute_local_transaction=execute,
            check_local_transaction=check,
        ) as producer:
            states = [
                producer.send_message_in_transaction(
                    Message("TxBlocking", arg.encode()), arg
                ).local_transaction_state
                for arg in ("commit", "drop", "later")
            ]
            assert executed_on == [threading.current_thread().name] * 3  # the caller's thread
            deadline = time.monotonic() + 30
            while not checked_on and time.monotonic() < deadline:
                time.sleep(0.1)
            return states

    received = consume("g-blocking", "TxBlocking")
    assert await asyncio.to_thread(run) == [COMMIT, ROLLBACK, UNKNOW]
    assert checked_on and all(name.startswith("rocketq-tx-check") for name in checked_on)
    await wait_for(lambda: set(received.bodies()) == {"commit", "later"})
    assert "drop" not in received.bodies()
