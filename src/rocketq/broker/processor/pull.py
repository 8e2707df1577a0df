"""PULL_MESSAGE (11) with long polling (RocketMQ ``PullMessageProcessor``)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from rocketq.broker.filter import (
    ExpressionMessageFilter,
    Sql92Filter,
    Sql92FilterCache,
    Sql92ParseError,
)
from rocketq.broker.filter.message_filter import retry_filter_lookup
from rocketq.broker.long_polling import HeldPull, PullRequestHoldService
from rocketq.broker.stats import BrokerStatsManager
from rocketq.common.errors import BrokerError
from rocketq.common.topic import PERM_READ, RETRY_GROUP_TOPIC_PREFIX
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers import PullMessageRequestHeader
from rocketq.remoting.heartbeat import EXPRESSION_TAG, SubscriptionData, build_subscription
from rocketq.store.config import SLAVE
from rocketq.store.read import JoinedGetMessageResult
from rocketq.store.result import GetMessageStatus

if TYPE_CHECKING:
    from rocketq.broker.client_manager import ConsumerManager
    from rocketq.broker.config import BrokerConfig
    from rocketq.broker.consumer_offset import ConsumerOffsetManager
    from rocketq.broker.subscription_group import SubscriptionGroupManager
    from rocketq.broker.topic_config import TopicConfigManager
    from rocketq.store.config import StoreConfig
    from rocketq.store.message_store import DefaultMessageStore

__all__ = ["PullMessageProcessor", "TagFilter"]

log = logging.getLogger("rocketq.broker")

# PullSysFlag bits.
FLAG_COMMIT_OFFSET = 0x1
FLAG_SUSPEND = 0x2
FLAG_SUBSCRIPTION = 0x4

# What the pull path compares with, as module globals: an enum class's attribute costs a
# Python-level lookup each time (~0.2 µs).
_FOUND = GetMessageStatus.FOUND
_SUCCESS = ResponseCode.SUCCESS
_NOT_FOUND = ResponseCode.PULL_NOT_FOUND
_OFFSET_MOVED = ResponseCode.PULL_OFFSET_MOVED

# The response code of each store status, by the status' name.
_STATUS_CODES: dict[str, int] = {
    status.name: code
    for status, code in (
        (GetMessageStatus.FOUND, ResponseCode.SUCCESS),
        (GetMessageStatus.MESSAGE_WAS_REMOVING, ResponseCode.PULL_RETRY_IMMEDIATELY),
        (GetMessageStatus.NO_MATCHED_MESSAGE, ResponseCode.PULL_RETRY_IMMEDIATELY),
        (GetMessageStatus.OFFSET_FOUND_NULL, ResponseCode.PULL_NOT_FOUND),
        (GetMessageStatus.OFFSET_OVERFLOW_BADLY, ResponseCode.PULL_OFFSET_MOVED),
        (GetMessageStatus.OFFSET_OVERFLOW_ONE, ResponseCode.PULL_NOT_FOUND),
        (GetMessageStatus.OFFSET_TOO_SMALL, ResponseCode.PULL_OFFSET_MOVED),
    )
}


# The tag-only filter this module had before SQL92; ExpressionMessageFilter does both.
TagFilter = ExpressionMessageFilter


class PullMessageProcessor:
    """Reads a queue for a consumer; holds the pull when nothing is there yet.

    It owns the :class:`PullRequestHoldService` its held pulls wait in (``hold_service``;
    the store's arrivals are to be sent to its ``notify_message_arriving``) and the cache of
    compiled SQL92 selectors (``sql92_filters``, shared with CHECK_CLIENT_CONFIG).
    """

    def __init__(
        self,
        *,
        config: BrokerConfig,
        store_config: StoreConfig,
        store: DefaultMessageStore,
        topic_config_manager: TopicConfigManager,
        subscription_group_manager: SubscriptionGroupManager,
        consumer_manager: ConsumerManager,
        consumer_offset_manager: ConsumerOffsetManager,
        stats: BrokerStatsManager | None = None,
    ) -> None:
        self.config = config
        self.stats = stats or BrokerStatsManager(config.broker_cluster_name)
        self.store_config = store_config
        self.store = store
        self.topic_config_manager = topic_config_manager
        self.subscription_group_manager = subscription_group_manager
        self.consumer_manager = consumer_manager
        self.consumer_offset_manager = consumer_offset_manager
        self.sql92_filters = Sql92FilterCache()
        self.hold_service = PullRequestHoldService(self.rerun)
        # Pulls that carry their subscription (FLAG_SUBSCRIPTION) send the same text every
        # time: its SubscriptionData and filter are built once per (group, topic, text,
        # type, filterSupportRetry), not per pull (~2.5 us each).
        self._filters: dict[tuple[str, str, str | None, str, bool], _Filter] = {}
        # Pulls without it (Java push consumers): the filter of the heartbeat's subscription
        # by (group, topic), with the SubscriptionData object and filterSupportRetry it
        # was built from (~2 us a pull otherwise).
        self._heartbeat_filters: dict[
            tuple[str, str], tuple[SubscriptionData | None, bool, _Filter]
        ] = {}

    def process(self, conn: Connection, req: RemotingCommand) -> RemotingCommand | None:
        """Entry point for code 11; None means the pull is held (answered later)."""
        return self._process(conn, req, allow_suspend=True)

    def rerun(self, pull: HeldPull) -> None:
        """Answer a held pull now (a message arrived, or its time is up): the whole
        request runs again (RocketMQ's ``executeRequestWhenWakeup``), but for parsing its
        header, kept from the first run."""
        conn = pull.connection
        response = self._process(conn, pull.request, False, pull.header)
        if response is not None and conn.is_open:
            conn.write(response)

    def _process(
        self,
        conn: Connection,
        req: RemotingCommand,
        allow_suspend: bool,
        h: PullMessageRequestHeader | None = None,
    ) -> RemotingCommand | None:
        begin = time.monotonic_ns()
        if h is None:
            h = PullMessageRequestHeader.from_ext(req.ext_fields)
        try:
            self._check(h)
            message_filter, store_filter = self._filter(h)
        except BrokerError as exc:
            return self._respond(req, exc.code, exc.remark, h.queue_offset, 0, 0)
        store = self.store
        result = store.get_message(
            h.consumer_group,
            h.topic,
            h.queue_id,
            h.queue_offset,
            h.max_msg_nums,
            store_filter,
            joined=True,  # unfiltered: the body comes copied in one pass (compiled)
        )
        count = result.message_count
        self.stats.on_store_get(result.status is _FOUND, count)
        if (
            allow_suspend
            and h.sys_flag & FLAG_COMMIT_OFFSET
            and self.store_config.broker_role != SLAVE
        ):
            self.consumer_offset_manager.commit(
                h.consumer_group, h.topic, h.queue_id, h.commit_offset
            )
        status = result.status
        code = _STATUS_CODES.get(status._name_)  # by name: an Enum's hash runs in Python
        if code is None:  # NO_MATCHED_LOGIC_QUEUE / NO_MESSAGE_IN_QUEUE
            code = _OFFSET_MOVED if h.queue_offset else _NOT_FOUND
        if code == _NOT_FOUND and allow_suspend and h.sys_flag & FLAG_SUSPEND:
            result.release()
            self._suspend(conn, req, h, message_filter, store_filter is None)
            return None
        body = None
        if code == _SUCCESS:
            if isinstance(result, JoinedGetMessageResult):
                body = result.body
            else:
                body = b"".join(result.buffers)
        result.release()
        if body is not None:  # PullMessageProcessor's SUCCESS figures; latency in ms
            latency = (time.monotonic_ns() - begin) // 1_000_000
            size = result.buffer_total_size
            self.stats.on_get(h.consumer_group, h.topic, h.queue_id, count, size, latency)
        return self._respond(
            req,
            code,
            status._value_,  # its value (the property costs a Python call in 3.11)
            result.next_begin_offset,
            result.min_offset,
            result.max_offset,
            body,
            self._suggest_broker(h.consumer_group, result.suggest_pulling_from_slave),
        )

    def _suggest_broker(self, group_name: str, pulling_from_slave_suggested: bool) -> int:
        """``suggestWhichBrokerId`` as 4.9's PullMessageProcessor sets it: the master (0)
        unless ``slaveReadEnable``; then the group's ``whichBrokerWhenConsumeSlowly`` when the
        read fell out of memory, else its ``brokerId``. A slave serves what it has either way
        (Java sets PULL_RETRY_IMMEDIATELY for it, then the FOUND status overwrites that), so
        consumers go on reading a slave while its master is down."""
        if not self.config.slave_read_enable:
            return 0
        group = self.subscription_group_manager.find(group_name)
        if group is None:
            return 0
        if pulling_from_slave_suggested:
            return group.which_broker_when_consume_slowly
        return group.broker_id

    def _check(self, h: PullMessageRequestHeader) -> None:
        """Permissions, group, topic and queue id."""
        b = self.config
        if not b.broker_permission & PERM_READ:
            raise BrokerError(
                ResponseCode.NO_PERMISSION,
                f"the broker[{b.broker_ip1}] pulling message is forbidden",
            )
        group = self.subscription_group_manager.find(h.consumer_group)
        if group is None:
            raise BrokerError(
                ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                f"subscription group [{h.consumer_group}] does not exist",
            )
        if not group.consume_enable:
            raise BrokerError(
                ResponseCode.NO_PERMISSION, f"subscription group no permission, {h.consumer_group}"
            )
        topic = self.topic_config_manager.select(h.topic)
        if topic is None:
            raise BrokerError(
                ResponseCode.TOPIC_NOT_EXIST, f"topic[{h.topic}] not exist, apply first please!"
            )
        if not topic.perm & PERM_READ:
            raise BrokerError(
                ResponseCode.NO_PERMISSION, f"the topic[{h.topic}] pulling message is forbidden"
            )
        if not 0 <= h.queue_id < topic.read_queue_nums:
            raise BrokerError(
                ResponseCode.SYSTEM_ERROR,
                f"queueId[{h.queue_id}] is illegal, topic:[{h.topic}] "
                f"topicConfig.readQueueNums:[{topic.read_queue_nums}]",
            )

    def _filter(
        self, h: PullMessageRequestHeader
    ) -> tuple[ExpressionMessageFilter, ExpressionMessageFilter | None]:
        """The pull's filter, and what the store is given: None when it takes everything
        (a ``*`` subscription without SQL92 or retry rule), so the store reads without a
        filter call per message."""
        if not h.sys_flag & FLAG_SUBSCRIPTION:  # the heartbeat's subscription: may change
            return self._heartbeat_filter(h, self._subscription(h))
        key = (
            h.consumer_group,
            h.topic,
            h.subscription,
            h.expression_type or EXPRESSION_TAG,
            self.config.filter_support_retry,
        )
        cached = self._filters.get(key)
        if cached is None:
            built = self._message_filter(h, self._subscription(h))
            if len(self._filters) >= _FILTER_CACHE_MAX:
                self._filters.clear()
            cached = self._filters[key] = (built, None if _takes_all(built) else built)
        elif key[3] != EXPRESSION_TAG and not self.config.enable_property_filter:
            self._subscription(h)  # refused as before once the broker stops allowing it
        return cached

    def _heartbeat_filter(
        self, h: PullMessageRequestHeader, sub: SubscriptionData | None
    ) -> _Filter:
        """The filter of a pull without its subscription (Java push consumers): built once
        per SubscriptionData object of the group's heartbeat (ConsumerManager replaces the
        object when a heartbeat changes it), as long as filterSupportRetry stays the same."""
        retry = self.config.filter_support_retry
        key = (h.consumer_group, h.topic)
        cached = self._heartbeat_filters.get(key)
        if cached is not None and cached[0] is sub and cached[1] == retry:
            return cached[2]
        built = self._message_filter(h, sub)
        pair = (built, None if _takes_all(built) else built)
        if len(self._heartbeat_filters) >= _FILTER_CACHE_MAX:
            self._heartbeat_filters.clear()
        self._heartbeat_filters[key] = (sub, retry, pair)
        return pair

    def _subscription(self, h: PullMessageRequestHeader) -> SubscriptionData | None:
        expression_type = h.expression_type or EXPRESSION_TAG
        if expression_type != EXPRESSION_TAG and not self.config.enable_property_filter:
            raise BrokerError(
                ResponseCode.SYSTEM_ERROR,
                f"The broker does not support consumer to filter message by {expression_type}",
            )
        if h.sys_flag & FLAG_SUBSCRIPTION:
            return build_subscription(h.topic, h.subscription, expression_type)
        # Java consumers send no expression: use what their heartbeats announced.
        info = self.consumer_manager.groups.get(h.consumer_group)
        if info is None:
            raise BrokerError(
                ResponseCode.SUBSCRIPTION_NOT_EXIST,
                f"the consumer's group info not exist, group: {h.consumer_group}",
            )
        sub = info.subscriptions.get(h.topic)
        if sub is None:
            raise BrokerError(
                ResponseCode.SUBSCRIPTION_NOT_EXIST,
                f"the consumer's subscription not exist, group: {h.consumer_group}",
            )
        if sub.sub_version < h.sub_version:
            raise BrokerError(
                ResponseCode.SUBSCRIPTION_NOT_LATEST, "the consumer's subscription not latest"
            )
        return sub

    def _message_filter(
        self, h: PullMessageRequestHeader, subscription: SubscriptionData | None
    ) -> ExpressionMessageFilter:
        """Tag codes or the compiled SQL92 selector, plus the retry rule when enabled."""
        sql_filter = self._compile(h, subscription)
        retry = None
        if (
            self.config.filter_support_retry
            and subscription is not None
            and subscription.topic.startswith(RETRY_GROUP_TOPIC_PREFIX)
        ):
            group = subscription.topic[len(RETRY_GROUP_TOPIC_PREFIX) :]
            find = self.consumer_manager.find_subscription
            retry = retry_filter_lookup(group, find, self.sql92_filters)
        return ExpressionMessageFilter(subscription, sql_filter, retry)

    def _compile(
        self, h: PullMessageRequestHeader, subscription: SubscriptionData | None
    ) -> Sql92Filter | None:
        """The SQL92 selector (cached); one that does not parse is refused as RocketMQ does."""
        if subscription is None or subscription.expression_type == EXPRESSION_TAG:
            return None
        try:
            return self.sql92_filters.compile(subscription.expression_type, subscription.sub_string)
        except Sql92ParseError as exc:
            if not h.sys_flag & FLAG_SUBSCRIPTION:  # the heartbeat's selector: no filter data
                raise BrokerError(
                    ResponseCode.FILTER_DATA_NOT_EXIST,
                    "The broker's consumer filter data is not exist!"
                    f"Your expression may be wrong! {exc.message}",
                ) from exc
            raise BrokerError(
                ResponseCode.SUBSCRIPTION_PARSE_FAILED,
                f"parse the consumer's subscription failed: {exc.message}",
            ) from exc

    def _suspend(
        self,
        conn: Connection,
        req: RemotingCommand,
        h: PullMessageRequestHeader,
        message_filter: ExpressionMessageFilter,
        takes_all: bool,
    ) -> None:
        b = self.config
        timeout = h.suspend_timeout_millis if b.long_polling_enable else b.short_polling_time_mills
        matches = None if takes_all else message_filter.is_matched_by_consume_queue
        pull = HeldPull(conn, req, h.queue_offset, matches, h)
        self.hold_service.suspend(h.topic, h.queue_id, pull, timeout)

    @staticmethod
    def _respond(
        req: RemotingCommand,
        code: int,
        remark: str | None,
        next_begin: int,
        low: int,
        high: int,
        body: bytes | None = None,
        suggest_which_broker_id: int = 0,
    ) -> RemotingCommand:
        # PullMessageResponseHeader's extFields written out (its to_ext: ~4 us a pull).
        ext = {
            "suggestWhichBrokerId": str(suggest_which_broker_id),
            "nextBeginOffset": str(next_begin),
            "minOffset": str(low),
            "maxOffset": str(high),
        }
        return req.make_response(code, remark, ext, body)


_Filter = tuple[ExpressionMessageFilter, ExpressionMessageFilter | None]
# Cached pull filters beyond this many are dropped all at once (groups x topics x texts).
_FILTER_CACHE_MAX = 4096


def _takes_all(message_filter: ExpressionMessageFilter) -> bool:
    """True when the filter lets every message through (no tags, SQL92 or retry rule)."""
    return (
        message_filter.codes is None
        and message_filter.sql_filter is None
        and message_filter.retry_filter is None
    )
