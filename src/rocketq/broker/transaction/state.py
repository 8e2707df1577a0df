"""The transaction state machine of a half message, as tables (RocketMQ
``EndTransactionProcessor``, ``TransactionalMessageServiceImpl``).

A half (prepared) message lives in ``RMQ_SYS_TRANS_HALF_TOPIC`` until an op record in
``RMQ_SYS_TRANS_OP_HALF_TOPIC`` names its half-queue offset::

             END_TRANSACTION commit (8)            END_TRANSACTION rollback (12)
    +------+ ---------------------------> COMMITTED    +------+ ---------------> ROLLED_BACK
    | HALF |   real message + op record                | HALF |   op record only
    +------+ <--- unknown (0): nothing happens         +------+
       |  check-back, TRANSACTION_CHECK_TIMES < transactionCheckMax:
       |      a copy with CHECK_TIMES + 1 is appended (a new HALF), the old offset is passed
       |  CHECK_TIMES >= transactionCheckMax, or older than fileReservedTime:
       +----> DISCARDED (copied to TRANS_CHECK_MAX_TIME_TOPIC)

Here are the names of those topics and properties, and the tables that decide what an
END_TRANSACTION request does.
"""

from __future__ import annotations

from enum import Enum

from rocketq.common.message import MessageConst, SysFlag
from rocketq.common.topic import TRANS_CHECK_MAX_TIME_TOPIC, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC

__all__ = [
    "CHECK_IMMUNITY_TIME_IN_SECONDS",
    "END_TRANSACTION_ACTIONS",
    "REMOVE_TAG",
    "TRANSACTION_CHECK_TIMES",
    "TRANSACTION_PREPARED_QUEUE_OFFSET",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "TRANS_HALF_TOPIC",
    "TRANS_OP_HALF_TOPIC",
    "TRANS_SYS_GROUP",
    "EndAction",
    "end_action",
]

# TopicValidator / TransactionalMessageUtil names.
# The consumer group under which the check service keeps its half/op progress.
TRANS_SYS_GROUP = "CID_RMQ_SYS_TRANS"
# TransactionalMessageUtil.REMOVETAG: the tag of an op record ("delete prepare").
REMOVE_TAG = "d"

# MessageConst keys the broker reads or writes on half messages (not in common.MessageConst).
TRANSACTION_CHECK_TIMES = MessageConst.TRANSACTION_CHECK_TIMES
CHECK_IMMUNITY_TIME_IN_SECONDS = MessageConst.CHECK_IMMUNITY_TIME_IN_SECONDS
TRANSACTION_PREPARED_QUEUE_OFFSET = MessageConst.TRANSACTION_PREPARED_QUEUE_OFFSET


class EndAction(Enum):
    """What END_TRANSACTION does to the half message."""

    IGNORE = "ignore"  # no answer, nothing written (pending / unknown type)
    COMMIT = "commit"  # write the real message, then an op record
    ROLLBACK = "rollback"  # write an op record only


# commitOrRollback -> action. The same for requests from a check-back and from the sender;
# only the log line differs in Java. Any other value is ignored, as Java's ``default``.
END_TRANSACTION_ACTIONS: dict[int, EndAction] = {
    SysFlag.TRANSACTION_NOT_TYPE: EndAction.IGNORE,
    SysFlag.TRANSACTION_COMMIT_TYPE: EndAction.COMMIT,
    SysFlag.TRANSACTION_ROLLBACK_TYPE: EndAction.ROLLBACK,
}


def end_action(commit_or_rollback: int) -> EndAction:
    """The action for a ``commitOrRollback`` value (unknown values are ignored)."""
    return END_TRANSACTION_ACTIONS.get(commit_or_rollback, EndAction.IGNORE)
