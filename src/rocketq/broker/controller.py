"""The broker: store, config managers, client managers, processors, server and the
periodic services (RocketMQ ``BrokerController``).

Periodic work, each a task owned by the controller: register with the NameServers
every ``registerNameServerPeriod``; persist consumer offsets every
``flushConsumerOffsetInterval``; drop silent client channels every 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from rocketq.broker.client_manager import ClientChannelInfo, ConsumerManager, ProducerManager
from rocketq.broker.config import BrokerConfig
from rocketq.broker.consumer_offset import ConsumerOffsetManager
from rocketq.broker.long_polling import PullRequestHoldService
from rocketq.broker.outer_api import BrokerOuterAPI
from rocketq.broker.processor import build_processor_table
from rocketq.broker.processor.pull import PullMessageProcessor
from rocketq.broker.schedule import ScheduleMessageService
from rocketq.broker.subscription_group import SubscriptionGroupManager
from rocketq.broker.timer import TimerMessageService
from rocketq.broker.topic_config import TopicConfigManager
from rocketq.broker.transaction import TransactionalMessageService
from rocketq.remoting.codes import RequestCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers import NotifyConsumerIdsChangedRequestHeader
from rocketq.remoting.server import RemotingServer
from rocketq.store.config import SLAVE, StoreConfig
from rocketq.store.message_store import DefaultMessageStore

__all__ = ["BrokerController", "BrokerStats"]

log = logging.getLogger("rocketq.broker")

# ClientHousekeepingService scans client channels every 10 s.
CLIENT_SCAN_INTERVAL_S = 10.0
# registerNameServerPeriod is clamped to [10 s, 60 s] by RocketMQ.
_REGISTER_PERIOD_RANGE_MS = (10_000, 60_000)


@dataclass(frozen=True, slots=True)
class BrokerStats:
    """A snapshot of the broker."""

    topics: int
    consumer_groups: int
    producer_groups: int
    held_pulls: int
    connections: int
    commit_log_max_offset: int


class BrokerController:
    """One broker. ``await start()`` serves; ``await aclose()`` stops cleanly."""

    def __init__(self, config: BrokerConfig, store_config: StoreConfig) -> None:
        self.config = config
        self.store_config = store_config
        root = Path(store_config.store_path_root_dir)
        self.boot_timestamp = int(time.time() * 1000)
        self.store = DefaultMessageStore(store_config, (config.broker_ip1, config.listen_port))
        self.topic_config_manager = TopicConfigManager(root / "config" / "topics.json", config)
        self.subscription_group_manager = SubscriptionGroupManager(
            root / "config" / "subscriptionGroup.json", config.auto_create_subscription_group
        )
        self.consumer_offset_manager = ConsumerOffsetManager(
            root / "config" / "consumerOffset.json"
        )
        self.consumer_manager = ConsumerManager(
            self._notify_consumer_ids_changed, config.channel_expired_timeout
        )
        self.producer_manager = ProducerManager(config.channel_expired_timeout)
        self.outer_api = BrokerOuterAPI(config, store_config.ha_listen_port)
        self.pull_processor = PullMessageProcessor(self)
        self.pull_hold_service = PullRequestHoldService(
            self.pull_processor.rerun, self.store.get_max_offset_in_queue
        )
        self.store.message_arriving_listener = self.pull_hold_service.notify_message_arriving
        self.schedule_service = ScheduleMessageService(self)
        self.timer_service = TimerMessageService(self)
        self.transaction_service = TransactionalMessageService(self)
        self.server = RemotingServer(
            build_processor_table(self),
            config.bind_address,
            config.listen_port,
            on_connection_closed=self._connection_closed,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._register_now = asyncio.Event()
        self._running = False

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port served (the real one when ``listenPort`` was 0)."""
        return self.server.port

    async def start(self) -> None:
        """Load config files and the store, bind, register with the NameServers."""
        for manager in (
            self.topic_config_manager,
            self.subscription_group_manager,
            self.consumer_offset_manager,
        ):
            manager.load()
        await self.store.start()
        await self.server.start()
        if self.config.listen_port == 0:  # an ephemeral port: advertise the real one
            self.config.listen_port = self.server.port
            self.store.store_host = self.store.commit_log.store_host = (
                self.config.broker_ip1,
                self.server.port,
            )
        self.topic_config_manager.persist()
        if self.store_config.broker_role != SLAVE:
            self.schedule_service.start()
            self.transaction_service.start()
            if self.store_config.timer_wheel_enable:
                self.timer_service.start()
        self._running = True
        await self.register_broker_all()
        for name, coro in (
            ("broker-register", self._register_loop),
            ("broker-persist-offsets", self._persist_offsets_loop),
            ("broker-scan-clients", self._scan_clients_loop),
        ):
            self._tasks.append(asyncio.get_running_loop().create_task(coro(), name=name))
        log.info(
            "broker %s (%s) serving on %s",
            self.config.broker_name,
            self.config.broker_cluster_name,
            self.config.broker_addr,
        )

    async def aclose(self) -> None:
        """Unregister, answer held pulls, persist offsets, close the store (removes abort)."""
        if not self._running:
            return
        self._running = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.outer_api.unregister_broker_all()
        self.pull_hold_service.wake_all()
        await self.server.aclose()
        await self.schedule_service.aclose()
        await self.timer_service.aclose()
        await self.transaction_service.aclose()
        self.consumer_offset_manager.persist()
        await self.store.aclose()
        await self.outer_api.aclose()

    async def __aenter__(self) -> BrokerController:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- NameServer registration ------------------------------------------------------------

    async def register_broker_all(self) -> int:
        """Send the topic table to every NameServer now."""
        if not self.config.namesrv_addrs():
            return 0
        return await self.outer_api.register_broker_all(self.topic_config_manager.wrapper())

    def request_register(self) -> None:
        """Topics changed: register soon (the register loop wakes at once)."""
        self._register_now.set()

    async def _register_loop(self) -> None:
        low, high = _REGISTER_PERIOD_RANGE_MS
        while True:
            period = min(max(self.config.register_name_server_period, low), high) / 1000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._register_now.wait(), period)
            self._register_now.clear()
            await self._guard("register broker", self.register_broker_all)

    async def _persist_offsets_loop(self) -> None:
        while True:
            await asyncio.sleep(max(self.config.flush_consumer_offset_interval, 100) / 1000)
            await self._guard("persist consumer offsets", self._persist_offsets)

    async def _persist_offsets(self) -> None:
        await asyncio.to_thread(self.consumer_offset_manager.persist_if_dirty)

    async def _scan_clients_loop(self) -> None:
        while True:
            await asyncio.sleep(CLIENT_SCAN_INTERVAL_S)
            self.consumer_manager.scan_not_active()
            self.producer_manager.scan_not_active()

    @staticmethod
    async def _guard(what: str, fn: Callable[[], Awaitable[object]]) -> None:
        try:
            await fn()
        except Exception:
            log.exception("%s failed", what)

    # -- clients ----------------------------------------------------------------------------

    def _connection_closed(self, conn: Connection) -> None:
        self.consumer_manager.connection_closed(conn)
        self.producer_manager.connection_closed(conn)

    def _notify_consumer_ids_changed(self, group: str, channels: list[ClientChannelInfo]) -> None:
        ext = NotifyConsumerIdsChangedRequestHeader(consumer_group=group).to_ext()
        for info in channels:
            conn = info.connection
            if isinstance(conn, Connection) and conn.is_open:
                cmd = RemotingCommand.request(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, dict(ext))
                try:
                    conn.send_oneway(cmd)
                except Exception as exc:  # a closing connection: the client rebalances anyway
                    log.debug("notify %s failed: %s", info.client_id, exc)

    def stats(self) -> BrokerStats:
        """Counts for tools and tests."""
        return BrokerStats(
            topics=len(self.topic_config_manager.table),
            consumer_groups=len(self.consumer_manager.groups),
            producer_groups=len(self.producer_manager.groups),
            held_pulls=len(self.pull_hold_service),
            connections=len(self.server.connections),
            commit_log_max_offset=self.store.max_phy_offset(),
        )
