"""CONSUMER_SEND_MSG_BACK (36): a consumer gives a failed message back; it goes to
``%RETRY%group`` with delay level 3 + reconsumeTimes, or to ``%DLQ%group`` after
``retryMaxTimes`` (RocketMQ ``SendMessageProcessor#consumerSendMsgBack``)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from rocketq.broker.processor.send import DLQ_NUMS_PER_GROUP
from rocketq.broker.schedule import to_schedule
from rocketq.broker.stats import BrokerStatsManager
from rocketq.common.errors import BrokerError
from rocketq.common.message import MessageConst, decode_properties
from rocketq.common.record import copy_message, create_offset_msg_id
from rocketq.common.topic import PERM_READ, PERM_WRITE, dlq_topic, retry_topic
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers import ConsumerSendMsgBackRequestHeader

if TYPE_CHECKING:
    from rocketq.broker.config import BrokerConfig
    from rocketq.broker.registrar import Registrar
    from rocketq.broker.subscription_group import SubscriptionGroupManager
    from rocketq.broker.topic_config import TopicConfigManager
    from rocketq.store.message_store import DefaultMessageStore

__all__ = ["SendBackProcessor"]

# MQVersion.Version.V3_4_9: the header's maxReconsumeTimes is honoured from here on.
_VERSION_MAX_RECONSUME = 121


class SendBackProcessor:
    """Re-stores a consumed message for another try (or for the dead-letter queue)."""

    def __init__(
        self,
        *,
        config: BrokerConfig,
        store: DefaultMessageStore,
        topic_config_manager: TopicConfigManager,
        subscription_group_manager: SubscriptionGroupManager,
        registrar: Registrar,
        stats: BrokerStatsManager | None = None,
    ) -> None:
        self.config = config
        self.stats = stats or BrokerStatsManager(config.broker_cluster_name)
        self.store = store
        self.topic_config_manager = topic_config_manager
        self.subscription_group_manager = subscription_group_manager
        self.registrar = registrar

    async def process(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Entry point for code 36."""
        h = ConsumerSendMsgBackRequestHeader.from_ext(req.ext_fields)
        group = self.subscription_group_manager.find(h.group)
        if group is None:
            raise BrokerError(
                ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                f"subscription group not exist, {h.group}",
            )
        if not self.config.broker_permission & PERM_WRITE:
            raise BrokerError(
                ResponseCode.NO_PERMISSION,
                f"the broker[{self.config.broker_ip1}] sending message is forbidden",
            )
        if group.retry_queue_nums <= 0:
            return req.make_response()
        record = self.store.look_message_by_offset(h.offset)
        if record is None:
            raise BrokerError(
                ResponseCode.SYSTEM_ERROR, f"look message by offset failed, {h.offset}"
            )
        max_times = group.retry_max_times
        if req.version >= _VERSION_MAX_RECONSUME and h.max_reconsume_times is not None:
            max_times = h.max_reconsume_times
        props = decode_properties(record.properties)
        props.setdefault(MessageConst.RETRY_TOPIC, record.topic)
        # Java records the offset msgId of the first failed copy (``lookMessageByOffset``).
        props.setdefault(
            MessageConst.ORIGIN_MESSAGE_ID,
            create_offset_msg_id(record.store_host, record.physical_offset),
        )
        props[MessageConst.WAIT_STORE_MSG_OK] = "false"
        props.pop(MessageConst.DELAY_TIME_LEVEL, None)
        if record.reconsume_times >= max_times or h.delay_level < 0:
            topic = dlq_topic(h.group)
            queue_id = random.randrange(DLQ_NUMS_PER_GROUP)
            self.topic_config_manager.create_in_send_back(
                topic, DLQ_NUMS_PER_GROUP, PERM_READ | PERM_WRITE
            )
        else:
            topic = retry_topic(h.group)
            queue_id = random.randrange(group.retry_queue_nums)
            self.topic_config_manager.create_in_send_back(
                topic, group.retry_queue_nums, PERM_READ | PERM_WRITE
            )
            level = h.delay_level or 3 + record.reconsume_times
            props[MessageConst.DELAY_TIME_LEVEL] = str(level)
            topic, queue_id = to_schedule(props, topic, queue_id, len(self.store.delay_levels))
        self.registrar.request_register()
        msg = copy_message(
            record,
            topic,
            queue_id,
            props,
            reconsume_times=record.reconsume_times + 1,
            prepared_transaction_offset=0,
        )
        result = await self.store.put_messages([msg], wait_store=False)
        if result.status.stored:  # incSendBackNums under the message's original topic
            back_topic = props[MessageConst.RETRY_TOPIC]
            size = result.appended[0].size
            self.stats.on_send_back(h.group, back_topic, topic, size, queue_id)
            return req.make_response()
        return req.make_response(ResponseCode.SYSTEM_ERROR, result.status.value)
