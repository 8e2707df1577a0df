"""More message commands of mqadmin 4.9.4: ``queryMsgByUniqueKey``, ``printMsg`` and
``printMsgByQueue``."""

from __future__ import annotations

from typing import Any

import click

from rocketq.admin import AdminClient
from rocketq.cli.base import admin, emit, fetch, namesrv_option, parse_timestamp
from rocketq.cli.message import print_message
from rocketq.client.message import MessageExt, MessageQueue, PullStatus

__all__ = ["print_msg", "print_msg_by_queue", "query_msg_by_unique_key"]

# QueryMsgByUniqueKeySubCommand -a: "Print all message, the limit is 32".
SHOW_ALL_LIMIT = 32
# The pull batch of PrintMessageSubCommand.
_PULL_BATCH = 32


@admin.command("queryMsgByUniqueKey")
@namesrv_option
@click.option("-i", "--msgId", "msg_id", required=True, help="Message id (UNIQ_KEY).")
@click.option("-g", "--consumerGroup", "group", help="Consumer group name.")
@click.option("-d", "--clientId", "client_id", help="The consumer's client id.")
@click.option("-t", "--topic", required=True, help="The topic of the message.")
@click.option("-a", "--showAll", "show_all", is_flag=True, help="Print all (at most 32).")
def query_msg_by_unique_key(
    namesrv_addr: str,
    msg_id: str,
    group: str | None,
    client_id: str | None,
    topic: str,
    show_all: bool,
) -> None:
    """Query Message by Unique key; with -g and -d the consumer consumes it directly."""

    async def go(a: AdminClient) -> dict[str, Any]:
        found = await a.query_message(topic, msg_id, SHOW_ALL_LIMIT, unique=True)
        if not found:
            raise click.ClickException(f"Query message by unique key {msg_id} found nothing")
        records = found if show_all else found[:1]
        result: dict[str, Any] = {"messages": records}
        if group and client_id:
            result["consumeResult"] = await a.consume_message_directly(
                group, client_id, records[0].offset_msg_id, topic
            )
        return result

    def render(result: dict[str, Any]) -> None:
        for record in result["messages"]:
            print_message(record)
            click.echo("")
        direct = result.get("consumeResult")
        if direct is not None:
            click.echo(
                f"ConsumeMessageDirectlyResult [order={str(direct.get('order')).lower()}, "
                f"autoCommit={str(direct.get('autoCommit', True)).lower()}, "
                f"consumeResult={direct.get('consumeResult')}, remark={direct.get('remark')}, "
                f"spentTimeMills={direct.get('spentTimeMills')}]"
            )

    emit(fetch(namesrv_addr, go), render)


def _matches(record: MessageExt, expression: str) -> bool:
    """A tag expression (``TagA || TagB``, ``*``) against a message's tag."""
    tags = {t.strip() for t in expression.split("||") if t.strip()}
    return not tags or "*" in tags or record.properties.get("TAGS") in tags


async def _read_queue(
    a: AdminClient, addr: str, mq: MessageQueue, begin: str | None, end: str | None, expr: str
) -> dict[str, Any]:
    """Every message of ``mq`` between the begin and end times (or its whole range)."""
    low = await a.min_offset(addr, mq.topic, mq.queue_id)
    high = await a.max_offset(addr, mq.topic, mq.queue_id)
    if begin:
        low = await a.search_offset(addr, mq.topic, mq.queue_id, parse_timestamp(begin))
    if end:
        high = await a.search_offset(addr, mq.topic, mq.queue_id, parse_timestamp(end))
    messages: list[MessageExt] = []
    offset, status = low, PullStatus.FOUND
    while offset < high:
        result = await a.pull(
            addr, mq.topic, mq.queue_id, offset, _PULL_BATCH, broker_name=mq.broker_name
        )
        status = result.status
        if status is not PullStatus.FOUND and status is not PullStatus.NO_MATCHED_MSG:
            break
        messages.extend(m for m in result.messages if _matches(m, expr))
        if result.next_begin_offset <= offset:
            break
        offset = result.next_begin_offset
    return {
        "mq": mq,
        "minOffset": low,
        "maxOffset": high,
        "messages": messages,
        "status": status,
        "offset": offset,
    }


def _msg_line(record: MessageExt, print_body: bool, charset: str) -> str:
    body = record.body.decode(charset, "replace") if print_body else "NOT PRINT BODY"
    summary = (
        f"MessageExt [brokerName={record.broker_name}, queueId={record.queue_id}, "
        f"queueOffset={record.queue_offset}, "
        f"sysFlag={record.sys_flag}, bornTimestamp={record.born_timestamp}, "
        f"storeTimestamp={record.store_timestamp}, msgId={record.offset_msg_id}, "
        f"commitLogOffset={record.commit_log_offset}, reconsumeTimes={record.reconsume_times}, "
        f"Message{{topic='{record.topic}', flag={record.flag}, "
        f"properties={{{', '.join(f'{k}={v}' for k, v in record.properties.items())}}}}}]"
    )
    return f"MSGID: {record.msg_id} {summary} BODY: {body}"


@admin.command("printMsg")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic name.")
@click.option("-c", "--charsetName", "charset", default="UTF-8", help="Charset of bodies.")
@click.option("-s", "--subExpression", "expr", default="*", help="TagA || TagB.")
@click.option("-b", "--beginTimestamp", "begin", help="currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS.")
@click.option("-e", "--endTimestamp", "end", help="currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS.")
@click.option("-d", "--printBody", "print_body", default="true", help="Print bodies (true|false).")
def print_msg(
    namesrv_addr: str,
    topic: str,
    charset: str,
    expr: str,
    begin: str | None,
    end: str | None,
    print_body: str,
) -> None:
    """Print Message Detail: every message of every queue of a topic."""

    async def go(a: AdminClient) -> list[dict[str, Any]]:
        return [
            await _read_queue(a, addr, mq, begin, end, expr)
            for mq, addr in sorted(await a.subscribe_queues(topic))
        ]

    with_body = print_body.strip().lower() == "true"

    def render(queues: list[dict[str, Any]]) -> None:
        for q in queues:
            mq = q["mq"]
            click.echo(
                f"minOffset={q['minOffset']}, maxOffset={q['maxOffset']}, MessageQueue "
                f"[topic={mq.topic}, brokerName={mq.broker_name}, queueId={mq.queue_id}]"
            )
            for record in q["messages"]:
                click.echo(_msg_line(record, with_body, charset))
            click.echo("--------------------------------------------------------")

    emit(fetch(namesrv_addr, go), render)


@admin.command("printMsgByQueue")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic name.")
@click.option("-a", "--brokerName", "broker_name", required=True, help="Broker name.")
@click.option("-i", "--queueId", "queue_id", type=int, required=True, help="Queue id.")
@click.option("-c", "--charsetName", "charset", default="UTF-8", help="Charset of bodies.")
@click.option("-s", "--subExpression", "expr", default="*", help="TagA || TagB.")
@click.option("-b", "--beginTimestamp", "begin", help="currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS.")
@click.option("-e", "--endTimestamp", "end", help="currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS.")
@click.option("-p", "--printMsg", "print_msgs", default="false", help="Print messages.")
@click.option("-d", "--printBody", "print_body", default="false", help="Print bodies.")
@click.option("-f", "--calculate", default="false", help="Count messages by tag.")
def print_msg_by_queue(
    namesrv_addr: str,
    topic: str,
    broker_name: str,
    queue_id: int,
    charset: str,
    expr: str,
    begin: str | None,
    end: str | None,
    print_msgs: str,
    print_body: str,
    calculate: str,
) -> None:
    """Print Message Detail of one queue (optionally counted by tag)."""
    mq = MessageQueue(topic, broker_name, queue_id)

    async def go(a: AdminClient) -> dict[str, Any]:
        queues = dict(await a.subscribe_queues(topic))
        addr = queues.get(mq)
        if addr is None:
            raise click.ClickException(f"no queue {queue_id} of {topic} on {broker_name}")
        result = await _read_queue(a, addr, mq, begin, end, expr)
        tags: dict[str, int] = {}
        for record in result["messages"]:
            tag = record.properties.get("TAGS")
            if tag and tag.strip():
                tags[tag] = tags.get(tag, 0) + 1
        result["tagCounts"] = dict(sorted(tags.items(), key=lambda kv: (-kv[1], kv[0])))
        return result

    def render(result: dict[str, Any]) -> None:
        if print_msgs.strip().lower() == "true":
            with_body = print_body.strip().lower() == "true"
            for record in result["messages"]:
                click.echo(_msg_line(record, with_body, charset))
        if calculate.strip().lower() == "true":
            for tag, count in result["tagCounts"].items():
                click.echo(f"Tag: {tag:<30s} Count: {count}")

    emit(fetch(namesrv_addr, go), render)
