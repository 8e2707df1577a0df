"""Broker processors built alone from their parts (DESIGN house style 17): a real
DefaultMessageStore in tmp_path and real managers, no BrokerController, no sockets.

The connection is a real :class:`Connection` over a memory transport that keeps what is
written, so a held pull's late answer can be read back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rocketq.broker.client_manager import ConsumerManager, ProducerManager
from rocketq.broker.config import BrokerConfig
from rocketq.broker.consumer_offset import ConsumerOffsetManager
from rocketq.broker.filter import Sql92FilterCache
from rocketq.broker.processor.client_manage import ClientManageProcessor
from rocketq.broker.processor.pull import FLAG_SUBSCRIPTION, FLAG_SUSPEND, PullMessageProcessor
from rocketq.broker.processor.send import SendMessageProcessor
from rocketq.broker.subscription_group import SubscriptionGroupManager
from rocketq.broker.topic_config import TopicConfigManager
from rocketq.broker.transaction import TransactionalMessageService
from rocketq.common.record import decode_records
from rocketq.common.topic import PERM_READ, TopicConfig, retry_topic
from rocketq.remoting.codec import FrameDecoder
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers import PullMessageRequestHeader, SendMessageRequestHeaderV2
from rocketq.remoting.heartbeat import ConsumerData, HeartbeatData, ProducerData
from rocketq.store.config import StoreConfig
from rocketq.store.message_store import DefaultMessageStore


class MemoryTransport(asyncio.Transport):
    """Keeps the bytes a Connection writes; closing tells the connection."""

    def __init__(self, protocol: Connection) -> None:
        super().__init__()
        self.protocol = protocol
        self.written = bytearray()
        self._closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name in ("peername", "sockname") else default

    def write(self, data: Any) -> None:
        self.written += data

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.written += data

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self.protocol.connection_lost(None)


class Registrations:
    """A Registrar that counts what a processor asked for."""

    def __init__(self) -> None:
        self.requested = 0
        self.registered = 0

    def request_register(self) -> None:
        self.requested += 1

    async def register_broker_all(self) -> int:
        self.registered += 1
        return 1


@dataclass
class Parts:
    """What the send and pull processors are built from."""

    config: BrokerConfig
    store_config: StoreConfig
    store: DefaultMessageStore
    topics: TopicConfigManager
    groups: SubscriptionGroupManager
    offsets: ConsumerOffsetManager
    consumers: ConsumerManager
    registrar: Registrations = field(default_factory=Registrations)

    def send_processor(self) -> SendMessageProcessor:
        transactions = TransactionalMessageService(
            config=self.config,
            store_config=self.store_config,
            store=self.store,
            topic_config_manager=self.topics,
            consumer_offset_manager=self.offsets,
            producer_manager=ProducerManager(),
            registrar=self.registrar,
            wake_schedule=lambda: None,
        )
        return SendMessageProcessor(
            config=self.config,
            store_config=self.store_config,
            store=self.store,
            topic_config_manager=self.topics,
            subscription_group_manager=self.groups,
            transactions=transactions,
            registrar=self.registrar,
        )

    def pull_processor(self) -> PullMessageProcessor:
        pull = PullMessageProcessor(
            config=self.config,
            store_config=self.store_config,
            store=self.store,
            topic_config_manager=self.topics,
            subscription_group_manager=self.groups,
            consumer_manager=self.consumers,
            consumer_offset_manager=self.offsets,
        )
        self.store.message_arriving_listener = pull.hold_service.notify_message_arriving
        return pull


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    store_config = StoreConfig(
        store_path_root_dir=str(tmp_path),
        mapped_file_size_commit_log=64 * 1024,
        mapped_file_size_consume_queue=20 * 64,
    )
    store = DefaultMessageStore(store_config)
    await store.start()
    config = BrokerConfig(broker_name="broker-a")
    try:
        yield Parts(
            config,
            store_config,
            store,
            TopicConfigManager(tmp_path / "topics.json", config),
            SubscriptionGroupManager(tmp_path / "groups.json"),
            ConsumerOffsetManager(tmp_path / "offsets.json"),
            ConsumerManager(lambda group, channels: None),
        )
    finally:
        await store.aclose()


def connection() -> tuple[Connection, MemoryTransport]:
    conn = Connection()
    transport = MemoryTransport(conn)
    conn.connection_made(transport)
    return conn, transport


def send_request(topic: str, body: bytes, opaque: int = 1) -> RemotingCommand:
    header = SendMessageRequestHeaderV2(
        producer_group="P",
        topic=topic,
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=0,
        sys_flag=0,
        born_timestamp=1,
        flag=0,
        properties="TAGS\x01a\x02",
    )
    req = RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header.to_ext(), body)
    req.opaque = opaque
    return req


def pull_request(topic: str, offset: int, sys_flag: int, opaque: int = 2) -> RemotingCommand:
    header = PullMessageRequestHeader(
        consumer_group="G",
        topic=topic,
        queue_id=0,
        queue_offset=offset,
        max_msg_nums=32,
        sys_flag=sys_flag | FLAG_SUBSCRIPTION,
        commit_offset=0,
        suspend_timeout_millis=30_000,
        subscription="*",
    )
    req = RemotingCommand.request(RequestCode.PULL_MESSAGE, header.to_ext())
    req.opaque = opaque
    return req


async def test_send_then_pull_without_a_controller(parts: Parts) -> None:
    conn, _ = connection()
    send = parts.send_processor()
    answer = await send.process(conn, send_request("Alone", b"one"))
    assert answer.code == ResponseCode.SUCCESS, answer.remark
    assert parts.registrar.requested == 1  # auto-created topic: registration asked for

    pull = parts.pull_processor()
    response = pull.process(conn, pull_request("Alone", 0, 0))
    assert response is not None and response.code == ResponseCode.SUCCESS
    records = decode_records(response.body or b"")
    assert [r.body for r in records] == [b"one"]
    assert records[0].properties_map()["TAGS"] == "a"


async def test_held_pull_is_answered_when_a_send_arrives(parts: Parts) -> None:
    parts.topics.update(TopicConfig("Held", 1, 1))
    conn, transport = connection()
    pull = parts.pull_processor()
    assert pull.process(conn, pull_request("Held", 0, FLAG_SUSPEND, opaque=7)) is None
    assert len(pull.hold_service) == 1

    answer = await parts.send_processor().process(conn, send_request("Held", b"late"))
    assert answer.code == ResponseCode.SUCCESS
    assert len(pull.hold_service) == 0
    await asyncio.sleep(0)  # the connection sends what was written this loop turn
    (held_answer,) = FrameDecoder().feed(bytes(transport.written))
    assert held_answer.opaque == 7 and held_answer.code == ResponseCode.SUCCESS
    assert [r.body for r in decode_records(held_answer.body or b"")] == [b"late"]
    conn.close("test over")


async def test_send_to_a_read_only_broker_is_refused(parts: Parts) -> None:
    parts.config.broker_permission = PERM_READ
    conn, _ = connection()
    answer = await parts.send_processor().process(conn, send_request("Alone", b"x"))
    assert answer.code == ResponseCode.NO_PERMISSION
    assert parts.store.max_phy_offset() == 0


async def test_heartbeat_registers_the_retry_topic_through_the_registrar(parts: Parts) -> None:
    producers = ProducerManager()
    client = ClientManageProcessor(
        config=parts.config,
        store=parts.store,
        topic_config_manager=parts.topics,
        subscription_group_manager=parts.groups,
        consumer_manager=parts.consumers,
        producer_manager=producers,
        consumer_offset_manager=parts.offsets,
        sql92_filters=Sql92FilterCache(),
        registrar=parts.registrar,
    )
    conn, _ = connection()
    body = HeartbeatData("c1", [ProducerData("P")], [ConsumerData("G")]).encode()
    answer = await client.heartbeat(conn, RemotingCommand.request(RequestCode.HEART_BEAT, {}, body))
    assert answer.code == ResponseCode.SUCCESS
    assert parts.topics.select(retry_topic("G")) is not None
    assert parts.registrar.registered == 1  # registered before answering, as Java does
    assert "G" in parts.consumers.groups and "P" in producers.groups


async def test_plain_sends_see_a_topic_table_a_slave_sync_put_in_place(parts: Parts) -> None:
    # SlaveSynchronize replaces TopicConfigManager.table: the plain path reads the new one
    parts.topics.update(TopicConfig("Synced", 1, 1))
    conn, _ = connection()
    send = parts.send_processor()
    (first,) = send.handle_many(conn, [send_request("Synced", b"a")])
    assert first is None  # answered in place: stored
    parts.topics.table = {"Synced": TopicConfig("Synced", 1, 1, perm=PERM_READ)}
    (second,) = send.handle_many(conn, [send_request("Synced", b"b", opaque=2)])
    assert isinstance(second, RemotingCommand)
    assert second.code == ResponseCode.NO_PERMISSION, second.remark
    conn.close("test over")
