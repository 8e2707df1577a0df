"""Message trace commands: ``queryMsgTraceById`` (mqadmin's ``QueryMsgTraceByIdSubCommand``)."""

from __future__ import annotations

import time

import click

from rocketq.admin.trace import query_msg_trace_by_id
from rocketq.cli.base import admin, admin_call, namesrv_option
from rocketq.client.trace import TraceType, TraceView
from rocketq.common.topic import TRACE_TOPIC

__all__ = ["print_message_trace", "query_msg_trace"]

# QueryMsgTraceByIdSubCommand#printMessageTrace's columns.
_ROW = "%-10s %-20s %-20s %-20s %-10s %-10s"


def _time(ms: int) -> str:
    """``DateFormatUtils.format(ms, "yyyy-MM-dd HH:mm:ss")`` (local time)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def _row(kind: str, view: TraceView) -> str:
    return _ROW % (
        kind,
        view.group_name,
        view.client_host,
        _time(view.time_stamp),
        f"{view.cost_time}ms",
        view.status,
    )


def print_message_trace(views: list[TraceView]) -> None:
    """mqadmin's layout: each Pub with its own header; then, per consumer group, its
    SubAfter records as ``Sub`` rows (SubBefore records are not printed, as in mqadmin).
    EndTransaction records, which mqadmin 4.9.4 does not print, get an ``EndTx`` row with
    the transaction state."""
    by_group: dict[str | None, list[TraceView]] = {}
    for view in views:
        if view.msg_type == TraceType.Pub.value:
            click.echo(
                _ROW
                % ("#Type", "#ProducerGroup", "#ClientHost", "#SendTime", "#CostTimes", "#Status")
            )
            click.echo(_row("Pub", view))
            click.echo("")
        if view.msg_type == TraceType.EndTransaction.value:  # beyond mqadmin, which skips it
            click.echo(
                _ROW
                % ("#Type", "#ProducerGroup", "#ClientHost", "#EndTime", "#FromCheck", "#State")
            )
            check = "true" if view.from_transaction_check else "false"
            click.echo(
                _ROW
                % (
                    "EndTx",
                    view.group_name,
                    view.client_host,
                    _time(view.time_stamp),
                    check,
                    view.transaction_state,
                )
            )
            click.echo("")
        if view.msg_type == TraceType.SubAfter.value:
            by_group.setdefault(view.group_name, []).append(view)
    for group_views in by_group.values():
        click.echo(
            _ROW
            % ("#Type", "#ConsumerGroup", "#ClientHost", "#ConsumerTime", "#CostTimes", "#Status")
        )
        for view in group_views:
            click.echo(_row("Sub", view))
        click.echo("")


@admin.command("queryMsgTraceById")
@namesrv_option
@click.option("-i", "--msgId", "msg_id", required=True, help="Message Id")
@click.option(
    "-t",
    "--traceTopic",
    "trace_topic",
    default=TRACE_TOPIC,
    show_default=True,
    help="The name value of message trace topic",
)
def query_msg_trace(namesrv_addr: str, msg_id: str, trace_topic: str) -> None:
    """query a message trace"""
    views = admin_call(
        namesrv_addr, lambda a: query_msg_trace_by_id(a, msg_id.strip(), trace_topic.strip())
    )
    print_message_trace(views)
