"""NOTIFICATION (200054): RocketMQ 5's ``NotificationProcessor``. A pop consumer asks
whether there is anything to pop for its group on a topic (one queue or all, and the
group's pop retry topic) and is held until there is or until ``bornTime + pollTime``;
the answer is always SUCCESS with ``hasMsg``.

Whether there is a message is decided by offsets alone, as RocketMQ does (no tag filter):
the queue's end beyond where the group's next pop starts. A FIFO group's blocked queue
(a batch in flight) has nothing to pop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rocketq.broker.pop import PopService
from rocketq.broker.pop.service import now_ms
from rocketq.common.errors import BrokerError
from rocketq.common.topic import PERM_READ
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers.pop import NotificationRequestHeader, NotificationResponseHeader

if TYPE_CHECKING:
    from rocketq.broker.config import BrokerConfig
    from rocketq.broker.subscription_group import SubscriptionGroupManager
    from rocketq.broker.topic_config import TopicConfigManager
    from rocketq.common.topic import TopicConfig

__all__ = ["NotificationProcessor"]


class NotificationProcessor:
    """Long-polled "is there a message" for pop consumers, over the broker's PopService
    (``pop_service`` gives it, None while it is not running)."""

    def __init__(
        self,
        config: BrokerConfig,
        topic_config_manager: TopicConfigManager,
        subscription_group_manager: SubscriptionGroupManager,
        pop_service: Callable[[], PopService | None],
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.config = config
        self.topics = topic_config_manager
        self.groups = subscription_group_manager
        self._pop_service = pop_service
        self.clock = clock

    async def process(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """``hasMsg`` true as soon as the group can pop something, false at the deadline."""
        h = NotificationRequestHeader.from_ext(req.ext_fields)
        config = self._check(h)
        service = self._pop_service()
        if service is None:
            raise _refuse(ResponseCode.SERVICE_NOT_AVAILABLE, "POP is not served by this broker")
        queue_ids = list(range(config.read_queue_nums)) if h.queue_id < 0 else [h.queue_id]
        now = self.clock()
        born = h.born_time or now  # bornTime 0: the broker's now
        wait_ms = min(max(born + h.poll_time - now, 0), max(h.poll_time, 0))
        has_msg = await service.wait_for_message(
            h.consumer_group, h.topic, queue_ids, wait_ms / 1000, h.order
        )
        return req.make_response(ext_fields=NotificationResponseHeader(has_msg).to_ext())

    def _check(self, h: NotificationRequestHeader) -> TopicConfig:
        """The checks of ``NotificationProcessor#processRequest``, in its order."""
        topic, group_name = h.topic, h.consumer_group
        if not self.config.broker_permission & PERM_READ:
            ip = self.config.broker_ip1
            raise _refuse(NO_PERMISSION, f"the broker[{ip}] peeking message is forbidden")
        config = self.topics.select(topic)
        if config is None:
            raise _refuse(TOPIC_NOT_EXIST, f"topic[{topic}] not exist, apply first please!")
        if not config.perm & PERM_READ:
            raise _refuse(NO_PERMISSION, f"the topic[{topic}] peeking message is forbidden")
        if h.queue_id >= config.read_queue_nums:
            nums = config.read_queue_nums
            raise _refuse(SYSTEM_ERROR, f"queueId[{h.queue_id}] is illegal, topic:[{topic}] "
                                        f"topicConfig.readQueueNums:[{nums}]")  # fmt: skip
        group = self.groups.find(group_name)
        if group is None:
            remark = f"subscription group [{group_name}] does not exist"
            raise _refuse(ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST, remark)
        if not group.consume_enable:
            raise _refuse(NO_PERMISSION, f"subscription group no permission, {group_name}")
        return config


NO_PERMISSION = ResponseCode.NO_PERMISSION
TOPIC_NOT_EXIST = ResponseCode.TOPIC_NOT_EXIST
SYSTEM_ERROR = ResponseCode.SYSTEM_ERROR


def _refuse(code: int, remark: str) -> BrokerError:
    return BrokerError(code, remark)
