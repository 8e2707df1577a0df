"""The export commands of mqadmin 4.9.4: ``exportMetadata`` (topics and subscription
groups), ``exportConfigs`` (broker settings, cluster scale) and ``exportMetrics`` (runtime
figures), each written as JSON under ``-f`` (default ``/tmp/rocketmq/export``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import orjson

from rocketq.admin import AdminClient
from rocketq.cli.base import admin, emit, fetch, jsonable, namesrv_option
from rocketq.common.topic import (
    DLQ_GROUP_TOPIC_PREFIX,
    RETRY_GROUP_TOPIC_PREFIX,
    TopicConfig,
    is_system_topic,
)

__all__ = ["export_configs", "export_metadata", "export_metrics"]

# ExportMetadataCommand.DEFAULT_FILE_PATH.
DEFAULT_EXPORT_PATH = "/tmp/rocketmq/export"
# MixAll.CID_RMQ_SYS_PREFIX and the broker's own groups: not user groups.
_SYS_GROUP_PREFIX = "CID_RMQ_SYS_"
_SYS_GROUPS = frozenset(
    {
        "TOOLS_CONSUMER",
        "FILTERSRV_CONSUMER",
        "__MONITOR_CONSUMER",
        "CLIENT_INNER_PRODUCER",
        "SELF_TEST_P_GROUP",
        "SELF_TEST_C_GROUP",
        "CID_ONS-HTTP-PROXY",
        "CID_ONSAPI_PERMISSION",
        "CID_ONSAPI_OWNER",
        "CID_ONSAPI_PULL",
        "CID_RMQ_SYS_TRANS",
    }
)
# ExportConfigsCommand#needBrokerProprties: the settings worth exporting.
_EXPORTED_BROKER_KEYS = (
    "brokerClusterName",
    "brokerId",
    "brokerName",
    "brokerRole",
    "fileReservedTime",
    "filterServerNums",
    "flushDiskType",
    "maxMessageSize",
    "messageDelayLevel",
    "msgTraceTopicName",
    "slaveReadEnable",
    "traceOn",
    "traceTopicEnable",
    "useTLS",
    "autoCreateTopicEnable",
    "autoCreateSubscriptionGroup",
)


def _write(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(jsonable(obj), option=orjson.OPT_INDENT_2))


def _user_topic(topic: str, special: bool) -> bool:
    """``getUserTopicConfig``: no system topics; retry and DLQ topics only with ``-s``."""
    if topic.startswith((RETRY_GROUP_TOPIC_PREFIX, DLQ_GROUP_TOPIC_PREFIX)):
        return special
    return not is_system_topic(topic)


async def _metadata(a: AdminClient, addrs: list[str], special: bool) -> dict[str, Any]:
    """Topics (queue counts summed over brokers) and groups (retry queues summed)."""
    topics: dict[str, TopicConfig] = {}
    groups: dict[str, Any] = {}
    for addr in addrs:
        for name, config in (await a.all_topic_config(addr)).topic_config_table.items():
            if not _user_topic(name, special):
                continue
            seen = topics.get(name)
            if seen is not None:
                config.read_queue_nums += seen.read_queue_nums
                config.write_queue_nums += seen.write_queue_nums
            topics[name] = config
        for name, group in (await a.all_subscription_groups(addr)).items():
            if name.startswith(_SYS_GROUP_PREFIX) or name in _SYS_GROUPS:
                continue
            if name in groups:
                group.retry_queue_nums += groups[name].retry_queue_nums
            groups[name] = group
    return {"topicConfigTable": topics, "subscriptionGroupTable": groups}


@admin.command("exportMetadata")
@namesrv_option
@click.option("-c", "--clusterName", "cluster", help="Export from every master of this cluster.")
@click.option("-b", "--brokerAddr", "broker_addr", help="Export from this broker.")
@click.option("-f", "--filePath", "file_path", default=DEFAULT_EXPORT_PATH, help="Directory.")
@click.option("-t", "--topic", "topics_only", is_flag=True, help="Only topic metadata.")
@click.option("-g", "--subscriptionGroup", "groups_only", is_flag=True, help="Only groups.")
@click.option("-s", "--specialTopic", "special", is_flag=True, help="With retry and DLQ topics.")
def export_metadata(
    namesrv_addr: str,
    cluster: str | None,
    broker_addr: str | None,
    file_path: str,
    topics_only: bool,
    groups_only: bool,
    special: bool,
) -> None:
    """Export metadata: topic.json, subscriptionGroup.json or metadata.json."""
    if not cluster and not broker_addr:
        raise click.UsageError("give -b brokerAddr or -c clusterName")

    async def go(a: AdminClient) -> dict[str, Any]:
        addrs = [broker_addr] if broker_addr else list(await a.broker_addrs(cluster or ""))
        return await _metadata(a, addrs, special)

    meta = fetch(namesrv_addr, go)
    if topics_only:
        result, name = {"topicConfigTable": meta["topicConfigTable"]}, "topic.json"
    elif groups_only:
        result, name = (
            {"subscriptionGroupTable": meta["subscriptionGroupTable"]},
            "subscriptionGroup.json",
        )
    else:
        result, name = dict(meta), "metadata.json"
    result["exportTime"] = int(time.time() * 1000)
    path = Path(file_path) / name
    _write(path, result)
    emit({"path": str(path), **result}, lambda _r: click.echo(f"export {path} success"))


@admin.command("exportConfigs")
@namesrv_option
@click.option("-c", "--clusterName", "cluster", required=True, help="The cluster to export.")
@click.option("-f", "--filePath", "file_path", default=DEFAULT_EXPORT_PATH, help="Directory.")
def export_configs(namesrv_addr: str, cluster: str, file_path: str) -> None:
    """Export configs: each master's main settings and the cluster's scale (configs.json)."""

    async def go(a: AdminClient) -> dict[str, Any]:
        masters = await a.broker_addrs(cluster)
        every = await a.broker_addrs(cluster, masters_only=False)
        configs = {}
        for addr, name in masters.items():
            props = await a.broker_config(addr)
            configs[name] = {k: props[k] for k in _EXPORTED_BROKER_KEYS if k in props}
        scale = {
            "namesrvSize": len(a.namesrv_addrs),
            "masterBrokerSize": len(masters),
            "slaveBrokerSize": len(every) - len(masters),
        }
        return {"brokerConfigs": configs, "clusterScale": scale}

    result = fetch(namesrv_addr, go)
    path = Path(file_path) / "configs.json"
    _write(path, result)
    emit({"path": str(path), **result}, lambda _r: click.echo(f"export {path} success"))


def _tps(text: str | None) -> float:
    """The first (10 s) figure of a runtime ``putTps``-style value."""
    try:
        return float((text or "0").split()[0])
    except (ValueError, IndexError):
        return 0.0


@admin.command("exportMetrics")
@namesrv_option
@click.option("-c", "--clusterName", "cluster", required=True, help="The cluster to export.")
@click.option("-f", "--filePath", "file_path", default=DEFAULT_EXPORT_PATH, help="Directory.")
def export_metrics(namesrv_addr: str, cluster: str, file_path: str) -> None:
    """Export metrics: each master's runtime figures and the totals (metrics.json)."""

    async def go(a: AdminClient) -> dict[str, Any]:
        report: dict[str, Any] = {}
        total_tps = total_in = 0.0
        for addr, name in (await a.broker_addrs(cluster)).items():
            kv = await a.broker_runtime_info(addr)
            topics = (await a.all_topic_config(addr)).topic_config_table
            groups = await a.all_subscription_groups(addr)
            in_tps, in_day = _tps(kv.get("putTps")), int(kv.get("msgPutTotalTodayNow", "0"))
            total_tps, total_in = total_tps + in_tps, total_in + in_day
            report[name] = {
                "runtimeVersion": {
                    "rocketmqVersion": kv.get("brokerVersionDesc"),
                    "clientInfo": [],
                },
                "runtimeQuota": {
                    "diskRatio": {
                        "commitLogDiskRatio": kv.get("commitLogDiskRatio"),
                        "consumeQueueDiskRatio": kv.get("consumeQueueDiskRatio"),
                    },
                    "tps": {"normalInTps": in_tps, "normalOutTps": _tps(kv.get("getTotalTps"))},
                    "oneDayNum": {
                        "normalOneDayInNum": in_day,
                        "normalOneDayOutNum": int(kv.get("msgGetTotalTodayNow", "0")),
                    },
                    "topicSize": len(topics),
                    "groupSize": len(groups),
                },
                "runtimeEnv": {"totalMemKBytes": kv.get("totalMemKBytes")},
            }
        total = {
            "totalTps": {"totalNormalInTps": total_tps},
            "totalOneDayNum": {"normalOneDayInNum": total_in},
        }
        return {"evaluateReport": report, "totalData": total}

    result = fetch(namesrv_addr, go)
    path = Path(file_path) / "metrics.json"
    _write(path, result)
    emit({"path": str(path), **result}, lambda _r: click.echo(f"export {path} success"))
