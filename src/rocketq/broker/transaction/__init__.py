"""Transaction messages on the broker: half messages, END_TRANSACTION, op records and the
check-back service (RocketMQ ``broker/transaction``; broker-features.md §7).

Modules: ``state`` (names and the END_TRANSACTION table), ``bridge`` (message
transformations and store access), ``end_transaction`` (the processor), ``check`` (the
check-back service) and ``service`` (the object the controller owns).
"""

from rocketq.broker.transaction.bridge import TransactionalMessageBridge, is_transaction_prepared
from rocketq.broker.transaction.check import CheckStats, TransactionalMessageCheckService
from rocketq.broker.transaction.end_transaction import EndTransactionProcessor
from rocketq.broker.transaction.service import TransactionalMessageService
from rocketq.broker.transaction.state import (
    TRANS_CHECK_MAX_TIME_TOPIC,
    TRANS_HALF_TOPIC,
    TRANS_OP_HALF_TOPIC,
    TRANS_SYS_GROUP,
    EndAction,
)

__all__ = [
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "TRANS_HALF_TOPIC",
    "TRANS_OP_HALF_TOPIC",
    "TRANS_SYS_GROUP",
    "CheckStats",
    "EndAction",
    "EndTransactionProcessor",
    "TransactionalMessageBridge",
    "TransactionalMessageCheckService",
    "TransactionalMessageService",
    "is_transaction_prepared",
]
