"""QUERY_ASSIGNMENT (400), SET_MESSAGE_REQUEST_MODE (401) and GET_ALL_MESSAGE_REQUEST_MODE
(402): RocketMQ 5's server-side load balancing (``QueryAssignmentProcessor``, the 402 half of
``AdminBrokerProcessor``), for Java 5 clients that let the broker rebalance them.

* A query allocates the topic's readable queues (the route the NameServer gives,
  ``TopicRouteInfoManager#getTopicSubscribeInfo``) among the group's consumers with the
  client's strategy (``AVG`` or ``AVG_BY_CIRCLE``, the two the broker knows), or, for a group
  in POP mode, as ``allocate4Pop`` does: every consumer reads every broker (queue id -1) when
  ``popShareQueueNum`` <= 0 or covers the others, else its own queues plus those of the
  ``popShareQueueNum`` consumers after it.
* Each group's mode per topic (``defaultMessageRequestMode``, PULL, until set; always PULL
  on a retry topic) is set by SET_MESSAGE_REQUEST_MODE and kept in
  ``messageRequestMode.json``. With ``serverLoadBalancerEnable=false`` the broker does not
  divide: every consumer is given every queue.
* No valid answer (unknown topic or strategy, group not registered) is a SUCCESS without
  ``messageQueueAssignments``: the client keeps what it has.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from rocketq.broker.pop.request_mode import MessageRequestModeManager
from rocketq.common.errors import BrokerError, ProtocolError, RemotingError
from rocketq.common.topic import PERM_READ, RETRY_GROUP_TOPIC_PREFIX
from rocketq.remoting.body import TopicRouteData
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.pop_body import (
    BROADCASTING,
    POP,
    PULL,
    MessageQueueAssignment,
    QueryAssignmentRequestBody,
    QueryAssignmentResponseBody,
    SetMessageRequestModeRequestBody,
)

if TYPE_CHECKING:
    from rocketq.broker.client_manager import ConsumerManager
    from rocketq.broker.config import BrokerConfig

__all__ = ["QueryAssignmentProcessor", "TopicSubscribeInfo", "allocate_for_pop"]

log = logging.getLogger("rocketq.broker")

_T = TypeVar("_T")
# (topic, brokerName, queueId): sorts as Java's MessageQueue#compareTo.
Queue = tuple[str, str, int]
# TopicRouteInfoManager refreshes the routes it holds every 30 s; GET_TOPIC_ROUTE_TIMEOUT.
ROUTE_CACHE_S = 30.0
ROUTE_TIMEOUT_S = 3.0
# MixAll.LMQ_PREFIX / LMQ_QUEUE_ID: a light message queue has one queue, on this broker.
LMQ_PREFIX = "%LMQ%"
LMQ_QUEUE_ID = 0
# The queue id of an assignment that means "every queue of the broker" (a POP share).
ALL_QUEUES = -1


class TopicSubscribeInfo:
    """The readable queues of a topic across its brokers, from the NameServers' route,
    kept ``ROUTE_CACHE_S`` (``TopicRouteInfoManager``'s subscribe table)."""

    def __init__(
        self,
        client: RemotingClient,
        namesrv_addrs: Callable[[], list[str]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.namesrv_addrs = namesrv_addrs
        self.clock = clock
        self._cache: dict[str, tuple[float, list[Queue]]] = {}

    async def queues(self, topic: str) -> list[Queue] | None:
        """Sorted readable queues; None when no NameServer knows the topic."""
        cached = self._cache.get(topic)
        if cached is not None and self.clock() - cached[0] < ROUTE_CACHE_S:
            return cached[1]
        route = await self._route(topic)
        if route is None:
            return None
        queues = sorted(
            (topic, q.broker_name, i)
            for q in route.queue_datas
            if q.perm & PERM_READ
            for i in range(q.read_queue_nums)
        )
        if queues:
            self._cache[topic] = (self.clock(), queues)
        return queues or None

    async def _route(self, topic: str) -> TopicRouteData | None:
        for addr in self.namesrv_addrs():
            cmd = RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic})
            try:
                resp = await self.client.invoke(addr, cmd, ROUTE_TIMEOUT_S)
                if resp.code == ResponseCode.SUCCESS:
                    return TopicRouteData.decode(resp.body)
            except (RemotingError, ProtocolError) as exc:
                log.warning("route of %s from name server %s: %s", topic, addr, exc)
                continue
            if resp.code == ResponseCode.TOPIC_NOT_EXIST:
                return None
        return None


# -- the strategies the broker knows (AllocateMessageQueueAveragely, ...ByCircle) ----------


def _averagely(index: int, mq_all: Sequence[Queue], cids: int) -> list[Queue]:
    n = len(mq_all)
    mod = n % cids
    bigger = mod > 0 and index < mod
    size = 1 if n <= cids else (n // cids + 1 if bigger else n // cids)
    start = index * size if bigger else index * size + mod
    return list(mq_all[start : start + max(min(size, n - start), 0)])


def _by_circle(index: int, mq_all: Sequence[Queue], cids: int) -> list[Queue]:
    return list(mq_all[index::cids])


_STRATEGIES: dict[str, Callable[[int, Sequence[Queue], int], list[Queue]]] = {
    "AVG": _averagely,
    "AVG_BY_CIRCLE": _by_circle,
}


def _allocate(
    strategy: str, client_id: str, mq_all: Sequence[Queue], cid_all: list[str]
) -> list[Queue]:
    """One strategy's share; ``ValueError`` where Java's throws (blank id, nothing to share)."""
    if not client_id.strip() or not mq_all or not cid_all:
        raise ValueError("currentCID, mqAll and cidAll must not be empty")
    if client_id not in cid_all:
        return []
    return _STRATEGIES[strategy](cid_all.index(client_id), mq_all, len(cid_all))


def allocate_for_pop(
    strategy: str, client_id: str, mq_all: Sequence[Queue], cid_all: list[str], share: int
) -> list[Queue]:
    """``QueryAssignmentProcessor#allocate4Pop``."""
    if share <= 0 or share >= len(cid_all) - 1:  # every consumer pops every broker
        return sorted({(t, b, ALL_QUEUES) for t, b, _q in mq_all})
    if len(cid_all) <= len(mq_all):  # its own queues and those of the next `share`
        out = _allocate(strategy, client_id, mq_all, cid_all)
        if client_id in cid_all:
            index = cid_all.index(client_id)
            for step in range(1, share + 1):
                other = cid_all[(index + step) % len(cid_all)]
                out += _allocate(strategy, other, mq_all, cid_all)
        return sorted(set(out))
    if not client_id.strip() or not mq_all:  # more consumers than queues: one each
        raise ValueError("currentCID and mqAll must not be empty")
    if client_id not in cid_all:
        return []
    return [mq_all[cid_all.index(client_id) % len(mq_all)]]


class QueryAssignmentProcessor:
    """Server-side rebalance and the request modes of the groups."""

    def __init__(
        self,
        config: BrokerConfig,
        consumer_manager: ConsumerManager,
        modes: MessageRequestModeManager,
        routes: TopicSubscribeInfo,
    ) -> None:
        self.config = config
        self.consumers = consumer_manager
        self.modes = modes
        self.routes = routes

    def _mode(self, topic: str, group: str) -> SetMessageRequestModeRequestBody:
        mode = self.modes.get(topic, group)
        if mode is not None:
            return mode
        if topic.startswith(RETRY_GROUP_TOPIC_PREFIX):  # a retry topic is always pulled
            return SetMessageRequestModeRequestBody(topic, group, PULL)
        # defaultMessageRequestMode, with defaultPopShareQueueNum when that is POP
        default = self.config.default_message_request_mode
        share = self.config.default_pop_share_queue_num if default == POP else 0
        return SetMessageRequestModeRequestBody(topic, group, default, share)

    async def query_assignment(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """The queues ``clientId`` should read, each with the group's request mode."""
        body = _decode(QueryAssignmentRequestBody.decode, req.body)
        mode = self._mode(body.topic, body.consumer_group)
        queues = await self._balance(body, mode)
        assignments = None
        if queues is not None:
            assignments = [MessageQueueAssignment(t, b, q, mode.mode) for t, b, q in queues]
        answer = QueryAssignmentResponseBody(assignments)
        return req.make_response(body=answer.encode())

    async def _balance(
        self, body: QueryAssignmentRequestBody, mode: SetMessageRequestModeRequestBody
    ) -> list[Queue] | None:
        """``doLoadBalance``: None when there is no valid answer."""
        topic = body.topic
        if body.message_model == BROADCASTING:
            return await self.routes.queues(topic)
        if topic.startswith(LMQ_PREFIX):
            mq_all: list[Queue] | None = [(topic, self.config.broker_name, LMQ_QUEUE_ID)]
        else:
            mq_all = await self.routes.queues(topic)
        if mq_all is None:
            return None
        if not self.config.server_load_balancer_enable:  # every consumer gets every queue
            return mq_all
        group = self.consumers.groups.get(body.consumer_group)
        if group is None or body.strategy_name not in _STRATEGIES:
            log.warning("QueryLoad: no assignment for group %s topic %s (strategy %r)",
                        body.consumer_group, topic, body.strategy_name)  # fmt: skip
            return None
        cid_all = sorted(group.client_ids())
        try:
            if mode.mode == POP:
                return allocate_for_pop(body.strategy_name, body.client_id, mq_all, cid_all,
                                        mode.pop_share_queue_num)  # fmt: skip
            return _allocate(body.strategy_name, body.client_id, mq_all, cid_all)
        except ValueError as exc:
            log.warning("QueryLoad: no assignment for group %s topic %s: %s",
                        body.consumer_group, topic, exc)  # fmt: skip
            return None

    async def set_message_request_mode(
        self, conn: Connection, req: RemotingCommand
    ) -> RemotingCommand:
        """Remember the group's mode for the topic and write the file."""
        body = _decode(SetMessageRequestModeRequestBody.decode, req.body)
        if body.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            return req.make_response(
                ResponseCode.NO_PERMISSION, "retry topic is not allowed to set mode"
            )
        self.modes.set(body)
        await asyncio.to_thread(self.modes.persist)
        return req.make_response()

    async def get_all_message_request_mode(
        self, conn: Connection, req: RemotingCommand
    ) -> RemotingCommand:
        """Every group's modes, as the file holds them (a slave copies them)."""
        return req.make_response(body=self.modes.table_json())


def _decode(parse: Callable[[bytes | None], _T], body: bytes | None) -> _T:
    try:
        return parse(body)
    except ProtocolError as exc:
        raise BrokerError(ResponseCode.SYSTEM_ERROR, str(exc)) from exc
