"""The broker's request processors, one module per RocketMQ processor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rocketq.broker.processor.admin import register_admin_processors
from rocketq.broker.processor.client_manage import ClientManageProcessor
from rocketq.broker.processor.send import SendMessageProcessor
from rocketq.broker.processor.send_back import SendBackProcessor
from rocketq.remoting.codes import RequestCode
from rocketq.remoting.connection import ProcessorTable

if TYPE_CHECKING:
    from rocketq.broker.controller import BrokerController

__all__ = ["build_processor_table"]


def build_processor_table(ctl: BrokerController) -> ProcessorTable:
    """Every request code the broker answers."""
    table = ProcessorTable()
    rc = RequestCode
    send = SendMessageProcessor(ctl)
    for code in (rc.SEND_MESSAGE, rc.SEND_MESSAGE_V2, rc.SEND_BATCH_MESSAGE):
        table.register(code, send.process)
    table.register(rc.CONSUMER_SEND_MSG_BACK, SendBackProcessor(ctl).process)
    table.register(rc.END_TRANSACTION, ctl.transaction_service.end_transaction.process)
    table.register(rc.PULL_MESSAGE, ctl.pull_processor.process)
    # Java 5 lite pull consumers send the same request under its own code.
    table.register(rc.LITE_PULL_MESSAGE, ctl.pull_processor.process)
    client = ClientManageProcessor(ctl)
    table.register(rc.HEART_BEAT, client.heartbeat)
    table.register(rc.UNREGISTER_CLIENT, client.unregister_client)
    table.register(rc.CHECK_CLIENT_CONFIG, client.check_client_config)
    table.register(rc.GET_CONSUMER_LIST_BY_GROUP, client.consumer_list)
    table.register(rc.QUERY_CONSUMER_OFFSET, client.query_consumer_offset)
    table.register(rc.UPDATE_CONSUMER_OFFSET, client.update_consumer_offset)
    register_admin_processors(table, ctl)
    return table
