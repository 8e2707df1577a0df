"""Dead-letter queues of the admin API: list ``%DLQ%group`` and re-send its messages to
their original topic (the console's ``dlqList``/``resendDlqMessage``), as a mixin of
:class:`~rocketq.admin.api.AdminClient`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rocketq.admin.messages import MessagesMixin
from rocketq.admin.types import DlqMessage
from rocketq.client.message import MessageQueue, PullStatus, SendResult
from rocketq.common.errors import BrokerError, ClientError
from rocketq.common.topic import dlq_topic
from rocketq.remoting.codes import ResponseCode

__all__ = ["DEFAULT_DLQ_MAX", "DLQ_TOOLS_GROUP", "DlqMixin"]

# The group whose committed offsets on ``%DLQ%group`` mark what was already re-sent
# ("drained"): dlq_messages starts after them, so a drained message is not listed again.
DLQ_TOOLS_GROUP = "TOOLS_DLQ_CONSUMER"
# Messages listed (and so re-sent) per call by default: a console page, as the dashboard's.
DEFAULT_DLQ_MAX = 64


class DlqMixin(MessagesMixin):
    """List and re-send the messages of a group's dead-letter queue."""

    if TYPE_CHECKING:  # provided by AdminClient

        async def min_offset(self, broker_addr: str, topic: str, queue_id: int) -> int: ...

        async def query_consumer_offset(
            self, broker_addr: str, group: str, mq: MessageQueue
        ) -> int | None: ...

        async def update_consumer_offset(
            self, broker_addr: str, group: str, mq: MessageQueue, offset: int
        ) -> None: ...

    async def dlq_messages(
        self, group: str, max_num: int = DEFAULT_DLQ_MAX, tool_group: str | None = DLQ_TOOLS_GROUP
    ) -> list[DlqMessage]:
        """Up to ``max_num`` messages of ``%DLQ%group``, from every queue on every broker of
        its route, oldest first per queue; each queue is read from ``tool_group``'s committed
        offset (what :meth:`resend_dlq` marked drained), or from its start when ``tool_group``
        is None or has committed nothing. Empty when the group has no DLQ."""
        topic = dlq_topic(group)
        try:
            queues = await self.subscribe_queues(topic)
        except BrokerError as exc:
            if exc.code == ResponseCode.TOPIC_NOT_EXIST:
                return []
            raise
        out: list[DlqMessage] = []
        for mq, addr in queues:
            if len(out) >= max_num:
                break
            start = await self._dlq_start(addr, mq, tool_group)
            out.extend(await self._pull_dlq(addr, mq, start, max_num - len(out)))
        return out

    async def _dlq_start(self, addr: str, mq: MessageQueue, tool_group: str | None) -> int:
        """Where listing starts: the group's committed offset, never below the queue's min."""
        low = await self.min_offset(addr, mq.topic, mq.queue_id)
        if tool_group is None:
            return low
        committed = await self.query_consumer_offset(addr, tool_group, mq)
        return low if committed is None else max(low, committed)

    async def _pull_dlq(
        self, addr: str, mq: MessageQueue, offset: int, limit: int
    ) -> list[DlqMessage]:
        out: list[DlqMessage] = []
        while len(out) < limit:
            count = min(32, limit - len(out))
            result = await self.pull(
                addr, mq.topic, mq.queue_id, offset, count, broker_name=mq.broker_name
            )
            out.extend(DlqMessage(m, mq) for m in result.messages)
            if result.status is not PullStatus.FOUND or result.next_begin_offset <= offset:
                break  # found nothing more (or an offset problem): this queue is done
            offset = result.next_begin_offset
        return out[:limit]

    async def resend_dlq(
        self,
        group: str,
        msg_ids: list[str] | None = None,
        *,
        drain: bool = False,
        tool_group: str = DLQ_TOOLS_GROUP,
        max_num: int = DEFAULT_DLQ_MAX,
    ) -> list[tuple[DlqMessage, SendResult]]:
        """Send messages of ``%DLQ%group`` (those :meth:`dlq_messages` lists: all of them, or
        the ``msg_ids`` UNIQ_KEYs) to their original topic as new messages: same body, flag,
        tags, keys and user properties, a new UNIQ_KEY, none of RocketMQ's bookkeeping
        properties. Each UNIQ_KEY is sent once. ``drain``: then commit ``tool_group``'s offset
        on each DLQ queue past the leading messages that were re-sent, so they are not listed
        again. ClientError, before anything is sent, for an id not listed or a message that
        does not say its original topic."""
        listed = await self.dlq_messages(group, max_num, tool_group)
        chosen = _choose_dlq(listed, msg_ids)
        results = []
        for m in chosen:
            assert m.origin_topic is not None  # checked by _choose_dlq
            props = m.user_properties()
            result = await self.send_message(
                m.origin_topic, m.body, m.tags, m.keys, properties=props, flag=m.flag
            )
            results.append((m, result))
        if drain:
            await self._commit_drained(listed, {m.msg_id for m in chosen}, tool_group)
        return results

    async def _commit_drained(
        self, listed: list[DlqMessage], sent: set[str], tool_group: str
    ) -> None:
        """Per queue, commit the offset of the first listed message not re-sent (or past the
        last listed one): a message skipped by ``msg_ids`` stays listable."""
        commits: dict[MessageQueue, int] = {}
        stopped: set[MessageQueue] = set()
        for m in listed:  # in queue offset order within each queue
            if m.mq in stopped:
                continue
            if m.msg_id in sent:
                commits[m.mq] = m.queue_offset + 1
            else:
                stopped.add(m.mq)
        addrs = dict(await self.subscribe_queues(next(iter(commits)).topic)) if commits else {}
        for mq, offset in commits.items():
            await self.update_consumer_offset(addrs[mq], tool_group, mq, offset)


def _choose_dlq(listed: list[DlqMessage], msg_ids: list[str] | None) -> list[DlqMessage]:
    """The listed messages to re-send: each UNIQ_KEY once, all or the wanted ones."""
    wanted = None if msg_ids is None else set(msg_ids)
    missing = set() if wanted is None else wanted - {m.msg_id for m in listed}
    if missing:
        raise ClientError(f"not in the dead-letter queue (or beyond max): {sorted(missing)}")
    chosen: dict[str, DlqMessage] = {}
    for m in listed:
        if wanted is None or m.msg_id in wanted:
            chosen.setdefault(m.msg_id, m)
    orphans = [m.msg_id for m in chosen.values() if not m.origin_topic]
    if orphans:
        raise ClientError(f"no RETRY_TOPIC property (original topic unknown): {orphans}")
    return list(chosen.values())
