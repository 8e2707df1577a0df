"""The broker's transaction feature in one object (RocketMQ
``TransactionalMessageService``): half-message puts for the send processor, the
END_TRANSACTION processor, and the check-back service (masters only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rocketq.broker.transaction.bridge import TransactionalMessageBridge
from rocketq.broker.transaction.check import CheckStats, TransactionalMessageCheckService
from rocketq.broker.transaction.end_transaction import EndTransactionProcessor
from rocketq.common.record import StoredMessage
from rocketq.store.result import PutMessageResult

if TYPE_CHECKING:
    from rocketq.broker.controller import BrokerController

__all__ = ["TransactionalMessageService"]


class TransactionalMessageService:
    """Owns the bridge, the END_TRANSACTION processor and the check service."""

    def __init__(self, controller: BrokerController) -> None:
        self.bridge = TransactionalMessageBridge(controller)
        self.end_transaction = EndTransactionProcessor(controller, self.bridge)
        self.check_service = TransactionalMessageCheckService(controller, self.bridge)

    async def prepare_message(self, msg: StoredMessage, wait_store: bool) -> PutMessageResult:
        """Store a prepared (``TRAN_MSG=true``) message as a half message."""
        return await self.bridge.put_half_message(msg, wait_store)

    def start(self) -> None:
        """Create the half/op topics and start checking (call on a master only)."""
        self.bridge.ensure_topics()
        self.check_service.start()

    async def aclose(self) -> None:
        """Stop the check service."""
        await self.check_service.aclose()

    def stats(self) -> CheckStats:
        """The check service's counters."""
        return self.check_service.stats()
