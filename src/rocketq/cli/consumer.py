"""Consumer and producer commands of mqadmin 4.9.4: ``consumerStatus``,
``consumerConnection``, ``producerConnection``, ``producer``, ``brokerConsumeStats``,
``cloneGroupOffset``, ``getConsumerConfig``, ``deleteSubGroup``, ``skipAccumulatedMessage``,
``allocateMQ``, ``statsAll`` and ``startMonitoring``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import orjson

from rocketq.admin import AdminClient
from rocketq.admin.consumers import mq_of
from rocketq.cli.base import (
    admin,
    emit,
    fetch,
    human_ms,
    namesrv_option,
    parse_bool,
    target_addrs,
)
from rocketq.client.message import MessageQueue
from rocketq.client.rebalance import AllocateAveragely
from rocketq.common.errors import BrokerError
from rocketq.common.topic import DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX
from rocketq.remoting.codes import ResponseCode

__all__ = [
    "allocate_mq",
    "broker_consume_stats",
    "clone_group_offset",
    "consumer_connection",
    "consumer_status",
    "delete_sub_group",
    "get_consumer_config",
    "producer",
    "producer_connection",
    "skip_accumulated_message",
    "start_monitoring",
    "stats_all",
]

# MQVersion names of the client versions (CURRENT_VERSION of 4.9.4 is 401).
_VERSION_NAMES = {401: "V4_9_4", 399: "V4_9_3", 397: "V4_9_2", 395: "V4_9_1", 393: "V4_9_0"}


def _version(v: int) -> str:
    return _VERSION_NAMES.get(v, str(v))


def _human(ms: Any) -> str:
    """``UtilAll.timeMillisToHumanString``: yyyyMMddHHmmssSSS, local time."""
    ms = int(ms or 0)
    return time.strftime("%Y%m%d%H%M%S", time.localtime(ms / 1000)) + f"{ms % 1000:03d}"


def _pq_text(pq: dict[str, Any]) -> str:
    """``ProcessQueueInfo#toString``."""
    g = pq.get
    return (
        f"ProcessQueueInfo [commitOffset={g('commitOffset', 0)}, "
        f"cachedMsgMinOffset={g('cachedMsgMinOffset', 0)}, "
        f"cachedMsgMaxOffset={g('cachedMsgMaxOffset', 0)}, "
        f"cachedMsgCount={g('cachedMsgCount', 0)}, "
        f"cachedMsgSizeInMiB={g('cachedMsgSizeInMiB', 0)}, "
        f"transactionMsgMinOffset={g('transactionMsgMinOffset', 0)}, "
        f"transactionMsgMaxOffset={g('transactionMsgMaxOffset', 0)}, "
        f"transactionMsgCount={g('transactionMsgCount', 0)}, "
        f"locked={str(bool(g('locked'))).lower()}, tryUnlockTimes={g('tryUnlockTimes', 0)}, "
        f"lastLockTimestamp={_human(g('lastLockTimestamp'))}, "
        f"droped={str(bool(g('droped'))).lower()}, "
        f"lastPullTimestamp={_human(g('lastPullTimestamp'))}, "
        f"lastConsumeTimestamp={_human(g('lastConsumeTimestamp'))}]"
    )


def _queue_rows(info: dict[str, Any]) -> list[tuple[MessageQueue, dict[str, Any]]]:
    return sorted(((mq_of(k), v or {}) for k, v in (info.get("mqTable") or {}).items()))


def _format_running_info(info: dict[str, Any]) -> str:
    """``ConsumerRunningInfo#formatString``: properties, subscriptions, queues, status."""
    lines = ["#Consumer Properties#"]
    for k, v in sorted((info.get("properties") or {}).items()):
        lines.append(f"{k:<40s}: {v}")
    lines.append("\n\n#Consumer Subscription#")
    for i, sub in enumerate(info.get("subscriptionSet") or [], 1):
        topic, expr = sub.get("topic", ""), sub.get("subString", "")
        cf = str(bool(sub.get("classFilterMode"))).lower()
        lines.append(f"{i:03d} Topic: {topic:<40s} ClassFilter: {cf:<8s} SubExpression: {expr}")
    lines.append("\n\n#Consumer Offset#")
    lines.append(f"{'#Topic':<64s}  {'#Broker Name':<32s}  {'#QID':<4s}  {'#Consumer Offset':<20s}")
    for mq, pq in _queue_rows(info):
        offset = int(pq.get("commitOffset", 0))
        lines.append(f"{mq.topic:<32s}  {mq.broker_name:<32s}  {mq.queue_id:<4d}  {offset:<20d}")
    lines.append("\n\n#Consumer MQ Detail#")
    lines.append(
        f"{'#Topic':<64s}  {'#Broker Name':<32s}  {'#QID':<4s}  {'#ProcessQueueInfo':<20s}"
    )
    for mq, pq in _queue_rows(info):
        lines.append(f"{mq.topic:<64s}  {mq.broker_name:<32s}  {mq.queue_id:<4d}  {_pq_text(pq)}")
    lines.append("\n\n#Consumer RT&TPS#")
    heads = ("#Pull RT", "#Pull TPS", "#Consume RT", "#ConsumeOK TPS")
    lines.append(
        f"{'#Topic':<64s}  "
        + " ".join(f"{h:>14s}" for h in heads)
        + f" {'#ConsumeFailed TPS':>18s} {'#ConsumeFailedMsgsInHour':>25s}"
    )
    for topic, status in sorted((info.get("statusTable") or {}).items()):
        s = status or {}
        lines.append(
            f"{topic:<32s}  {s.get('pullRT', 0.0):14.2f} {s.get('pullTPS', 0.0):14.2f} "
            f"{s.get('consumeRT', 0.0):14.2f} {s.get('consumeOKTPS', 0.0):14.2f} "
            f"{s.get('consumeFailedTPS', 0.0):18.2f} {int(s.get('consumeFailedMsgs', 0)):25d}"
        )
    if info.get("jstack"):
        lines.append("\n\n#Consumer jstack#\n" + str(info["jstack"]))
    return "\n".join(lines) + "\n"


def _same_subscription(infos: dict[str, dict[str, Any]]) -> bool:
    """``ConsumerRunningInfo#analyzeSubscription``: every member subscribes alike."""
    subs = [
        sorted((s.get("topic"), s.get("subString")) for s in i.get("subscriptionSet") or [])
        for i in infos.values()
    ]
    return all(s == subs[0] for s in subs)


@admin.command("consumerStatus")
@namesrv_option
@click.option("-g", "--consumerGroup", "group", required=True, help="Consumer group name.")
@click.option("-i", "--clientId", "client_id", help="The consumer's client id.")
@click.option("-b", "--brokerAddr", "broker_addr", help="Broker address.")
@click.option("-s", "--jstack", is_flag=True, help="Run jstack in the consumer process.")
def consumer_status(
    namesrv_addr: str, group: str, client_id: str | None, broker_addr: str | None, jstack: bool
) -> None:
    """Query consumer's internal data structure (each client's ConsumerRunningInfo)."""

    async def go(a: AdminClient) -> dict[str, Any]:
        if client_id:
            return {client_id: await a.consumer_running_info(group, client_id, jstack)}
        conns = await a.consumer_connection(group, broker_addr)
        out: dict[str, Any] = {}
        for c in conns.get("connectionSet") or []:
            try:
                info = await a.consumer_running_info(group, c["clientId"], jstack)
            except BrokerError as exc:
                click.echo(f"{c['clientId']}: {exc.remark}", err=True)
                continue
            out[c["clientId"]] = {"version": c.get("version", 0), "info": info}
        return out

    infos = fetch(namesrv_addr, go)

    def render(result: dict[str, Any]) -> None:
        if client_id:
            click.echo(_format_running_info(result[client_id]), nl=False)
            return
        now = int(time.time() * 1000)
        click.echo(f"{'#Index':<10s} {'#ClientId':<40s} {'#Version':<20s} #ConsumerRunningInfoFile")
        for i, (cid, entry) in enumerate(sorted(result.items()), 1):
            path = Path(str(now)) / cid
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_format_running_info(entry["info"]))
            click.echo(f"{i:<10d} {cid:<40s} {_version(entry['version']):<20s} {path}")
        if result:
            if _same_subscription({k: v["info"] for k, v in result.items()}):
                click.echo("\n\nSame subscription in the same group of consumer")
                click.echo("\n\nRebalance OK")
            else:
                click.echo("\n\nWARN: Different subscription in the same group of consumer!!!")

    emit(infos, render)


@admin.command("consumerConnection")
@namesrv_option
@click.option("-g", "--consumerGroup", "group", required=True, help="Consumer group name.")
@click.option("-b", "--brokerAddr", "broker_addr", help="Broker address.")
def consumer_connection(namesrv_addr: str, group: str, broker_addr: str | None) -> None:
    """Query consumer's socket connection, client version and subscription."""
    cc = fetch(namesrv_addr, lambda a: a.consumer_connection(group, broker_addr))

    def render(cc: dict[str, Any]) -> None:
        for i, c in enumerate(cc.get("connectionSet") or [], 1):
            click.echo(
                f"{i:03d}  {c.get('clientId', ''):<32s} {c.get('clientAddr', ''):<22s} "
                f"{c.get('language', ''):<8s} {_version(int(c.get('version', 0))):<20s}"
            )
        click.echo("\nBelow is subscription:")
        for i, (topic, sub) in enumerate(sorted((cc.get("subscriptionTable") or {}).items()), 1):
            click.echo(f"{i:03d}  Topic: {topic:<40s} SubExpression: {sub.get('subString', '')}")
        click.echo("")
        click.echo(f"ConsumeType: {cc.get('consumeType')}")
        click.echo(f"MessageModel: {cc.get('messageModel')}")
        click.echo(f"ConsumeFromWhere: {cc.get('consumeFromWhere')}")

    emit(cc, render)


@admin.command("producerConnection")
@namesrv_option
@click.option("-g", "--producerGroup", "group", required=True, help="Producer group name.")
@click.option("-t", "--topic", required=True, help="Topic name.")
def producer_connection(namesrv_addr: str, group: str, topic: str) -> None:
    """Query producer's socket connection and client version."""

    async def go(a: AdminClient) -> list[dict[str, Any]]:
        for _name, addr in await a._route_brokers(topic):
            try:
                return await a.producer_connection(addr, group)
            except BrokerError:
                continue
        raise BrokerError(ResponseCode.SYSTEM_ERROR, f"the producer group[{group}] not online")

    conns = fetch(namesrv_addr, go)

    def render(conns: list[dict[str, Any]]) -> None:
        for i, c in enumerate(conns, 1):
            click.echo(
                f"{i:04d}  {c.get('clientId', ''):<32s} {c.get('clientAddr', ''):<22s} "
                f"{c.get('language', ''):<8s} {_version(int(c.get('version', 0))):<20s}"
            )

    emit(conns, render)


@admin.command("producer")
@namesrv_option
@click.option("-b", "--broker", "broker_addr", required=True, help="Broker address.")
def producer(namesrv_addr: str, broker_addr: str) -> None:
    """Query producer's instances, connection, status, etc."""
    table = fetch(namesrv_addr, lambda a: a.all_producer_info(broker_addr))

    def render(table: dict[str, list[dict[str, Any]]]) -> None:
        for group, producers in table.items():
            if not producers:
                click.echo(f"producer group ({group}) instances are empty")
            for p in producers:
                click.echo(
                    f"producer group ({group}) instance : clientId={p['clientId']},"
                    f"remoteIP={p['remoteIP']}, language={p['language']}, "
                    f"version={p['version']}, lastUpdateTimestamp={p['lastUpdateTimestamp']}"
                )

    emit(table, render)


@admin.command("brokerConsumeStats")
@namesrv_option
@click.option("-b", "--brokerAddr", "broker_addr", required=True, help="Broker address.")
@click.option("-t", "--timeoutMillis", "timeout_ms", type=int, default=50000, help="Timeout.")
@click.option("-l", "--level", type=int, default=0, help="Threshold of print diff.")
@click.option("-o", "--order", default="false", help="Order topics only (true|false).")
def broker_consume_stats(
    namesrv_addr: str, broker_addr: str, timeout_ms: int, level: int, order: str
) -> None:
    """Fetch broker consume stats data (every group's lag on this broker)."""
    stats = fetch(
        namesrv_addr,
        lambda a: a.broker_all_consume_stats(broker_addr, parse_bool(order), timeout_ms / 1000),
    )

    def render(stats: dict[str, Any]) -> None:
        click.echo(
            f"{'#Topic':<64s}  {'#Group':<64s}  {'#Broker Name':<32s}  {'#QID':<4s}  "
            f"{'#Broker Offset':<20s}  {'#Consumer Offset':<20s}  {'#Diff':<20s}  #LastTime"
        )
        for entry in stats.get("consumeStatsList") or []:
            for group, stats_list in entry.items():
                for one in stats_list:
                    table = {mq_of(k): v for k, v in (one.get("offsetTable") or {}).items()}
                    for mq, w in sorted(table.items()):
                        diff = w["brokerOffset"] - w["consumerOffset"]
                        if diff < level or w.get("lastTimestamp", 0) <= 0:
                            continue
                        last = time.strftime(
                            "%Y-%m-%d %H:%M:%S", time.localtime(w["lastTimestamp"] / 1000)
                        )
                        click.echo(
                            f"{mq.topic:<64s}  {group:<64s}  {mq.broker_name:<32s}  "
                            f"{mq.queue_id:<4d}  {w['brokerOffset']:<20d}  "
                            f"{w['consumerOffset']:<20d}  {diff:<20d}  {last}"
                        )
        click.echo(f"\nDiff Total: {stats.get('totalDiff', 0)}")

    emit(stats, render)


@admin.command("cloneGroupOffset")
@namesrv_option
@click.option("-s", "--srcGroup", "src", required=True, help="Source consumer group.")
@click.option("-d", "--destGroup", "dest", required=True, help="Destination consumer group.")
@click.option("-t", "--topic", required=True, help="Topic.")
@click.option("-o", "--offline", default="false", help="The group or topic is offline.")
def clone_group_offset(namesrv_addr: str, src: str, dest: str, topic: str, offline: str) -> None:
    """Clone offset from other group."""
    fetch(namesrv_addr, lambda a: a.clone_group_offset(src, dest, topic, parse_bool(offline)))
    result = {"srcGroup": src, "destGroup": dest, "topic": topic}
    emit(
        result,
        lambda _r: click.echo(
            f"clone group offset success. srcGroup[{src}], destGroup=[{dest}], topic[{topic}]"
        ),
    )


@admin.command("getConsumerConfig")
@namesrv_option
@click.option("-g", "--groupName", "group", required=True, help="Subscription group name.")
def get_consumer_config(namesrv_addr: str, group: str) -> None:
    """Get consumer config by subscription group name (from every master)."""

    async def go(a: AdminClient) -> dict[str, Any]:
        info = await a.cluster_info()
        out: dict[str, Any] = {}
        for cluster, names in sorted(info.cluster_addr_table.items()):
            for name in sorted(names):
                data = info.broker_addr_table.get(name)
                addr = data.master_addr() if data else None
                if addr is None:
                    continue
                groups = await a.all_subscription_groups(addr)
                if group in groups:
                    out[f"{cluster}:{addr}"] = groups[group]
        return out

    configs = fetch(namesrv_addr, go)

    def render(configs: dict[str, Any]) -> None:
        for where, config in configs.items():
            cluster, addr = where.split(":", 1)
            click.echo(
                f"============================={cluster}:{addr}============================="
            )
            for key, value in config.to_obj().items():
                text = "" if value is None else str(value)
                click.echo(f"{key:<40s}=  {text.lower() if isinstance(value, bool) else text}")

    emit(configs, render)


@admin.command("deleteSubGroup")
@namesrv_option
@click.option("-b", "--brokerAddr", "broker_addr", help="Delete from this broker.")
@click.option("-c", "--clusterName", "cluster", help="Delete from every master of this cluster.")
@click.option("-g", "--groupName", "group", required=True, help="Subscription group name.")
@click.option("-r", "--removeOffset", "remove_offset", default="false", help="Remove offsets.")
def delete_sub_group(
    namesrv_addr: str, broker_addr: str | None, cluster: str | None, group: str, remove_offset: str
) -> None:
    """Delete subscription group from broker (with -c: also its retry and DLQ topics)."""

    async def go(a: AdminClient) -> list[str]:
        addrs = await target_addrs(a, broker_addr, cluster)
        for addr in addrs:
            await a.delete_subscription_group(addr, group, parse_bool(remove_offset))
        if cluster and not broker_addr:
            for topic in (RETRY_GROUP_TOPIC_PREFIX + group, DLQ_GROUP_TOPIC_PREFIX + group):
                for addr in addrs:
                    await a.delete_topic_in_broker(addr, topic)
                await a.delete_topic_in_namesrv(topic)
        return addrs

    addrs = fetch(namesrv_addr, go)

    def render(addrs: list[str]) -> None:
        for addr in addrs:
            click.echo(f"delete subscription group [{group}] from broker [{addr}] success.")
        if cluster and not broker_addr:
            for prefix in (RETRY_GROUP_TOPIC_PREFIX, DLQ_GROUP_TOPIC_PREFIX):
                click.echo(f"delete topic [{prefix}{group}] from cluster [{cluster}] success.")

    emit(addrs, render)


@admin.command("skipAccumulatedMessage")
@namesrv_option
@click.option("-g", "--group", required=True, help="Consumer group.")
@click.option("-t", "--topic", required=True, help="Topic.")
@click.option("-f", "--force", default="true", help="Force rollback (true|false).")
def skip_accumulated_message(namesrv_addr: str, group: str, topic: str, force: str) -> None:
    """Skip all messages that are accumulated (not consumed) currently."""

    async def go(a: AdminClient) -> dict[MessageQueue, int]:
        try:
            return await a.reset_offset_by_time(topic, group, -1, parse_bool(force))
        except BrokerError as exc:
            if exc.code != ResponseCode.CONSUMER_NOT_ONLINE:
                raise
            stats = await a.reset_offset_by_time_old(topic, group, -1, parse_bool(force))
            return {r.mq: r.rollback_offset for r in stats}

    offsets = fetch(namesrv_addr, go)

    def render(offsets: dict[MessageQueue, int]) -> None:
        click.echo(f"{'#brokerName':<40s}  {'#queueId':<20s}  #offset")
        for mq, offset in sorted(offsets.items()):
            click.echo(f"{mq.broker_name:<40s}  {mq.queue_id:<20d}  {offset}")

    emit(offsets, render)


@admin.command("allocateMQ")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic name.")
@click.option("-i", "--ipList", "ip_list", required=True, help="Client ids, comma separated.")
def allocate_mq(namesrv_addr: str, topic: str, ip_list: str) -> None:
    """Allocate MQ: which queues each client would get (AllocateMessageQueueAveragely)."""
    queues = fetch(namesrv_addr, lambda a: a.subscribe_queues(topic))
    mqs = sorted(mq for mq, _addr in queues)
    cids = sorted(ip.strip() for ip in ip_list.split(",") if ip.strip())
    strategy = AllocateAveragely()
    result = {cid: sorted(strategy.allocate("TOOLS", cid, mqs, cids)) for cid in cids}
    obj = {"result": {cid: [mq.to_obj() for mq in mine] for cid, mine in result.items()}}
    emit(obj, lambda o: click.echo(orjson.dumps(o).decode()))


@admin.command("statsAll")
@namesrv_option
@click.option("-a", "--activeTopic", "active", is_flag=True, help="Print active topics only.")
@click.option("-t", "--topic", help="Print this topic only.")
def stats_all(namesrv_addr: str, active: bool, topic: str | None) -> None:
    """Topic and Consumer tps stats."""
    rows = fetch(namesrv_addr, lambda a: _stats_rows(a, active, topic))

    def render(rows: list[dict[str, Any]]) -> None:
        click.echo(
            f"{'#Topic':<64s}  {'#Consumer Group':<64s} {'#Accumulation':>12s} {'#InTPS':>11s} "
            f"{'#OutTPS':>11s} {'#InMsg24Hour':>14s} {'#OutMsg24Hour':>14s}"
        )
        for r in rows:
            if r["group"] is None:
                click.echo(
                    f"{r['topic']:<64s}  {'':<64s} {0:>12d} {r['inTps']:>11.2f} {'':>11s} "
                    f"{r['inMsg24Hour']:>14d} {'NO_CONSUMER':>14s}"
                )
            else:
                click.echo(
                    f"{r['topic']:<64s}  {r['group']:<64s} {r['accumulation']:>12d} "
                    f"{r['inTps']:>11.2f} {r['outTps']:>11.2f} {r['inMsg24Hour']:>14d} "
                    f"{r['outMsg24Hour']:>14d}"
                )

    emit(rows, render)


def _sum_24h(data: dict[str, Any]) -> int:
    """``StatsAllSubCommand#compute24HourSum``: the day's sum, else the hour's, else the
    minute's."""
    for window in ("statsDay", "statsHour", "statsMinute"):
        total = int((data.get(window) or {}).get("sum", 0))
        if total:
            return total
    return 0


async def _stat(a: AdminClient, addrs: list[str], name: str, key: str) -> tuple[float, int]:
    tps, total = 0.0, 0
    for addr in addrs:
        try:
            data = await a.broker_stats_data(addr, name, key)
        except BrokerError:
            continue  # the broker keeps no such item: counted as 0, as mqadmin does
        tps += float((data.get("statsMinute") or {}).get("tps", 0.0))
        total += _sum_24h(data)
    return tps, total


async def _stats_rows(a: AdminClient, active: bool, only: str | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for topic in await a.topic_list():
        if topic.startswith((RETRY_GROUP_TOPIC_PREFIX, DLQ_GROUP_TOPIC_PREFIX)):
            continue
        if only and topic != only:
            continue
        try:
            route = await a.topic_route(topic)
            groups = await a.topic_consumed_by(topic)
        except BrokerError:
            continue
        masters = [a for a in (b.master_addr() for b in route.broker_datas) if a]
        in_tps, in_24h = await _stat(a, masters, "TOPIC_PUT_NUMS", topic)
        if not groups:
            if not active or in_24h > 0:
                rows.append({"topic": topic, "group": None, "inTps": in_tps, "inMsg24Hour": in_24h})
            continue
        for group in groups:
            out_tps, out_24h = await _stat(a, masters, "GROUP_GET_NUMS", f"{topic}@{group}")
            try:
                lag = max((await a.consume_stats(group, topic)).diff_total(), 0)
            except BrokerError:
                lag = 0
            if not active or in_24h > 0 or out_24h > 0:
                rows.append(
                    {
                        "topic": topic,
                        "group": group,
                        "accumulation": lag,
                        "inTps": in_tps,
                        "outTps": out_tps,
                        "inMsg24Hour": in_24h,
                        "outMsg24Hour": out_24h,
                    }
                )
    return rows


@admin.command("startMonitoring")
@namesrv_option
@click.option("--rounds", type=int, default=0, help="Stop after this many rounds (0: never).")
@click.option("--interval", type=float, default=20.0, help="Seconds between rounds.")
def start_monitoring(namesrv_addr: str, rounds: int, interval: float) -> None:
    """Start Monitoring: every round, each consumer group's lag on each topic
    (MonitorService's undone messages report)."""
    done = 0
    while rounds <= 0 or done < rounds:
        rows = fetch(namesrv_addr, _monitor_round)
        emit(rows, _print_monitor)
        done += 1
        if rounds <= 0 or done < rounds:
            time.sleep(interval)


async def _monitor_round(a: AdminClient) -> list[dict[str, Any]]:
    rows = []
    for topic in await a.topic_list():
        if not topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            continue
        group = topic[len(RETRY_GROUP_TOPIC_PREFIX) :]
        try:
            stats = await a.consume_stats(group)
        except BrokerError:
            continue
        by_topic: dict[str, int] = {}
        for mq, w in stats.offset_table.items():
            by_topic[mq.topic] = by_topic.get(mq.topic, 0) + w.broker_offset - w.consumer_offset
        for t, lag in sorted(by_topic.items()):
            rows.append(
                {"time": int(time.time() * 1000), "group": group, "topic": t, "undone": lag}
            )
    return rows


def _print_monitor(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        click.echo(
            f"{human_ms(r['time'])} UndoneMsgs [consumerGroup={r['group']}, topic={r['topic']}, "
            f"undoneMsgsTotal={r['undone']}]"
        )
