"""The broker: store, config managers, client managers, processors, server and the
periodic services (RocketMQ ``BrokerController``).

Periodic work, each a task owned by the controller: register with the NameServers
every ``registerNameServerPeriod``; persist consumer offsets every
``flushConsumerOffsetInterval``; drop silent client channels every 10 s; sample the
statistics every second (``BrokerStatsManager``, ``StoreStatsService``, the midnight
``BrokerStats`` totals); on a SLAVE, copy the master's metadata every
``syncBrokerMetadataPeriod`` (``SlaveSynchronize``).

Replication lives in the store (``store/ha``): a master listens on ``haListenPort`` for
slaves; a slave follows the master whose HA address the NameServer names in its answer to
each registration (or ``haMasterAddress``).

Controller mode (``enableControllerMode``, RocketMQ 5): the store starts refusing writes and
the :class:`ReplicasManager` asks the controller for the broker's id and role; the broker
registers with the NameServers only once it knows it, and changes role in place
(:meth:`BrokerController.become_master` / :meth:`BrokerController.become_slave`), with
the AutoSwitch HA protocol for replication.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rocketq.broker.client_manager import ClientChannelInfo, ConsumerManager, ProducerManager
from rocketq.broker.config import BrokerConfig
from rocketq.broker.consumer_offset import ConsumerOffsetManager
from rocketq.broker.long_polling import PullRequestHoldService
from rocketq.broker.outer_api import BrokerOuterAPI
from rocketq.broker.pop import PopService
from rocketq.broker.pop.request_mode import MESSAGE_REQUEST_MODE_FILE, MessageRequestModeManager
from rocketq.broker.processor import build_processor_table
from rocketq.broker.processor.pull import PullMessageProcessor
from rocketq.broker.replicas import ReplicasManager
from rocketq.broker.schedule import ScheduleMessageService
from rocketq.broker.slave_sync import SlaveSynchronize
from rocketq.broker.stats import STATS_TICK_S, BrokerStatsManager
from rocketq.broker.subscription_group import SubscriptionGroupManager
from rocketq.broker.timer import TimerMessageService
from rocketq.broker.topic_config import TopicConfigManager
from rocketq.broker.transaction import TransactionalMessageService
from rocketq.common.lifecycle import AsyncLifecycle
from rocketq.common.tasks import TaskOwner
from rocketq.remoting.codes import RequestCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection, ProcessorTable
from rocketq.remoting.headers import NotifyConsumerIdsChangedRequestHeader
from rocketq.remoting.server import RemotingServer
from rocketq.store.config import ASYNC_MASTER, SLAVE, StoreConfig
from rocketq.store.ha.autoswitch import AutoSwitchHAService
from rocketq.store.message_store import DefaultMessageStore

if TYPE_CHECKING:
    from rocketq.broker.grpc import GrpcMessagingServer

__all__ = ["BrokerController", "BrokerStats"]

log = logging.getLogger("rocketq.broker")

# ClientHousekeepingService scans client channels every 10 s.
CLIENT_SCAN_INTERVAL_S = 10.0
# registerNameServerPeriod is clamped to [10 s, 60 s] by RocketMQ.
_REGISTER_PERIOD_RANGE_MS = (10_000, 60_000)
# SlaveSynchronize's first round waits 3 s after start (BrokerController, 4.9).
SLAVE_SYNC_INITIAL_DELAY_S = 3.0
# RocketMQ's minimum length of a configured haMasterAddress ("a:1" is not one).
_MIN_HA_MASTER_ADDRESS_LEN = 6
# Controller mode: a new slave re-registers this often until the NameServer names the master
# the controller elected (and so its HA address).
FOLLOW_MASTER_RETRY_S = 0.3
# Java brokers also serve on listenPort - 2 (BrokerController's fastRemotingServer, the "VIP
# channel"); a 4.9 slave fetches its master's topic table there (BrokerOuterAPI
# #getAllTopicConfig goes through MixAll.brokerVIPChannel), so a Java slave needs it.
FAST_PORT_OFFSET = 2


@dataclass(frozen=True, slots=True)
class BrokerStats:
    """A snapshot of the broker."""

    topics: int
    consumer_groups: int
    producer_groups: int
    held_pulls: int
    connections: int
    commit_log_max_offset: int


class BrokerController(AsyncLifecycle):
    """One broker. ``await start()`` serves; ``await aclose()`` stops cleanly."""

    def __init__(self, config: BrokerConfig, store_config: StoreConfig) -> None:
        self.config = config
        self.store_config = store_config
        root = Path(store_config.store_path_root_dir)
        self.boot_timestamp = int(time.time() * 1000)
        controller_mode = config.enable_controller_mode
        if controller_mode:  # no classic HA part; the role comes from the controller
            store_config.broker_role = ASYNC_MASTER
        self.is_slave = store_config.broker_role == SLAVE or controller_mode
        ha_listen = None if self.is_slave else (config.bind_address, store_config.ha_listen_port)
        self.store = DefaultMessageStore(
            store_config, (config.broker_ip1, config.listen_port), ha_listen
        )
        self.autoswitch: AutoSwitchHAService | None = None
        self.replicas: ReplicasManager | None = None
        if controller_mode:
            self.store.set_replication(SLAVE, None, None)
            self.autoswitch = AutoSwitchHAService(
                self.store, store_config, config.bind_address, store_config.ha_listen_port
            )
            self.replicas = ReplicasManager(config, store_config, self.autoswitch, self)
        # controller mode: registered with the NameServers only once the role is known
        self._role_known = not controller_mode
        self._master_services_started = False
        self.topic_config_manager = TopicConfigManager(root / "config" / "topics.json", config)
        self.subscription_group_manager = SubscriptionGroupManager(
            root / "config" / "subscriptionGroup.json", config.auto_create_subscription_group
        )
        self.consumer_offset_manager = ConsumerOffsetManager(
            root / "config" / "consumerOffset.json"
        )
        # QUERY_ASSIGNMENT's request modes; a slave copies its master's (SlaveSynchronize).
        self.message_request_mode_manager = MessageRequestModeManager(
            root / "config" / MESSAGE_REQUEST_MODE_FILE
        )
        self.consumer_manager = ConsumerManager(
            self._notify_consumer_ids_changed, config.channel_expired_timeout
        )
        self.producer_manager = ProducerManager(config.channel_expired_timeout)
        self.outer_api = BrokerOuterAPI(config, store_config.ha_listen_port)
        self.broker_stats_manager = BrokerStatsManager(
            config.broker_cluster_name, put_total=lambda: self.store.stats().put_count
        )
        self._build_services()
        self.server = RemotingServer(
            self._processor_table(),
            config.bind_address,
            config.listen_port,
            on_connection_closed=self._connection_closed,
        )
        self.fast_server: RemotingServer | None = None
        self.grpc_server: GrpcMessagingServer | None = None
        self.slave_synchronize = SlaveSynchronize(
            self.outer_api.client,
            self.topic_config_manager,
            self.consumer_offset_manager,
            self.subscription_group_manager,
            self.schedule_service.offsets,
            self.message_request_mode_manager,
        )
        # haMasterAddress, when configured, wins over what the NameServer says.
        self._follow_registered_master = (
            len(store_config.ha_master_address) < _MIN_HA_MASTER_ADDRESS_LEN
        )
        # The broker's loops; None until start() has started the services (then aclose
        # has something to stop), closed once aclose began.
        self._tasks: TaskOwner | None = None
        self._register_now = asyncio.Event()

    def _processor_table(self) -> ProcessorTable:
        table = build_processor_table(self)
        if self.replicas is not None:  # the controller's push and the admin's epoch query
            table.register(
                RequestCode.NOTIFY_BROKER_ROLE_CHANGED, self.replicas.notify_role_changed
            )
            table.register(RequestCode.GET_BROKER_EPOCH_CACHE, self.replicas.get_epoch_cache)
        return table

    def _build_services(self) -> None:
        """The pull processor (with its held pulls) and the delay, timer and transaction
        services, each given the parts it uses (DESIGN house style 17)."""
        self.pull_processor = PullMessageProcessor(
            config=self.config,
            store_config=self.store_config,
            store=self.store,
            topic_config_manager=self.topic_config_manager,
            subscription_group_manager=self.subscription_group_manager,
            consumer_manager=self.consumer_manager,
            consumer_offset_manager=self.consumer_offset_manager,
            stats=self.broker_stats_manager,
        )
        self.pull_hold_service: PullRequestHoldService = self.pull_processor.hold_service
        # POP (remoting and gRPC share it): runs on a master only, as the revive does.
        self.pop_service = PopService(
            self.store,
            self.consumer_offset_manager,
            self.config.broker_name,
            self.config.broker_cluster_name,
            self.topic_config_manager,
            on_get=self.broker_stats_manager.on_internal_get,
        )
        self.store.messages_arriving_listener = self._on_messages_arriving
        self.schedule_service = ScheduleMessageService(
            self.store, self.store_config, self.broker_stats_manager
        )
        self.timer_service = TimerMessageService(self.store, self.store_config)
        self.transaction_service = TransactionalMessageService(
            config=self.config,
            store_config=self.store_config,
            store=self.store,
            topic_config_manager=self.topic_config_manager,
            consumer_offset_manager=self.consumer_offset_manager,
            producer_manager=self.producer_manager,
            registrar=self,
            wake_schedule=self.schedule_service.wakeup,
            stats=self.broker_stats_manager,
        )

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
        await self._start_fast_server()
        if not self.is_slave:  # before gRPC serves: receives find the recovered checkpoints
            await self.pop_service.start()
        await self._start_grpc_server()
        if self.config.listen_port == 0:  # an ephemeral port: advertise the real one
            self.config.listen_port = self.server.port
            self.store.store_host = self.store.commit_log.store_host = (
                self.config.broker_ip1,
                self.server.port,
            )
        if self.autoswitch is not None:
            await self.autoswitch.start()
        ha = self.autoswitch or self.store.ha_service
        if ha is not None:  # haListenPort 0: a free port, advertised
            self.outer_api.ha_listen_port = ha.port
        self.topic_config_manager.persist()
        if not self.is_slave:
            self._start_master_services()
        self._tasks = TaskOwner(log)
        await self.register_broker_all()
        self._start_loops(self._tasks)
        if self.replicas is not None:
            self.replicas.start()
        log.info(
            "broker %s (%s) serving on %s",
            self.config.broker_name,
            self.config.broker_cluster_name,
            self.config.broker_addr,
        )

    def _on_messages_arriving(self, arrivals: list[tuple[str, int, int, int]]) -> None:
        """The store dispatched records (topic, queue id, next offset, tags code), all of
        one pass (one socket read's sends): wake the held pulls and pops they satisfy."""
        self.pull_hold_service.notify_messages_arriving(arrivals)
        self.pop_service.notify_messages_arriving(arrivals)

    def _start_master_services(self) -> None:
        """Delay, transaction check and timer: a master's (``changeSpecialServiceStatus``
        with true). Each start() does nothing while the service runs."""
        if self._master_services_started:
            return
        self._master_services_started = True
        self.schedule_service.start()
        self.transaction_service.start()
        if self.store_config.timer_wheel_enable:
            self.timer_service.start()

    async def _stop_master_services(self) -> None:
        """A demoted master stops them (``changeSpecialServiceStatus`` with false): the
        delay progress and the timer checkpoint are written, a later promotion starts them
        again from there."""
        if not self._master_services_started:
            return
        self._master_services_started = False
        await self.schedule_service.aclose()
        await self.transaction_service.aclose()
        await self.timer_service.aclose()

    async def _start_fast_server(self) -> None:
        """Serve on ``listenPort - 2`` too, as Java does; not for an ephemeral listenPort,
        and a busy port is logged, not fatal (rocketq's clients and slaves never use it)."""
        port = self.config.listen_port - FAST_PORT_OFFSET
        if self.config.listen_port == 0 or port <= 0:
            return
        server = RemotingServer(
            self.server.processors,
            self.config.bind_address,
            port,
            on_connection_closed=self._connection_closed,
        )
        try:
            await server.start()
        except OSError as exc:
            log.warning("not serving listenPort - 2 = %d (Java's VIP channel): %s", port, exc)
            return
        self.fast_server = server

    async def _start_grpc_server(self) -> None:
        """RocketMQ 5's gRPC protocol on ``grpcServerPort`` for the 5.x SDKs (masters only:
        receiving writes pop checkpoints). A busy port is logged, not fatal: remoting
        clients are served either way."""
        if self.is_slave or self.config.grpc_server_port < 0:
            return
        from rocketq.broker.grpc import GrpcMessagingServer  # grpc loads only when served
        from rocketq.broker.grpc.registry import ClientTables

        server = GrpcMessagingServer(
            self.config,
            self.store,
            self.topic_config_manager,
            self.subscription_group_manager,
            self.consumer_offset_manager,
            port=self.config.grpc_server_port,
            transactions=self.transaction_service,
            client_tables=ClientTables(self.consumer_manager, self.producer_manager, self),
            pop_service=self.pop_service,
        )
        try:
            await server.start()
        except OSError as exc:
            log.warning("gRPC not served (%s); set grpcServerPort to a free port", exc)
            return
        self.grpc_server = server

    def _start_loops(self, tasks: TaskOwner) -> None:
        low, high = _REGISTER_PERIOD_RANGE_MS
        c = self.config
        tasks.every(
            lambda: min(max(c.register_name_server_period, low), high) / 1000,
            self.register_broker_all,
            "broker-register",
            wake=self._register_now,
        )
        tasks.every(
            lambda: max(c.flush_consumer_offset_interval, 100) / 1000,
            self._persist_offsets,
            "broker-persist-offsets",
        )
        tasks.every(CLIENT_SCAN_INTERVAL_S, self._scan_clients, "broker-scan-clients")
        tasks.every(STATS_TICK_S, self._sample_stats, "broker-stats", initial_delay=0)
        if self.is_slave:
            period = c.sync_broker_metadata_period / 1000
            tasks.every(
                period,
                self._slave_sync,
                "broker-slave-sync",
                initial_delay=min(SLAVE_SYNC_INITIAL_DELAY_S, period),
            )

    async def aclose(self) -> None:
        """Unregister, answer held pulls, persist offsets, close the store (removes abort)."""
        tasks = self._tasks
        if tasks is None or tasks.closed:
            return
        if self.replicas is not None:
            await self.replicas.aclose()
        await tasks.aclose()
        await self.outer_api.unregister_broker_all()
        self.pull_hold_service.wake_all()
        await self.pop_service.aclose()
        await self.server.aclose()
        if self.fast_server is not None:
            await self.fast_server.aclose()
        if self.grpc_server is not None:
            await self.grpc_server.aclose()
        await self.schedule_service.aclose()
        await self.timer_service.aclose()
        await self.transaction_service.aclose()
        self.consumer_offset_manager.persist()
        await self.store.aclose()
        if self.autoswitch is not None:
            await self.autoswitch.aclose()
        await self.outer_api.aclose()

    # -- NameServer registration ------------------------------------------------------------

    async def register_broker_all(self) -> int:
        """Send the topic table to every NameServer now; a slave then follows the master
        the answers name (``BrokerController#doRegisterBrokerAll``)."""
        if not self.config.namesrv_addrs() or not self._role_known:
            return 0
        accepted = await self.outer_api.register_broker_all(self.topic_config_manager.wrapper())
        if self.is_slave:
            self._follow_master()
        return accepted

    def _follow_master(self) -> bool:
        """Follow the master the NameServer names; in controller mode only the one the
        controller elected (the NameServer may still name the old one). True if followed."""
        master = self.outer_api.master_addr
        if self.replicas is not None and master != self.replicas.master_address:
            return False
        if master:
            self.slave_synchronize.master_addr = master
        ha_addr = self.outer_api.ha_master_addr
        if self._follow_registered_master and ha_addr:
            self.store.update_master_address(ha_addr)
            return True
        return False

    async def _slave_sync(self) -> None:
        if self.is_slave and self.slave_synchronize.master_addr:
            await self.slave_synchronize.sync_all()

    # -- controller mode (RoleHost of the ReplicasManager) ----------------------------------

    async def become_master(self) -> None:
        """brokerId 0, master services on, registered as the group's master."""
        self.config.broker_id = 0
        self.is_slave = False
        self._role_known = True
        self.slave_synchronize.master_addr = None
        self._start_master_services()
        await self.pop_service.start()
        await self.register_broker_all()

    async def become_slave(self, master_addr: str, broker_controller_id: int) -> None:
        """brokerId = the controller id; re-register until the NameServer names
        ``master_addr`` as master, then replicate from its HA address."""
        self.config.broker_id = broker_controller_id
        self.is_slave = True
        self._role_known = True
        self.slave_synchronize.master_addr = master_addr
        await self._stop_master_services()
        await self.pop_service.aclose()
        if self._tasks is not None and not self._tasks.closed:
            self._tasks.spawn(self._find_master(master_addr), "broker-find-master")

    async def _find_master(self, master_addr: str) -> None:
        while self.is_slave and self.replicas is not None:
            if self.replicas.master_address != master_addr:
                return  # a newer role change took over
            await self.register_broker_all()
            if self._follow_master():
                return
            await asyncio.sleep(FOLLOW_MASTER_RETRY_S)

    def request_register(self) -> None:
        """Topics changed: register soon (the register loop wakes at once)."""
        self._register_now.set()

    async def _persist_offsets(self) -> None:
        await asyncio.to_thread(self.consumer_offset_manager.persist_if_dirty)

    async def _sample_stats(self) -> None:
        self.broker_stats_manager.tick()

    async def _scan_clients(self) -> None:
        self.consumer_manager.scan_not_active()
        self.producer_manager.scan_not_active()

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
