"""The broker's request processors, one module per RocketMQ processor.

Each processor is given the parts it uses (store, managers, config, a narrow
:class:`~rocketq.broker.registrar.Registrar`), never the controller (DESIGN house style
17), so it can be built alone in a test; :func:`build_processor_table` is where the
controller's parts are handed out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rocketq.broker import plain_send
from rocketq.broker.pop import PopService
from rocketq.broker.processor.admin import AdminBrokerProcessor, register_admin_processors
from rocketq.broker.processor.admin_maintenance import AdminMaintenanceProcessor
from rocketq.broker.processor.admin_relay import AdminRelayProcessor
from rocketq.broker.processor.admin_stats import AdminStatsProcessor
from rocketq.broker.processor.client_manage import ClientManageProcessor
from rocketq.broker.processor.ha_status import HAStatusProcessor
from rocketq.broker.processor.notification import NotificationProcessor
from rocketq.broker.processor.pop import PopMessageProcessor
from rocketq.broker.processor.query import QueryMessageProcessor
from rocketq.broker.processor.query_assignment import QueryAssignmentProcessor, TopicSubscribeInfo
from rocketq.broker.processor.reply import ReplyMessageProcessor
from rocketq.broker.processor.send import SendMessageProcessor
from rocketq.broker.processor.send_back import SendBackProcessor
from rocketq.remoting.codes import RequestCode
from rocketq.remoting.connection import Processor, ProcessorTable

if TYPE_CHECKING:
    from rocketq.broker.controller import BrokerController

__all__ = ["build_processor_table"]


def build_processor_table(ctl: BrokerController) -> ProcessorTable:
    """Every request code the broker answers, each processor built from ``ctl``'s parts."""
    table = ProcessorTable()
    rc = RequestCode
    send = SendMessageProcessor(
        config=ctl.config,
        store_config=ctl.store_config,
        store=ctl.store,
        topic_config_manager=ctl.topic_config_manager,
        subscription_group_manager=ctl.subscription_group_manager,
        transactions=ctl.transaction_service,
        registrar=ctl,
        stats=ctl.broker_stats_manager,
    )
    for code in (rc.SEND_MESSAGE, rc.SEND_MESSAGE_V2, rc.SEND_BATCH_MESSAGE):
        table.register(code, send.handle, send.handle_many)
    plain_send.install(table)  # a Java client's usual send read straight from its frame
    send_back = SendBackProcessor(
        config=ctl.config,
        store=ctl.store,
        topic_config_manager=ctl.topic_config_manager,
        subscription_group_manager=ctl.subscription_group_manager,
        registrar=ctl,
        stats=ctl.broker_stats_manager,
    )
    table.register(rc.CONSUMER_SEND_MSG_BACK, send_back.process)
    reply = ReplyMessageProcessor(
        config=ctl.config,
        store=ctl.store,
        topic_config_manager=ctl.topic_config_manager,
        producer_manager=ctl.producer_manager,
        consumer_manager=ctl.consumer_manager,
        registrar=ctl,
        stats=ctl.broker_stats_manager,
    )
    for code in (rc.SEND_REPLY_MESSAGE, rc.SEND_REPLY_MESSAGE_V2):
        table.register(code, reply.process)
    table.register(rc.END_TRANSACTION, ctl.transaction_service.end_transaction.process)
    table.register(rc.PULL_MESSAGE, ctl.pull_processor.process)
    # Java 5 lite pull consumers send the same request under its own code.
    table.register(rc.LITE_PULL_MESSAGE, ctl.pull_processor.process)
    _register_client_manage(table, ctl)
    _register_pop(table, ctl)
    table.register(rc.GET_BROKER_HA_STATUS, HAStatusProcessor(ctl.store, ctl.store_config).process)
    register_admin_processors(
        table, _admin(ctl), QueryMessageProcessor(ctl.store_config, ctl.store)
    )
    _register_admin_extras(table, ctl)
    return table


def _register_client_manage(table: ProcessorTable, ctl: BrokerController) -> None:
    rc = RequestCode
    client = ClientManageProcessor(
        config=ctl.config,
        store=ctl.store,
        topic_config_manager=ctl.topic_config_manager,
        subscription_group_manager=ctl.subscription_group_manager,
        consumer_manager=ctl.consumer_manager,
        producer_manager=ctl.producer_manager,
        consumer_offset_manager=ctl.consumer_offset_manager,
        sql92_filters=ctl.pull_processor.sql92_filters,
        registrar=ctl,
    )
    table.register(rc.HEART_BEAT, client.heartbeat)
    table.register(rc.UNREGISTER_CLIENT, client.unregister_client)
    table.register(rc.CHECK_CLIENT_CONFIG, client.check_client_config)
    table.register(rc.GET_CONSUMER_LIST_BY_GROUP, client.consumer_list)
    table.register(rc.QUERY_CONSUMER_OFFSET, client.query_consumer_offset)
    table.register(rc.UPDATE_CONSUMER_OFFSET, client.update_consumer_offset)


def _register_pop(table: ProcessorTable, ctl: BrokerController) -> None:
    # One PopService per broker, shared with the gRPC front end (checkpoints, revive and
    # offsets); it runs while the broker is a master.
    def running() -> PopService | None:
        return ctl.pop_service if ctl.pop_service.running else None

    rc = RequestCode
    parts = (ctl.config, ctl.topic_config_manager, ctl.subscription_group_manager, running)
    pop = PopMessageProcessor(*parts)
    table.register(rc.POP_MESSAGE, pop.pop)
    table.register(rc.ACK_MESSAGE, pop.ack)
    table.register(rc.BATCH_ACK_MESSAGE, pop.batch_ack)
    table.register(rc.CHANGE_MESSAGE_INVISIBLETIME, pop.change_invisible_time)
    table.register(rc.NOTIFICATION, NotificationProcessor(*parts).process)
    modes = ctl.message_request_mode_manager  # the slave sync copies into it too
    modes.load()
    routes = TopicSubscribeInfo(ctl.outer_api.client, ctl.config.namesrv_addrs)
    assignment = QueryAssignmentProcessor(ctl.config, ctl.consumer_manager, modes, routes)
    table.register(rc.QUERY_ASSIGNMENT, assignment.query_assignment)
    table.register(rc.SET_MESSAGE_REQUEST_MODE, assignment.set_message_request_mode)
    table.register(rc.GET_ALL_MESSAGE_REQUEST_MODE, assignment.get_all_message_request_mode)


def _admin(ctl: BrokerController) -> AdminBrokerProcessor:
    return AdminBrokerProcessor(
        config=ctl.config,
        store_config=ctl.store_config,
        store=ctl.store,
        topic_config_manager=ctl.topic_config_manager,
        subscription_group_manager=ctl.subscription_group_manager,
        consumer_offset_manager=ctl.consumer_offset_manager,
        consumer_manager=ctl.consumer_manager,
        producer_manager=ctl.producer_manager,
        delay_offsets=ctl.schedule_service.offsets,
        registrar=ctl,
        boot_timestamp=ctl.boot_timestamp,
        stats=ctl.broker_stats_manager,
    )


def _register_admin_extras(table: ProcessorTable, ctl: BrokerController) -> None:
    """The admin codes beyond the basic ones: relayed to clients, statistics, maintenance."""
    rc = RequestCode
    relay = AdminRelayProcessor(
        config=ctl.config, store=ctl.store, consumer_manager=ctl.consumer_manager
    )
    stats = AdminStatsProcessor(
        config=ctl.config,
        store=ctl.store,
        topic_config_manager=ctl.topic_config_manager,
        subscription_group_manager=ctl.subscription_group_manager,
        consumer_offset_manager=ctl.consumer_offset_manager,
        consumer_manager=ctl.consumer_manager,
        producer_manager=ctl.producer_manager,
        stats=ctl.broker_stats_manager,
    )
    maintenance = AdminMaintenanceProcessor(
        store=ctl.store,
        topic_config_manager=ctl.topic_config_manager,
        subscription_group_manager=ctl.subscription_group_manager,
        consumer_offset_manager=ctl.consumer_offset_manager,
        consumer_manager=ctl.consumer_manager,
        registrar=ctl,
    )
    handlers: dict[int, Processor] = {
        rc.GET_CONSUMER_RUNNING_INFO: relay.get_consumer_running_info,
        rc.CONSUME_MESSAGE_DIRECTLY: relay.consume_message_directly,
        rc.INVOKE_BROKER_TO_GET_CONSUMER_STATUS: relay.get_consumer_status,
        rc.GET_BROKER_CONSUME_STATS: stats.get_broker_consume_stats,
        rc.VIEW_BROKER_STATS_DATA: stats.view_broker_stats_data,
        rc.QUERY_CONSUME_TIME_SPAN: stats.query_consume_time_span,
        rc.QUERY_TOPIC_CONSUME_BY_WHO: stats.query_topic_consume_by_who,
        rc.GET_ALL_PRODUCER_INFO: stats.get_all_producer_info,
        rc.QUERY_CONSUME_QUEUE: stats.query_consume_queue,
        rc.QUERY_CORRECTION_OFFSET: stats.query_correction_offset,
        rc.GET_SYSTEM_TOPIC_LIST_FROM_BROKER: stats.get_system_topic_list,
        rc.CLEAN_EXPIRED_CONSUMEQUEUE: maintenance.clean_expired_consume_queue,
        rc.DELETE_EXPIRED_COMMITLOG: maintenance.delete_expired_commit_log,
        rc.CLEAN_UNUSED_TOPIC: maintenance.clean_unused_topic,
        rc.CLONE_GROUP_OFFSET: maintenance.clone_group_offset,
        rc.RESUME_CHECK_HALF_MESSAGE: maintenance.resume_check_half_message,
        rc.GET_SUBSCRIPTIONGROUP_CONFIG: maintenance.get_subscription_group_config,
        rc.UPDATE_AND_CREATE_TOPIC_LIST: maintenance.update_and_create_topic_list,
        rc.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP_LIST: (
            maintenance.update_and_create_subscription_group_list
        ),
    }
    for code, handler in handlers.items():
        table.register(code, handler)
