"""rocketq.broker.grpc.relay: the nonce table and the answers built from a client's
ThreadStackTrace / VerifyMessageResult (ClientActivity#reportThreadStackTrace,
#buildConsumeMessageDirectlyResult of the 5.3.1 proxy)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from rocketq.broker.grpc.relay import (
    PendingReplies,
    consume_directly_answer,
    running_info_body,
    running_info_properties,
    subscriptions_of,
    thread_stack_answer,
)
from rocketq.broker.grpc.v2 import definition_pb2 as pb
from rocketq.broker.grpc.v2 import service_pb2 as svc
from rocketq.common.errors import RemotingError
from rocketq.remoting import fastjson
from rocketq.remoting.codes import ResponseCode


def _trace(nonce: str, text: str, code: int) -> svc.TelemetryCommand:
    return svc.TelemetryCommand(
        status=pb.Status(code=code),  # type: ignore[arg-type]
        thread_stack_trace=svc.ThreadStackTrace(nonce=nonce, thread_stack_trace=text),
    )


def _verify(code: int) -> svc.TelemetryCommand:
    return svc.TelemetryCommand(
        status=pb.Status(code=code),  # type: ignore[arg-type]
        verify_message_result=svc.VerifyMessageResult(nonce="0"),
    )


async def test_nonces_are_shared_and_answers_matched() -> None:
    counter = itertools.count()
    a, b = PendingReplies(counter), PendingReplies(counter)
    first, second = a.open(), b.open()
    assert (first, second) == ("0", "1")  # one counter for every client, as the proxy's
    assert not a.complete(second, _trace(second, "x", pb.Code.OK))  # not a's nonce
    answer = _trace(first, "mine", pb.Code.OK)
    assert a.complete(first, answer)
    assert await a.wait(first, 1.0) is answer
    assert not a.complete(first, answer)  # answered once; a late duplicate is dropped
    assert len(a) == 0


async def test_wait_times_out_and_forgets_the_nonce() -> None:
    replies = PendingReplies(itertools.count())
    nonce = replies.open()
    assert await replies.wait(nonce, 0) is None
    assert len(replies) == 0
    assert not replies.complete(nonce, _trace(nonce, "late", pb.Code.OK))


async def test_fail_all_fails_the_waiters() -> None:
    replies = PendingReplies(itertools.count())
    nonce = replies.open()
    waiting = asyncio.ensure_future(replies.wait(nonce, 10.0))
    await asyncio.sleep(0)
    replies.fail_all("client gone")
    with pytest.raises(RemotingError, match="client gone"):
        await waiting


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (pb.Code.OK, "CR_SUCCESS"),
        (pb.Code.FAILED_TO_CONSUME_MESSAGE, "CR_LATER"),
        (pb.Code.MESSAGE_CORRUPTED, "CR_RETURN_NULL"),
        (pb.Code.NOT_IMPLEMENTED, None),
    ],
)
def test_consume_directly_result_follows_the_status(code: int, expected: str | None) -> None:
    answer = consume_directly_answer(_verify(code))
    assert answer.code == ResponseCode.SUCCESS  # the proxy always answers SUCCESS
    assert answer.body is not None
    result = fastjson.loads(answer.body)
    assert result.get("consumeResult") == expected
    assert result["remark"] == "from gRPC client"
    assert (result["autoCommit"], result["order"], result["spentTimeMills"]) == (True, False, 0)


def test_thread_stack_answers() -> None:
    settings = pb.Settings(
        client_type=pb.ClientType.PUSH_CONSUMER,
        user_agent=pb.UA(language=pb.Language.JAVA, version="5.0.7", hostname="h"),
        subscription=pb.Subscription(
            group=pb.Resource(name="g"),
            subscriptions=[
                pb.SubscriptionEntry(
                    topic=pb.Resource(name="T"),
                    expression=pb.FilterExpression(type=pb.FilterType.SQL, expression="a > 1"),
                )
            ],
        ),
    )
    props = running_info_properties(settings, "CONSUME_PASSIVELY", True, 42)
    assert props["PROP_CONSUMEORDERLY"] == "true"
    assert props["PROP_CONSUMER_START_TIMESTAMP"] == "42"
    subs = subscriptions_of(settings)
    ok = thread_stack_answer(_trace("1", "stack", pb.Code.OK), props, subs)
    assert ok.code == ResponseCode.SUCCESS and ok.body is not None
    info = fastjson.loads(ok.body)
    assert info["jstack"] == "stack"
    assert info["subscriptionSet"][0]["expressionType"] == "SQL92"
    assert set(info) == {"jstack", "mqTable", "properties", "statusTable", "subscriptionSet"}
    fifo = thread_stack_answer(
        _trace("1", "", pb.Code.VERIFY_FIFO_MESSAGE_UNSUPPORTED), props, subs
    )
    assert fifo.code == ResponseCode.NO_PERMISSION
    other = thread_stack_answer(_trace("1", "", pb.Code.INTERNAL_ERROR), props, subs)
    assert other.code == ResponseCode.SYSTEM_ERROR and "INTERNAL_ERROR" in (other.remark or "")
    assert b"jstack" not in running_info_body(props, subs, None)
