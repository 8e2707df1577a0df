"""``AsyncSimpleConsumer`` and its blocking ``SimpleConsumer``: RocketMQ 5's SimpleConsumer
(``receive`` / ``ack`` / ``change_invisible_duration``) over remoting POP, as a Java 5
client in pop mode speaks it (``MQClientAPIImpl#popMessageAsync``, ``ackMessageAsync``,
``changeInvisibleTimeAsync``):

* ``receive(max_messages, invisible_duration)`` pops up to ``max_messages`` of one
  subscribed topic from one of its brokers (topics and brokers in turn; every queue of
  the broker, ``queueId`` -1), long polling up to ``await_duration`` seconds. The messages
  are invisible to the group for ``invisible_duration`` seconds; one not acked by then is
  delivered again with ``delivery_attempt`` one higher.
* ``ack(message)`` consumes it for good; ``change_invisible_duration(message, seconds)``
  makes it invisible for that long from now and renews its receipt handle.

The receipt handle is the message's ``POP_CK`` (``ExtraInfoUtil``: ``startOffset popTime
invisibleTime reviveQid topicType brokerName queueId queueOffset``), built from the pop
response's ``startOffsetInfo``/``msgOffsetInfo`` when the broker did not set it (as Apache
brokers do not). Offsets are the broker's business: the consumer keeps none.

Example::

    async with AsyncSimpleConsumer("group", "127.0.0.1:9876", {"TopicTest": "*"}) as c:
        for msg in await c.receive(16, invisible_duration=30):
            handle(msg.body)
            await c.ack(msg)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from rocketq.client.background import BackgroundLoop, Facade
from rocketq.client.config import ClientConfig
from rocketq.client.instance import MQClientInstance, member_instance
from rocketq.client.message import MessageExt, MessageQueue
from rocketq.common.errors import BrokerError, ClientError, RemotingError
from rocketq.common.lifecycle import AsyncLifecycle
from rocketq.common.record import MessageRecord, decode_records
from rocketq.common.tasks import TaskOwner
from rocketq.common.topic import PERM_READ, RETRY_GROUP_TOPIC_PREFIX
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.headers.pop import (
    AckMessageRequestHeader,
    ChangeInvisibleTimeRequestHeader,
    ChangeInvisibleTimeResponseHeader,
    PopMessageRequestHeader,
    PopMessageResponseHeader,
)
from rocketq.remoting.heartbeat import (
    EXPRESSION_TAG,
    ConsumerData,
    SubscriptionData,
    build_subscription,
)

__all__ = ["AsyncSimpleConsumer", "ReceivedMessage", "SimpleConsumer"]

log = logging.getLogger("rocketq.client")

# rocketmq-python-client's SimpleConsumer: a receive waits up to 20 s for messages.
DEFAULT_AWAIT_DURATION_S = 20.0
# PopMessageProcessor refuses more than 32 messages per pop.
MAX_RECEIVE_MESSAGES = 32
# ConsumeInitMode.MAX: a group's first pop of a queue starts at its end (LAST_OFFSET).
INIT_MODE_MAX = 1
# The answer of a long-polled pop may come this long after the polling ends.
POP_TIMEOUT_MARGIN_S = 3.0
# MessageConst.PROPERTY_POP_CK: the receipt handle.
POP_CK = "POP_CK"
# ExtraInfoUtil: the handle's fields and the topic types (normal, pop retry V1 and V2).
_HANDLE_FIELDS = 8
_RETRY_SEPARATORS = {"1": "_", "2": "+"}
# Pop answers that mean "nothing now" (PopStatus POLLING_FULL / POLLING_NOT_FOUND).
_NOTHING = frozenset(
    {ResponseCode.POLLING_FULL, ResponseCode.POLLING_TIMEOUT, ResponseCode.PULL_NOT_FOUND}
)


@dataclass(slots=True)
class ReceivedMessage:
    """A message a SimpleConsumer received: the message (its ``topic`` is the subscribed
    one, also for a redelivery), which delivery it is (1, 2, ...) and the receipt handle
    that acks it, renewed by ``change_invisible_duration``."""

    message: MessageExt
    receipt_handle: str
    delivery_attempt: int
    broker_addr: str

    @property
    def topic(self) -> str:
        """The subscribed topic."""
        return self.message.topic

    @property
    def body(self) -> bytes:
        """The body."""
        return self.message.body

    @property
    def tags(self) -> str | None:
        """The tag."""
        return self.message.tags

    @property
    def keys(self) -> str | None:
        """The keys (space separated)."""
        return self.message.keys

    @property
    def msg_id(self) -> str:
        """The message id (UNIQ_KEY)."""
        return self.message.msg_id

    @property
    def properties(self) -> dict[str, str]:
        """The user properties."""
        return self.message.user_properties


def _handle_fields(handle: str) -> list[str]:
    parts = handle.split(" ")
    if len(parts) < _HANDLE_FIELDS:
        raise ClientError(f"not a receipt handle: {handle!r}")
    return parts


def _real_topic(topic: str, group: str, topic_type: str) -> str:
    """``ExtraInfoUtil.getRealTopic``: the topic the message was popped from."""
    separator = _RETRY_SEPARATORS.get(topic_type)
    return topic if separator is None else f"{RETRY_GROUP_TOPIC_PREFIX}{group}{separator}{topic}"


def _topic_type(topic: str) -> str:
    """``ExtraInfoUtil.getRetry``: 0 normal, 1 / 2 a pop retry topic (V1 / V2 name)."""
    if not topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
        return "0"
    return "2" if "+" in topic else "1"


def _handles(
    records: list[MessageRecord], header: PopMessageResponseHeader, broker: str
) -> list[str]:
    """Each record's ``POP_CK``; built as ``MQClientAPIImpl#processPopResponse`` does when
    the broker did not put it in (the n-th offset of a queue in ``msgOffsetInfo`` is the
    n-th of its records by queue offset)."""
    starts: dict[str, int] = {}
    offsets: dict[str, list[int]] = {}
    for entry in filter(None, (header.start_offset_info or "").split(";")):
        kind, queue, start = entry.split(" ")
        starts[f"{kind}@{queue}"] = int(start)
    for entry in filter(None, (header.msg_offset_info or "").split(";")):
        kind, queue, listed = entry.split(" ")
        offsets[f"{kind}@{queue}"] = [int(o) for o in listed.split(",")]
    by_key: dict[str, list[int]] = {}
    for r in records:
        by_key.setdefault(f"{_topic_type(r.topic)}@{r.queue_id}", []).append(r.queue_offset)
    out = []
    for r in records:
        props = r.properties_map()
        if POP_CK in props:
            out.append(props[POP_CK])
            continue
        kind = _topic_type(r.topic)
        key = f"{kind}@{r.queue_id}"
        index = sorted(by_key[key]).index(r.queue_offset)
        offset = offsets[key][index]
        out.append(f"{starts[key]} {header.pop_time} {header.invisible_time} "
                   f"{header.revive_qid} {kind} {broker} {r.queue_id} {offset}")  # fmt: skip
    return out


class AsyncSimpleConsumer(AsyncLifecycle):
    """RocketMQ 5's SimpleConsumer over remoting POP (see the module docstring).

    ``subscriptions`` maps topic -> tag expression (``"*"``, ``"TagA || TagB"``);
    ``await_duration`` is how long one receive waits for messages (seconds)."""

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        subscriptions: Mapping[str, str] | None = None,
        *,
        await_duration: float = DEFAULT_AWAIT_DURATION_S,
        client_config: ClientConfig | None = None,
        instance: MQClientInstance | None = None,
    ) -> None:
        self.group = group
        self.await_duration = await_duration
        self.subscriptions: dict[str, SubscriptionData] = {}
        for topic, expression in (subscriptions or {}).items():
            self.subscribe(topic, expression)
        self.instance, self._own_instance = member_instance(namesrv_addr, client_config, instance)
        self._next_topic = 0
        self._next_broker: dict[str, int] = {}
        self._tasks: TaskOwner | None = None  # not None once started, closed at the end

    @property
    def _started(self) -> bool:
        return self._tasks is not None and not self._tasks.closed

    def subscribe(
        self, topic: str, expression: str = "*", expression_type: str = EXPRESSION_TAG
    ) -> None:
        """Receive ``topic``'s messages that match ``expression`` (TAG or SQL92)."""
        self.subscriptions[topic] = build_subscription(topic, expression, expression_type)

    def unsubscribe(self, topic: str) -> None:
        """Stop receiving ``topic``."""
        self.subscriptions.pop(topic, None)

    async def start(self) -> None:
        """Join the group on every broker of the subscribed topics."""
        if self._started:
            return
        self.instance.register_consumer(self)
        await self.instance.start()
        self._tasks = TaskOwner(log)
        for topic in sorted(self.subscriptions):
            await self.instance.update_topic_route(topic)
        await self.instance.send_heartbeat_to_all_brokers()

    async def aclose(self) -> None:
        """Leave the group. Messages received and not acked come back to the group after
        their invisible time."""
        tasks = self._tasks
        if tasks is None or tasks.closed:
            return
        await tasks.aclose()
        await self.instance.unregister(consumer_group=self.group)
        if self._own_instance:
            await self.instance.aclose()

    # -- receive ----------------------------------------------------------------------------

    async def receive(self, max_messages: int, invisible_duration: float) -> list[ReceivedMessage]:
        """Up to ``max_messages`` (1..32) messages, invisible to the group for
        ``invisible_duration`` seconds; [] when none came within ``await_duration``."""
        if not self._started:
            raise ClientError("the consumer is not started: call start() or use 'async with'")
        if not 0 < max_messages <= MAX_RECEIVE_MESSAGES:
            raise ClientError(f"max_messages must be 1..{MAX_RECEIVE_MESSAGES}, not {max_messages}")
        if invisible_duration <= 0:
            raise ClientError(f"invisible_duration must be > 0, not {invisible_duration}")
        if not self.subscriptions:
            raise ClientError("subscribe to a topic before receiving")
        topics = sorted(self.subscriptions)
        topic = topics[self._next_topic % len(topics)]
        self._next_topic += 1
        mq = await self._select_broker(topic)
        return await self._pop(mq, max_messages, int(invisible_duration * 1000))

    async def _select_broker(self, topic: str) -> MessageQueue:
        """The next broker (in turn) with readable queues of ``topic`` and a master."""
        brokers = self._brokers(topic)
        if not brokers:
            await self.instance.update_topic_route(topic)
            brokers = self._brokers(topic)
        if not brokers:
            raise ClientError(f"no broker serves topic {topic!r} (no route or no readable queue)")
        turn = self._next_broker.get(topic, 0)
        self._next_broker[topic] = turn + 1
        return MessageQueue(topic, brokers[turn % len(brokers)], -1)

    def _brokers(self, topic: str) -> list[str]:
        route = self.instance.route_table.get(topic)
        if route is None:
            return []
        names = {
            q.broker_name for q in route.queue_datas if q.perm & PERM_READ and q.read_queue_nums
        }
        return sorted(n for n in names if self.instance.find_broker_addr_master(n))

    async def _pop(
        self, mq: MessageQueue, max_messages: int, invisible_ms: int
    ) -> list[ReceivedMessage]:
        addr = self.instance.find_broker_addr_master(mq.broker_name)
        if addr is None:
            return []
        sub = self.subscriptions[mq.topic]
        poll_ms = int(self.await_duration * 1000)
        header = PopMessageRequestHeader(
            consumer_group=self.group, topic=mq.topic, queue_id=mq.queue_id,
            max_msg_nums=max_messages, invisible_time=invisible_ms, poll_time=poll_ms,
            born_time=int(time.time() * 1000), init_mode=INIT_MODE_MAX,
            exp_type=sub.expression_type, exp=sub.sub_string,
        )  # fmt: skip
        cmd = RemotingCommand.request(RequestCode.POP_MESSAGE, header.to_ext())
        try:
            resp = await self.instance.remoting.invoke(
                addr, cmd, poll_ms / 1000 + POP_TIMEOUT_MARGIN_S
            )
        except RemotingError as exc:
            self.instance.note_broker_failure(mq.topic, exc)
            raise
        if resp.code in _NOTHING:
            return []
        if resp.code != ResponseCode.SUCCESS:
            raise BrokerError(resp.code, resp.remark)
        return await self._received(mq, addr, resp)

    async def _received(
        self, mq: MessageQueue, addr: str, resp: RemotingCommand
    ) -> list[ReceivedMessage]:
        records = decode_records(resp.body or b"")
        header = PopMessageResponseHeader.from_ext(resp.ext_fields)
        handles = _handles(records, header, mq.broker_name)
        sub = self.subscriptions.get(mq.topic)
        out = []
        for record, handle in zip(records, handles, strict=True):
            message = MessageExt.from_record(record, mq.broker_name)
            message.topic = mq.topic
            message.properties[POP_CK] = handle
            received = ReceivedMessage(message, handle, record.reconsume_times + 1, addr)
            if sub is not None and not _matches(sub, message.tags):
                await self.ack(received)  # a tag-hash collision: not ours (as Java drops it)
                continue
            out.append(received)
        return out

    # -- ack and change invisible duration --------------------------------------------------

    async def ack(self, message: ReceivedMessage) -> None:
        """Consume ``message`` for good (``BrokerError`` when the broker refuses)."""
        parts = _handle_fields(message.receipt_handle)
        header = AckMessageRequestHeader(
            consumer_group=self.group,
            topic=_real_topic(message.topic, self.group, parts[4]),
            queue_id=int(parts[6]),
            extra_info=message.receipt_handle,
            offset=int(parts[7]),
        )
        cmd = RemotingCommand.request(RequestCode.ACK_MESSAGE, header.to_ext())
        await self.instance.api.request(message.broker_addr, cmd)

    async def change_invisible_duration(
        self, message: ReceivedMessage, duration: float
    ) -> ReceivedMessage:
        """Make ``message`` invisible for ``duration`` seconds from now; its receipt handle
        is renewed in place (the old one no longer acks it). Returns ``message``."""
        if duration <= 0:
            raise ClientError(f"duration must be > 0, not {duration}")
        parts = _handle_fields(message.receipt_handle)
        queue_id, offset = int(parts[6]), int(parts[7])
        header = ChangeInvisibleTimeRequestHeader(
            consumer_group=self.group,
            topic=_real_topic(message.topic, self.group, parts[4]),
            queue_id=queue_id,
            extra_info=message.receipt_handle,
            offset=offset,
            invisible_time=int(duration * 1000),
        )
        cmd = RemotingCommand.request(RequestCode.CHANGE_MESSAGE_INVISIBLETIME, header.to_ext())
        resp = await self.instance.api.request(message.broker_addr, cmd)
        new = ChangeInvisibleTimeResponseHeader.from_ext(resp.ext_fields)
        # MQClientAPIImpl#changeInvisibleTimeAsync: the new checkpoint starts at the message
        message.receipt_handle = (f"{offset} {new.pop_time} {new.invisible_time} {new.revive_qid} "
                                  f"{parts[4]} {parts[5]} {queue_id} {offset}")  # fmt: skip
        message.message.properties[POP_CK] = message.receipt_handle
        return message

    # -- client instance member -------------------------------------------------------------

    def subscribed_topics(self) -> set[str]:
        """Topics whose routes the instance keeps fresh."""
        return set(self.subscriptions)

    def consumer_data(self) -> ConsumerData:
        """This group in a heartbeat: a POP consumer (``CONSUME_POP``)."""
        return ConsumerData(
            group_name=self.group,
            consume_type="CONSUME_POP",
            message_model="CLUSTERING",
            consume_from_where="CONSUME_FROM_LAST_OFFSET",
            subscription_data_set=[self.subscriptions[t] for t in sorted(self.subscriptions)],
        )

    def update_subscribe_info(self, topic: str, mqs: set[MessageQueue]) -> None:
        """Receives read the instance's routes: nothing is kept."""

    async def do_rebalance(self) -> None:
        """A pop consumer reads every queue: nothing to rebalance."""

    async def persist_offsets(self) -> None:
        """The broker keeps a pop group's offsets: nothing to persist."""

    async def reset_offset(self, topic: str, offsets: dict[MessageQueue, int]) -> None:
        """The broker moves a pop group's offsets itself: nothing to do here."""


def _matches(sub: SubscriptionData, tags: str | None) -> bool:
    """Tag check on arrival (the broker filters by tag hash code, which may collide)."""
    if sub.expression_type != EXPRESSION_TAG or sub.matches_all:
        return True
    return tags is not None and tags in sub.tags_set


class SimpleConsumer(Facade):
    """Blocking ``AsyncSimpleConsumer``: ``receive``, ``ack``, ``change_invisible_duration``."""

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        subscriptions: Mapping[str, str] | None = None,
        *,
        await_duration: float = DEFAULT_AWAIT_DURATION_S,
        client_config: ClientConfig | None = None,
        loop: BackgroundLoop | None = None,
    ) -> None:
        self._runner = loop or BackgroundLoop.default()
        self._core: AsyncSimpleConsumer = self._runner.call(
            lambda: AsyncSimpleConsumer(
                group,
                namesrv_addr,
                subscriptions,
                await_duration=await_duration,
                client_config=client_config,
            )
        )

    @property
    def core(self) -> AsyncSimpleConsumer:
        """The asyncio consumer underneath."""
        return self._core

    def subscribe(
        self, topic: str, expression: str = "*", expression_type: str = EXPRESSION_TAG
    ) -> None:
        """Receive ``topic``'s messages that match ``expression``."""
        self._runner.call(lambda: self._core.subscribe(topic, expression, expression_type))

    def unsubscribe(self, topic: str) -> None:
        """Stop receiving ``topic``."""
        self._runner.call(lambda: self._core.unsubscribe(topic))

    def receive(self, max_messages: int, invisible_duration: float) -> list[ReceivedMessage]:
        """Up to ``max_messages`` messages, invisible for ``invisible_duration`` seconds."""
        return self._runner.run(self._core.receive(max_messages, invisible_duration))

    def ack(self, message: ReceivedMessage) -> None:
        """Consume ``message`` for good."""
        self._runner.run(self._core.ack(message))

    def change_invisible_duration(
        self, message: ReceivedMessage, duration: float
    ) -> ReceivedMessage:
        """Invisible for ``duration`` seconds from now; the handle is renewed in place."""
        return self._runner.run(self._core.change_invisible_duration(message, duration))
