"""One client instance per process and NameServer list (RocketMQ ``MQClientInstance``).

It owns the connections, the route cache and the periodic work every producer and
consumer of the process shares: routes refreshed every 30 s (and on demand, and soon
after a broker could not be reached), heartbeats to every broker every 30 s, consumer
offsets persisted every 5 s, rebalance every 20 s and at once when a broker says
NOTIFY_CONSUMER_IDS_CHANGED.

Broker groups: ``broker_addrs[broker_name]`` maps broker id -> address as the last route
listed it (0 = master, > 0 = slaves). Sends go to the master only
(:meth:`MQClientInstance.find_broker_addr_master`); pulls and consumer offsets may go to a
slave (:meth:`MQClientInstance.find_broker_address_in_subscribe`), so consumers go on
while a group's master is down.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Protocol

from rocketq.client.api import MQClientAPI
from rocketq.client.config import ClientConfig
from rocketq.client.message import MessageExt, MessageQueue
from rocketq.client.rebalance import AllocateMessageQueueStrategy
from rocketq.client.request import RequestFutureTable
from rocketq.client.running_info import (
    CLIENT_VERSION_DESC,
    PROP_CLIENT_VERSION,
    PROP_CONSUME_TYPE,
    PROP_CONSUMER_START_TIMESTAMP,
    PROP_NAMESERVER_ADDR,
    ConsumeMessageDirectlyResult,
    ConsumerRunningInfo,
    consumer_status_body,
    thread_dump,
)
from rocketq.client.stats import ConsumerStatsManager
from rocketq.common.errors import (
    BrokerError,
    RemotingConnectError,
    RemotingError,
    RemotingSendRequestError,
)
from rocketq.common.ids import UniqIdGenerator, local_ipv4
from rocketq.common.message import MessageConst
from rocketq.common.record import decode_records
from rocketq.common.tasks import TaskOwner
from rocketq.common.topic import PERM_READ, PERM_WRITE
from rocketq.remoting.body import TopicRouteData
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection, ProcessorTable
from rocketq.remoting.headers import CheckTransactionStateRequestHeader
from rocketq.remoting.headers.broker import (
    ConsumeMessageDirectlyResultRequestHeader,
    GetConsumerRunningInfoRequestHeader,
    GetConsumerStatusRequestHeader,
)
from rocketq.remoting.heartbeat import ConsumerData, HeartbeatData, ProducerData

__all__ = [
    "MASTER_ID",
    "FindBrokerResult",
    "MQClientInstance",
    "RefreshThrottle",
    "TopicPublishInfo",
    "member_instance",
]

log = logging.getLogger("rocketq.client")

# MixAll.MASTER_ID: broker id 0 is a group's master; slaves have ids > 0.
MASTER_ID = 0
# ConsumerStatsManager's windows are sampled every 10 s at the finest: a 1 s tick keeps
# the sampling within a second of due.
_STATS_TICK_S = 1.0


# Kept FindBrokerResults beyond this many are dropped at once (addresses seen x 2).
_FOUND_RESULTS_MAX = 1024


@dataclass(frozen=True, slots=True)
class FindBrokerResult:
    """A broker chosen for a pull or an offset request (``FindBrokerResult``)."""

    addr: str
    slave: bool


class RefreshThrottle:
    """Lets a topic's route be refreshed after a broker failure at most once per
    ``interval`` seconds, so a dead broker that every queue trips over costs the
    NameServer one request per topic, not one per failed call."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}

    def due(self, topic: str, now: float) -> bool:
        """True (and remembered) when ``topic`` was not refreshed in the last interval."""
        last = self._last.get(topic)
        if last is not None and now - last < self.interval:
            return False
        self._last[topic] = now
        return True


def is_connection_failure(exc: BaseException) -> bool:
    """True when the broker could not be reached or its connection closed (not a
    timeout or an error answer): then the route may name a broker that is gone."""
    return isinstance(exc, (RemotingConnectError, RemotingSendRequestError))


@dataclass(slots=True)
class TopicPublishInfo:
    """Queues a producer may send to (``TopicPublishInfo``)."""

    message_queues: list[MessageQueue] = field(default_factory=list)
    route: TopicRouteData | None = None
    order_topic: bool = False
    send_which_queue: int = 0

    @property
    def ok(self) -> bool:
        """True when there is at least one queue."""
        return bool(self.message_queues)


def publish_info(topic: str, route: TopicRouteData) -> TopicPublishInfo:
    """``topicRouteData2TopicPublishInfo``: writable queues of masters, or orderTopicConf."""
    info = TopicPublishInfo(route=route)
    if route.order_topic_conf:
        for item in route.order_topic_conf.split(";"):
            name, _, nums = item.partition(":")
            info.message_queues += [MessageQueue(topic, name, i) for i in range(int(nums or 0))]
        info.order_topic = True
        return info
    masters = {b.broker_name for b in route.broker_datas if MASTER_ID in b.broker_addrs}
    for qd in sorted(route.queue_datas, key=lambda q: q.broker_name):
        if qd.perm & PERM_WRITE and qd.broker_name in masters:
            info.message_queues += [
                MessageQueue(topic, qd.broker_name, i) for i in range(qd.write_queue_nums)
            ]
    return info


def subscribe_info(topic: str, route: TopicRouteData) -> set[MessageQueue]:
    """``topicRouteData2TopicSubscribeInfo``: every readable queue."""
    return {
        MessageQueue(topic, qd.broker_name, i)
        for qd in route.queue_datas
        if qd.perm & PERM_READ
        for i in range(qd.read_queue_nums)
    }


class ProducerMember(Protocol):
    """What the instance needs of a producer."""

    group: str

    def published_topics(self) -> set[str]: ...

    def update_publish_info(self, topic: str, info: TopicPublishInfo) -> None: ...


class ConsumerMember(Protocol):
    """What the instance needs of a consumer."""

    group: str

    def subscribed_topics(self) -> set[str]: ...

    def consumer_data(self) -> ConsumerData: ...

    def update_subscribe_info(self, topic: str, mqs: set[MessageQueue]) -> None: ...

    async def do_rebalance(self) -> None: ...

    async def persist_offsets(self) -> None: ...

    async def reset_offset(self, topic: str, offsets: dict[MessageQueue, int]) -> None: ...


class MQClientInstance:
    """Shared client machinery; ``start()`` once, ``aclose()`` after the last user left."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        ip = config.client_ip or local_ipv4()
        name = config.instance_name
        if name == "DEFAULT":  # Java replaces it so two processes never share an id
            name = f"{os.getpid()}#{time.monotonic_ns()}"
        self.client_id = f"{ip}@{name}"
        self.uniq_ids = UniqIdGenerator(ip)
        processors = ProcessorTable()
        processors.register(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, self._on_ids_changed)
        processors.register(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, self._on_reset_offset)
        processors.register(RequestCode.GET_CONSUMER_RUNNING_INFO, self._on_running_info)
        processors.register(RequestCode.CONSUME_MESSAGE_DIRECTLY, self._on_consume_directly)
        processors.register(RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT, self._on_consumer_status)
        processors.register(RequestCode.CHECK_TRANSACTION_STATE, self._on_check_transaction)
        # Requests of this process waiting for their replies (request-reply, 4.6+).
        self.request_futures = RequestFutureTable()
        processors.register(RequestCode.PUSH_REPLY_MESSAGE_TO_CLIENT, self.request_futures.on_push)
        self.processors = processors
        self.remoting = RemotingClient(processors)
        self.api = MQClientAPI(
            self.remoting, config.namesrv_addrs(), config.mq_client_api_timeout / 1000
        )
        self.route_table: dict[str, TopicRouteData] = {}
        self.broker_addrs: dict[str, dict[int, str]] = {}
        # find_broker_address_in_subscribe's answers, made once per (address, slave): every
        # pull asks (a frozen dataclass costs ~1 us to build).
        self._found: dict[tuple[str, bool], FindBrokerResult] = {}
        self.producers: dict[str, ProducerMember] = {}
        self.consumers: dict[str, ConsumerMember] = {}
        self._tasks: TaskOwner | None = None
        # Pull and consume RT/TPS of every consumer here (statusTable of the running info).
        self.consumer_stats = ConsumerStatsManager()
        self._rebalance_now = asyncio.Event()
        self._route_lock = asyncio.Lock()
        self._failure_refresh = RefreshThrottle(config.route_refresh_after_failure_interval / 1000)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the periodic services (idempotent)."""
        if self._tasks is not None and not self._tasks.closed:
            return
        tasks = self._tasks = TaskOwner(log)
        c = self.config
        # The intervals are read at every round, so a test may shorten them after start.
        tasks.every(
            lambda: _ms(c.poll_name_server_interval), self.update_all_routes, "client-route"
        )
        tasks.every(
            lambda: _ms(c.heartbeat_broker_interval),
            self.send_heartbeat_to_all_brokers,
            "client-heartbeat",
        )
        tasks.every(
            lambda: _ms(c.persist_consumer_offset_interval),
            self._persist_all_offsets,
            "client-persist-offsets",
        )
        tasks.every(
            lambda: c.rebalance_interval / 1000,
            self.rebalance_all,
            "client-rebalance",
            wake=self._rebalance_now,
        )
        tasks.every(_STATS_TICK_S, self._tick_stats, "client-stats")

    async def _tick_stats(self) -> None:
        self.consumer_stats.tick()

    async def aclose(self) -> None:
        """Stop services, unregister from every broker, close connections."""
        if self._tasks is not None:
            await self._tasks.aclose()
        await self.remoting.aclose()

    def rebalance_immediately(self) -> None:
        """Wake the rebalance service."""
        self._rebalance_now.set()

    async def rebalance_all(self) -> None:
        """Rebalance every consumer now."""
        for consumer in list(self.consumers.values()):
            try:
                await consumer.do_rebalance()
            except Exception:
                log.exception("rebalance of %s failed", consumer.group)

    async def _persist_all_offsets(self) -> None:
        for consumer in list(self.consumers.values()):
            await consumer.persist_offsets()

    # -- members ----------------------------------------------------------------------------

    def register_producer(self, producer: ProducerMember) -> None:
        """Add a producer group (one per group per instance, as in RocketMQ)."""
        if producer.group in self.producers:
            raise ValueError(
                f"producer group {producer.group!r} is already started in this process"
            )
        self.producers[producer.group] = producer

    def register_consumer(self, consumer: ConsumerMember) -> None:
        """Add a consumer group."""
        if consumer.group in self.consumers:
            raise ValueError(
                f"consumer group {consumer.group!r} is already started in this process"
            )
        self.consumers[consumer.group] = consumer

    async def unregister(
        self, producer_group: str | None = None, consumer_group: str | None = None
    ) -> None:
        """Remove a group here and tell every broker (UNREGISTER_CLIENT)."""
        if producer_group:
            self.producers.pop(producer_group, None)
        if consumer_group:
            self.consumers.pop(consumer_group, None)
        for addrs in list(self.broker_addrs.values()):
            for addr in addrs.values():
                try:
                    await self.api.unregister_client(
                        addr, self.client_id, producer_group, consumer_group
                    )
                except (RemotingError, BrokerError) as exc:
                    log.debug("unregister from %s failed: %s", addr, exc)

    # -- routes -----------------------------------------------------------------------------

    async def update_all_routes(self) -> None:
        """Refresh the route of every topic in use."""
        topics: set[str] = set()
        for producer in self.producers.values():
            topics |= producer.published_topics()
        for consumer in self.consumers.values():
            topics |= consumer.subscribed_topics()
        for topic in topics:
            await self.update_topic_route(topic)

    async def update_topic_route(self, topic: str, default_route_for: str | None = None) -> bool:
        """Fetch ``topic``'s route and hand it to the members; False when there is none.

        With ``default_route_for`` the route of the auto-create template (TBW102) is
        fetched and installed as the route of ``default_route_for``.
        """
        async with self._route_lock:
            try:
                route = await self.api.get_topic_route(topic)
            except BrokerError as exc:
                if exc.code != ResponseCode.TOPIC_NOT_EXIST:
                    log.warning("route of %s: %s", topic, exc)
                return False
            except RemotingError as exc:
                log.warning("route of %s: %s", topic, exc)
                return False
            target = default_route_for or topic
            if default_route_for is not None:
                for qd in route.queue_datas:  # the producer's defaultTopicQueueNums cap
                    qd.read_queue_nums = qd.write_queue_nums = min(4, qd.read_queue_nums)
            self.install_route(target, route)
            return True

    def note_broker_failure(self, topic: str, exc: BaseException) -> None:
        """A call to a broker of ``topic`` failed with ``exc``. When the broker could not
        be reached, refresh the topic's route soon (in the background, at most once per
        ``route_refresh_after_failure_interval``) rather than at the next 30 s poll, so a
        master that died drops out of the route and consumers move to its slave."""
        if not is_connection_failure(exc) or self._tasks is None or self._tasks.closed:
            return
        if self._failure_refresh.due(topic, time.monotonic()):
            log.info("broker of %s unreachable (%s): refreshing its route", topic, exc)
            self._tasks.spawn(self.update_topic_route(topic), f"client-route-refresh-{topic}")

    def install_route(self, topic: str, route: TopicRouteData) -> None:
        """Take ``route`` as ``topic``'s route: broker addresses, publish and subscribe
        queues for every member (what every NameServer answer goes through)."""
        self.route_table[topic] = route
        for bd in route.broker_datas:
            self.broker_addrs[bd.broker_name] = dict(bd.broker_addrs)
        info = publish_info(topic, route)
        for producer in self.producers.values():
            producer.update_publish_info(topic, info)
        mqs = subscribe_info(topic, route)
        for consumer in self.consumers.values():
            consumer.update_subscribe_info(topic, mqs)

    def find_broker_addr_master(self, broker_name: str) -> str | None:
        """The master address of a broker group, if the route lists one
        (``findBrokerAddressInPublish``: sends, locks, admin offset queries)."""
        addrs = self.broker_addrs.get(broker_name)  # every send: no empty dict made
        return addrs.get(MASTER_ID) if addrs else None

    def find_broker_address_in_subscribe(
        self, broker_name: str, broker_id: int = MASTER_ID, only_this_broker: bool = False
    ) -> FindBrokerResult | None:
        """``findBrokerAddressInSubscribe``: the member ``broker_id`` of the group; for a
        slave id that is missing, the next slave id; then, unless ``only_this_broker``,
        any member, the master first (Java takes its HashMap's first entry, which is the
        lowest id). None when the route lists no member that fits."""
        addrs = self.broker_addrs.get(broker_name)
        if not addrs:
            return None
        addr = addrs.get(broker_id)
        if addr is None and broker_id != MASTER_ID:
            addr = addrs.get(broker_id + 1)
        if addr is not None:
            return self._found_result(addr, broker_id != MASTER_ID)
        if only_this_broker:
            return None
        first = min(addrs)
        return self._found_result(addrs[first], first != MASTER_ID)

    def _found_result(self, addr: str, slave: bool) -> FindBrokerResult:
        found = self._found.get((addr, slave))
        if found is None:
            if len(self._found) >= _FOUND_RESULTS_MAX:
                self._found.clear()
            found = self._found[(addr, slave)] = FindBrokerResult(addr, slave)
        return found

    def any_broker_addr_of_topic(self, topic: str) -> str | None:
        """Some broker serving ``topic`` (consumer id lists can be asked of any of them)."""
        route = self.route_table.get(topic)
        if route is None:
            return None
        for bd in route.broker_datas:
            addr = bd.broker_addrs.get(MASTER_ID) or next(iter(bd.broker_addrs.values()), None)
            if addr:
                return addr
        return None

    async def allocate_queues(
        self,
        group: str,
        topic: str,
        strategy: AllocateMessageQueueStrategy,
        message_model: str,
        known: dict[str, set[MessageQueue]],
    ) -> list[MessageQueue] | None:
        """``RebalanceImpl#rebalanceByTopic``: this client's queues of ``topic`` (all of them
        when broadcasting), sorted; None when it cannot tell yet (no route, not a member)."""
        mqs = sorted(known.get(topic, set()))
        if not mqs:
            await self.update_topic_route(topic)  # maybe created since the last poll
            mqs = sorted(known.get(topic, set()))
        if not mqs:
            return None
        if message_model == "BROADCASTING":
            return mqs
        addr = self.any_broker_addr_of_topic(topic)
        if addr is None:
            return None
        cids = sorted(await self.api.get_consumer_id_list(addr, group))
        if self.client_id not in cids:
            return None
        return sorted(strategy.allocate(group, self.client_id, mqs, cids))

    # -- heartbeats -------------------------------------------------------------------------

    def heartbeat_data(self) -> HeartbeatData:
        """What this process runs, for HEART_BEAT."""
        return HeartbeatData(
            self.client_id,
            [ProducerData(g) for g in self.producers],
            [c.consumer_data() for c in self.consumers.values()],
        )

    async def send_heartbeat_to_all_brokers(self) -> None:
        """HEART_BEAT to every known broker (masters only when there is no consumer)."""
        data = self.heartbeat_data()
        if not data.producer_data_set and not data.consumer_data_set:
            return
        for name, addrs in list(self.broker_addrs.items()):
            for broker_id, addr in addrs.items():
                if broker_id != MASTER_ID and not data.consumer_data_set:
                    continue
                try:
                    await self.api.send_heartbeat(addr, data)
                except (RemotingError, BrokerError) as exc:
                    log.warning("heartbeat to %s (%s) failed: %s", name, addr, exc)

    # -- broker -> client requests ----------------------------------------------------------

    def _on_ids_changed(self, conn: Connection, req: RemotingCommand) -> RemotingCommand | None:
        log.info("broker %s: consumer ids of %s changed", conn.peer, req.ext("consumerGroup"))
        self.rebalance_immediately()
        return None

    async def _on_reset_offset(
        self, conn: Connection, req: RemotingCommand
    ) -> RemotingCommand | None:
        from rocketq.remoting.fastjson import loads

        topic, group = req.ext("topic") or "", req.ext("group") or ""
        body = loads(req.body or b"{}")
        table = body.get("offsetTable") or {}
        offsets: dict[MessageQueue, int] = {}
        items = (
            table.items() if isinstance(table, dict) else ((e, e.get("offset", 0)) for e in table)
        )
        for key, value in items:
            key_obj = key.as_dict() if hasattr(key, "as_dict") else key
            if isinstance(key_obj, dict):
                offsets[MessageQueue.from_obj(key_obj)] = int(value)
        consumer = self.consumers.get(group)
        if consumer is not None:
            await consumer.reset_offset(topic, offsets)
        return None

    def _on_check_transaction(self, conn: Connection, req: RemotingCommand) -> None:
        """CHECK_TRANSACTION_STATE (one-way): hand the half message to the producer of its
        group, if it is a transaction producer (``ClientRemotingProcessor``)."""
        header = CheckTransactionStateRequestHeader.from_ext(req.ext_fields)
        records = decode_records(req.body or b"")
        if not records:
            log.warning("CHECK_TRANSACTION_STATE from %s without a message", conn.peer)
            return
        msg = MessageExt.from_record(records[0])
        group = msg.properties.get(MessageConst.PRODUCER_GROUP, "")
        check = getattr(self.producers.get(group), "check_transaction_state", None)
        if check is None:
            log.warning("check-back for group %r from %s: no such producer", group, conn.peer)
            return
        check(conn, msg, header)

    async def _on_running_info(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """GET_CONSUMER_RUNNING_INFO (``ClientRemotingProcessor#getConsumerRunningInfo``):
        the group's ConsumerRunningInfo, with a thread dump when ``jstackEnable``."""
        h = GetConsumerRunningInfoRequestHeader.from_ext(req.ext_fields)
        info = await self.consumer_running_info(h.consumer_group)
        if info is None:
            return req.make_response(
                ResponseCode.SYSTEM_ERROR,
                f"The Consumer Group <{h.consumer_group}> not exist in this consumer",
            )
        if h.jstack_enable:
            info.jstack = thread_dump()
        return req.make_response(body=info.encode())

    async def consumer_running_info(self, group: str) -> ConsumerRunningInfo | None:
        """``MQClientInstance#consumerRunningInfo``: the member's own running info plus the
        name servers, its consume type and the client version; None for an unknown group."""
        consumer = self.consumers.get(group)
        if consumer is None:
            return None
        own = getattr(consumer, "consumer_running_info", None)
        info: ConsumerRunningInfo = await own() if own is not None else ConsumerRunningInfo()
        data = consumer.consumer_data()
        if own is None:  # the pull consumers' (DefaultLitePullConsumerImpl's) shorter info
            info.subscriptions = list(data.subscription_data_set)
            info.properties["consumerGroup"] = consumer.group
            info.properties["messageModel"] = data.message_model
            started = getattr(consumer, "start_timestamp", 0)
            info.properties[PROP_CONSUMER_START_TIMESTAMP] = str(started)
        info.properties[PROP_NAMESERVER_ADDR] = "".join(
            f"{a};" for a in self.config.namesrv_addrs()
        )
        info.properties[PROP_CONSUME_TYPE] = data.consume_type
        info.properties[PROP_CLIENT_VERSION] = CLIENT_VERSION_DESC
        return info

    async def _on_consume_directly(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """CONSUME_MESSAGE_DIRECTLY: the message in the body goes through the group's
        listener once; the answer is a ConsumeMessageDirectlyResult."""
        h = ConsumeMessageDirectlyResultRequestHeader.from_ext(req.ext_fields)
        consume = getattr(self.consumers.get(h.consumer_group), "consume_message_directly", None)
        records = decode_records(req.body or b"")
        if consume is None or not records:
            why = "not exist in this consumer" if consume is None else "came without a message"
            return req.make_response(
                ResponseCode.SYSTEM_ERROR, f"The Consumer Group <{h.consumer_group}> {why}"
            )
        msg = MessageExt.from_record(records[0], h.broker_name or "")
        result: ConsumeMessageDirectlyResult = await consume(msg, h.broker_name or "")
        return req.make_response(body=result.encode())

    def _on_consumer_status(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """GET_CONSUMER_STATUS_FROM_CLIENT (``getConsumeStatus``): the group's offsets of the
        topic as its offset store holds them (empty for a group not here)."""
        h = GetConsumerStatusRequestHeader.from_ext(req.ext_fields)
        store = getattr(self.consumers.get(h.group), "offset_store", None)
        offsets = store.clone_offset_table(h.topic) if store is not None else {}
        return req.make_response(body=consumer_status_body(offsets))


def _ms(millis: int) -> float:
    """A periodic task's interval in seconds (at least 10 ms, as Java's timers allow)."""
    return max(millis, 10) / 1000


def member_instance(
    namesrv_addr: str | None, client_config: ClientConfig | None, instance: MQClientInstance | None
) -> tuple[MQClientInstance, bool]:
    """The client instance a producer or consumer uses: the one given (shared), or a new
    one of its own; the flag says whether the member owns (and so closes) it."""
    if instance is not None:
        return instance, False
    config = client_config or ClientConfig()
    if namesrv_addr:
        config.namesrv_addr = namesrv_addr
    return MQClientInstance(config), True
