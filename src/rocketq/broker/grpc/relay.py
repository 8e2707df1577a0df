"""Admin requests a gRPC client answers on its Telemetry stream (the Java proxy's
``GrpcClientChannel#processGetConsumerRunningInfo``/``#processConsumeMessageDirectly``, the
nonce table of ``GrpcChannelManager`` and ``ClientActivity#reportThreadStackTrace``/
``#reportVerifyMessageResult``).

A remoting consumer is asked on its own connection; a 5.x client has none the broker can
call, only its open Telemetry stream::

    admin --GET_CONSUMER_RUNNING_INFO(jstackEnable)--> broker
        broker --PrintThreadStackTraceCommand{nonce}--> client (Telemetry)
        broker <--ThreadStackTrace{nonce, text} + Status-- client
    admin <--ConsumerRunningInfo{jstack, properties, subscriptionSet}-- broker

    admin --CONSUME_MESSAGE_DIRECTLY(msgId)--> broker
        broker --VerifyMessageCommand{nonce, Message}--> client
        broker <--VerifyMessageResult{nonce} + Status-- client
    admin <--ConsumeMessageDirectlyResult{consumeResult from the Status}-- broker

Answers are matched by nonce (a broker-wide counter, as the proxy's); one that does not
come within ``RELAY_TIMEOUT_S`` is answered ``SYSTEM_BUSY`` "call remote timeout", as the
proxy's expiry scan does. Pure helpers and the per-client nonce table; the channel that
sends lives in :mod:`.registry`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rocketq.broker.grpc.convert import duration_ms
from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.grpc.v2 import service_pb2 as svc
from rocketq.common.errors import RemotingError
from rocketq.remoting import fastjson
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.heartbeat import (
    EXPRESSION_SQL92,
    EXPRESSION_TAG,
    SubscriptionData,
    build_subscription,
)

__all__ = [
    "RELAY_TIMEOUT_S",
    "PendingReplies",
    "RelayAnswer",
    "consume_directly_answer",
    "running_info_body",
    "running_info_properties",
    "subscriptions_of",
    "thread_stack_answer",
    "timeout_answer",
]

# ProxyConfig.grpcProxyRelayRequestTimeoutInSeconds: how long a relayed request waits for
# the client's answer on its Telemetry stream (less than the broker's 10 s call timeout, so
# the admin gets the proxy's "call remote timeout" rather than a broker-side timeout).
RELAY_TIMEOUT_S = 5.0
# The remark of ConsumeMessageDirectlyResult the proxy builds from a VerifyMessageResult.
DIRECT_REMARK = "from gRPC client"
# ClientActivity#buildConsumeMessageDirectlyResult: the client's Status code -> CMResult;
# any other code leaves consumeResult null (fastjson leaves it out).
_CM_RESULTS = {
    pb.Code.OK: "CR_SUCCESS",
    pb.Code.FAILED_TO_CONSUME_MESSAGE: "CR_LATER",
    pb.Code.MESSAGE_CORRUPTED: "CR_RETURN_NULL",
}
_EXPRESSION_TYPES = {pb.FilterType.TAG: EXPRESSION_TAG, pb.FilterType.SQL: EXPRESSION_SQL92}
# ConsumerRunningInfo's property names (PROP_CONSUME_ORDERLY has no underscore on the wire).
PROP_CONSUME_TYPE = "PROP_CONSUME_TYPE"
PROP_CONSUME_ORDERLY = "PROP_CONSUMEORDERLY"
PROP_CLIENT_VERSION = "PROP_CLIENT_VERSION"
PROP_CONSUMER_START_TIMESTAMP = "PROP_CONSUMER_START_TIMESTAMP"

Reply = svc.TelemetryCommand


@dataclass(frozen=True, slots=True)
class RelayAnswer:
    """What goes back to the admin: a response code, remark and body (``ProxyRelayResult``
    turned into a RemotingCommand by ``LocalProxyRelayService``)."""

    code: int
    remark: str | None = None
    body: bytes | None = None


class PendingReplies:
    """One client's requests waiting for an answer on its Telemetry stream: nonce -> future
    (``GrpcChannelManager#resultNonceFutureMap``, kept per client so a closing stream fails
    only its own). Nonces come from a counter shared by every client of the broker."""

    def __init__(self, nonces: Iterator[int]) -> None:
        self._nonces = nonces
        self._waiting: dict[str, asyncio.Future[Reply]] = {}

    def open(self) -> str:
        """A new nonce whose answer :meth:`wait` can wait for."""
        nonce = str(next(self._nonces))
        self._waiting[nonce] = asyncio.get_running_loop().create_future()
        return nonce

    def discard(self, nonce: str) -> None:
        """Forget a nonce whose command never left."""
        self._waiting.pop(nonce, None)

    async def wait(self, nonce: str, timeout: float) -> Reply | None:
        """The client's answer to ``nonce``; None when none came within ``timeout`` s."""
        future = self._waiting[nonce]
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            self._waiting.pop(nonce, None)

    def complete(self, nonce: str, reply: Reply) -> bool:
        """Hand an answer to its waiter (who forgets the nonce); False for an unknown (late,
        foreign or already answered) nonce."""
        future = self._waiting.get(nonce)
        if future is None or future.done():
            return False
        future.set_result(reply)
        return True

    def fail_all(self, reason: str) -> None:
        """The stream is gone: every waiter fails with ``reason``."""
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(RemotingError(reason))

    def __len__(self) -> int:
        return len(self._waiting)


def subscriptions_of(settings: pb.Settings) -> list[SubscriptionData]:
    """The subscriptions a consumer's settings name, as a HEART_BEAT would carry them."""
    return [
        build_subscription(
            entry.topic.name,
            entry.expression.expression,
            _EXPRESSION_TYPES.get(entry.expression.type, EXPRESSION_TAG),
        )
        for entry in settings.subscription.subscriptions
    ]


def running_info_properties(
    settings: pb.Settings, consume_type: str, orderly: bool, started_ms: int
) -> dict[str, str]:
    """What the broker knows of a gRPC consumer, as ConsumerRunningInfo ``properties``
    (the proxy sends only the jstack; these come from the client's Telemetry settings)."""
    sub = settings.subscription
    props = {
        "consumerGroup": sub.group.name,
        "clientType": pb.ClientType.Name(settings.client_type),
        "language": pb.Language.Name(settings.user_agent.language),
        "hostname": settings.user_agent.hostname,
        PROP_CLIENT_VERSION: settings.user_agent.version,
        PROP_CONSUME_TYPE: consume_type,
        PROP_CONSUME_ORDERLY: str(orderly).lower(),
        PROP_CONSUMER_START_TIMESTAMP: str(started_ms),
    }
    if settings.HasField("request_timeout"):
        props["requestTimeout"] = str(duration_ms(settings.request_timeout))
    if sub.receive_batch_size:
        props["receiveBatchSize"] = str(sub.receive_batch_size)
    if sub.HasField("long_polling_timeout"):
        props["longPollingTimeout"] = str(duration_ms(sub.long_polling_timeout))
    return props


def running_info_body(
    properties: dict[str, str], subscriptions: list[SubscriptionData], jstack: str | None
) -> bytes:
    """ConsumerRunningInfo as a remoting consumer's answer lays it out (fastjson, sorted
    fields); a gRPC client has no process queues nor consume statistics to report."""
    subs = sorted(subscriptions, key=lambda s: (s.topic, s.sub_string))
    obj: dict[str, Any] = {
        "mqTable": {},
        "properties": dict(sorted(properties.items())),
        "statusTable": {},
        "subscriptionSet": [s.to_obj() for s in subs],
    }
    if jstack is not None:
        obj["jstack"] = jstack
    return fastjson.dumps_java(obj)


def thread_stack_answer(
    reply: Reply, properties: dict[str, str], subscriptions: list[SubscriptionData]
) -> RelayAnswer:
    """``reportThreadStackTrace``: OK -> the running info with the client's stack; the
    client refusing FIFO verification -> NO_PERMISSION; anything else -> SYSTEM_ERROR."""
    code = reply.status.code
    if code == pb.Code.OK:
        trace = reply.thread_stack_trace.thread_stack_trace
        return RelayAnswer(
            ResponseCode.SUCCESS, None, running_info_body(properties, subscriptions, trace)
        )
    if code == pb.Code.VERIFY_FIFO_MESSAGE_UNSUPPORTED:
        return RelayAnswer(ResponseCode.NO_PERMISSION, "forbidden to verify message")
    return RelayAnswer(
        ResponseCode.SYSTEM_ERROR, f"thread stack trace failed: {_status_text(reply)}"
    )


def consume_directly_answer(reply: Reply) -> RelayAnswer:
    """``reportVerifyMessageResult``: always SUCCESS, with a ConsumeMessageDirectlyResult
    whose consumeResult follows the client's Status code."""
    obj: dict[str, Any] = {"autoCommit": True, "order": False}
    result = _CM_RESULTS.get(reply.status.code)
    if result is not None:
        obj["consumeResult"] = result
    obj["remark"] = DIRECT_REMARK
    obj["spentTimeMills"] = 0
    return RelayAnswer(ResponseCode.SUCCESS, None, fastjson.dumps_java(obj))


def timeout_answer(client_id: str, command: str, waited_s: float) -> RelayAnswer:
    """No answer in time (``GrpcChannelManager#scanExpireResultFuture``)."""
    return RelayAnswer(
        ResponseCode.SYSTEM_BUSY,
        f"call remote timeout: gRPC client {client_id} did not answer {command} "
        f"within {waited_s:g} s",
    )


def _status_text(reply: Reply) -> str:
    status = reply.status
    name = pb.Code.Name(status.code) if status.code in pb.Code.values() else str(status.code)
    return f"{name} {status.message}".strip()
