"""PULL_MESSAGE with the subscription in the request: its filter is built once and kept,
and a tag subscription still filters on every later pull while ``*`` takes everything."""

from __future__ import annotations

from rocketq.broker.client_manager import ConsumerGroupInfo
from rocketq.common.record import decode_records
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.headers import PullMessageRequestHeader, SendMessageRequestHeaderV2
from rocketq.remoting.heartbeat import build_subscription
from tests.unit.test_broker_processors_alone import FLAG_SUBSCRIPTION, Parts, connection, parts

__all__ = ["parts"]  # the fixture, used by name


def _send(topic: str, body: bytes, tag: str) -> RemotingCommand:
    header = SendMessageRequestHeaderV2(
        producer_group="P",
        topic=topic,
        default_topic="TBW102",
        default_topic_queue_nums=1,
        queue_id=0,
        sys_flag=0,
        born_timestamp=1,
        flag=0,
        properties=f"TAGS\x01{tag}\x02",
    )
    return RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header.to_ext(), body)


def _pull(topic: str, expression: str) -> RemotingCommand:
    header = PullMessageRequestHeader(
        consumer_group="G",
        topic=topic,
        queue_id=0,
        queue_offset=0,
        max_msg_nums=32,
        sys_flag=FLAG_SUBSCRIPTION,
        commit_offset=0,
        suspend_timeout_millis=0,
        subscription=expression,
    )
    return RemotingCommand.request(RequestCode.PULL_MESSAGE, header.to_ext())


async def test_cached_filters_keep_filtering_by_tag(parts: Parts) -> None:
    conn, _ = connection()
    send = parts.send_processor()
    for i, tag in enumerate("abab"):
        answer = await send.process(conn, _send("Tags", b"m%d" % i, tag))
        assert answer.code == ResponseCode.SUCCESS, answer.remark
    pull = parts.pull_processor()
    for expression, expected in [
        ("a", [b"m0", b"m2"]),
        ("*", [b"m0", b"m1", b"m2", b"m3"]),
        ("a", [b"m0", b"m2"]),  # from the cache now
        ("b", [b"m1", b"m3"]),
        ("*", [b"m0", b"m1", b"m2", b"m3"]),
    ]:
        response = pull.process(conn, _pull("Tags", expression))
        assert response is not None and response.code == ResponseCode.SUCCESS
        assert [r.body for r in decode_records(response.body or b"")] == expected, expression


async def test_a_pull_without_its_subscription_follows_the_heartbeats_changes(
    parts: Parts,
) -> None:
    # Java push consumers send no subscription: the broker filters by the one the group's
    # heartbeat announced; its filter is kept until a heartbeat brings a newer one.
    conn, _ = connection()
    send = parts.send_processor()
    for i, tag in enumerate("abab"):
        answer = await send.process(conn, _send("Beat", b"m%d" % i, tag))
        assert answer.code == ResponseCode.SUCCESS, answer.remark
    pull = parts.pull_processor()
    group = parts.consumers.groups.setdefault("G", ConsumerGroupInfo("G"))
    for version, expression, expected in [
        (1, "a", [b"m0", b"m2"]),
        (1, "a", [b"m0", b"m2"]),  # the kept filter
        (2, "b", [b"m1", b"m3"]),  # a newer heartbeat subscription replaces it
        (3, "*", [b"m0", b"m1", b"m2", b"m3"]),
    ]:
        sub = build_subscription("Beat", expression)
        sub.sub_version = version
        group.update_subscriptions([sub])
        req = _pull("Beat", expression)
        assert req.ext_fields is not None
        req.ext_fields["sysFlag"] = "0"  # no FLAG_SUBSCRIPTION
        req.ext_fields["subVersion"] = str(version)
        response = pull.process(conn, req)
        assert response is not None and response.code == ResponseCode.SUCCESS
        assert [r.body for r in decode_records(response.body or b"")] == expected, expression
