"""HEART_BEAT, UNREGISTER_CLIENT, CHECK_CLIENT_CONFIG (``ClientManageProcessor``) and
GET_CONSUMER_LIST_BY_GROUP, QUERY/UPDATE_CONSUMER_OFFSET (``ConsumerManageProcessor``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rocketq.broker.client_manager import ClientChannelInfo
from rocketq.broker.filter import Sql92ParseError
from rocketq.common.errors import BrokerError, ProtocolError
from rocketq.common.topic import PERM_READ, PERM_WRITE, retry_topic
from rocketq.remoting import fastjson
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers import (
    GetConsumerListByGroupRequestHeader,
    QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader,
    UnregisterClientRequestHeader,
    UpdateConsumerOffsetRequestHeader,
)
from rocketq.remoting.heartbeat import EXPRESSION_TAG, HeartbeatData, SubscriptionData

if TYPE_CHECKING:
    from rocketq.broker.client_manager import ConsumerManager, ProducerManager
    from rocketq.broker.config import BrokerConfig
    from rocketq.broker.consumer_offset import ConsumerOffsetManager
    from rocketq.broker.filter import Sql92FilterCache
    from rocketq.broker.registrar import Registrar
    from rocketq.broker.subscription_group import SubscriptionGroupManager
    from rocketq.broker.topic_config import TopicConfigManager
    from rocketq.store.message_store import DefaultMessageStore

__all__ = ["ClientManageProcessor"]


class ClientManageProcessor:
    """Client registration and consumer group bookkeeping."""

    def __init__(
        self,
        *,
        config: BrokerConfig,
        store: DefaultMessageStore,
        topic_config_manager: TopicConfigManager,
        subscription_group_manager: SubscriptionGroupManager,
        consumer_manager: ConsumerManager,
        producer_manager: ProducerManager,
        consumer_offset_manager: ConsumerOffsetManager,
        sql92_filters: Sql92FilterCache,
        registrar: Registrar,
    ) -> None:
        self.config = config
        self.store = store
        self.topic_config_manager = topic_config_manager
        self.subscription_group_manager = subscription_group_manager
        self.consumer_manager = consumer_manager
        self.producer_manager = producer_manager
        self.consumer_offset_manager = consumer_offset_manager
        self.sql92_filters = sql92_filters  # the pull processor's: one cache of selectors
        self.registrar = registrar

    async def heartbeat(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Record the client's producer and consumer groups."""
        try:
            data = HeartbeatData.decode(req.body)
        except ProtocolError as exc:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, f"bad heartbeat body: {exc}") from exc
        info = ClientChannelInfo(conn, data.client_id, req.language, req.version)
        created = False
        for consumer in data.consumer_data_set:
            group = self.subscription_group_manager.find(consumer.group_name)
            notify = True
            if group is not None:
                notify = group.notify_consumer_ids_changed_enable
                retry = retry_topic(consumer.group_name)
                if self.topic_config_manager.select(retry) is None:
                    self.topic_config_manager.create_in_send_back(
                        retry, group.retry_queue_nums, PERM_READ | PERM_WRITE
                    )
                    created = True
            self.consumer_manager.register(
                info, consumer, notify and self.config.notify_consumer_ids_changed_enable
            )
        for producer in data.producer_data_set:
            self.producer_manager.register(producer.group_name, info)
        if created:
            # Like createTopicInSendMessageBackMethod: register before answering, so the
            # consumer's next route lookup already finds %RETRY%group.
            await self.registrar.register_broker_all()
        return req.make_response()

    def unregister_client(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """A client is shutting down a producer and/or consumer group."""
        h = UnregisterClientRequestHeader.from_ext(req.ext_fields)
        if h.producer_group:
            self.producer_manager.unregister(h.producer_group, conn)
        if h.consumer_group:
            group = self.subscription_group_manager.table.get(h.consumer_group)
            notify = group.notify_consumer_ids_changed_enable if group is not None else True
            self.consumer_manager.unregister(h.consumer_group, conn, notify)
        return req.make_response()

    def check_client_config(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Java asks before subscribing with SQL92: is the expression usable here?"""
        try:
            body = fastjson.loads(req.body or b"{}")
            sub = SubscriptionData.from_obj(body.get("subscriptionData") or {})
        except (ProtocolError, AttributeError, ValueError) as exc:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, f"bad check body: {exc}") from exc
        if sub.expression_type == EXPRESSION_TAG:
            return req.make_response()
        if not self.config.enable_property_filter:
            raise BrokerError(
                ResponseCode.SYSTEM_ERROR,
                f"The broker does not support consumer to filter message by {sub.expression_type}",
            )
        try:
            self.sql92_filters.compile(sub.expression_type, sub.sub_string)
        except Sql92ParseError as exc:
            raise BrokerError(ResponseCode.SUBSCRIPTION_PARSE_FAILED, exc.message) from exc
        return req.make_response()

    def consumer_list(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """The client ids of a group (clients sort them and take their share)."""
        h = GetConsumerListByGroupRequestHeader.from_ext(req.ext_fields)
        info = self.consumer_manager.groups.get(h.consumer_group)
        ids = info.client_ids() if info is not None else []
        if not ids:
            return req.make_response(
                ResponseCode.SYSTEM_ERROR, f"no consumer for this group, {h.consumer_group}"
            )
        return req.make_response(body=fastjson.dumps({"consumerIdList": ids}))

    def query_consumer_offset(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """The committed offset; 0 for a queue whose first message is still there (a new
        group starts from the beginning of a young queue), else QUERY_NOT_FOUND."""
        h = QueryConsumerOffsetRequestHeader.from_ext(req.ext_fields)
        offset = self.consumer_offset_manager.query(h.consumer_group, h.topic, h.queue_id)
        if offset < 0 and h.set_zero_if_not_found is not False and self._first_in_memory(h):
            offset = 0
        if offset < 0:
            return req.make_response(
                ResponseCode.QUERY_NOT_FOUND,
                "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
                ext_fields={},
            )
        ext = QueryConsumerOffsetResponseHeader(offset=offset).to_ext()
        return req.make_response(ext_fields=ext)

    def _first_in_memory(self, h: QueryConsumerOffsetRequestHeader) -> bool:
        """The queue still starts at offset 0 (empty, or its first message not yet cleaned)."""
        store = self.store
        if store.get_min_offset_in_queue(h.topic, h.queue_id) > 0:
            return False
        if store.get_max_offset_in_queue(h.topic, h.queue_id) == 0:
            return True
        return store.get_message_store_timestamp(h.topic, h.queue_id, 0) != -1

    def update_consumer_offset(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Store a group's progress on a queue."""
        h = UpdateConsumerOffsetRequestHeader.from_ext(req.ext_fields)
        self.consumer_offset_manager.commit(h.consumer_group, h.topic, h.queue_id, h.commit_offset)
        return req.make_response()
