"""Broker maintenance and probing commands of mqadmin 4.9.4: ``cleanExpiredCQ``,
``deleteExpiredCommitLog``, ``cleanUnusedTopic``, ``queryCq``, ``sendMsgStatus``,
``checkMsgSendRT``, ``clusterRT``, ``updateTopicPerm``, ``topicClusterList`` and
``updateOrderConf``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import click
import orjson

from rocketq.admin import AdminClient
from rocketq.cli.base import admin, emit, fetch, namesrv_option, target_addrs
from rocketq.client.message import SendResult
from rocketq.common.errors import RocketQError
from rocketq.common.topic import TopicConfig, perm_to_string

__all__ = [
    "check_msg_send_rt",
    "clean_expired_cq",
    "clean_unused_topic",
    "cluster_rt",
    "delete_expired_commit_log",
    "query_cq",
    "send_msg_status",
    "topic_cluster_list",
    "update_order_conf",
    "update_topic_perm",
]

# NamesrvUtil.NAMESPACE_ORDER_TOPIC_CONFIG: where ordered topics' broker queue counts live.
ORDER_TOPIC_CONFIG = "ORDER_TOPIC_CONFIG"


def _on_brokers(
    namesrv_addr: str,
    broker_addr: str | None,
    cluster: str | None,
    call: Callable[[AdminClient, str], Awaitable[bool]],
) -> None:
    """Run ``call`` on ``-b`` or every master of ``-c``; print ``success``/``false`` as
    mqadmin does (one word, no newline) or, with --json, {addr: ok}."""

    async def go(a: AdminClient) -> dict[str, bool]:
        addrs = await target_addrs(a, broker_addr, cluster)
        return {addr: await call(a, addr) for addr in addrs}

    results = fetch(namesrv_addr, go)
    emit(
        results,
        lambda r: click.echo("success" if all(r.values()) else "false", nl=False),
    )


@admin.command("cleanExpiredCQ")
@namesrv_option
@click.option("-b", "--brokerAddr", "broker_addr", help="Broker address.")
@click.option("-c", "--cluster", help="Cluster name.")
def clean_expired_cq(namesrv_addr: str, broker_addr: str | None, cluster: str | None) -> None:
    """Clean expired ConsumeQueue on broker."""
    _on_brokers(
        namesrv_addr, broker_addr, cluster, lambda a, addr: a.clean_expired_consume_queue(addr)
    )


@admin.command("deleteExpiredCommitLog")
@namesrv_option
@click.option("-b", "--brokerAddr", "broker_addr", help="Broker address.")
@click.option("-c", "--cluster", help="Cluster name.")
def delete_expired_commit_log(
    namesrv_addr: str, broker_addr: str | None, cluster: str | None
) -> None:
    """Delete expired CommitLog files."""
    _on_brokers(
        namesrv_addr, broker_addr, cluster, lambda a, addr: a.delete_expired_commit_log(addr)
    )


@admin.command("cleanUnusedTopic")
@namesrv_option
@click.option("-b", "--brokerAddr", "broker_addr", help="Broker address.")
@click.option("-c", "--cluster", help="Cluster name.")
def clean_unused_topic(namesrv_addr: str, broker_addr: str | None, cluster: str | None) -> None:
    """Clean unused topic on broker."""
    _on_brokers(namesrv_addr, broker_addr, cluster, lambda a, addr: a.clean_unused_topic(addr))


def _java(value: Any) -> str:
    """A value as Java's ``String.valueOf`` prints it."""
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _cq_data(entry: dict[str, Any]) -> str:
    """``ConsumeQueueData#toString``."""
    return (
        f"ConsumeQueueData{{physicOffset={entry.get('physicOffset')}, "
        f"physicSize={entry.get('physicSize')}, tagsCode={entry.get('tagsCode')}, "
        f"extendDataJson='{_java(entry.get('extendDataJson'))}', "
        f"bitMap='{_java(entry.get('bitMap'))}', eval={_java(entry.get('eval', False))}, "
        f"msg='{_java(entry.get('msg'))}'}}"
    )


@admin.command("queryCq")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic name.")
@click.option("-q", "--queue", "queue_id", type=int, required=True, help="Queue id, i.e. 1.")
@click.option("-i", "--index", type=int, required=True, help="Start queue index.")
@click.option("-c", "--count", type=int, default=10, help="How many.")
@click.option("-b", "--broker", "broker_addr", help="Broker address.")
@click.option("-g", "--consumer", "group", help="Consumer group.")
def query_cq(
    namesrv_addr: str,
    topic: str,
    queue_id: int,
    index: int,
    count: int,
    broker_addr: str | None,
    group: str | None,
) -> None:
    """Query cq command: raw ConsumeQueue entries of a queue."""

    async def go(a: AdminClient) -> dict[str, Any]:
        addr = broker_addr
        if not addr:
            route = await a.topic_route(topic)
            if not route.broker_datas:
                raise click.ClickException("No topic route data!")
            addr = route.broker_datas[0].broker_addrs.get(0)
            if addr is None:
                raise click.ClickException("No master broker for the topic")
        body, _remark = await a.query_consume_queue(addr, topic, queue_id, index, count, group)
        return body

    emit(fetch(namesrv_addr, go), lambda body: _print_cq(body, index))


def _print_cq(body: dict[str, Any], index: int) -> None:
    line = "======================================"
    if body.get("subscriptionData") is not None:
        sub = orjson.dumps(body["subscriptionData"], option=orjson.OPT_INDENT_2).decode()
        click.echo(f"Subscription data: \n{sub}\n{line}")
    if body.get("filterData") is not None:
        click.echo(f"Filter data: \n{body['filterData']}\n{line}")
    click.echo(
        f"Queue data: \nmax: {body.get('maxQueueIndex', 0)}, min: {body.get('minQueueIndex', 0)}"
    )
    click.echo(line)
    for i, entry in enumerate(body.get("queueData") or [], index):
        click.echo(f"idx: {i}\n{_cq_data(entry)}\n{line}")


def _send_result_text(r: SendResult) -> str:
    """``SendResult#toString``."""
    mq = r.message_queue
    return (
        f"SendResult [sendStatus={r.status.name}, msgId={r.msg_id}, "
        f"offsetMsgId={r.offset_msg_id}, messageQueue=MessageQueue [topic={mq.topic}, "
        f"brokerName={mq.broker_name}, queueId={mq.queue_id}], queueOffset={r.queue_offset}]"
    )


@admin.command("sendMsgStatus")
@namesrv_option
@click.option("-b", "--brokerName", "broker_name", required=True, help="Broker name.")
@click.option("-s", "--messageSize", "size", type=int, default=128, help="Message size.")
@click.option("-c", "--count", type=int, default=50, help="Messages to send.")
def send_msg_status(namesrv_addr: str, broker_name: str, size: int, count: int) -> None:
    """Send messages to a broker (its broker-name topic) and print each result and RT."""

    async def go(a: AdminClient) -> list[dict[str, Any]]:
        out = []
        for _ in range(count):
            begin = time.monotonic()
            result = await a.send_message(broker_name, b"x" * size)
            rt = int((time.monotonic() - begin) * 1000)
            out.append({"rt": rt, "sendResult": result})
        return out

    def render(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            click.echo(f"rt={row['rt']}ms, SendResult={_send_result_text(row['sendResult'])}")

    emit(fetch(namesrv_addr, go), render)


@admin.command("checkMsgSendRT")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic name.")
@click.option("-a", "--amount", type=int, default=100, help="Message amount.")
@click.option("-s", "--size", type=int, default=128, help="Message size in bytes.")
def check_msg_send_rt(namesrv_addr: str, topic: str, amount: int, size: int) -> None:
    """Check message send response time (queue i % n for the i-th message)."""

    async def go(a: AdminClient) -> list[dict[str, Any]]:
        queues = sorted(mq for mq, _addr in await a._publish_queues(topic))
        if not queues:
            raise click.ClickException(f"no writable queue of {topic}")
        rows = []
        for i in range(amount):
            mq = queues[i % len(queues)]
            begin = time.monotonic()
            try:
                await a.send_message(
                    topic, b"a" * size, broker_name=mq.broker_name, queue_id=mq.queue_id
                )
                ok = True
            except RocketQError:
                ok = False
            rt = int((time.monotonic() - begin) * 1000)
            rows.append({"brokerName": mq.broker_name, "queueId": mq.queue_id, "ok": ok, "rt": rt})
        return rows

    def render(rows: list[dict[str, Any]]) -> None:
        click.echo(f"{'#Broker Name':<32s}  {'#QID':<4s}  {'#Send Result':<20s}    #RT")
        for r in rows:
            click.echo(
                f"{r['brokerName']:<32s}  {r['queueId']:<4d}  "
                f"{str(r['ok']).lower():<20s}    {r['rt']}"
            )
        timed = [r["rt"] for r in rows[1:]]  # the first send pays for the route lookup
        click.echo(f"Avg RT: {sum(timed) / max(len(timed), 1):.2f}")

    emit(fetch(namesrv_addr, go), render)


@admin.command("clusterRT")
@namesrv_option
@click.option("-a", "--amount", type=int, default=100, help="Message amount per broker.")
@click.option("-s", "--size", type=int, default=128, help="Message size in bytes.")
@click.option("-c", "--cluster", help="Cluster name (default: every cluster).")
@click.option("-p", "--printLog", "print_log", default="false", help="Print as tlog.")
@click.option("-m", "--machineRoom", "machine_room", default="noname", help="Machine room.")
@click.option("-i", "--interval", type=int, default=10, help="Seconds between rounds.")
@click.option("--rounds", type=int, default=0, help="Stop after this many rounds (0: never).")
def cluster_rt(
    namesrv_addr: str,
    amount: int,
    size: int,
    cluster: str | None,
    print_log: str,
    machine_room: str,
    interval: int,
    rounds: int,
) -> None:
    """List All clusters Message Send RT (each broker's own topic, every interval)."""
    tlog = print_log.strip().lower() == "true"
    if not tlog:
        head = f"{'#Cluster Name':<24s}  {'#Broker Name':<24s}  {'#RT':<4s}  {'#successCount':<8s}"
        click.echo(f"{head}  #failCount")
    done = 0
    while rounds <= 0 or done < rounds:
        rows = fetch(namesrv_addr, lambda a: _rt_round(a, cluster, amount, size))
        emit(rows, lambda rs: _print_rt(rs, tlog, machine_room))
        done += 1
        if rounds <= 0 or done < rounds:
            time.sleep(interval)


async def _rt_round(
    a: AdminClient, only: str | None, amount: int, size: int
) -> list[dict[str, Any]]:
    info = await a.cluster_info()
    clusters = [only] if only else sorted(info.cluster_addr_table)
    rows = []
    for cluster in clusters:
        for broker in sorted(info.cluster_addr_table.get(cluster) or []):
            ok = failed = elapsed = 0
            for i in range(amount):
                begin = time.monotonic()
                try:
                    await a.send_message(broker, b"a" * size)
                    ok += 1
                except RocketQError:
                    failed += 1
                if i:
                    elapsed += int((time.monotonic() - begin) * 1000)
            rt = elapsed / max(amount - 1, 1)
            rows.append(
                {"cluster": cluster, "broker": broker, "rt": rt, "ok": ok, "failed": failed}
            )
    return rows


def _print_rt(rows: list[dict[str, Any]], tlog: bool, machine_room: str) -> None:
    for r in rows:
        if tlog:
            now = time.strftime("%Y-%m-%d %H:%M:%S")
            click.echo(f"{now}|{machine_room}|{r['cluster']}|{r['broker']}|{round(r['rt'])}")
        else:
            click.echo(
                f"{r['cluster']:<24s}  {r['broker']:<24s}  {r['rt']:<8.2f}  "
                f"{r['ok']:<16d}  {r['failed']:<16d}"
            )


@admin.command("updateTopicPerm")
@namesrv_option
@click.option("-b", "--brokerAddr", "broker_addr", help="Update on this broker.")
@click.option("-c", "--clusterName", "cluster", help="Update on every master of this cluster.")
@click.option("-t", "--topic", required=True, help="Topic name.")
@click.option(
    "-p", "--perm", type=click.Choice(["2", "4", "6"]), required=True, help="2:W 4:R 6:RW."
)
def update_topic_perm(
    namesrv_addr: str, broker_addr: str | None, cluster: str | None, topic: str, perm: str
) -> None:
    """Update topic perm (on the masters that have the topic)."""
    new_perm = int(perm)

    async def go(a: AdminClient) -> list[dict[str, Any]]:
        route = await a.topic_route(topic)
        old = {q.broker_name: q.perm for q in route.queue_datas}
        masters = {b.master_addr(): b.broker_name for b in route.broker_datas if b.master_addr()}
        addrs = await target_addrs(a, broker_addr, cluster)
        out: list[dict[str, Any]] = []
        for addr in addrs:
            name = masters.get(addr)
            if name is None:
                out.append({"broker": addr, "error": "broker not exit or broker is not master"})
                continue
            config = (await a.all_topic_config(addr)).topic_config_table.get(topic)
            if config is None:
                continue
            if config.perm == new_perm:
                out.append({"broker": addr, "error": "new perm equals to the old one"})
                continue
            config = TopicConfig(
                topic, config.read_queue_nums, config.write_queue_nums, new_perm,
                config.topic_filter_type, config.topic_sys_flag, config.order,
            )  # fmt: skip
            await a.create_topic(addr, config)
            out.append(
                {"broker": addr, "oldPerm": old.get(name), "perm": new_perm, "config": config}
            )
        return out

    def render(rows: list[dict[str, Any]]) -> None:
        for r in rows:
            if "error" in r:
                click.echo(f"updateTopicPerm error {r['error']}!.")
                continue
            click.echo(
                f"update topic perm from {r['oldPerm']} to {r['perm']} in {r['broker']} success."
            )
            c = r["config"]
            click.echo(
                f"TopicConfig [topicName={c.topic_name}, readQueueNums={c.read_queue_nums}, "
                f"writeQueueNums={c.write_queue_nums}, perm={perm_to_string(c.perm)}, "
                f"topicFilterType={c.topic_filter_type}, topicSysFlag={c.topic_sys_flag}, "
                f"order={_java(c.order)}]."
            )

    emit(fetch(namesrv_addr, go), render)


@admin.command("topicClusterList")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic name.")
def topic_cluster_list(namesrv_addr: str, topic: str) -> None:
    """Get cluster info for topic: the clusters whose brokers serve it."""

    async def go(a: AdminClient) -> list[str]:
        info = await a.cluster_info()
        route = await a.topic_route(topic)
        names = {b.broker_name for b in route.broker_datas}
        return sorted(c for c, brokers in info.cluster_addr_table.items() if names & set(brokers))

    emit(fetch(namesrv_addr, go), lambda cs: click.echo("\n".join(cs)))


@admin.command("updateOrderConf")
@namesrv_option
@click.option("-t", "--topic", required=True, help="Topic name.")
@click.option("-v", "--orderConf", "order_conf", help="brokerName1:num;brokerName2:num.")
@click.option("-m", "--method", type=click.Choice(["put", "get", "delete"]), required=True)
def update_order_conf(namesrv_addr: str, topic: str, order_conf: str | None, method: str) -> None:
    """Create or update or delete order conf (NameServer KV ORDER_TOPIC_CONFIG)."""

    async def go(a: AdminClient) -> dict[str, Any]:
        if method == "get":
            return {"topic": topic, "orderConf": await a.get_kv_config(ORDER_TOPIC_CONFIG, topic)}
        if method == "put":
            if not order_conf:
                raise click.UsageError("please set orderConf with option -v.")
            await a.put_kv_config(ORDER_TOPIC_CONFIG, topic, order_conf)
            return {"topic": topic, "orderConf": order_conf}
        await a.delete_kv_config(ORDER_TOPIC_CONFIG, topic)
        return {"topic": topic}

    def render(r: dict[str, Any]) -> None:
        if method == "get":
            click.echo(
                f"get orderConf success. topic=[{topic}], orderConf=[{r['orderConf']}] ", nl=False
            )
        elif method == "put":
            click.echo(
                f"update orderConf success. topic=[{topic}], orderConf=[{order_conf}]", nl=False
            )
        else:
            click.echo(f"delete orderConf success. topic=[{topic}]", nl=False)

    emit(fetch(namesrv_addr, go), render)
