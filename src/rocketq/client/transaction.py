"""``AsyncTransactionProducer``: transactional messages (RocketMQ ``TransactionMQProducer``;
``DefaultMQProducerImpl#sendMessageInTransaction``/``endTransaction``/
``checkTransactionState``; client-behaviour.md §8).

1. ``send_message_in_transaction(msg, arg)`` sends a half message (``TRAN_MSG=true``,
   ``PGROUP``) that no consumer sees yet;
2. runs the local transaction (``execute_local_transaction(msg, arg)``);
3. tells the broker the outcome with a one-way END_TRANSACTION.

When that outcome is UNKNOW, or the producer died before telling it, the broker later
asks some live producer of the same group CHECK_TRANSACTION_STATE, which calls
``check_local_transaction(msg)`` and answers with END_TRANSACTION
(``fromTransactionCheck=true``). The local state maps to the wire value by one table::

    LocalTransactionState   commitOrRollback   broker does
    COMMIT_MESSAGE          8 (COMMIT)         writes the real message, marks the half done
    ROLLBACK_MESSAGE        12 (ROLLBACK)      marks the half done
    UNKNOW                  0 (NOT)            nothing: it will check back later

The blocking ``TransactionProducer`` (:mod:`rocketq.client.sync`) runs the same core and
calls the two hooks off the event loop.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, TypeAlias

from rocketq.client.config import ClientConfig, ProducerConfig
from rocketq.client.instance import MQClientInstance
from rocketq.client.message import Message, MessageExt, MessageQueue, SendResult, SendStatus
from rocketq.client.producer import AsyncProducer
from rocketq.common.errors import BrokerError, ClientError, RemotingError
from rocketq.common.message import MessageConst, SysFlag
from rocketq.common.record import RecordFormatError, decode_offset_msg_id
from rocketq.common.tasks import TaskOwner
from rocketq.remoting.codes import RequestCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers import (
    CheckTransactionStateRequestHeader,
    EndTransactionRequestHeader,
)

__all__ = [
    "AsyncTransactionProducer",
    "LocalTransactionState",
    "TransactionListener",
    "TransactionSendResult",
    "local_state",
]

log = logging.getLogger("rocketq.client")


class LocalTransactionState(Enum):
    """Outcome of a local transaction (Java's spelling, UNKNOW included)."""

    COMMIT_MESSAGE = "COMMIT_MESSAGE"
    ROLLBACK_MESSAGE = "ROLLBACK_MESSAGE"
    UNKNOW = "UNKNOW"


# LocalTransactionState -> END_TRANSACTION commitOrRollback (MessageSysFlag values).
COMMIT_OR_ROLLBACK: dict[LocalTransactionState, int] = {
    LocalTransactionState.COMMIT_MESSAGE: SysFlag.TRANSACTION_COMMIT_TYPE,
    LocalTransactionState.ROLLBACK_MESSAGE: SysFlag.TRANSACTION_ROLLBACK_TYPE,
    LocalTransactionState.UNKNOW: SysFlag.TRANSACTION_NOT_TYPE,
}

StateResult: TypeAlias = LocalTransactionState | Awaitable[LocalTransactionState | None] | None
LocalExecutor: TypeAlias = Callable[[Message, object], StateResult]
LocalChecker: TypeAlias = Callable[[MessageExt], StateResult]


class TransactionListener(Protocol):
    """Java's ``TransactionListener``: both methods may be plain or ``async``; returning
    None (or raising) counts as UNKNOW."""

    def execute_local_transaction(self, msg: Message, arg: object) -> StateResult:
        """Run the local transaction of a half message just sent."""
        ...

    def check_local_transaction(self, msg: MessageExt) -> StateResult:
        """Tell the broker how the local transaction of ``msg`` ended."""
        ...


@dataclass(frozen=True, slots=True)
class TransactionSendResult:
    """``TransactionSendResult``: where the half message went and the local outcome."""

    status: SendStatus
    msg_id: str
    offset_msg_id: str
    message_queue: MessageQueue
    queue_offset: int
    transaction_id: str | None
    local_transaction_state: LocalTransactionState


def _raised(exc: Exception) -> tuple[LocalTransactionState, str | None]:
    log.info("local transaction hook raised: %r", exc)
    return LocalTransactionState.UNKNOW, f"{type(exc).__name__}: {exc}"


def _returned(result: object) -> tuple[LocalTransactionState, str | None]:
    if isinstance(result, LocalTransactionState):
        return result, None
    # None, or something else from an untyped hook.
    return LocalTransactionState.UNKNOW, None if result is None else f"returned {result!r}"


async def _run_state(fn: Callable[[], StateResult]) -> tuple[LocalTransactionState, str | None]:
    """Call a user hook; (state, remark) where errors and None become UNKNOW."""
    try:
        result = fn()
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        return _raised(exc)
    return _returned(result)


def local_state(fn: Callable[[], object]) -> tuple[LocalTransactionState, str | None]:
    """:func:`_run_state` for a plain hook called on the current thread (the blocking
    producer runs the local transaction on its caller's thread, as Java does)."""
    try:
        result = fn()
    except Exception as exc:
        return _raised(exc)
    return _returned(result)


class AsyncTransactionProducer(AsyncProducer):
    """A producer group that sends transactional messages and answers check-backs.

    Give either ``listener`` (an object with ``execute_local_transaction`` and
    ``check_local_transaction``) or the two callables; a hook may be ``async``.
    """

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        listener: TransactionListener | None = None,
        execute_local_transaction: LocalExecutor | None = None,
        check_local_transaction: LocalChecker | None = None,
        config: ProducerConfig | None = None,
        client_config: ClientConfig | None = None,
        instance: MQClientInstance | None = None,
    ) -> None:
        super().__init__(
            group, namesrv_addr, config=config, client_config=client_config, instance=instance
        )
        self.execute_local_transaction = execute_local_transaction or (
            listener.execute_local_transaction if listener is not None else None
        )
        self.check_local_transaction = check_local_transaction or (
            listener.check_local_transaction if listener is not None else None
        )
        # Check-backs being answered; None before start(), closed by aclose().
        self._checks: TaskOwner | None = None

    async def start(self) -> None:
        """Start, then register with the brokers at once (Java waits for the 30 s
        heartbeat), so that check-backs can reach this producer soon."""
        await super().start()
        self._checks = TaskOwner(log)
        try:
            await self.instance.update_topic_route(self.config.create_topic_key)
            await self.instance.send_heartbeat_to_all_brokers()
        except (RemotingError, BrokerError) as exc:
            log.info("first heartbeat of %s failed (the periodic one will retry): %s", self, exc)

    async def aclose(self) -> None:
        """Drop unanswered check-backs (the broker asks again), then close."""
        if self._checks is not None:
            await self._checks.aclose()
        await super().aclose()

    def __repr__(self) -> str:
        return f"AsyncTransactionProducer({self.group!r})"

    # -- sending ----------------------------------------------------------------------------

    async def send_message_in_transaction(
        self, msg: Message, arg: object = None, *, timeout: float | None = None
    ) -> TransactionSendResult:
        """Send ``msg`` as a half message, run the local transaction, end it on the broker.

        A delay level is ignored (as Java does). Raises when the half message could not be
        sent; an error while ending the transaction is only logged (the check-back heals).
        """
        execute = self.execute_local_transaction
        if execute is None:
            raise ClientError("a transaction producer needs execute_local_transaction")
        half, result = await self.send_half_message(msg, timeout=timeout)
        state, remark = LocalTransactionState.ROLLBACK_MESSAGE, None
        if result.status is SendStatus.SEND_OK:
            state, remark = await _run_state(lambda: execute(half, arg))
        return await self.finish_transaction(result, state, remark, msg=half)

    async def send_half_message(
        self, msg: Message, *, timeout: float | None = None
    ) -> tuple[Message, SendResult]:
        """Step 1: send ``msg`` as a half message; the message as sent (with TRANSACTION_ID
        when the broker gave one) and where it went."""
        props = {k: v for k, v in msg.properties.items() if k != MessageConst.DELAY_TIME_LEVEL}
        props[MessageConst.TRANSACTION_PREPARED] = "true"
        props[MessageConst.PRODUCER_GROUP] = self.group
        props.setdefault(
            MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX, self.instance.uniq_ids.next_id()
        )
        half = dataclasses.replace(msg, properties=props, delay_time_level=0)
        result = await self.send(half, timeout=timeout)
        if result.status is SendStatus.SEND_OK and result.transaction_id:
            props[MessageConst.TRANSACTION_ID] = result.transaction_id
        return half, result

    async def finish_transaction(
        self,
        result: SendResult,
        state: LocalTransactionState,
        remark: str | None = None,
        *,
        msg: Message | None = None,
    ) -> TransactionSendResult:
        """Step 3: tell the broker the local outcome (a half not stored safely, e.g. after a
        flush/slave timeout, is rolled back as Java does); errors are only logged. With
        message trace, the half message ``msg`` gets an EndTransaction record."""
        if result.status is not SendStatus.SEND_OK:
            state = LocalTransactionState.ROLLBACK_MESSAGE
        try:
            await self.end_transaction(result, state, remark, msg=msg)
        except (RemotingError, BrokerError, RecordFormatError) as exc:
            log.warning("local transaction %s, but ending it failed: %s", state.value, exc)
        return TransactionSendResult(
            result.status,
            result.msg_id,
            result.offset_msg_id,
            result.message_queue,
            result.queue_offset,
            result.transaction_id or result.msg_id,
            state,
        )

    async def end_transaction(
        self,
        result: SendResult,
        state: LocalTransactionState,
        remark: str | None = None,
        *,
        msg: Message | None = None,
    ) -> None:
        """END_TRANSACTION (one-way) for a half message sent with ``result``; the
        EndTransaction trace of ``msg`` first (``doExecuteEndTransactionHook``)."""
        _, commit_log_offset = decode_offset_msg_id(result.offset_msg_id or result.msg_id)
        broker = result.message_queue.broker_name
        addr = self.instance.find_broker_addr_master(broker)
        if addr is None:
            raise BrokerError(1, f"The broker[{broker}] not exist")
        if self.trace is not None and msg is not None:
            self.trace.on_end_transaction(self.group, msg, result.msg_id, addr, state.value, False)
        header = EndTransactionRequestHeader(
            producer_group=self.group,
            tran_state_table_offset=result.queue_offset,
            commit_log_offset=commit_log_offset,
            commit_or_rollback=COMMIT_OR_ROLLBACK[state],
            from_transaction_check=False,
            msg_id=result.msg_id,
            transaction_id=result.transaction_id or result.msg_id,
        )
        cmd = RemotingCommand.request(RequestCode.END_TRANSACTION, header.to_ext())
        cmd.remark = remark
        await self.instance.remoting.invoke_oneway(addr, cmd)

    # -- check-back -------------------------------------------------------------------------

    def check_transaction_state(
        self, conn: Connection, msg: MessageExt, header: CheckTransactionStateRequestHeader
    ) -> None:
        """A broker asks about ``msg`` (called by the client instance): run the checker in
        a task this producer owns and answer on the same connection."""
        if self._checks is None or self._checks.closed:
            log.info("check-back for %s dropped: %r is not running", msg.msg_id, self)
            return
        self._checks.spawn(self._answer_check(conn, msg, header), f"tx-check-{header.msg_id}")

    async def _answer_check(
        self, conn: Connection, msg: MessageExt, header: CheckTransactionStateRequestHeader
    ) -> None:
        check = self.check_local_transaction
        if check is None:
            log.warning("check-back for %s but no check_local_transaction is set", msg.msg_id)
            return
        state, remark = await _run_state(lambda: check(msg))
        unique = msg.properties.get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX) or msg.msg_id
        end = EndTransactionRequestHeader(
            producer_group=self.group,
            tran_state_table_offset=header.tran_state_table_offset,
            commit_log_offset=header.commit_log_offset,
            commit_or_rollback=COMMIT_OR_ROLLBACK[state],
            from_transaction_check=True,
            msg_id=unique,
            transaction_id=header.transaction_id,
        )
        cmd = RemotingCommand.request(RequestCode.END_TRANSACTION, end.to_ext())
        cmd.remark = remark
        if self.trace is not None:
            self.trace.on_end_transaction(self.group, msg, unique, conn.peer, state.value, True)
        try:
            conn.send_oneway(cmd)
        except RemotingError as exc:
            log.warning("answering the check-back of %s failed: %s", unique, exc)
