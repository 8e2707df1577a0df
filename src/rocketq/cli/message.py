"""Message commands: ``queryMsgById``, ``queryMsgByKey``, ``queryMsgByOffset``, ``sendMessage``,
``consumeMessage``."""

from __future__ import annotations

from typing import Any

import click

from rocketq.admin import AdminClient
from rocketq.cli.base import (
    admin,
    admin_call,
    console,
    emit,
    fetch,
    human_ms,
    namesrv_option,
    new_table,
)
from rocketq.client.message import MessageExt, MessageQueue, PullStatus

__all__ = [
    "consume_message",
    "print_message",
    "query_msg_by_id",
    "query_msg_by_key",
    "query_msg_by_offset",
    "send_message",
]

# Pull outcomes after which consumeMessage keeps reading a queue (ConsumeMessageCommand).
_READ_ON = frozenset({PullStatus.FOUND, PullStatus.NO_MATCHED_MSG})


def print_message(record: MessageExt, msg_id: str | None = None) -> None:
    """``QueryMsgByIdSubCommand#printMsg`` (the body is printed, not written to a file)."""
    props = record.properties
    offset_id = msg_id or record.offset_msg_id
    rows = [
        ("OffsetID:", offset_id),
        ("Topic:", record.topic),
        ("Tags:", f"[{props.get('TAGS', 'null')}]"),
        ("Keys:", f"[{props.get('KEYS', 'null')}]"),
        ("Queue ID:", record.queue_id),
        ("Queue Offset:", record.queue_offset),
        ("CommitLog Offset:", record.commit_log_offset),
        ("Reconsume Times:", record.reconsume_times),
        ("Born Timestamp:", human_ms(record.born_timestamp)),
        ("Store Timestamp:", human_ms(record.store_timestamp)),
        ("Born Host:", f"{record.born_host[0]}:{record.born_host[1]}"),
        ("Store Host:", f"{record.store_host[0]}:{record.store_host[1]}"),
        ("System Flag:", record.sys_flag),
        ("Properties:", "{" + ", ".join(f"{k}={v}" for k, v in props.items()) + "}"),
        ("Message Body:", record.body.decode("utf-8", "replace")),
    ]
    for name, value in rows:
        click.echo(f"{name:<20s} {value}")


@admin.command("queryMsgById")
@namesrv_option
@click.option("-i", "--msgId", "msg_id", required=True, help="Offset message id.")
def query_msg_by_id(namesrv_addr: str, msg_id: str) -> None:
    """Show a message by its offset msgId (the broker address and offset are in the id)."""
    ids = [one.strip() for one in msg_id.split(",") if one.strip()]

    async def go(a: AdminClient) -> list[MessageExt]:
        return [await a.view_message(one) for one in ids]

    for one, record in zip(ids, admin_call(namesrv_addr, go), strict=True):
        print_message(record, one)


@admin.command("queryMsgByKey")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic.")
@click.option("-k", "--msgKey", "key", required=True, help="Message key.")
def query_msg_by_key(namesrv_addr: str, topic: str, key: str) -> None:
    """List the messages of a topic carrying a key."""
    records = admin_call(namesrv_addr, lambda a: a.query_message(topic, key, 64))
    table = new_table("#Message ID", "#QID", "#Offset")
    for r in records:
        table.add_row(r.msg_id, str(r.queue_id), str(r.queue_offset))
    console().print(table)


@admin.command("queryMsgByOffset")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic.")
@click.option("-b", "--brokerName", "broker_name", required=True, help="Broker name.")
@click.option("-i", "--queueId", "queue_id", type=int, required=True, help="Queue id.")
@click.option("-o", "--offset", type=int, required=True, help="Queue offset.")
def query_msg_by_offset(
    namesrv_addr: str, topic: str, broker_name: str, queue_id: int, offset: int
) -> None:
    """Show the message at a queue offset."""

    async def go(a: AdminClient) -> Any:
        queues = dict(await a.subscribe_queues(topic))
        addr = queues.get(MessageQueue(topic, broker_name, queue_id))
        if addr is None:
            raise click.ClickException(f"no queue {queue_id} of {topic} on {broker_name}")
        return await a.pull(addr, topic, queue_id, offset, 1)

    result = admin_call(namesrv_addr, go)
    if result.messages:
        print_message(result.messages[0])


@admin.command("sendMessage")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic.")
@click.option("-p", "--body", required=True, help="Message body (UTF-8 text).")
@click.option("-k", "--key", help="Message keys (space-separated).")
@click.option("-c", "--tags", help="Message tag.")
@click.option("-b", "--broker", help="Send to this broker (name).")
@click.option("-i", "--qid", type=int, help="Send to this queue (needs -b).")
def send_message(
    namesrv_addr: str,
    topic: str,
    body: str,
    key: str | None,
    tags: str | None,
    broker: str | None,
    qid: int | None,
) -> None:
    """Send one message and print where it went."""
    if qid is not None and broker is None:
        raise click.UsageError("Broker name must be set if the queue is chosen!")
    result = admin_call(
        namesrv_addr,
        lambda a: a.send_message(topic, body.encode(), tags, key, broker, qid),
    )
    table = new_table("#Broker Name", "#QID", "#Send Result", "#MsgId")
    mq = result.message_queue
    table.add_row(mq.broker_name, str(mq.queue_id), result.status.value, result.msg_id)
    console().print(table)


@admin.command("consumeMessage")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic.")
@click.option("-b", "--brokerName", "broker_name", help="Only this broker.")
@click.option("-i", "--queueId", "queue_id", type=int, help="Only this queue (needs -b).")
@click.option("-o", "--offset", type=int, help="Start at this offset (needs -i).")
@click.option("-g", "--consumerGroup", "group", default="TOOLS_CONSUMER", show_default=True)
@click.option("-c", "--MessageNumber", "count", type=int, default=128, show_default=True)
def consume_message(
    namesrv_addr: str,
    topic: str,
    broker_name: str | None,
    queue_id: int | None,
    offset: int | None,
    group: str,
    count: int,
) -> None:
    """Pull messages from the start of each queue (or from -o) and print them."""
    if queue_id is not None and broker_name is None:
        raise click.UsageError("Please set the brokerName before queueId!")
    if offset is not None and queue_id is None:
        raise click.UsageError("Please set queueId before offset!")
    if count <= 0:
        raise click.UsageError("Please input a positive messageNumber!")

    async def go(a: AdminClient) -> list[dict[str, Any]]:
        left, rounds = count, []
        for mq, addr in await a.subscribe_queues(topic):
            if broker_name and mq.broker_name != broker_name:
                continue
            if queue_id is not None and mq.queue_id != queue_id:
                continue
            start = await a.min_offset(addr, topic, mq.queue_id)
            rounds.append(await _pull_queue(a, addr, mq, max(start, offset or 0), left, group))
            left -= len(rounds[-1]["messages"])
            if left <= 0:
                break
        return rounds

    emit(fetch(namesrv_addr, go), _print_consumed)


async def _pull_queue(
    a: AdminClient, addr: str, mq: MessageQueue, offset: int, left: int, group: str
) -> dict[str, Any]:
    """Read one queue from ``offset``: its messages (at most ``left``) and how it ended
    (``status`` None when ``left`` ran out first)."""
    messages: list[MessageExt] = []
    status: PullStatus | None = None
    while len(messages) < left:
        result = await a.pull(
            addr, mq.topic, mq.queue_id, offset, min(32, left - len(messages)), group
        )
        if result.status not in _READ_ON:  # no new message / offset moved: this queue is done
            status = result.status
            break
        messages.extend(result.messages[: left - len(messages)])
        offset = result.next_begin_offset
    return {"messageQueue": mq, "messages": messages, "status": status, "offset": offset}


def _print_consumed(rounds: list[dict[str, Any]]) -> None:
    """``ConsumeMessageCommand``'s lines: each message, then how each queue ended."""
    for one in rounds:
        for r in one["messages"]:
            click.echo(
                f"MSGID: {r.msg_id} queueId={r.queue_id}, queueOffset={r.queue_offset}, "
                f"properties={r.properties} BODY: {r.body.decode('utf-8', 'replace')}"
            )
        if one["status"] is not None:
            click.echo(
                f"{one['messageQueue']} print msg finished. "
                f"status={one['status'].value}, offset={one['offset']}"
            )
