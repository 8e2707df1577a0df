"""Writing message traces off the send and consume paths (RocketMQ ``AsyncTraceDispatcher``,
``SendMessageTraceHookImpl``, ``EndTransactionTraceHookImpl``, ``ConsumeMessageTraceHookImpl``).

A producer or push consumer with ``enable_msg_trace`` gets a :class:`TraceDispatcher`.
Its hooks (:meth:`~TraceDispatcher.on_sent`, :meth:`~TraceDispatcher.on_end_transaction`,
:meth:`~TraceDispatcher.consume_before`, :meth:`~TraceDispatcher.consume_after`) only
build a record and queue it, never wait; a bounded queue drops records (counted) rather
than slow the client. A background loop gathers what arrives within ``wait_threshold`` of
the first record, encodes it into trace messages of at most ``max_msg_size`` characters
and sends them with an inner producer (group ``_INNER_TRACE_PRODUCER-<group>-<type>``) of
the same client instance.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rocketq.client.config import ProducerConfig
from rocketq.client.message import Message, MessageExt, SendResult, SendStatus
from rocketq.client.namespace import without_namespace
from rocketq.client.trace import (
    ConsumeReturnType,
    MessageType,
    TraceBean,
    TraceContext,
    TraceType,
    encode_trace_context,
)
from rocketq.common.errors import RocketQError
from rocketq.common.message import MessageConst
from rocketq.common.tasks import TaskOwner
from rocketq.common.topic import TRACE_TOPIC

if TYPE_CHECKING:
    import asyncio

    from rocketq.client.instance import MQClientInstance
    from rocketq.client.producer import AsyncProducer

__all__ = ["TraceDispatcher"]

log = logging.getLogger("rocketq.client")

# TraceConstants.GROUP_NAME_PREFIX: the inner producer's group.
GROUP_NAME_PREFIX = "_INNER_TRACE_PRODUCER"
# AsyncTraceDispatcher: at most 1024 records wait; a trace message holds at most
# 128000 - 10000 characters; records are sent 500 ms after the first of a batch came.
QUEUE_SIZE = 1024
MAX_MSG_SIZE = 128_000 - 10_000
WAIT_THRESHOLD_S = 0.5
# MixAll.DEFAULT_TRACE_REGION_ID: the region of a record whose message names none.
DEFAULT_TRACE_REGION_ID = "DefaultRegion"
# The inner producer's sendMsgTimeout (5 s in Java).
SEND_TIMEOUT_MS = 5000
# At close, the last records get this long to be sent.
CLOSE_GRACE_S = 5.0


class TraceDispatcher:
    """Queues trace records and sends them in batches to the trace topic."""

    def __init__(
        self,
        producer: AsyncProducer,
        trace_topic: str = TRACE_TOPIC,
        *,
        namespace: str = "",
        queue_size: int = QUEUE_SIZE,
        max_msg_size: int = MAX_MSG_SIZE,
        wait_threshold: float = WAIT_THRESHOLD_S,
    ) -> None:
        self.producer = producer
        self.trace_topic = trace_topic or TRACE_TOPIC
        self.namespace = namespace
        self.queue_size = queue_size
        self.max_msg_size = max_msg_size
        self.wait_threshold = wait_threshold
        self.discarded = 0
        self._pending: deque[TraceContext] = deque()
        self._tasks: TaskOwner | None = None
        self._wake: asyncio.Event | None = None

    @classmethod
    def for_member(
        cls, instance: MQClientInstance, group: str, kind: str, trace_topic: str = ""
    ) -> TraceDispatcher:
        """The dispatcher of a producer or consumer (``kind``: PRODUCER or CONSUMER) on
        ``instance``, with its inner producer."""
        from rocketq.client.producer import AsyncProducer

        name = f"{GROUP_NAME_PREFIX}-{group}-{kind}"
        n = 1
        while (name if n == 1 else f"{name}-{n}") in instance.producers:
            n += 1
        config = ProducerConfig(send_msg_timeout=SEND_TIMEOUT_MS, max_message_size=MAX_MSG_SIZE)
        producer = AsyncProducer(
            name if n == 1 else f"{name}-{n}", config=config, instance=instance
        )
        return cls(producer, trace_topic, namespace=instance.config.namespace)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the inner producer and the sending loop."""
        import asyncio

        await self.producer.start()
        self._wake = asyncio.Event()
        self._tasks = TaskOwner(log)
        self._tasks.spawn(self._run(), f"trace-{self.producer.group}")

    async def aclose(self) -> None:
        """Send what is queued (waiting up to CLOSE_GRACE_S), then stop."""
        if self._tasks is None or self._tasks.closed:
            return
        await self._tasks.aclose(grace=CLOSE_GRACE_S)
        await self.producer.aclose()
        if self.discarded:
            log.warning("%d trace records were dropped (queue full)", self.discarded)

    def append(self, ctx: TraceContext) -> bool:
        """Queue a record; False (and counted) when the queue is full or closed."""
        if self._tasks is None or self._tasks.closed or len(self._pending) >= self.queue_size:
            self.discarded += 1
            return False
        self._pending.append(ctx)
        if self._wake is not None:
            self._wake.set()
        return True

    async def _run(self) -> None:
        tasks, wake = self._tasks, self._wake
        assert tasks is not None and wake is not None
        while await tasks.sleep(None, wake):
            await tasks.sleep(self.wait_threshold)  # gather what comes in the meantime
            await self._send_pending()
        await self._send_pending()  # closing: the rest

    async def _send_pending(self) -> None:
        """Encode the queued records into trace messages of at most ``max_msg_size``."""
        data: list[str] = []
        keys: set[str] = set()
        size = 0
        while self._pending:
            bean = encode_trace_context(self._pending.popleft())
            data.append(bean.trans_data)
            keys |= bean.trans_keys
            size += len(bean.trans_data)
            if size >= self.max_msg_size:
                await self._send("".join(data), keys)
                data, keys, size = [], set(), 0
        if data:
            await self._send("".join(data), keys)

    async def _send(self, data: str, keys: set[str]) -> None:
        msg = Message(self.trace_topic, data.encode(), keys=sorted(keys))
        try:
            await self.producer.send(msg)
        except RocketQError as exc:
            log.error("send trace data failed (%d bytes): %s", len(msg.body), exc)

    # -- hooks ------------------------------------------------------------------------------

    def on_sent(
        self, group: str, msg: Message, broker_addr: str, begin_ms: int, result: SendResult
    ) -> None:
        """``SendMessageTraceHookImpl``: a Pub record of a message the broker took."""
        if msg.topic.startswith(self.trace_topic) or not result.trace_on:
            return
        self._pub(group, msg, msg.properties, broker_addr, begin_ms, result, result.msg_id)

    def on_batch_sent(
        self, group: str, msgs: Sequence[Message], broker_addr: str, begin_ms: int, r: SendResult
    ) -> None:
        """A Pub record per message of a batch (Java writes one record for the batch, under
        the joined msgIds, which ``queryMsgTraceById`` cannot find)."""
        if not msgs or msgs[0].topic.startswith(self.trace_topic) or not r.trace_on:
            return
        offset_ids = r.offset_msg_id.split(",")
        for i, m in enumerate(msgs):
            uniq = m.properties.get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX, "")
            offset_id = offset_ids[i] if i < len(offset_ids) else ""
            self._pub(group, m, m.properties, broker_addr, begin_ms, r, uniq, offset_id)

    def _pub(
        self,
        group: str,
        msg: Message,
        props: dict[str, str],
        broker_addr: str,
        begin_ms: int,
        result: SendResult,
        msg_id: str,
        offset_msg_id: str | None = None,
    ) -> None:
        msg_type = MessageType.Normal_Msg
        if props.get(MessageConst.TRANSACTION_PREPARED, "").lower() == "true":
            msg_type = MessageType.Trans_Msg_Half
        elif msg.delay_time_level > 0 or props.get(MessageConst.DELAY_TIME_LEVEL):
            msg_type = MessageType.Delay_Msg
        keys = msg.all_properties().get(MessageConst.KEYS)
        bean = TraceBean(
            topic=without_namespace(self.namespace, msg.topic), msg_id=msg_id,
            offset_msg_id=offset_msg_id or result.offset_msg_id, tags=msg.tags, keys=keys,
            store_host=broker_addr, body_length=len(msg.body), msg_type=msg_type,
        )  # fmt: skip
        self.append(
            TraceContext(
                TraceType.Pub,
                time_stamp=begin_ms,
                region_id=result.region_id,
                group_name=without_namespace(self.namespace, group),
                cost_time=int(time.time() * 1000) - begin_ms,
                success=result.status is SendStatus.SEND_OK,
                trace_beans=(bean,),
            )
        )

    def on_end_transaction(
        self,
        group: str,
        msg: Message | MessageExt,
        msg_id: str,
        broker_addr: str,
        state: str,
        from_transaction_check: bool,
    ) -> None:
        """``EndTransactionTraceHookImpl``: an EndTransaction record when the producer ends
        a transaction (``state``: COMMIT_MESSAGE, ROLLBACK_MESSAGE or UNKNOW), after the
        local transaction or a check-back; the transaction id is the message's UNIQ_KEY."""
        if msg.topic.startswith(self.trace_topic):
            return
        props = msg.all_properties() if isinstance(msg, Message) else msg.properties
        bean = TraceBean(
            topic=without_namespace(self.namespace, msg.topic), msg_id=msg_id,
            tags=props.get(MessageConst.TAGS), keys=props.get(MessageConst.KEYS),
            store_host=broker_addr,
            client_host=self.producer.instance.client_id,
            msg_type=MessageType.Trans_msg_Commit, transaction_state=state,
            transaction_id=props.get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX) or msg_id,
            from_transaction_check=from_transaction_check,
        )  # fmt: skip
        self.append(
            TraceContext(
                TraceType.EndTransaction,
                time_stamp=int(time.time() * 1000),
                region_id=props.get(MessageConst.MSG_REGION) or DEFAULT_TRACE_REGION_ID,
                group_name=without_namespace(self.namespace, group),
                trace_beans=(bean,),
            )
        )

    def consume_before(self, group: str, msgs: Sequence[MessageExt]) -> TraceContext | None:
        """``ConsumeMessageTraceHookImpl#consumeMessageBefore``: a SubBefore record (of the
        messages whose TRACE_ON is not false); what :meth:`consume_after` needs."""
        beans, region = [], ""
        for m in msgs:
            if m.properties.get(MessageConst.TRACE_SWITCH) == "false":
                continue
            region = m.properties.get(MessageConst.MSG_REGION) or region
            beans.append(
                TraceBean(
                    topic=without_namespace(self.namespace, m.topic),
                    msg_id=m.msg_id,
                    tags=m.tags,
                    keys=m.keys,
                    store_time=m.store_timestamp,
                    body_length=len(m.body),
                    retry_times=m.reconsume_times,
                )
            )
        if not beans:
            return None
        ctx = TraceContext(
            TraceType.SubBefore,
            time_stamp=int(time.time() * 1000),
            region_id=region,
            group_name=without_namespace(self.namespace, group),
            request_id=self.producer.instance.uniq_ids.next_id(),
            trace_beans=tuple(beans),
        )
        self.append(ctx)
        return ctx

    def consume_after(
        self,
        before: TraceContext | None,
        count: int,
        success: bool,
        return_type: ConsumeReturnType,
    ) -> None:
        """``consumeMessageAfter``: the SubAfter record of a batch of ``count`` messages."""
        if before is None:
            return
        now = int(time.time() * 1000)
        self.append(
            TraceContext(
                TraceType.SubAfter,
                time_stamp=now,
                region_id=before.region_id,
                group_name=before.group_name,
                request_id=before.request_id,
                success=success,
                cost_time=(now - before.time_stamp) // max(count, 1),
                context_code=int(return_type),
                trace_beans=before.trace_beans,
            )
        )
