"""The ACL commands of mqadmin 4.9.4 (``updateAclConfig``, ``deleteAclConfig``,
``clusterAclConfigVersion``, ``updateGlobalWhiteAddr``, ``getAclConfig``), with their flags.

rocketq brokers do not implement ACL (PlainAccessValidator) yet: each command names the
brokers it would act on and says ACL is not enabled on them, exiting with status 1 so a
script notices; with ``--json`` it prints {broker: reason}.
"""

from __future__ import annotations

import click

from rocketq.admin import AdminClient
from rocketq.cli.base import admin, emit, fetch, namesrv_option, target_addrs

__all__ = [
    "cluster_acl_config_version",
    "delete_acl_config",
    "get_acl_config",
    "update_acl_config",
    "update_global_white_addr",
]

ACL_NOT_ENABLED = "ACL is not enabled: rocketq brokers do not implement ACL (aclEnable)"


def _not_enabled(namesrv_addr: str, broker_addr: str | None, cluster: str | None) -> None:
    """Resolve the target brokers, report ACL as not enabled on each, exit 1."""

    async def go(a: AdminClient) -> dict[str, str]:
        addrs = await target_addrs(a, broker_addr, cluster)
        return {addr: ACL_NOT_ENABLED for addr in addrs}

    result = fetch(namesrv_addr, go)
    lines = "\n".join(f"{addr}: {why}" for addr, why in result.items())
    emit(result, lambda _r: click.echo(lines, err=True))
    raise click.exceptions.Exit(1)


def _target_options(f: click.decorators.FC) -> click.decorators.FC:
    f = click.option("-c", "--clusterName", "cluster", help="Every master of this cluster.")(f)
    return click.option("-b", "--brokerAddr", "broker_addr", help="This broker.")(f)


@admin.command("updateAclConfig")
@namesrv_option
@_target_options
@click.option("-a", "--accessKey", "access_key", required=True, help="Account access key.")
@click.option("-s", "--secretKey", "secret_key", help="Account secret key.")
@click.option("-w", "--whiteRemoteAddress", "white_addr", help="White ip address of the account.")
@click.option("-i", "--defaultTopicPerm", "topic_perm", help="Default topic permission.")
@click.option("-u", "--defaultGroupPerm", "group_perm", help="Default group permission.")
@click.option("-t", "--topicPerms", "topic_perms", help="topicA=DENY,topicD=SUB.")
@click.option("-g", "--groupPerms", "group_perms", help="groupD=DENY,groupD=SUB.")
@click.option("-m", "--admin", "is_admin", help="Admin flag (true|false).")
def update_acl_config(
    namesrv_addr: str, broker_addr: str | None, cluster: str | None, **_acl: str | None
) -> None:
    """Update acl config yaml file in broker."""
    _not_enabled(namesrv_addr, broker_addr, cluster)


@admin.command("deleteAclConfig")
@namesrv_option
@_target_options
@click.option("-a", "--accessKey", "access_key", required=True, help="Account to delete.")
def delete_acl_config(
    namesrv_addr: str, broker_addr: str | None, cluster: str | None, access_key: str
) -> None:
    """Delete Acl Config Account in broker."""
    _not_enabled(namesrv_addr, broker_addr, cluster)


@admin.command("clusterAclConfigVersion")
@namesrv_option
@_target_options
def cluster_acl_config_version(
    namesrv_addr: str, broker_addr: str | None, cluster: str | None
) -> None:
    """List all of acl config version information in cluster."""
    _not_enabled(namesrv_addr, broker_addr, cluster)


@admin.command("updateGlobalWhiteAddr")
@namesrv_option
@_target_options
@click.option("-g", "--globalWhiteRemoteAddresses", "addresses", required=True, help="10.10.*.")
@click.option("-p", "--aclFileFullPath", "acl_file", help="The acl file to update.")
def update_global_white_addr(
    namesrv_addr: str,
    broker_addr: str | None,
    cluster: str | None,
    addresses: str,
    acl_file: str | None,
) -> None:
    """Update global white address in acl config file of broker."""
    _not_enabled(namesrv_addr, broker_addr, cluster)


@admin.command("getAclConfig")
@namesrv_option
@_target_options
def get_acl_config(namesrv_addr: str, broker_addr: str | None, cluster: str | None) -> None:
    """List all of acl config information in cluster."""
    _not_enabled(namesrv_addr, broker_addr, cluster)
