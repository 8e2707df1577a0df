"""The broker's statistics, as RocketMQ keeps them: ``StatsItem``/``StatsItemSet`` with their
minute / hour / day windows (``common/stats``), ``BrokerStatsManager``'s named item sets, the
store's get/put rates of ``StoreStatsService`` and the midnight totals of ``BrokerStats``.

The items and their windows are :mod:`rocketq.common.stats`'s (shared with the client's
``ConsumerStatsManager``); they are re-exported here.

Nothing here runs by itself and nothing reads the wall clock directly: the broker calls
:meth:`BrokerStatsManager.tick` every second (one ``TaskOwner.every`` loop) and the clock
is a constructor argument, so tests drive every window with a fake clock.

```
 send ──> on_put(topic, qid, n, bytes) ─> TOPIC_PUT_NUMS/SIZE[topic], BROKER_PUT_NUMS[cluster]
 pull ──> on_get(group, topic, qid, ...) ─> GROUP_GET_NUMS/SIZE[topic@group], BROKER_GET_NUMS,
                                            GROUP_GET_LATENCY[qid@topic@group], found/miss
 back ──> on_send_back(group, topic, ...) ─> SNDBCK_PUT_NUMS[topic@group] (+ delay topic puts)
 delay ─> on_schedule_delivered(level, ...) ─> QUEUE/GROUP_GET of SCHEDULE_CONSUMER, TOPIC_PUT
 tx check, POP ─> on_internal_get(group, topic, ...) ─> GROUP_GET_NUMS/SIZE, BROKER_GET_NUMS
 tick (1 s) ─> StoreStatsService sample; item windows when due; midnight roll
```
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo

from rocketq.common.stats import (
    DAY,
    HOUR,
    MINUTE,
    WINDOWS,
    Clock,
    StatsItem,
    StatsItemSet,
    StatsSnapshot,
    StatsWindows,
    now_ms,
)
from rocketq.common.topic import SCHEDULE_TOPIC

__all__ = [
    "BROKER_GET_FROM_DISK_NUMS",
    "BROKER_GET_FROM_DISK_SIZE",
    "BROKER_GET_NUMS",
    "BROKER_PUT_NUMS",
    "DAY",
    "GROUP_GET_FROM_DISK_NUMS",
    "GROUP_GET_FROM_DISK_SIZE",
    "GROUP_GET_LATENCY",
    "GROUP_GET_NUMS",
    "GROUP_GET_SIZE",
    "HOUR",
    "MINUTE",
    "QUEUE_GET_NUMS",
    "QUEUE_GET_SIZE",
    "QUEUE_PUT_NUMS",
    "QUEUE_PUT_SIZE",
    "SCHEDULE_CONSUMER_GROUP",
    "SNDBCK_PUT_NUMS",
    "STATS_TICK_S",
    "TOPIC_PUT_NUMS",
    "TOPIC_PUT_SIZE",
    "BrokerStatsManager",
    "DailyTotals",
    "StatsItem",
    "StatsItemSet",
    "StatsSnapshot",
    "StatsWindows",
    "StoreStatsService",
    "next_morning_ms",
]

# Stats item names (RocketMQ ``Stats``), the names mqadmin's statsAll and
# VIEW_BROKER_STATS_DATA ask for.
QUEUE_PUT_NUMS = "QUEUE_PUT_NUMS"
QUEUE_PUT_SIZE = "QUEUE_PUT_SIZE"
QUEUE_GET_NUMS = "QUEUE_GET_NUMS"
QUEUE_GET_SIZE = "QUEUE_GET_SIZE"
TOPIC_PUT_NUMS = "TOPIC_PUT_NUMS"
TOPIC_PUT_SIZE = "TOPIC_PUT_SIZE"
GROUP_GET_NUMS = "GROUP_GET_NUMS"
GROUP_GET_SIZE = "GROUP_GET_SIZE"
SNDBCK_PUT_NUMS = "SNDBCK_PUT_NUMS"
BROKER_PUT_NUMS = "BROKER_PUT_NUMS"
BROKER_GET_NUMS = "BROKER_GET_NUMS"
GROUP_GET_FROM_DISK_NUMS = "GROUP_GET_FROM_DISK_NUMS"
GROUP_GET_FROM_DISK_SIZE = "GROUP_GET_FROM_DISK_SIZE"
BROKER_GET_FROM_DISK_NUMS = "BROKER_GET_FROM_DISK_NUMS"
BROKER_GET_FROM_DISK_SIZE = "BROKER_GET_FROM_DISK_SIZE"
GROUP_GET_LATENCY = "GROUP_GET_LATENCY"
COMMERCIAL_SEND_TIMES = "COMMERCIAL_SEND_TIMES"
COMMERCIAL_SNDBCK_TIMES = "COMMERCIAL_SNDBCK_TIMES"
COMMERCIAL_RCV_TIMES = "COMMERCIAL_RCV_TIMES"
COMMERCIAL_RCV_EPOLLS = "COMMERCIAL_RCV_EPOLLS"
COMMERCIAL_SEND_SIZE = "COMMERCIAL_SEND_SIZE"
COMMERCIAL_RCV_SIZE = "COMMERCIAL_RCV_SIZE"
COMMERCIAL_PERM_FAILURES = "COMMERCIAL_PERM_FAILURES"
# MixAll.SCHEDULE_CONSUMER_GROUP: the group the delay service "consumes" SCHEDULE_TOPIC as.
SCHEDULE_CONSUMER_GROUP = "SCHEDULE_CONSUMER"
# Kept, as BrokerStatsManager 4.9.4 keeps them, but counted by nobody there (nor in 5.x):
# GROUP_GET_FROM_DISK_NUMS/SIZE and BROKER_GET_FROM_DISK_NUMS/SIZE, and the COMMERCIAL_*
# sets (only a commercial send/consume hook plug-in counts those). VIEW_BROKER_STATS_DATA
# finds them by name, with no items, as on a Java broker. The GROUP_GET_FALL_SIZE/TIME
# moment items (MomentStatsItemSet) are only logged by Java and are not kept here.
# The sets BrokerStatsManager always keeps (the QUEUE_* four only with enableDetailStat).
_ITEM_SETS = (
    TOPIC_PUT_NUMS, TOPIC_PUT_SIZE, GROUP_GET_NUMS, GROUP_GET_SIZE, GROUP_GET_LATENCY,
    SNDBCK_PUT_NUMS, BROKER_PUT_NUMS, BROKER_GET_NUMS, GROUP_GET_FROM_DISK_NUMS,
    GROUP_GET_FROM_DISK_SIZE, BROKER_GET_FROM_DISK_NUMS, BROKER_GET_FROM_DISK_SIZE,
    COMMERCIAL_SEND_TIMES, COMMERCIAL_RCV_TIMES, COMMERCIAL_SEND_SIZE, COMMERCIAL_RCV_SIZE,
    COMMERCIAL_RCV_EPOLLS, COMMERCIAL_SNDBCK_TIMES, COMMERCIAL_PERM_FAILURES,
)  # fmt: skip
_QUEUE_SETS = (QUEUE_PUT_NUMS, QUEUE_PUT_SIZE, QUEUE_GET_NUMS, QUEUE_GET_SIZE)

# StoreStatsService samples every second (FREQUENCY_OF_SAMPLING) and keeps 10 minutes of
# samples (MAX_RECORDS_OF_SAMPLING + 1); runtime rates are over the last 10, 60, 600 s.
STATS_TICK_S = 1.0
_STORE_SAMPLES = 600 + 1
_RATE_SPANS = (10, 60, 600)


def next_morning_ms(now_ms: int, tz: tzinfo | None = None) -> int:
    """The next midnight after ``now_ms`` (``UtilAll.computeNextMorningTimeMillis``), in
    ``tz`` (None: this machine's local time, as Java's default Calendar)."""
    now = datetime.fromtimestamp(now_ms / 1000, tz)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), now.tzinfo)
    return int(midnight.timestamp() * 1000)


class StoreStatsService:
    """The store's call rates of the runtime info (RocketMQ ``StoreStatsService``): puts
    (read from the store's own counter), gets that found messages, gets that missed, and
    messages transferred; sampled every second, rates over the last 10, 60 and 600 s."""

    def __init__(self, put_total: Callable[[], int]) -> None:
        self.put_total = put_total
        self.get_found = 0  # getMessageTimesTotalFound
        self.get_miss = 0  # getMessageTimesTotalMiss
        self.get_transferred = 0  # getMessageTransferedMsgCount
        # (timestamp ms, puts, found, miss, transferred)
        self._samples: deque[tuple[int, int, int, int, int]] = deque(maxlen=_STORE_SAMPLES)

    def sampling(self, now_ms: int) -> None:
        """Take this second's sample."""
        sample = (now_ms, self.put_total(), self.get_found, self.get_miss, self.get_transferred)
        self._samples.append(sample)

    def _rate(self, column: int, span: int) -> float | None:
        """Per second over the last ``span`` samples; None until there are that many."""
        samples = self._samples
        if len(samples) <= span:
            return None
        before, last = samples[-(span + 1)], samples[-1]
        elapsed = last[0] - before[0]
        return (last[column] - before[column]) * 1000.0 / elapsed if elapsed > 0 else 0.0

    def _rates(self, column: int) -> str:
        """``"r10 r60 r600"``, each empty while too few samples exist (as Java prints)."""
        out = []
        for span in _RATE_SPANS:
            rate = self._rate(column, span)
            out.append("" if rate is None else repr(rate))
        return " ".join(out)

    def runtime_info(self) -> dict[str, str]:
        """``putTps``, ``getFoundTps``, ``getMissTps``, ``getTotalTps``, ``getTransferedTps``."""
        total = []
        for span in _RATE_SPANS:  # found + miss, 0.0 while unknown (getGetTotalTps)
            found, miss = self._rate(2, span), self._rate(3, span)
            total.append(repr((found or 0.0) + (miss or 0.0)))
        return {
            "putTps": self._rates(1),
            "getFoundTps": self._rates(2),
            "getMissTps": self._rates(3),
            "getTotalTps": " ".join(total),
            "getTransferedTps": self._rates(4),
        }


class DailyTotals:
    """Put and get totals at the last two midnights (RocketMQ ``BrokerStats``): the
    "today" and "yesterday" figures of the runtime info and of ``clusterList``."""

    def __init__(self, put_total: Callable[[], int], get_total: Callable[[], int]) -> None:
        self.put_total = put_total
        self.get_total = get_total
        self.put_yesterday_morning = 0
        self.put_today_morning = 0
        self.get_yesterday_morning = 0
        self.get_today_morning = 0

    def record(self) -> None:
        """Midnight: today's morning figures become yesterday's, the totals today's."""
        self.put_yesterday_morning = self.put_today_morning
        self.get_yesterday_morning = self.get_today_morning
        self.put_today_morning = self.put_total()
        self.get_today_morning = self.get_total()

    def runtime_info(self) -> dict[str, str]:
        """``msgPut/GetTotal{YesterdayMorning,TodayMorning,TodayNow}``."""
        return {
            "msgPutTotalYesterdayMorning": str(self.put_yesterday_morning),
            "msgPutTotalTodayMorning": str(self.put_today_morning),
            "msgPutTotalTodayNow": str(self.put_total()),
            "msgGetTotalYesterdayMorning": str(self.get_yesterday_morning),
            "msgGetTotalTodayMorning": str(self.get_today_morning),
            "msgGetTotalTodayNow": str(self.get_total()),
        }


# What a pull counts on: its group's get nums and size, the broker's get nums, and the
# latency item (by group), or the latency items by queue id (enableDetailStat).
_GetItems = tuple[StatsItem, StatsItem, StatsItem, StatsItem | None, dict[int, StatsItem] | None]


class BrokerStatsManager:
    """The broker's stats item sets by name (RocketMQ ``BrokerStatsManager``), plus the
    store rates (:class:`StoreStatsService`) and midnight totals (:class:`DailyTotals`),
    all sampled by :meth:`tick`.

    Keys are RocketMQ's: a topic (TOPIC_PUT_*), ``topic@group`` (GROUP_GET_*,
    SNDBCK_PUT_NUMS), ``queueId@topic@group`` (GROUP_GET_LATENCY with detail stats),
    ``topic@queueId`` (QUEUE_PUT_*), ``topic@queueId@group`` (QUEUE_GET_*), the cluster
    name (BROKER_*). ``clock`` gives epoch milliseconds; ``tz`` is where midnight is (None:
    local time); ``put_total`` is the store's count of stored messages.
    """

    def __init__(
        self,
        cluster_name: str,
        *,
        enable_detail_stat: bool = True,
        put_total: Callable[[], int] | None = None,
        clock: Clock = now_ms,
        tz: tzinfo | None = None,
    ) -> None:
        self.cluster_name = cluster_name
        self.enable_detail_stat = enable_detail_stat
        self.clock = clock
        self.tz = tz
        names = _ITEM_SETS + (_QUEUE_SETS if enable_detail_stat else ())
        self.sets: dict[str, StatsItemSet] = {name: StatsItemSet(name) for name in names}
        self.store_stats = StoreStatsService(put_total or self._broker_put_total)
        self.daily = DailyTotals(self.store_stats.put_total, self._get_transferred)
        # The hot paths' items, found with one lookup: topic -> (nums, size).
        self._put_items: dict[str, tuple[StatsItem, StatsItem]] = {}
        self._get_items: dict[tuple[str, str], _GetItems] = {}
        self._broker_put: StatsItem | None = None  # made by the first put, as in Java
        now = clock()
        self._due = [now, now, now]  # next sampling of each window (Java: at once, then fixed)
        self._next_morning = next_morning_ms(now, tz)

    # -- counting (called on every send and pull) ------------------------------------------

    def on_put(self, topic: str, queue_id: int, nums: int, size: int) -> None:
        """A send stored ``nums`` messages of ``size`` bytes (``incTopicPutNums``,
        ``incTopicPutSize``, ``incBrokerPutNums``; per queue only for the delay topic)."""
        self._count_puts(topic, nums, 1, size)
        if topic == SCHEDULE_TOPIC and self.enable_detail_stat:
            self.inc_queue_put(topic, queue_id, nums, size)

    def on_put_run(self, topic: str, sends: int, size: int) -> None:
        """:meth:`on_put` of ``sends`` one-message sends to ``topic`` (not the delay topic)
        of ``size`` bytes in all, in one call: the counters come out the same."""
        if topic == SCHEDULE_TOPIC:
            raise ValueError("on_put_run counts no delay-topic sends: on_put does, per queue")
        self._count_puts(topic, sends, sends, size)

    def _count_puts(self, topic: str, nums: int, sends: int, size: int) -> None:
        """``sends`` sends of ``nums`` messages and ``size`` bytes in all to ``topic``."""
        items = self._put_items.get(topic)
        if items is None:
            items = self._put_items[topic] = (
                self.sets[TOPIC_PUT_NUMS].get_and_create(topic),
                self.sets[TOPIC_PUT_SIZE].get_and_create(topic),
            )
        put_nums, put_size = items
        put_nums.value += nums
        put_nums.times += sends
        put_size.value += size
        put_size.times += sends
        broker = self._broker_put
        if broker is None:
            broker = self._broker_put = self.sets[BROKER_PUT_NUMS].get_and_create(self.cluster_name)
        broker.value += nums

    def on_get(
        self, group: str, topic: str, queue_id: int, nums: int, size: int, latency_ms: int
    ) -> None:
        """A pull returned ``nums`` messages of ``size`` bytes after ``latency_ms``
        (``incGroupGetNums``, ``incGroupGetSize``, ``incBrokerGetNums``,
        ``incGroupGetLatency``)."""
        items = self._get_items.get((topic, group))
        if items is None or (items[4] is not None) != self.enable_detail_stat:
            items = self._get_items_of(topic, group)
        get_nums, get_size, broker, latency, by_queue = items
        get_nums.value += nums
        get_nums.times += 1
        get_size.value += size
        get_size.times += 1
        broker.value += nums
        if by_queue is not None:  # the latency by queue (enableDetailStat)
            latency = by_queue.get(queue_id)
            if latency is None:
                latency = by_queue[queue_id] = self.sets[GROUP_GET_LATENCY].get_and_create(
                    f"{queue_id}@{topic}@{group}"
                )
        if latency is not None:
            latency.value += latency_ms
            latency.times += 1

    def _get_items_of(self, topic: str, group: str) -> _GetItems:
        """The items one pull of ``group`` on ``topic`` counts on, made on first use (the
        latency's by queue with detail stats, each at its queue's first pull) and kept
        until a topic or group is deleted."""
        key = f"{topic}@{group}"
        latency: StatsItem | None = None
        by_queue: dict[int, StatsItem] | None = None
        if self.enable_detail_stat:
            by_queue = {}
        else:
            latency = self.sets[GROUP_GET_LATENCY].get_and_create(key)
        items = self._get_items[(topic, group)] = (
            self.sets[GROUP_GET_NUMS].get_and_create(key),
            self.sets[GROUP_GET_SIZE].get_and_create(key),
            self.sets[BROKER_GET_NUMS].get_and_create(self.cluster_name),
            latency,
            by_queue,
        )
        return items

    def on_store_get(self, found: bool, nums: int) -> None:
        """A store read (``getMessage``) found messages or not; ``nums`` were transferred."""
        store = self.store_stats
        if found:
            store.get_found += 1
        else:
            store.get_miss += 1
        store.get_transferred += nums

    def on_send_back(
        self, group: str, topic: str, stored_topic: str, size: int, queue_id: int = 0
    ) -> None:
        """A consumer sent a message of ``topic`` back (``incSendBackNums``); stored in the
        delay topic (queue ``queue_id``) it counts there too, per topic and per queue, as
        ``SendMessageProcessor#consumerSendMsgBack`` does."""
        self.sets[SNDBCK_PUT_NUMS].add_value(f"{topic}@{group}", 1)
        if stored_topic == SCHEDULE_TOPIC:
            self.sets[TOPIC_PUT_NUMS].add_value(stored_topic, 1)
            self.sets[TOPIC_PUT_SIZE].add_value(stored_topic, size)
            self.inc_queue_put(stored_topic, queue_id, 1, size)

    def on_internal_get(self, group: str, topic: str, nums: int, size: int) -> None:
        """The broker read messages for itself: half messages for a transaction check
        (``TransactionalMessageBridge#getHalfMessage``), delay-topic messages for delivery
        (``ScheduleMessageService``), POP reads. ``incGroupGetNums``, ``incGroupGetSize``,
        ``incBrokerGetNums``; no latency (no client waits)."""
        key = f"{topic}@{group}"
        self.sets[GROUP_GET_NUMS].add_value(key, nums)
        self.sets[GROUP_GET_SIZE].add_value(key, size)
        self.sets[BROKER_GET_NUMS].get_and_create(self.cluster_name).value += nums

    def on_schedule_delivered(self, delay_level: int, topic: str, nums: int, size: int) -> None:
        """The delay service moved ``nums`` messages (``size`` bytes) of ``delay_level`` to
        their real ``topic`` (``DeliverDelayedMessageTimerTask``): a get of the schedule
        group from SCHEDULE_TOPIC queue ``delay_level - 1``, and a put to ``topic``."""
        queue_id = delay_level - 1
        self.inc_queue_get(SCHEDULE_CONSUMER_GROUP, SCHEDULE_TOPIC, queue_id, nums, size)
        self.on_internal_get(SCHEDULE_CONSUMER_GROUP, SCHEDULE_TOPIC, nums, size)
        self.sets[TOPIC_PUT_NUMS].add_value(topic, nums)
        self.sets[TOPIC_PUT_SIZE].add_value(topic, size)
        broker = self._broker_put
        if broker is None:
            broker = self._broker_put = self.sets[BROKER_PUT_NUMS].get_and_create(self.cluster_name)
        broker.value += nums

    def inc_queue_put(self, topic: str, queue_id: int, nums: int, size: int) -> None:
        """``incQueuePutNums`` / ``incQueuePutSize`` (kept with ``enableDetailStat``)."""
        if self.enable_detail_stat:
            key = f"{topic}@{queue_id}"
            self.sets[QUEUE_PUT_NUMS].add_value(key, nums)
            self.sets[QUEUE_PUT_SIZE].add_value(key, size)

    def inc_queue_get(self, group: str, topic: str, queue_id: int, nums: int, size: int) -> None:
        """``incQueueGetNums`` / ``incQueueGetSize`` (kept with ``enableDetailStat``)."""
        if self.enable_detail_stat:
            key = f"{topic}@{queue_id}@{group}"
            self.sets[QUEUE_GET_NUMS].add_value(key, nums)
            self.sets[QUEUE_GET_SIZE].add_value(key, size)

    # -- reading ----------------------------------------------------------------------------

    def get_stats_item(self, stats_name: str, stats_key: str) -> StatsItem | None:
        """The item, or None for an unknown name or key (``getStatsItem``)."""
        item_set = self.sets.get(stats_name)
        return item_set.get(stats_key) if item_set is not None else None

    def stats_item(self, name: str, key: str) -> StatsWindows | None:
        """The item's three windows (VIEW_BROKER_STATS_DATA), or None."""
        item = self.get_stats_item(name, key)
        return item.windows() if item is not None else None

    def tps_group_get_nums(self, group: str, topic: str) -> float:
        """Messages a group pulled from a topic per second, over the last minute (the
        ``consumeTps`` of ConsumeStats)."""
        return self.sets[GROUP_GET_NUMS].snapshot(f"{topic}@{group}", MINUTE).tps

    def runtime_info(self) -> dict[str, str]:
        """The rate and total keys of GET_BROKER_RUNTIME_INFO."""
        return {**self.store_stats.runtime_info(), **self.daily.runtime_info()}

    def _broker_put_total(self) -> int:
        item = self.sets[BROKER_PUT_NUMS].get(self.cluster_name)
        return item.value if item is not None else 0

    def _get_transferred(self) -> int:
        return self.store_stats.get_transferred

    # -- deletion ---------------------------------------------------------------------------

    def on_topic_deleted(self, topic: str) -> None:
        """Forget a deleted topic's items (``onTopicDeleted``)."""
        prefix, infix = f"{topic}@", f"@{topic}@"
        for name in (TOPIC_PUT_NUMS, TOPIC_PUT_SIZE):
            self.sets[name].delete_where(lambda k: k == topic)
        for name in (GROUP_GET_NUMS, GROUP_GET_SIZE, SNDBCK_PUT_NUMS, *_QUEUE_SETS):
            if name in self.sets:
                self.sets[name].delete_where(lambda k: k.startswith(prefix))
        self.sets[GROUP_GET_LATENCY].delete_where(lambda k: infix in k or k.startswith(prefix))
        self._forget_cached()

    def on_group_deleted(self, group: str) -> None:
        """Forget a deleted group's items (``onGroupDeleted``)."""
        suffix = f"@{group}"
        names = (GROUP_GET_NUMS, GROUP_GET_SIZE, SNDBCK_PUT_NUMS, GROUP_GET_LATENCY)
        for name in (*names, QUEUE_GET_NUMS, QUEUE_GET_SIZE):
            if name in self.sets:
                self.sets[name].delete_where(lambda k: k.endswith(suffix))
        self._forget_cached()

    def _forget_cached(self) -> None:
        self._put_items.clear()
        self._get_items.clear()

    # -- sampling ---------------------------------------------------------------------------

    def sample(self, window: int, now_ms: int | None = None) -> None:
        """Sample ``window`` of every item now (what :meth:`tick` does when it is due)."""
        now = self.clock() if now_ms is None else now_ms
        for item_set in self.sets.values():
            item_set.sample(window, now)

    def tick(self) -> None:
        """Called every :data:`STATS_TICK_S`: the store's per-second sample, each item
        window whose period has passed, and the totals at midnight."""
        now = self.clock()
        self.store_stats.sampling(now)
        for window, (period, _) in enumerate(WINDOWS):
            due = self._due[window]
            if now >= due:
                self.sample(window, now)
                due += period
                self._due[window] = due if due > now else now + period  # at a fixed rate
        if now >= self._next_morning:
            self.daily.record()
            self._next_morning = next_morning_ms(now, self.tz)
