"""The orderly-consume queue locks (RocketMQ ``RebalanceLockManager``) and the LOCK_BATCH_MQ /
UNLOCK_BATCH_MQ requests that take and release them (``AdminBrokerProcessor#lockBatchMQ``,
``#unlockBatchMQ``); registered by ``register_admin_processors``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rocketq.common.errors import BrokerError, ProtocolError
from rocketq.remoting import fastjson
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection

__all__ = ["RebalanceLockManager", "RebalanceLockProcessor", "json_body"]

log = logging.getLogger("rocketq.broker")

# RebalanceLockManager.REBALANCE_LOCK_MAX_LIVE_TIME (rocketmq.broker.rebalance.lockMaxLiveTime):
# a queue lock not renewed for 60 s is free again (clients renew every 20 s).
DEFAULT_LOCK_MAX_LIVE_MS = 60_000


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class _LockEntry:
    client_id: str
    last_update: int


class RebalanceLockManager:
    """group -> queue -> (owner client id, last renewal); a lock is free once expired."""

    def __init__(
        self,
        max_live_ms: int = DEFAULT_LOCK_MAX_LIVE_MS,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self.max_live_ms = max_live_ms
        self.clock = clock
        self.table: dict[str, dict[tuple[str, str, int], _LockEntry]] = {}

    def try_lock_batch(
        self, group: str, mqs: list[tuple[str, str, int]], client_id: str
    ) -> list[tuple[str, str, int]]:
        """Lock what is free, expired or already ours; return the queues now held."""
        now = self.clock()
        locks = self.table.setdefault(group, {})
        held = []
        for mq in mqs:
            entry = locks.get(mq)
            if entry is None or entry.client_id == client_id:
                locks[mq] = _LockEntry(client_id, now)
            elif now - entry.last_update > self.max_live_ms:
                log.warning(
                    "lock of %s in %s expired: %s -> %s", mq, group, entry.client_id, client_id
                )
                locks[mq] = _LockEntry(client_id, now)
            else:
                continue
            held.append(mq)
        return held

    def unlock_batch(self, group: str, mqs: list[tuple[str, str, int]], client_id: str) -> None:
        """Release the queues this client holds."""
        locks = self.table.get(group, {})
        for mq in mqs:
            entry = locks.get(mq)
            if entry is not None and entry.client_id == client_id:
                del locks[mq]


def _mq_of(obj: Any) -> tuple[str, str, int]:
    """A MessageQueue JSON object (C++ sends queueId as a number, Java as a number too)."""
    return (str(obj["topic"]), str(obj["brokerName"]), int(obj["queueId"]))


def _mq_obj(mq: tuple[str, str, int]) -> dict[str, Any]:
    return {"brokerName": mq[1], "queueId": mq[2], "topic": mq[0]}


def json_body(req: RemotingCommand) -> dict[str, Any]:
    """The request body as a JSON object; BrokerError(SYSTEM_ERROR) when it is not one."""
    try:
        obj = fastjson.loads(req.body or b"")
    except ProtocolError as exc:
        raise BrokerError(ResponseCode.SYSTEM_ERROR, f"bad request body: {exc}") from exc
    if not isinstance(obj, dict):
        raise BrokerError(ResponseCode.SYSTEM_ERROR, "the request body is not a JSON object")
    return obj


class RebalanceLockProcessor:
    """LOCK_BATCH_MQ and UNLOCK_BATCH_MQ over one :class:`RebalanceLockManager`."""

    def __init__(self, lock_manager: RebalanceLockManager | None = None) -> None:
        self.lock_manager = lock_manager or RebalanceLockManager()

    @staticmethod
    def _lock_body(req: RemotingCommand) -> tuple[str, str, list[tuple[str, str, int]]]:
        obj = json_body(req)
        try:
            mqs = [_mq_of(m) for m in obj.get("mqSet") or []]
            return str(obj["consumerGroup"]), str(obj["clientId"]), mqs
        except (KeyError, TypeError, ValueError) as exc:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, f"bad lock body: {exc!r}") from exc

    def lock_batch_mq(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Lock queues for an orderly consumer; answer the ones it now holds."""
        group, client_id, mqs = self._lock_body(req)
        held = self.lock_manager.try_lock_batch(group, mqs, client_id)
        body = fastjson.dumps({"lockOKMQSet": [_mq_obj(mq) for mq in held]})
        return req.make_response(body=body)

    def unlock_batch_mq(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Release an orderly consumer's queue locks."""
        group, client_id, mqs = self._lock_body(req)
        self.lock_manager.unlock_batch(group, mqs, client_id)
        return req.make_response()
