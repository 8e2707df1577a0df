"""END_TRANSACTION (37): a producer commits or rolls back a half message
(RocketMQ ``EndTransactionProcessor``, broker-features.md §7.2).

Commit writes the real message (REAL_TOPIC/REAL_QID, sysFlag COMMIT) and then an op
record; rollback writes only the op record; "unknown" (0) does nothing and is not
answered. Clients send it one-way, so the response matters only to those that ask.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rocketq.broker.transaction.bridge import TransactionalMessageBridge, real_message
from rocketq.broker.transaction.state import TRANS_HALF_TOPIC, EndAction, end_action
from rocketq.common.message import MessageConst
from rocketq.common.record import MessageRecord
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers import EndTransactionRequestHeader
from rocketq.store.config import SLAVE
from rocketq.store.result import PutMessageStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from rocketq.store.config import StoreConfig

__all__ = ["EndTransactionProcessor", "check_prepare_message"]

log = logging.getLogger("rocketq.broker.transaction")

# sendFinalMessage: what a failed put of the committed message answers.
_PUT_FAILURES: dict[PutMessageStatus, tuple[int, str]] = {
    PutMessageStatus.CREATE_MAPPED_FILE_FAILED: (
        ResponseCode.SYSTEM_ERROR,
        "Create mapped file failed.",
    ),
    PutMessageStatus.MESSAGE_ILLEGAL: (
        ResponseCode.MESSAGE_ILLEGAL,
        "The message is illegal, maybe msg body or properties length not matched.",
    ),
    PutMessageStatus.PROPERTIES_SIZE_EXCEEDED: (
        ResponseCode.MESSAGE_ILLEGAL,
        "The message is illegal, msg properties length limit 32KB.",
    ),
    PutMessageStatus.SERVICE_NOT_AVAILABLE: (
        ResponseCode.SERVICE_NOT_AVAILABLE,
        "Service not available now.",
    ),
    PutMessageStatus.OS_PAGE_CACHE_BUSY: (
        ResponseCode.SYSTEM_ERROR,
        "OS page cache busy, please try another machine",
    ),
}


def check_prepare_message(
    half: MessageRecord | None, header: EndTransactionRequestHeader
) -> str | None:
    """``checkPrepareMessage``: why the request does not match its half message, or None.

    rocketq also refuses a record that is not in the half topic (Java fails there too,
    with a NullPointerException on the missing PGROUP, or commits a stray copy).
    """
    if half is None or half.topic != TRANS_HALF_TOPIC:
        return "Find prepared transaction message failed"
    props = half.properties_map()
    if props.get(MessageConst.PRODUCER_GROUP) != header.producer_group:
        return "The producer group wrong"
    if half.queue_offset != header.tran_state_table_offset:
        return "The transaction state table offset wrong"
    if half.physical_offset != header.commit_log_offset:
        return "The commit log offset wrong"
    return None


class EndTransactionProcessor:
    """Applies a producer's commit or rollback to a half message."""

    def __init__(
        self,
        store_config: StoreConfig,
        bridge: TransactionalMessageBridge,
        wake_schedule: Callable[[], None],
    ) -> None:
        self.store_config = store_config
        self.bridge = bridge
        self.wake_schedule = wake_schedule  # a commit with a delay level parks it there

    async def process(self, conn: Connection, req: RemotingCommand) -> RemotingCommand | None:
        """Entry point for code 37."""
        header = EndTransactionRequestHeader.from_ext(req.ext_fields)
        if self.store_config.broker_role == SLAVE:
            log.warning("END_TRANSACTION from %s refused: this broker is a slave", conn.peer)
            return req.make_response(
                ResponseCode.SLAVE_NOT_AVAILABLE,
                "Message store is slave mode, so end transaction is forbidden.",
            )
        action = end_action(header.commit_or_rollback)
        source = "check-back answer" if header.from_transaction_check else "end of transaction"
        if action is EndAction.IGNORE:
            log.info(
                "%s from %s for %s: still pending (%s)",
                source, conn.peer, header.msg_id, req.remark or "no remark",
            )  # fmt: skip
            return None
        half = self.bridge.look_message_by_offset(header.commit_log_offset)
        problem = check_prepare_message(half, header)
        if problem is not None or half is None:
            log.warning("%s from %s refused: %s (%s)", source, conn.peer, problem, header)
            return req.make_response(ResponseCode.SYSTEM_ERROR, problem)
        if action is EndAction.COMMIT:
            failure = await self._commit(half)
            if failure is not None:
                return req.make_response(*failure)
        else:
            log.info("%s from %s: rollback of %s", source, conn.peer, header.msg_id)
        await self.bridge.put_op_message(half)
        return req.make_response()

    async def _commit(self, half: MessageRecord) -> tuple[int, str] | None:
        """Write the real message (``endMessageTransaction`` + ``sendFinalMessage``)."""
        msg = real_message(half, len(self.bridge.store.delay_levels), self.store_config)
        result = await self.bridge.put(msg)
        if result.status.stored:
            if msg.topic != half.properties_map().get(MessageConst.REAL_TOPIC):
                self.wake_schedule()  # committed with a delay level
            return None
        log.error("committed message for %s not stored: %s", msg.topic, result.status)
        return _PUT_FAILURES.get(result.status, (ResponseCode.SYSTEM_ERROR, "UNKNOWN_ERROR"))
