"""GET_BROKER_HA_STATUS (907): how replication stands, as RocketMQ 5's
``DefaultHAService#getRuntimeInfo`` answers it (what ``mqadmin haStatus`` prints): a master
lists its slaves (ack offset, gap, in sync or falling behind, bytes per second, where the
transfer stands); a slave describes its link to the master."""

from __future__ import annotations

from rocketq.remoting.body import HAClientRuntimeInfo, HAConnectionRuntimeInfo, HARuntimeInfo
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.store.config import StoreConfig
from rocketq.store.ha.client import HAClientStats
from rocketq.store.ha.service import HAServiceStats
from rocketq.store.message_store import DefaultMessageStore

__all__ = ["HAStatusProcessor", "ha_runtime_info"]


def ha_runtime_info(
    stats: HAServiceStats | HAClientStats | None, config: StoreConfig, max_offset: int
) -> HARuntimeInfo:
    """The body for the store's replication ``stats`` (None: a master nobody follows)."""
    if isinstance(stats, HAClientStats):
        link = HAClientRuntimeInfo(
            master_addr=stats.master_address,
            transferred_byte_in_second=stats.transferred_bytes_per_second,
            max_offset=stats.max_offset,
            last_read_timestamp=stats.last_read_timestamp,
            last_write_timestamp=stats.last_write_timestamp,
            activated=stats.state == "TRANSFER",
        )
        return HARuntimeInfo(master=False, ha_client_runtime_info=link)
    slaves = []
    gap_limit = config.slave_fallbehind_max()
    for slave in stats.slaves if stats is not None else ():
        ack = max(slave.ack_offset, 0)
        slaves.append(
            HAConnectionRuntimeInfo(
                addr=slave.address,
                slave_ack_offset=slave.ack_offset,
                diff=max_offset - ack,
                # DefaultHAService#isInSyncSlave: acked something and within the gap limit
                in_sync=slave.ack_offset >= 0 and max_offset - ack < gap_limit,
                transferred_byte_in_second=slave.transferred_bytes_per_second,
                transfer_from_where=slave.transfer_offset,
            )
        )
    return HARuntimeInfo(
        master=True,
        master_commit_log_max_offset=max_offset,
        in_sync_slave_nums=sum(s.in_sync for s in slaves),
        ha_connection_info=slaves,
    )


class HAStatusProcessor:
    """Answers GET_BROKER_HA_STATUS from the store's replication state."""

    def __init__(self, store: DefaultMessageStore, store_config: StoreConfig) -> None:
        self.store = store
        self.store_config = store_config

    def process(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """The store's HA picture as an ``HARuntimeInfo`` body."""
        info = ha_runtime_info(
            self.store.ha_stats(), self.store_config, self.store.max_phy_offset()
        )
        return req.make_response(body=info.encode())
