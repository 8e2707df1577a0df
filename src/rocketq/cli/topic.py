"""Topic commands: ``topicList``, ``topicRoute``, ``updateTopic``, ``deleteTopic``,
``topicStatus``."""

from __future__ import annotations

from typing import Any

import click
import orjson

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
    parse_bool,
    target_addrs,
)
from rocketq.common.topic import TopicConfig

__all__ = ["delete_topic", "topic_list", "topic_route", "topic_status", "update_topic"]


@admin.command("topicList")
@namesrv_option
def topic_list(namesrv_addr: str) -> None:
    """List every topic the NameServer knows, one per line."""
    for topic in admin_call(namesrv_addr, lambda a: a.topic_list()):
        click.echo(topic)


@admin.command("topicRoute")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic name.")
def topic_route(namesrv_addr: str, topic: str) -> None:
    """Print the route of a topic (brokers, queues, permissions) as JSON."""
    route = admin_call(namesrv_addr, lambda a: a.topic_route(topic))
    click.echo(orjson.dumps(route.to_obj(), option=orjson.OPT_INDENT_2).decode())


@admin.command("updateTopic")
@namesrv_option
@click.option("-b", "--brokerAddr", "broker_addr", help="Create on this broker (ip:port).")
@click.option("-c", "--clusterName", "cluster", help="Create on every master of this cluster.")
@click.option("-t", "--topic", required=True, help="Topic name.")
@click.option("-r", "--readQueueNums", "read_queues", type=int, default=8, show_default=True)
@click.option("-w", "--writeQueueNums", "write_queues", type=int, default=8, show_default=True)
@click.option("-p", "--perm", type=int, default=6, show_default=True, help="2:W 4:R 6:RW.")
@click.option("-o", "--order", default="false", help="Ordered topic (true|false).")
def update_topic(
    namesrv_addr: str,
    broker_addr: str | None,
    cluster: str | None,
    topic: str,
    read_queues: int,
    write_queues: int,
    perm: int,
    order: str,
) -> None:
    """Create or update a topic on a broker or a whole cluster."""
    config = TopicConfig(topic, read_queues, write_queues, perm, order=parse_bool(order))

    async def go(a: AdminClient) -> list[str]:
        addrs = await target_addrs(a, broker_addr, cluster)
        for addr in addrs:
            await a.create_topic(addr, config)
        return addrs

    for addr in admin_call(namesrv_addr, go):
        click.echo(f"create topic to {addr} success.")
    click.echo(config.java_string())


@admin.command("deleteTopic")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic name.")
@click.option("-c", "--clusterName", "cluster", required=True, help="Delete from this cluster.")
def delete_topic(namesrv_addr: str, topic: str, cluster: str) -> None:
    """Delete a topic from every broker of a cluster, then from every NameServer."""

    async def go(a: AdminClient) -> dict[str, Any]:
        addrs = await a.broker_addrs(cluster, masters_only=False)
        for addr in addrs:
            await a.delete_topic_in_broker(addr, topic)
        await a.delete_topic_in_namesrv(topic, cluster)
        return {"topic": topic, "cluster": cluster, "brokers": sorted(addrs), "namesrv": True}

    def render(_result: dict[str, Any]) -> None:
        click.echo(f"delete topic [{topic}] from cluster [{cluster}] success.")
        click.echo(f"delete topic [{topic}] from NameServer success.")

    emit(fetch(namesrv_addr, go), render)


@admin.command("topicStatus")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic name.")
def topic_status(namesrv_addr: str, topic: str) -> None:
    """Min/max offset and last store time of every queue of a topic."""
    stats = admin_call(namesrv_addr, lambda a: a.topic_stats(topic))
    table = new_table("#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated")
    for mq, t in stats.items():
        last = human_ms(t.last_update_timestamp) if t.last_update_timestamp > 0 else ""
        table.add_row(mq.broker_name, str(mq.queue_id), str(t.min_offset), str(t.max_offset), last)
    console().print(table)
