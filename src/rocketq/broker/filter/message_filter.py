"""What a pull returns: RocketMQ's ``ExpressionMessageFilter`` and
``ExpressionForRetryMessageFilter`` (``broker/.../filter/``) as one class.

* TAG subscriptions are decided on the ConsumeQueue entry alone (the tag hash against the
  subscription's code set); the stored record is never looked at.
* SQL92 subscriptions pass every ConsumeQueue entry (RocketMQ's bloom-filter bit map, off
  by default, is not implemented) and are decided on the record's properties.
* With ``filterSupportRetry`` a ``%RETRY%<group>`` subscription (always TAG ``*``) filters
  each retried message with the SQL92 selector its group registered for the message's
  original topic (property ``RETRY_TOPIC``), so a retry never reaches a consumer that would
  not have received the original.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

from rocketq.broker.filter.sql92 import Sql92Filter, Sql92ParseError, compile_sql92
from rocketq.common.message import MessageConst, decode_properties
from rocketq.common.record import RecordFormatError, decode_record
from rocketq.common.topic import RETRY_GROUP_TOPIC_PREFIX
from rocketq.remoting.heartbeat import EXPRESSION_SQL92, EXPRESSION_TAG, SubscriptionData

__all__ = [
    "DEFAULT_FILTER_CACHE_SIZE",
    "ExpressionMessageFilter",
    "RetryFilterLookup",
    "Sql92FilterCache",
    "retry_filter_lookup",
]

log = logging.getLogger("rocketq.broker")

# SelectorParser keeps this many parsed selectors (Guava cache maximumSize(100)); a
# consumer group has one selector per topic, so this covers many groups.
DEFAULT_FILTER_CACHE_SIZE = 100

# Original topic of a retried message -> the SQL92 filter its group uses there, if any.
RetryFilterLookup = Callable[[str], Sql92Filter | None]
FindSubscription = Callable[[str, str], SubscriptionData | None]


class Sql92FilterCache:
    """Compiled selectors by text, least recently used dropped first; failures are
    remembered too (as ``SelectorParser.PARSE_CACHE`` does), so a bad selector that a
    consumer keeps pulling with is parsed once."""

    def __init__(self, capacity: int = DEFAULT_FILTER_CACHE_SIZE) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, Sql92Filter | Sql92ParseError] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, expression: str) -> Sql92Filter:
        """The compiled selector; raises :class:`Sql92ParseError` when it does not parse."""
        entry = self._entries.get(expression)
        if entry is None:
            try:
                entry = compile_sql92(expression)
            except Sql92ParseError as exc:
                entry = exc
            self._entries[expression] = entry
            if len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(expression)
        if isinstance(entry, Sql92ParseError):
            raise entry
        return entry

    def compile(self, expression_type: str, expression: str) -> Sql92Filter:
        """``FilterFactory.get(type).compile(expression)``: only SQL92 is known."""
        if expression_type != EXPRESSION_SQL92:
            raise Sql92ParseError(f"unknown expression type {expression_type!r}")
        return self.get(expression)


def retry_filter_lookup(
    group: str, find_subscription: FindSubscription, cache: Sql92FilterCache
) -> RetryFilterLookup:
    """``ConsumerFilterManager#get(realTopic, group)``: the group's SQL92 filter on a topic."""

    def lookup(topic: str) -> Sql92Filter | None:
        sub = find_subscription(group, topic)
        if sub is None or sub.expression_type != EXPRESSION_SQL92:
            return None
        try:
            return cache.get(sub.sub_string)
        except Sql92ParseError:
            return None  # RocketMQ keeps no filter data for a selector that did not compile

    return lookup


class ExpressionMessageFilter:
    """The store's ``MessageFilter`` for one pull.

    ``sql_filter`` is the compiled selector of a SQL92 ``subscription``; ``retry_filter``
    is given only when the broker has ``filterSupportRetry``.
    """

    def __init__(
        self,
        subscription: SubscriptionData | None,
        sql_filter: Sql92Filter | None = None,
        retry_filter: RetryFilterLookup | None = None,
    ) -> None:
        self.codes: frozenset[int] | None = None
        self.sql_filter: Sql92Filter | None = None
        self.retry_filter: RetryFilterLookup | None = None
        if subscription is None or subscription.class_filter_mode:
            return
        if subscription.expression_type == EXPRESSION_TAG and not subscription.matches_all:
            self.codes = frozenset(subscription.code_set)
        if subscription.expression_type != EXPRESSION_TAG:
            self.sql_filter = sql_filter
        if subscription.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            self.retry_filter = retry_filter

    def is_matched_by_consume_queue(self, tags_code: int | None) -> bool:
        """True unless the subscription names tags and this hash is none of them."""
        return self.codes is None or tags_code is None or tags_code in self.codes

    def is_matched_by_commit_log(self, record: memoryview) -> bool:
        """The SQL92 selector (own, or the original topic's for a retry) on the properties."""
        if self.sql_filter is None and self.retry_filter is None:
            return True
        properties = _record_properties(record)
        if properties is None:
            return False
        sql_filter = self.sql_filter
        if self.retry_filter is not None:
            real_topic = properties.get(MessageConst.RETRY_TOPIC)
            sql_filter = self.retry_filter(real_topic) if real_topic else None
        return sql_filter is None or sql_filter.matches(properties)


def _record_properties(record: memoryview) -> dict[str, str] | None:
    try:
        return decode_properties(decode_record(record).properties)
    except RecordFormatError as exc:
        log.warning("cannot read the properties of a stored record: %s", exc)
        return None
