"""Admin requests that change the broker's files or configuration beyond the basic
ones (RocketMQ ``AdminBrokerProcessor``): CLEAN_EXPIRED_CONSUMEQUEUE (306),
DELETE_EXPIRED_COMMITLOG (329), CLEAN_UNUSED_TOPIC (316), CLONE_GROUP_OFFSET (314),
RESUME_CHECK_HALF_MESSAGE (323) and RocketMQ 5's GET_SUBSCRIPTIONGROUP_CONFIG (352),
UPDATE_AND_CREATE_TOPIC_LIST (18) and UPDATE_AND_CREATE_SUBSCRIPTIONGROUP_LIST (225).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rocketq.broker.processor.admin import AdminBrokerProcessor
from rocketq.broker.processor.locks import json_body
from rocketq.common.errors import BrokerError
from rocketq.common.message import MessageConst
from rocketq.common.record import copy_message, decode_offset_msg_id
from rocketq.common.topic import (
    SCHEDULE_TOPIC,
    TRANS_HALF_TOPIC,
    TRANS_OP_HALF_TOPIC,
    TopicConfig,
)
from rocketq.remoting import fastjson
from rocketq.remoting.body import SubscriptionGroupConfig
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers.broker import (
    CloneGroupOffsetRequestHeader,
    GetSubscriptionGroupConfigRequestHeader,
    ResumeCheckHalfMessageRequestHeader,
)
from rocketq.store.commit_log import queue_key
from rocketq.store.result import PutMessageStatus

if TYPE_CHECKING:
    from rocketq.broker.client_manager import ConsumerManager
    from rocketq.broker.consumer_offset import ConsumerOffsetManager
    from rocketq.broker.registrar import Registrar
    from rocketq.broker.subscription_group import SubscriptionGroupManager
    from rocketq.broker.topic_config import TopicConfigManager
    from rocketq.store.consume_queue import ConsumeQueue
    from rocketq.store.message_store import DefaultMessageStore

__all__ = ["AdminMaintenanceProcessor"]

log = logging.getLogger("rocketq.broker")

# The MIX of LMQ topics rocketq does not have; these two keep their queues in
# cleanUnusedTopic although no TopicConfig names them (their configs are implicit).
_KEPT_UNCONFIGURED_TOPICS = frozenset({SCHEDULE_TOPIC, TRANS_OP_HALF_TOPIC})
# TransactionalMessageUtil: half messages all live in queue 0 of the half topic.
_HALF_QUEUE_ID = 0
# MessageConst.PROPERTY_TRANSACTION_CHECK_TIMES.
_CHECK_TIMES = "TRANSACTION_CHECK_TIMES"
_PUT_FAILED = "Put message back to RMQ_SYS_TRANS_HALF_TOPIC failed."


class AdminMaintenanceProcessor:
    """One method per request code; see the module docstring."""

    def __init__(
        self,
        *,
        store: DefaultMessageStore,
        topic_config_manager: TopicConfigManager,
        subscription_group_manager: SubscriptionGroupManager,
        consumer_offset_manager: ConsumerOffsetManager,
        consumer_manager: ConsumerManager,
        registrar: Registrar,
    ) -> None:
        self.store = store
        self.topic_config_manager = topic_config_manager
        self.subscription_group_manager = subscription_group_manager
        self.consumer_offset_manager = consumer_offset_manager
        self.consumer_manager = consumer_manager
        self.registrar = registrar

    # -- store files ---------------------------------------------------------------------------

    def _drop_queue(self, cq: ConsumeQueue) -> None:
        """Forget a ConsumeQueue: its files, its entry, its next offset in the CommitLog."""
        self.store.consume_queues.pop((cq.topic, cq.queue_id), None)
        self.store.commit_log.topic_queue_table.pop(queue_key(cq.topic, cq.queue_id), None)
        cq.destroy()

    def clean_expired_consume_queue(
        self, conn: Connection, req: RemotingCommand
    ) -> RemotingCommand:
        """``cleanExpiredConsumerQueue``: drop every queue (but the delay topic's) whose last
        entry points below the CommitLog's first byte: all its messages are gone."""
        log.warning("invoke cleanExpiredConsumeQueue start, called by %s", conn.peer)
        min_phy = self.store.commit_log.min_offset()
        for (topic, _qid), cq in list(self.store.consume_queues.items()):
            if topic == SCHEDULE_TOPIC:
                continue
            last = _last_physical_end(cq)
            if last == -1:
                log.warning("maybe ConsumeQueue %s-%d was created just now", topic, cq.queue_id)
            elif last < min_phy:
                log.info("cleanExpiredConsumerQueue: %s %d destroyed", topic, cq.queue_id)
                self._drop_queue(cq)
        log.warning("invoke cleanExpiredConsumeQueue end.")
        return req.make_response()

    def delete_expired_commit_log(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """``executeDeleteFilesManually``: the clean service deletes expired files in its
        next rounds whatever the hour or disk usage."""
        log.warning("invoke deleteExpiredCommitLog, called by %s", conn.peer)
        self.store.clean_service.execute_delete_files_manually()
        return req.make_response()

    def clean_unused_topic(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """``cleanUnusedTopic``: drop the queues of topics no TopicConfig names any more."""
        log.warning("invoke cleanUnusedTopic start, called by %s", conn.peer)
        known = set(self.topic_config_manager.table) | _KEPT_UNCONFIGURED_TOPICS
        for (topic, _qid), cq in list(self.store.consume_queues.items()):
            if topic not in known:
                log.info("cleanUnusedTopic: %s %d ConsumeQueue cleaned", topic, cq.queue_id)
                self._drop_queue(cq)
        log.warning("invoke cleanUnusedTopic end.")
        return req.make_response()

    # -- offsets and transactions --------------------------------------------------------------

    def clone_group_offset(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Copy the source group's offsets (on one topic, or on all it has) to the
        destination group; unless ``offline``, topics the online source group no longer
        subscribes to are skipped."""
        h = CloneGroupOffsetRequestHeader.from_ext(req.ext_fields)
        com = self.consumer_offset_manager
        topics = {h.topic} if h.topic and h.topic.strip() else com.topics_of_group(h.src_group)
        info = self.consumer_manager.groups.get(h.src_group)
        for topic in sorted(topics):
            if self.topic_config_manager.select(topic) is None:
                log.warning("[cloneGroupOffset], topic config not exist, %s", topic)
                continue
            online = not h.offline and info is not None and bool(info.subscriptions)
            if online and info is not None and topic not in info.subscriptions:
                log.warning("[cloneGroupOffset] %s does not consume %s", h.src_group, topic)
                continue
            for qid, offset in com.query_all(h.src_group, topic).items():
                com.commit(h.dest_group, topic, qid, offset)
        return req.make_response()

    async def resume_check_half_message(
        self, conn: Connection, req: RemotingCommand
    ) -> RemotingCommand:
        """The message at the msgId's offset (one parked in TRANS_CHECK_MAX_TIME_TOPIC)
        goes back to the half topic with its check count reset, to be checked again."""
        h = ResumeCheckHalfMessageRequestHeader.from_ext(req.ext_fields)
        try:
            _addr, offset = decode_offset_msg_id(h.msg_id or "")
            record = self.store.look_message_by_offset(offset)
        except ValueError:
            record = None
        if record is None:
            raise BrokerError(
                ResponseCode.SYSTEM_ERROR,
                "Exception was thrown when putting message back to RMQ_SYS_TRANS_HALF_TOPIC.",
            )
        props = record.properties_map()
        props[_CHECK_TIMES] = "0"
        msg = copy_message(record, TRANS_HALF_TOPIC, _HALF_QUEUE_ID, props)
        result = await self.store.put_messages([msg], wait_store=False)
        if result.status != PutMessageStatus.PUT_OK:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, _PUT_FAILED)
        log.info(
            "Put message back to RMQ_SYS_TRANS_HALF_TOPIC. real topic=%s",
            props.get(MessageConst.REAL_TOPIC),
        )
        return req.make_response()

    # -- RocketMQ 5 configuration codes --------------------------------------------------------

    def get_subscription_group_config(
        self, conn: Connection, req: RemotingCommand
    ) -> RemotingCommand:
        """One group's SubscriptionGroupConfig; SYSTEM_ERROR when the broker has none."""
        h = GetSubscriptionGroupConfigRequestHeader.from_ext(req.ext_fields)
        config = self.subscription_group_manager.table.get(h.group)
        if config is None:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, "No group in this broker")
        return req.make_response(body=fastjson.dumps(config.to_obj()))

    async def update_and_create_topic_list(
        self, conn: Connection, req: RemotingCommand
    ) -> RemotingCommand:
        """CreateTopicListRequestBody ``topicConfigList``: every name is checked before any
        topic changes; unchanged ones are left alone; one registration for all."""
        configs = [TopicConfig.from_obj(o) for o in _list_body(req, "topicConfigList")]
        for config in configs:
            AdminBrokerProcessor._check_topic(config.topic_name)
        changed = [c for c in configs if self.topic_config_manager.select(c.topic_name) != c]
        log.info(
            "updateAndCreateTopicList %s called by %s",
            ";".join(c.topic_name for c in configs),
            conn.peer,
        )
        for config in changed:
            self.topic_config_manager.update(config)
        if changed:
            await self.registrar.register_broker_all()
        return req.make_response()

    def update_and_create_subscription_group_list(
        self, conn: Connection, req: RemotingCommand
    ) -> RemotingCommand:
        """SubscriptionGroupList ``groupConfigList``: create or replace each group."""
        configs = [SubscriptionGroupConfig.from_obj(o) for o in _list_body(req, "groupConfigList")]
        if any(not c.group_name for c in configs):
            raise BrokerError(ResponseCode.SYSTEM_ERROR, "the group name is blank")
        log.info(
            "updateAndCreateSubscriptionGroupList %s called by %s",
            ";".join(c.group_name for c in configs),
            conn.peer,
        )
        for config in configs:
            self.subscription_group_manager.update(config)
        return req.make_response()


def _list_body(req: RemotingCommand, name: str) -> list[dict[str, Any]]:
    """The list ``name`` of a JSON body; SYSTEM_ERROR when the body is not such an object."""
    obj = json_body(req)
    items = obj.get(name)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise BrokerError(ResponseCode.SYSTEM_ERROR, f"the body has no list {name}")
    return items


def _last_physical_end(cq: ConsumeQueue) -> int:
    """``ConsumeQueue#getLastOffset``: commit-log end (offset + size) of the last entry,
    -1 when the queue holds none."""
    high = cq.max_offset_in_queue()
    if high <= cq.min_offset_in_queue():
        return -1
    entries = cq.get_entries(high - 1, 1)
    if not entries or entries[0].size <= 0:
        return -1
    return entries[0].physical_offset + entries[0].size
