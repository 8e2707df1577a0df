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
    from collections.abc import Callable

    from rocketq.broker.client_manager import ProducerManager
    from rocketq.broker.config import BrokerConfig
    from rocketq.broker.consumer_offset import ConsumerOffsetManager
    from rocketq.broker.registrar import Registrar
    from rocketq.broker.stats import BrokerStatsManager
    from rocketq.broker.topic_config import TopicConfigManager
    from rocketq.store.config import StoreConfig
    from rocketq.store.message_store import DefaultMessageStore

__all__ = ["TransactionalMessageService"]


class TransactionalMessageService:
    """Owns the bridge, the END_TRANSACTION processor and the check service."""

    def __init__(
        self,
        *,
        config: BrokerConfig,
        store_config: StoreConfig,
        store: DefaultMessageStore,
        topic_config_manager: TopicConfigManager,
        consumer_offset_manager: ConsumerOffsetManager,
        producer_manager: ProducerManager,
        registrar: Registrar,
        wake_schedule: Callable[[], None],
        stats: BrokerStatsManager | None = None,
    ) -> None:
        self.bridge = TransactionalMessageBridge(
            store, topic_config_manager, consumer_offset_manager, registrar, stats
        )
        self.end_transaction = EndTransactionProcessor(store_config, self.bridge, wake_schedule)
        self.check_service = TransactionalMessageCheckService(
            config, store_config, producer_manager, self.bridge
        )

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
