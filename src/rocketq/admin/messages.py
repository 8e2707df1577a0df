"""Message operations of the admin API: view, query, pull and send (``mqadmin``'s
``queryMsgById``, ``queryMsgByKey``, ``consumeMessage``, ``sendMessage``), as a mixin of
:class:`~rocketq.admin.api.AdminClient`. The requests go through the client's
:class:`~rocketq.client.api.MQClientAPI`; what comes back is the client's ``MessageExt``,
``PullResult`` and ``SendResult``."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rocketq.client.api import MQClientAPI
from rocketq.client.message import MessageExt, MessageQueue, PullResult, SendResult
from rocketq.common.errors import BrokerError, ClientError
from rocketq.common.ids import UniqIdGenerator
from rocketq.common.message import MessageConst, encode_properties
from rocketq.common.record import decode_offset_msg_id
from rocketq.common.topic import AUTO_CREATE_TOPIC_KEY_TOPIC, PERM_READ, PERM_WRITE
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.headers import (
    PullMessageRequestHeader,
    QueryMessageRequestHeader,
    SendMessageRequestHeaderV2,
)

if TYPE_CHECKING:
    from rocketq.remoting.body import TopicRouteData

__all__ = ["TOOLS_CONSUMER_GROUP", "MessagesMixin"]

# MixAll.TOOLS_CONSUMER_GROUP: the group mqadmin pulls with.
TOOLS_CONSUMER_GROUP = "TOOLS_CONSUMER"
# Long.MAX_VALUE: "no end" for time ranges.
_LONG_MAX = (1 << 63) - 1
# PullSysFlag.SUBSCRIPTION: the expression travels in the request (no heartbeat needed).
_PULL_SUBSCRIPTION_FLAG = 0x4
# DefaultMQProducer.defaultTopicQueueNums: queues of a topic the broker auto-creates.
_DEFAULT_TOPIC_QUEUE_NUMS = 4


class MessagesMixin:
    """View, query, pull and send; the queues a topic is sent to and read from."""

    api: MQClientAPI
    uniq_ids: UniqIdGenerator

    if TYPE_CHECKING:  # provided by AdminClient

        async def topic_route(self, topic: str) -> TopicRouteData: ...

        async def _route_brokers(self, topic: str) -> list[tuple[str, str]]: ...

    async def view_message(self, msg_id: str) -> MessageExt:
        """VIEW_MESSAGE_BY_ID at the broker and offset encoded in an offset msgId."""
        try:
            (host, port), offset = decode_offset_msg_id(msg_id)
        except ValueError as exc:
            raise ClientError(f"not an offset msgId: {msg_id!r}") from exc
        return await self.api.view_message(f"{host}:{port}", offset)

    async def query_message(
        self,
        topic: str,
        key: str,
        max_num: int = 64,
        begin: int = 0,
        end: int = _LONG_MAX,
        unique: bool = False,
    ) -> list[MessageExt]:
        """QUERY_MESSAGE on every broker of the topic; ``unique``: key is a UNIQ_KEY."""
        header = QueryMessageRequestHeader(
            topic=topic, key=key, max_num=max_num, begin_timestamp=begin, end_timestamp=end
        )
        out: list[MessageExt] = []
        for name, addr in await self._route_brokers(topic):
            out.extend(await self.api.query_message(addr, header, unique, name))
        keep = [
            m
            for m in out
            if not unique or m.properties.get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX) == key
        ]
        return sorted(keep, key=lambda m: (m.store_timestamp, m.commit_log_offset))

    async def pull(
        self,
        broker_addr: str,
        topic: str,
        queue_id: int,
        offset: int,
        max_nums: int = 32,
        group: str = TOOLS_CONSUMER_GROUP,
        broker_name: str = "",
    ) -> PullResult:
        """One PULL_MESSAGE without suspending or committing, subscription ``*``."""
        header = PullMessageRequestHeader(
            consumer_group=group,
            topic=topic,
            queue_id=queue_id,
            queue_offset=offset,
            max_msg_nums=max_nums,
            sys_flag=_PULL_SUBSCRIPTION_FLAG,
            commit_offset=0,
            suspend_timeout_millis=0,
            subscription="*",
            sub_version=0,
            expression_type="TAG",
        )
        return await self.api.pull_message(broker_addr, header, self.api.timeout, broker_name)

    async def send_message(
        self,
        topic: str,
        body: bytes,
        tags: str | None = None,
        keys: str | None = None,
        broker_name: str | None = None,
        queue_id: int | None = None,
        group: str | None = None,
        *,
        properties: Mapping[str, str] | None = None,
        flag: int = 0,
    ) -> SendResult:
        """SEND_MESSAGE_V2 to one queue of the topic (a chosen one, or the next of the route;
        TBW102's route for a topic the NameServer does not know, as Java's producer does);
        ``properties``: user properties sent along (``tags``/``keys`` win over theirs)."""
        mqs = await self._publish_queues(topic)
        if broker_name is not None:
            mqs = [
                m
                for m in mqs
                if m[0].broker_name == broker_name
                and (queue_id is None or m[0].queue_id == queue_id)
            ]
        if not mqs:
            raise ClientError(
                f"no writable queue of topic {topic} (broker {broker_name}, queue {queue_id})"
            )
        mq, addr = mqs[random.randrange(len(mqs))]
        uniq = self.uniq_ids.next_id()
        props: dict[str, str | None] = {
            **(properties or {}),
            MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX: uniq,
            MessageConst.WAIT_STORE_MSG_OK: "true",
        }
        if tags is not None:
            props[MessageConst.TAGS] = tags
        if keys is not None:
            props[MessageConst.KEYS] = keys
        ext = SendMessageRequestHeaderV2(
            producer_group=group or str(int(time.time() * 1000)),
            topic=topic,
            default_topic=AUTO_CREATE_TOPIC_KEY_TOPIC,
            default_topic_queue_nums=_DEFAULT_TOPIC_QUEUE_NUMS,
            queue_id=mq.queue_id,
            sys_flag=0,
            born_timestamp=int(time.time() * 1000),
            flag=flag,
            properties=encode_properties(props, trailing_separator=False),
            reconsume_times=0,
        ).to_ext()
        cmd = RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, ext, body)
        return await self.api.send_message(addr, cmd, mq, uniq, self.api.timeout)

    async def _publish_queues(self, topic: str) -> list[tuple[MessageQueue, str]]:
        try:
            route, cap = await self.topic_route(topic), None
        except BrokerError as exc:
            if exc.code != ResponseCode.TOPIC_NOT_EXIST:
                raise
            route = await self.topic_route(AUTO_CREATE_TOPIC_KEY_TOPIC)
            cap = _DEFAULT_TOPIC_QUEUE_NUMS
        masters = {b.broker_name: b.master_addr() for b in route.broker_datas}
        out: list[tuple[MessageQueue, str]] = []
        for q in route.queue_datas:
            addr = masters.get(q.broker_name)
            if addr is None or not q.perm & PERM_WRITE:
                continue
            count = q.write_queue_nums if cap is None else min(cap, q.read_queue_nums)
            out.extend((MessageQueue(topic, q.broker_name, i), addr) for i in range(count))
        return sorted(out)

    async def subscribe_queues(self, topic: str) -> list[tuple[MessageQueue, str]]:
        """Readable queues of a topic with the address to pull each from."""
        route = await self.topic_route(topic)
        masters = {
            b.broker_name: b.master_addr() or next(iter(b.broker_addrs.values()), None)
            for b in route.broker_datas
        }
        out: list[tuple[MessageQueue, str]] = []
        for q in route.queue_datas:
            addr = masters.get(q.broker_name)
            if addr is not None and q.perm & PERM_READ:
                out.extend(
                    (MessageQueue(topic, q.broker_name, i), addr) for i in range(q.read_queue_nums)
                )
        return sorted(out)
