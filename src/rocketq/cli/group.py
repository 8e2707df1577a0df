"""Consumer group commands: ``consumerProgress``, ``updateSubGroup``, ``resetOffsetByTime``."""

from __future__ import annotations

import time
from typing import Any

import click

from rocketq.admin import AdminClient
from rocketq.broker.subscription_group import SubscriptionGroupConfig
from rocketq.cli.base import (
    admin,
    admin_call,
    console,
    namesrv_option,
    new_table,
    parse_bool,
    parse_timestamp,
    target_addrs,
)
from rocketq.common.errors import BrokerError

__all__ = ["consumer_progress", "reset_offset_by_time", "update_sub_group"]


@admin.command("consumerProgress")
@namesrv_option
@click.option("-g", "--groupName", "group", required=True, help="Consumer group.")
@click.option("-t", "--topicName", "topic", help="Only this topic.")
def consumer_progress(namesrv_addr: str, group: str, topic: str | None) -> None:
    """Broker offset, consumer offset and lag of every queue a group consumes."""
    stats = admin_call(namesrv_addr, lambda a: a.consume_stats(group, topic))
    table = new_table(
        "#Topic", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset", "#Diff", "#LastTime"
    )
    for mq, w in stats.offset_table.items():
        last = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(w.last_timestamp / 1000))
            if w.last_timestamp
            else "N/A"
        )
        table.add_row(
            mq.topic,
            mq.broker_name,
            str(mq.queue_id),
            str(w.broker_offset),
            str(w.consumer_offset),
            str(w.broker_offset - w.consumer_offset),
            last,
        )
    console().print(table)
    click.echo(f"\nConsume TPS: {stats.consume_tps:.2f}")
    click.echo(f"Diff Total: {stats.diff_total()}")


@admin.command("updateSubGroup")
@namesrv_option
@click.option("-b", "--brokerAddr", "broker_addr", help="Create on this broker.")
@click.option("-c", "--clusterName", "cluster", help="Create on every master of this cluster.")
@click.option("-g", "--groupName", "group", required=True, help="Consumer group.")
@click.option("-s", "--consumeEnable", "consume_enable", default="true")
@click.option("-m", "--consumeFromMinEnable", "from_min", default="false")
@click.option("-d", "--consumeBroadcastEnable", "broadcast", default="false")
@click.option("-q", "--retryQueueNums", "retry_queues", type=int, default=1)
@click.option("-r", "--retryMaxTimes", "retry_max", type=int, default=16)
@click.option("-i", "--brokerId", "broker_id", type=int, default=0)
@click.option("-w", "--whichBrokerWhenConsumeSlowly", "slow_broker", type=int, default=1)
@click.option("-a", "--notifyConsumerIdsChanged", "notify", default="true")
def update_sub_group(
    namesrv_addr: str,
    broker_addr: str | None,
    cluster: str | None,
    group: str,
    consume_enable: str,
    from_min: str,
    broadcast: str,
    retry_queues: int,
    retry_max: int,
    broker_id: int,
    slow_broker: int,
    notify: str,
) -> None:
    """Create or update a consumer group's settings."""
    config = SubscriptionGroupConfig(
        group,
        consume_enable=parse_bool(consume_enable),
        consume_from_min_enable=parse_bool(from_min),
        consume_broadcast_enable=parse_bool(broadcast),
        retry_queue_nums=retry_queues,
        retry_max_times=retry_max,
        broker_id=broker_id,
        which_broker_when_consume_slowly=slow_broker,
        notify_consumer_ids_changed_enable=parse_bool(notify),
    )

    async def go(a: AdminClient) -> list[str]:
        addrs = await target_addrs(a, broker_addr, cluster)
        for addr in addrs:
            await a.create_subscription_group(addr, config)
        return addrs

    for addr in admin_call(namesrv_addr, go):
        click.echo(f"create subscription group to {addr} success.")
    click.echo(config.java_string())


@admin.command("resetOffsetByTime")
@namesrv_option
@click.option("-g", "--group", required=True, help="Consumer group.")
@click.option("-t", "--topic", required=True, help="Topic.")
@click.option("-s", "--timestamp", required=True, help="now | epoch ms | yyyy-MM-dd#HH:mm:ss:SSS.")
@click.option("-f", "--force", default="true", help="Also move offsets forward (true|false).")
@click.option("-c", "--cplus", is_flag=True, help="The consumers are C++ clients.")
def reset_offset_by_time(
    namesrv_addr: str, group: str, topic: str, timestamp: str, force: str, cplus: bool
) -> None:
    """Move a group's offsets on a topic to a point in time (without restarting consumers)."""
    stamp, forced = parse_timestamp(timestamp), parse_bool(force)

    async def go(a: AdminClient) -> Any:
        try:
            return await a.reset_offset_by_time(topic, group, stamp, forced, cplus)
        except BrokerError as exc:
            if exc.code != 206:  # CONSUMER_NOT_ONLINE: commit the offsets directly
                raise
            return await a.reset_offset_by_time_old(topic, group, stamp, forced)

    result = admin_call(namesrv_addr, go)
    if isinstance(result, list):
        table = new_table(
            "#brokerName",
            "#queueId",
            "#brokerOffset",
            "#consumerOffset",
            "#timestampOffset",
            "#resetOffset",
        )
        for r in result:
            table.add_row(
                r.mq.broker_name,
                str(r.mq.queue_id),
                str(r.broker_offset),
                str(r.consumer_offset),
                str(r.timestamp_offset),
                str(r.rollback_offset),
            )
    else:
        click.echo(
            f"rollback consumer offset by specified group[{group}], topic[{topic}], "
            f"force[{forced}], timestamp(string)[{timestamp}], timestamp(long)[{stamp}]"
        )
        table = new_table("#brokerName", "#queueId", "#offset")
        for mq, offset in result.items():
            table.add_row(mq.broker_name, str(mq.queue_id), str(offset))
    console().print(table)
