"""Dead-letter queue commands: ``dlqList`` and ``dlqResend``."""

from __future__ import annotations

import click

from rocketq.admin.api import DEFAULT_DLQ_MAX, DLQ_TOOLS_GROUP
from rocketq.cli.base import (
    admin,
    admin_call,
    console,
    human_ms,
    namesrv_option,
    new_table,
)

_tool_group_option = click.option(
    "--toolGroup",
    "tool_group",
    default=DLQ_TOOLS_GROUP,
    show_default=True,
    help="Group whose offsets on the DLQ mark what was re-sent (drained).",
)

__all__ = ["dlq_list", "dlq_resend"]


@admin.command("dlqList")
@namesrv_option
@click.option("-g", "--consumerGroup", "group", required=True, help="Consumer group.")
@click.option("-m", "--maxNum", "max_num", type=int, default=DEFAULT_DLQ_MAX, show_default=True)
@click.option("-a", "--all", "show_all", is_flag=True, help="Also list drained messages.")
@_tool_group_option
def dlq_list(namesrv_addr: str, group: str, max_num: int, show_all: bool, tool_group: str) -> None:
    """List the messages of a group's dead-letter queue (%DLQ%group) not drained yet."""
    if max_num <= 0:
        raise click.UsageError("Please input a positive maxNum!")
    messages = admin_call(
        namesrv_addr, lambda a: a.dlq_messages(group, max_num, None if show_all else tool_group)
    )
    table = new_table(
        "#MsgId", "#Origin Topic", "#Tags", "#Keys", "#Reconsume", "#Store Time", "#Body"
    )
    for m in messages:
        table.add_row(
            m.msg_id,
            m.origin_topic or "-",
            m.tags or "",
            m.keys or "",
            str(m.reconsume_times),
            human_ms(m.store_timestamp),
            m.body_preview(),
        )
    console().print(table)
    click.echo(f"\n{len(messages)} message(s) in %DLQ%{group}")


@admin.command("dlqResend")
@namesrv_option
@click.option("-g", "--consumerGroup", "group", required=True, help="Consumer group.")
@click.option(
    "-i", "--msgId", "msg_ids", multiple=True, help="UNIQ_KEY to re-send (repeat or a,b); all."
)
@click.option("-d", "--drain", is_flag=True, help="Then mark the re-sent messages drained.")
@click.option("-m", "--maxNum", "max_num", type=int, default=DEFAULT_DLQ_MAX, show_default=True)
@_tool_group_option
def dlq_resend(
    namesrv_addr: str,
    group: str,
    msg_ids: tuple[str, ...],
    drain: bool,
    max_num: int,
    tool_group: str,
) -> None:
    """Re-send dead-letter messages to their original topic as new messages."""
    ids = [one.strip() for text in msg_ids for one in text.split(",") if one.strip()]
    results = admin_call(
        namesrv_addr,
        lambda a: a.resend_dlq(
            group, ids or None, drain=drain, tool_group=tool_group, max_num=max_num
        ),
    )
    for m, r in results:
        mq = r.message_queue
        click.echo(
            f"{m.msg_id} -> SendResult [sendStatus={r.status.value}, msgId={r.msg_id}, "
            f"offsetMsgId={r.offset_msg_id}, messageQueue=MessageQueue [topic={mq.topic}, "
            f"brokerName={mq.broker_name}, queueId={mq.queue_id}], queueOffset={r.queue_offset}]"
        )
    click.echo(f"re-sent {len(results)} message(s) from %DLQ%{group}")
    if drain:
        click.echo(f"marked them drained for {tool_group}")
