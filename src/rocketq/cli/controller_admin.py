"""mqadmin 5.x's controller-mode commands: ``getControllerMetaData``, ``getSyncStateSet``,
``electMaster``, ``cleanBrokerMetadata`` (to a controller, ``-a``) and ``getBrokerEpoch``
(to the brokers of ``-b brokerName`` / ``-c clusterName``), with mqadmin's flags and output."""

from __future__ import annotations

import time
from typing import Any

import click

from rocketq.admin import AdminClient
from rocketq.cli.base import admin, emit, fetch, namesrv_option

__all__ = [
    "clean_broker_metadata",
    "elect_master",
    "get_broker_epoch",
    "get_controller_metadata",
    "get_sync_state_set",
]

_controller_option = click.option(
    "-a", "--controllerAddress", "controller_addr", required=True, help="Controller address."
)


def _first(addr: str) -> str:
    """mqadmin takes the first of a ``;``-separated controller list."""
    return addr.strip().split(";")[0]


@admin.command("getControllerMetaData")
@namesrv_option
@_controller_option
def get_controller_metadata(namesrv_addr: str, controller_addr: str) -> None:
    """Get controller cluster's metadata."""
    meta = fetch(namesrv_addr, lambda a: a.controller_metadata(_first(controller_addr)))

    def render(m: dict[str, str]) -> None:
        click.echo(f"\n#ControllerGroup\t{m.get('group')}", nl=False)
        click.echo(f"\n#ControllerLeaderId\t{m.get('controllerLeaderId')}", nl=False)
        click.echo(f"\n#ControllerLeaderAddress\t{m.get('controllerLeaderAddress')}", nl=False)
        for peer in (m.get("peers") or "").split(";"):
            if peer:
                click.echo(f"\n#Peer:\t{peer}", nl=False)
        click.echo()

    emit(meta, render)


async def _broker_names(a: AdminClient, broker: str | None, cluster: str | None) -> list[str]:
    if broker:
        return [broker]
    if cluster:
        return sorted(set((await a.broker_addrs(cluster)).values()))
    raise click.UsageError("give -b brokerName or -c clusterName")


def _identity(r: dict[str, Any]) -> str:
    """``BrokerReplicasInfo.ReplicaIdentity#toString``."""
    return (
        f"ReplicaIdentity{{brokerName='{r.get('brokerName')}', brokerId={r.get('brokerId')}, "
        f"brokerAddress='{r.get('brokerAddress')}', alive={str(r.get('alive')).lower()}}}"
    )


def _render_sync_state(table: dict[str, dict[str, Any]]) -> None:
    for name, info in table.items():
        in_sync = info.get("inSyncReplicas") or []
        click.echo(
            f"\n#brokerName\t{name}\n#MasterBrokerId\t{info.get('masterBrokerId')}"
            f"\n#MasterAddr\t{info.get('masterAddress')}\n#MasterEpoch\t{info.get('masterEpoch')}"
            f"\n#SyncStateSetEpoch\t{info.get('syncStateSetEpoch')}"
            f"\n#SyncStateSetNums\t{len(in_sync)}"
        )
        for member in in_sync:
            click.echo(f"\nInSyncReplica:\t{_identity(member)}")
        for member in info.get("notInSyncReplicas") or []:
            click.echo(f"\nNotInSyncReplica:\t{_identity(member)}")


def _repeat(interval: int | None, once: Any) -> None:
    """``-i``: run again every ``interval`` s until interrupted, as mqadmin does."""
    once()
    while interval is not None:
        time.sleep(max(interval, 1))
        once()


@admin.command("getSyncStateSet")
@namesrv_option
@_controller_option
@click.option("-b", "--brokerName", "broker_name", help="Which broker to fetch.")
@click.option("-c", "--clusterName", "cluster", help="Which cluster.")
@click.option("-i", "--interval", type=int, help="The interval (seconds) of get info.")
def get_sync_state_set(
    namesrv_addr: str,
    controller_addr: str,
    broker_name: str | None,
    cluster: str | None,
    interval: int | None,
) -> None:
    """Fetch syncStateSet for target brokers."""

    async def go(a: AdminClient) -> dict[str, dict[str, Any]]:
        names = await _broker_names(a, broker_name, cluster)
        return await a.sync_state_data(_first(controller_addr), names)

    _repeat(interval, lambda: emit(fetch(namesrv_addr, go), _render_sync_state))


@admin.command("electMaster")
@namesrv_option
@_controller_option
@click.option("-b", "--brokerId", "broker_id", type=int, required=True, help="New master's id.")
@click.option("-bn", "--brokerName", "broker_name", required=True, help="The broker group.")
@click.option("-c", "--clusterName", "cluster", required=True, help="The broker's cluster.")
def elect_master(
    namesrv_addr: str, controller_addr: str, broker_id: int, broker_name: str, cluster: str
) -> None:
    """Re-elect the specified broker as master."""
    header, body = fetch(
        namesrv_addr,
        lambda a: a.elect_master(_first(controller_addr), cluster, broker_name, broker_id),
    )

    def render(r: tuple[dict[str, str], dict[str, Any]]) -> None:
        h, b = r
        click.echo(f"\n#ClusterName\t{cluster}", nl=False)
        click.echo(f"\n#BrokerName\t{broker_name}", nl=False)
        click.echo(f"\n#BrokerMasterAddr\t{h.get('masterAddress')}", nl=False)
        click.echo(f"\n#MasterEpoch\t{h.get('masterEpoch')}", nl=False)
        click.echo(f"\n#SyncStateSetEpoch\t{h.get('syncStateSetEpoch')}")
        group = b.get("brokerMemberGroup") or {}
        for bid, addr in sorted((group.get("brokerAddrs") or {}).items(), key=lambda x: int(x[0])):
            click.echo(f"\t#Broker\t{bid}\t{addr}")

    emit((header, body), render)


@admin.command("cleanBrokerMetadata")
@namesrv_option
@_controller_option
@click.option("-b", "--brokerControllerIdsToClean", "broker_ids", help="Ids, e.g. 1;2;3.")
@click.option("-bn", "--brokerName", "broker_name", required=True, help="The broker group.")
@click.option("-c", "--clusterName", "cluster", help="The broker's cluster.")
@click.option("-l", "--cleanLivingBroker", "clean_living", is_flag=True, help="Living ones too.")
def clean_broker_metadata(
    namesrv_addr: str,
    controller_addr: str,
    broker_ids: str | None,
    broker_name: str,
    cluster: str | None,
    clean_living: bool,
) -> None:
    """Clean metadata of broker on controller."""
    fetch(
        namesrv_addr,
        lambda a: a.clean_broker_metadata(
            _first(controller_addr), cluster, broker_name, broker_ids, clean_living
        ),
    )
    emit(
        {"brokerName": broker_name, "cleaned": True},
        lambda _r: click.echo(f"clear broker {broker_name} metadata from controller success! "),
    )


async def _group_addrs(a: AdminClient, broker: str | None, cluster: str | None) -> list[str]:
    """Masters and slaves of ``-b brokerName`` or of every group of ``-c``."""
    info = await a.cluster_info()
    if broker:
        names = [broker]
    elif cluster:
        names = sorted(info.cluster_addr_table.get(cluster) or [])
    else:
        raise click.UsageError("give -b brokerName or -c clusterName")
    out = []
    for name in names:
        data = info.broker_addr_table.get(name)
        out += [addr for _, addr in sorted((data.broker_addrs if data else {}).items())]
    return out


def _render_epochs(caches: dict[str, dict[str, Any]]) -> None:
    for addr, cache in caches.items():
        click.echo(
            f"\n#clusterName\t{cache.get('clusterName')}\n#brokerName\t{cache.get('brokerName')}"
            f"\n#brokerAddr\t{addr}\n#brokerId\t{cache.get('brokerId')}",
            nl=False,
        )
        entries = cache.get("epochList") or []
        for i, e in enumerate(entries):
            end = cache.get("maxOffset") if i == len(entries) - 1 else e.get("endOffset")
            click.echo(
                f"\n#Epoch: EpochEntry{{epoch={e.get('epoch')}, "
                f"startOffset={e.get('startOffset')}, endOffset={end}}}",
                nl=False,
            )
        click.echo()


@admin.command("getBrokerEpoch")
@namesrv_option
@click.option("-b", "--brokerName", "broker_name", help="Which broker to fetch.")
@click.option("-c", "--clusterName", "cluster", help="Which cluster.")
@click.option("-i", "--interval", type=int, help="The interval (seconds) of get info.")
def get_broker_epoch(
    namesrv_addr: str, broker_name: str | None, cluster: str | None, interval: int | None
) -> None:
    """Fetch broker epoch entries."""

    async def go(a: AdminClient) -> dict[str, dict[str, Any]]:
        return {
            addr: await a.broker_epoch_cache(addr)
            for addr in await _group_addrs(a, broker_name, cluster)
        }

    _repeat(interval, lambda: emit(fetch(namesrv_addr, go), _render_epochs))
