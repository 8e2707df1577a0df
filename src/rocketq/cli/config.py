"""Cluster, broker and NameServer settings: ``clusterList``, ``brokerStatus``, write permission,
broker and NameServer config, and the NameServer's KV config."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import click
from rich.table import Table

from rocketq.admin import AdminClient
from rocketq.cli.base import (
    admin,
    admin_call,
    console,
    emit,
    fetch,
    namesrv_option,
    target_addrs,
)
from rocketq.remoting.body import HARuntimeInfo

__all__ = [
    "add_write_perm",
    "broker_status",
    "cluster_list",
    "delete_kv_config",
    "get_broker_config",
    "get_kv_config",
    "get_namesrv_config",
    "ha_status",
    "update_broker_config",
    "update_kv_config",
    "update_namesrv_config",
    "wipe_write_perm",
]


@admin.command("clusterList")
@namesrv_option
def cluster_list(namesrv_addr: str) -> None:
    """List clusters, broker groups and broker addresses with their load."""

    async def fetch(a: AdminClient) -> tuple[Any, dict[str, dict[str, str]]]:
        info = await a.cluster_info()
        addrs = [addr for b in info.broker_addr_table.values() for addr in b.broker_addrs.values()]
        results = await asyncio.gather(
            *(asyncio.wait_for(a.broker_runtime_info(x), 2.0) for x in addrs),
            return_exceptions=True,
        )
        runtime = {x: r for x, r in zip(addrs, results, strict=True) if isinstance(r, dict)}
        return info, runtime

    info, runtime = admin_call(namesrv_addr, fetch)
    table = Table(
        "#Cluster Name",
        "#Broker Name",
        "#BID",
        "#Addr",
        "#Version",
        "#InTPS(LOAD)",
        "#OutTPS(LOAD)",
        "#PCWait(ms)",
        "#Hour",
        "#SPACE",
        box=None,
        header_style="bold",
    )
    for cluster in sorted(info.cluster_addr_table):
        for name in sorted(info.cluster_addr_table[cluster]):
            data = info.broker_addr_table.get(name)
            if data is None:
                continue
            for bid, addr in sorted(data.broker_addrs.items()):
                table.add_row(cluster, name, str(bid), addr, *_runtime_columns(runtime.get(addr)))
    console().print(table)


def _runtime_columns(rt: dict[str, str] | None) -> list[str]:
    if rt is None:
        return ["-"] * 6

    def first(key: str) -> str:
        return (rt.get(key) or "0").split(" ")[0]

    earliest = int(rt.get("earliestMessageTimeStamp") or 0)
    hours = f"{(time.time() * 1000 - earliest) / 3_600_000:.2f}" if earliest else "0.00"
    return [
        rt.get("brokerVersionDesc", "-"),
        first("putTps"),
        first("getTransferedTps"),
        rt.get("pageCacheLockTimeMills", "0"),
        hours,
        rt.get("commitLogDiskRatio", "-"),
    ]


@admin.command("brokerStatus")
@namesrv_option
@click.option("-b", "--brokerAddr", "broker_addr", help="Broker address (ip:port).")
@click.option("-c", "--clusterName", "cluster", help="Every broker of this cluster.")
def broker_status(namesrv_addr: str, broker_addr: str | None, cluster: str | None) -> None:
    """Runtime figures of a broker (GET_BROKER_RUNTIME_INFO), sorted by name."""

    async def go(a: AdminClient) -> dict[str, dict[str, str]]:
        addrs = await target_addrs(a, broker_addr, cluster, masters_only=False)
        return {addr: await a.broker_runtime_info(addr) for addr in addrs}

    results = admin_call(namesrv_addr, go)
    for addr, info in results.items():
        for key in sorted(info):
            prefix = f"{addr:<24s} " if len(results) > 1 or not broker_addr else ""
            click.echo(f"{prefix}{key:<32s}: {info[key]}")


@admin.command("haStatus")
@namesrv_option
@click.option("-b", "--brokerAddr", "broker_addr", help="Broker address (ip:port).")
@click.option("-c", "--clusterName", "cluster", help="Every master of this cluster.")
@click.option(
    "-i", "--interval", type=int, default=None, help="Print again every N seconds until Ctrl-C."
)
def ha_status(
    namesrv_addr: str, broker_addr: str | None, cluster: str | None, interval: int | None
) -> None:
    """Replication status (mqadmin 5.x haStatus): a master's slaves with their ack offset, gap,
    speed and state, or a slave's link to its master."""
    if not broker_addr and not cluster:
        raise click.UsageError("give -b brokerAddr or -c clusterName")

    async def go(a: AdminClient) -> dict[str, HARuntimeInfo]:
        addrs = await target_addrs(a, broker_addr, cluster)
        return {addr: await a.ha_status(addr) for addr in addrs}

    def render(infos: dict[str, HARuntimeInfo]) -> None:
        for addr, info in infos.items():
            click.echo(_format_ha_status(addr, info))

    while True:  # with --json, one JSON object per round (not only the first round)
        emit(fetch(namesrv_addr, go), render)
        if interval is None:
            return
        time.sleep(max(interval, 1))


def _format_ha_status(addr: str, info: HARuntimeInfo) -> str:
    """The layout of Java's HAStatusSubCommand."""
    if info.master:
        lines = [
            "",
            f"#MasterAddr\t{addr}",
            f"#MasterCommitLogMaxOffset\t{info.master_commit_log_max_offset}",
            f"#SlaveNum\t{len(info.ha_connection_info)}",
            f"#InSyncSlaveNum\t{info.in_sync_slave_nums}",
            f"{'#SlaveAddr':<32s}  {'#SlaveAckOffset':<16s} {'#Diff':>16s} "
            f"{'#TransferSpeed(KB/s)':>16s} {'#Status':>16s} {'#TransferFromWhere':>16s}",
        ]
        for c in info.ha_connection_info:
            state = "OK" if c.in_sync else "Fall Behind"
            lines.append(
                f"{c.addr:<32s}  {c.slave_ack_offset:<16d} {c.diff:>16d} "
                f"{c.transferred_byte_in_second / 1024:>16.2f} {state:>16s} "
                f"{c.transfer_from_where:>16d}"
            )
        return "\n".join(lines)
    link = info.ha_client_runtime_info
    return "\n".join(
        [
            "",
            f"#MasterAddr\t{link.master_addr}",
            f"#CommitLogMaxOffset\t{link.max_offset}",
            f"#TransferSpeed(KB/s)\t{link.transferred_byte_in_second / 1024:.2f}",
            f"#LastReadTime\t{_human_ms(link.last_read_timestamp)}",
            f"#LastWriteTime\t{_human_ms(link.last_write_timestamp)}",
            f"#MasterFlushOffset\t{link.master_flush_offset}",
        ]
    )


def _human_ms(ms: int) -> str:
    """``UtilAll.timeMillisToHumanString2``: yyyy-MM-dd HH:mm:ss,SSS (local time)."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) + f",{millis:03d}"


@admin.command("updateBrokerConfig")
@namesrv_option
@click.option("-b", "--brokerAddr", "broker_addr", help="Broker address.")
@click.option("-c", "--clusterName", "cluster", help="Every master of this cluster.")
@click.option("-k", "--key", required=True, help="Setting name.")
@click.option("-v", "--value", required=True, help="New value.")
def update_broker_config(
    namesrv_addr: str, broker_addr: str | None, cluster: str | None, key: str, value: str
) -> None:
    """Change one setting of a broker (or every master of a cluster) at runtime."""

    async def go(a: AdminClient) -> list[str]:
        addrs = await target_addrs(a, broker_addr, cluster)
        for addr in addrs:
            await a.update_broker_config(addr, {key: value})
        return addrs

    for addr in admin_call(namesrv_addr, go):
        click.echo(f"update broker config success, {addr}")


@admin.command("getBrokerConfig")
@namesrv_option
@click.option("-b", "--brokerAddr", "broker_addr", help="Broker address.")
@click.option("-c", "--clusterName", "cluster", help="Every broker of this cluster.")
def get_broker_config(namesrv_addr: str, broker_addr: str | None, cluster: str | None) -> None:
    """Print every setting of a broker (or of each broker of a cluster)."""

    async def go(a: AdminClient) -> dict[str, dict[str, str]]:
        addrs = await target_addrs(a, broker_addr, cluster, masters_only=False)
        return {addr: await a.broker_config(addr) for addr in addrs}

    for addr, values in admin_call(namesrv_addr, go).items():
        click.echo(f"============{addr}============")
        for key, value in values.items():
            click.echo(f"{key:<50s}=  {value}")
        click.echo()


@admin.command("getNamesrvConfig")
@namesrv_option
def get_namesrv_config(namesrv_addr: str) -> None:
    """Print the settings of each NameServer."""
    configs = admin_call(namesrv_addr, lambda a: a.namesrv_config())
    for addr, values in configs.items():
        click.echo(f"============{addr}============")
        for key, value in values.items():
            click.echo(f"{key:<50s}=  {value}")


@admin.command("updateNamesrvConfig")
@namesrv_option
@click.option("-k", "--key", required=True, help="Setting name, e.g. orderMessageEnable.")
@click.option("-v", "--value", required=True, help="New value.")
def update_namesrv_config(namesrv_addr: str, key: str, value: str) -> None:
    """Change one setting on every NameServer."""
    admin_call(namesrv_addr, lambda a: a.update_namesrv_config({key: value}))
    click.echo(f"update name server config success: {key}={value}")


@admin.command("updateKvConfig")
@namesrv_option
@click.option("-s", "--namespace", required=True, help="Namespace, e.g. ORDER_TOPIC_CONFIG.")
@click.option("-k", "--key", required=True, help="Key.")
@click.option("-v", "--value", required=True, help="Value.")
def update_kv_config(namesrv_addr: str, namespace: str, key: str, value: str) -> None:
    """Create or update a KV config item on every NameServer."""
    admin_call(namesrv_addr, lambda a: a.put_kv_config(namespace, key, value))
    click.echo("create or update kv config to namespace success.")


@admin.command("getKvConfig")
@namesrv_option
@click.option("-s", "--namespace", required=True, help="Namespace.")
@click.option("-k", "--key", help="Key; without it, every item of the namespace.")
def get_kv_config(namesrv_addr: str, namespace: str, key: str | None) -> None:
    """Print a KV config item (or a whole namespace)."""
    if key is None:
        items = admin_call(namesrv_addr, lambda a: a.kv_list(namespace))
        if not items:
            raise click.ClickException(f"no config item in namespace {namespace}")
        for k, v in items.items():
            click.echo(f"{k}={v}")
        return
    value = admin_call(namesrv_addr, lambda a: a.get_kv_config(namespace, key))
    if value is None:
        raise click.ClickException(f"no config item: namespace {namespace}, key {key}")
    click.echo(value)


@admin.command("deleteKvConfig")
@namesrv_option
@click.option("-s", "--namespace", required=True, help="Namespace.")
@click.option("-k", "--key", required=True, help="Key.")
def delete_kv_config(namesrv_addr: str, namespace: str, key: str) -> None:
    """Delete a KV config item on every NameServer."""
    admin_call(namesrv_addr, lambda a: a.delete_kv_config(namespace, key))
    click.echo("delete kv config from namespace success.")


@admin.command("wipeWritePerm")
@namesrv_option
@click.option("-b", "--brokerName", "broker_name", required=True, help="Broker name.")
def wipe_write_perm(namesrv_addr: str, broker_name: str) -> None:
    """Stop producers writing to a broker (before taking it down)."""
    counts = admin_call(namesrv_addr, lambda a: a.set_write_perm(broker_name, False))
    for addr, n in counts.items():
        click.echo(f"wipe write perm of broker[{broker_name}] in name server[{addr}] OK, {n}")


@admin.command("addWritePerm")
@namesrv_option
@click.option("-b", "--brokerName", "broker_name", required=True, help="Broker name.")
def add_write_perm(namesrv_addr: str, broker_name: str) -> None:
    """Give a broker its write permission back."""
    counts = admin_call(namesrv_addr, lambda a: a.set_write_perm(broker_name, True))
    for addr, n in counts.items():
        click.echo(f"add write perm of broker[{broker_name}] in name server[{addr}] OK, {n}")
