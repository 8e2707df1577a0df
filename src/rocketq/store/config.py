"""Store settings: RocketMQ's ``MessageStoreConfig`` keys and defaults (4.9.4).

Defaults are those of ``store/src/main/java/org/apache/rocketmq/store/config/
MessageStoreConfig.java`` at tag ``rocketmq-all-4.9.4``; the key names are the same, so a
``broker.conf`` written for Apache RocketMQ configures rocketq's store unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from rocketq.common.config import ConfigBase
from rocketq.store.format import CQ_STORE_UNIT_SIZE

__all__ = [
    "ASYNC_FLUSH",
    "ASYNC_MASTER",
    "BROKER_ROLES",
    "FLUSH_DISK_TYPES",
    "SLAVE",
    "SYNC_FLUSH",
    "SYNC_MASTER",
    "StoreConfig",
]

# FlushDiskType / BrokerRole enum names, as written in broker.conf.
ASYNC_FLUSH = "ASYNC_FLUSH"
SYNC_FLUSH = "SYNC_FLUSH"
FLUSH_DISK_TYPES = frozenset({ASYNC_FLUSH, SYNC_FLUSH})
ASYNC_MASTER = "ASYNC_MASTER"
SYNC_MASTER = "SYNC_MASTER"
SLAVE = "SLAVE"
BROKER_ROLES = frozenset({ASYNC_MASTER, SYNC_MASTER, SLAVE})

# One CommitLog segment: 1 GiB keeps file count low while an mmap still fits 32-bit offsets.
DEFAULT_MAPPED_FILE_SIZE_COMMIT_LOG = 1024 * 1024 * 1024
# 300,000 ConsumeQueue entries of 20 bytes per segment.
DEFAULT_MAPPED_FILE_SIZE_CONSUME_QUEUE = 300_000 * CQ_STORE_UNIT_SIZE
# Largest body a producer may send (the 4 MiB every RocketMQ client also enforces).
DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024
# IndexFile geometry: 5M hash slots, 4 entries per slot on average.
DEFAULT_MAX_HASH_SLOT_NUM = 5_000_000
DEFAULT_MAX_INDEX_NUM = 5_000_000 * 4
# Group-commit cadence of the async flush service (ms) and its minimum dirty pages.
DEFAULT_FLUSH_INTERVAL_COMMIT_LOG = 500
DEFAULT_FLUSH_COMMIT_LOG_LEAST_PAGES = 4
# Flush whatever is dirty at least this often (ms), even below the page threshold.
DEFAULT_FLUSH_COMMIT_LOG_THOROUGH_INTERVAL = 10_000
# A SYNC_FLUSH send waits this long (ms) for its fsync before answering FLUSH_DISK_TIMEOUT.
DEFAULT_SYNC_FLUSH_TIMEOUT = 5_000
# Files untouched for 72 h are deleted, at 4 a.m., or whenever the disk is 75 % full.
DEFAULT_FILE_RESERVED_TIME_HOURS = 72
DEFAULT_DELETE_WHEN = "04"
DEFAULT_DISK_MAX_USED_SPACE_RATIO = 75
DEFAULT_MESSAGE_DELAY_LEVEL = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"
# RocketMQ 5 timer wheel. Java ticks every 1000 ms and rounds delivery times down to that;
# rocketq ticks every 100 ms and fires each message at its own millisecond inside the tick.
DEFAULT_TIMER_PRECISION_MS = 100
# The longest delay a producer may ask for: 3 days (timerMaxDelaySec).
DEFAULT_TIMER_MAX_DELAY_SEC = 3 * 24 * 3600
# Delays of 2 days or more are parked ("rolled") and re-enqueued when they come nearer;
# in slots of timerPrecisionMs (Java: 172,800 slots of 1 s, the same 2 days).
DEFAULT_TIMER_ROLL_WINDOW_SLOT = 2 * 24 * 3600 * 1000 // DEFAULT_TIMER_PRECISION_MS
# Timer log segment: 100 MiB (mappedFileSizeTimerLog), rounded down to whole 52-byte units.
DEFAULT_MAPPED_FILE_SIZE_TIMER_LOG = 100 * 1024 * 1024
# Timer progress (config/timercheck) and the wheel/log are flushed this often (ms).
DEFAULT_TIMER_FLUSH_INTERVAL_MS = 1000

# HA: the master listens on listenPort + 1 (the broker passes its own; 10912 for 10911).
DEFAULT_HA_LISTEN_PORT = 10912
# Either side reports/heartbeats after this much silence on its write side (ms).
DEFAULT_HA_SEND_HEARTBEAT_INTERVAL = 5_000
# A link with nothing read for this long (ms) is dropped: 4 missed heartbeats.
DEFAULT_HA_HOUSEKEEPING_INTERVAL = 20_000
# Largest body of one master -> slave chunk (bytes).
DEFAULT_HA_TRANSFER_BATCH_SIZE = 32 * 1024
# A SYNC_MASTER answers SLAVE_NOT_AVAILABLE when the best slave is this far behind (bytes).
DEFAULT_HA_SLAVE_FALLBEHIND_MAX = 256 * 1024 * 1024
DEFAULT_HA_CONNECT_RETRY_INTERVAL = 5_000
DEFAULT_SLAVE_TIMEOUT = 3_000
# Controller mode (5.x AutoSwitchHAService): a slave that has not caught up with the master
# for 15 s leaves the SyncStateSet.
DEFAULT_HA_MAX_TIME_SLAVE_NOT_CATCHUP = 15_000
# A chunk must fit a Java slave's 4 MiB read buffer with its 12-byte header.
_MAX_HA_TRANSFER_BATCH_SIZE = 4 * 1024 * 1024 - 12

# Fields whose Java setter does not follow the snake_case -> camelCase rule
# (MixAll#properties2Object derives the key from the setter name).
_KEY_OVERRIDES = {"check_crc_on_recover": "checkCRCOnRecover"}


def _default_root() -> str:
    return os.path.join(os.path.expanduser("~"), "store")


@dataclass
class StoreConfig(ConfigBase):
    """Message store settings; key names are RocketMQ's (``storePathRootDir``, ...).

    ``store_path_commit_log`` empty means Java's ``null``: ``<root>/commitlog``.
    """

    store_path_root_dir: str = field(default_factory=_default_root)
    store_path_commit_log: str = ""
    mapped_file_size_commit_log: int = DEFAULT_MAPPED_FILE_SIZE_COMMIT_LOG
    mapped_file_size_consume_queue: int = DEFAULT_MAPPED_FILE_SIZE_CONSUME_QUEUE
    flush_interval_commit_log: int = DEFAULT_FLUSH_INTERVAL_COMMIT_LOG
    flush_commit_log_timed: bool = True
    flush_interval_consume_queue: int = 1000
    clean_resource_interval: int = 10_000
    delete_commit_log_files_interval: int = 100
    delete_consume_queue_files_interval: int = 100
    destroy_maped_file_interval_forcibly: int = 120_000
    redelete_hanged_file_interval: int = 120_000
    delete_when: str = DEFAULT_DELETE_WHEN
    disk_max_used_space_ratio: int = DEFAULT_DISK_MAX_USED_SPACE_RATIO
    file_reserved_time: int = DEFAULT_FILE_RESERVED_TIME_HOURS
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    check_crc_on_recover: bool = True
    flush_commit_log_least_pages: int = DEFAULT_FLUSH_COMMIT_LOG_LEAST_PAGES
    flush_consume_queue_least_pages: int = 2
    flush_commit_log_thorough_interval: int = DEFAULT_FLUSH_COMMIT_LOG_THOROUGH_INTERVAL
    flush_consume_queue_thorough_interval: int = 60_000
    max_transfer_bytes_on_message_in_memory: int = 256 * 1024
    max_transfer_count_on_message_in_memory: int = 32
    max_transfer_bytes_on_message_in_disk: int = 64 * 1024
    max_transfer_count_on_message_in_disk: int = 8
    access_message_in_memory_max_ratio: int = 40
    message_index_enable: bool = True
    max_hash_slot_num: int = DEFAULT_MAX_HASH_SLOT_NUM
    max_index_num: int = DEFAULT_MAX_INDEX_NUM
    max_msgs_num_batch: int = 64
    message_index_safe: bool = False
    # Classic master-slave replication (HAService, HAConnection, HAClient in 4.9.4).
    ha_listen_port: int = DEFAULT_HA_LISTEN_PORT
    ha_send_heartbeat_interval: int = DEFAULT_HA_SEND_HEARTBEAT_INTERVAL
    ha_housekeeping_interval: int = DEFAULT_HA_HOUSEKEEPING_INTERVAL
    ha_transfer_batch_size: int = DEFAULT_HA_TRANSFER_BATCH_SIZE
    ha_master_address: str = ""
    ha_slave_fallbehind_max: int = DEFAULT_HA_SLAVE_FALLBEHIND_MAX
    # 5.x name of haSlaveFallbehindMax; 0 = not set (then haSlaveFallbehindMax applies).
    ha_max_gap_not_in_sync: int = 0
    # rocketq only: a slave retries a lost or refused master connection this often (ms).
    # RocketMQ hard-codes 5 s (HAClient#run waitForRunning(1000 * 5)); tests shorten it.
    ha_connect_retry_interval: int = DEFAULT_HA_CONNECT_RETRY_INTERVAL
    broker_role: str = ASYNC_MASTER
    flush_disk_type: str = ASYNC_FLUSH
    sync_flush_timeout: int = DEFAULT_SYNC_FLUSH_TIMEOUT
    # A SYNC_MASTER put waits this long (ms) for a slave's ack before FLUSH_SLAVE_TIMEOUT
    # (CommitLog#submitReplicaRequest uses slaveTimeout from 4.9.3; syncFlushTimeout before).
    slave_timeout: int = DEFAULT_SLAVE_TIMEOUT
    # Controller mode (5.x): sends wait for every SyncStateSet member; a send fails with
    # IN_SYNC_REPLICAS_NOT_ENOUGH while the set is smaller than minInSyncReplicas.
    all_ack_in_sync_state_set: bool = False
    # Consumers see a record only once every SyncStateSet member has it (the confirm offset)
    # unless true (``readUnCommitted``: ReputMessageService#getReputEndOffset).
    read_un_committed: bool = False
    min_in_sync_replicas: int = 1
    ha_max_time_slave_not_catchup: int = DEFAULT_HA_MAX_TIME_SLAVE_NOT_CATCHUP
    # An empty slave starts from the master's last file instead of its first.
    sync_from_last_file: bool = False
    # A learner replicates but never joins the SyncStateSet.
    async_learner: bool = False
    # "" = Java's null: <root>/epochFileCheckpoint and <root>/brokerIdentity.
    store_path_epoch_file: str = ""
    store_path_broker_identity: str = ""
    message_delay_level: str = DEFAULT_MESSAGE_DELAY_LEVEL
    flush_delay_offset_interval: int = 10_000
    clean_file_forcibly_enable: bool = True
    os_page_cache_busy_time_out_mills: int = 1_000
    default_query_max_num: int = 32
    timer_wheel_enable: bool = True
    timer_precision_ms: int = DEFAULT_TIMER_PRECISION_MS
    timer_max_delay_sec: int = DEFAULT_TIMER_MAX_DELAY_SEC
    timer_roll_window_slot: int = DEFAULT_TIMER_ROLL_WINDOW_SLOT
    mapped_file_size_timer_log: int = DEFAULT_MAPPED_FILE_SIZE_TIMER_LOG
    timer_flush_interval_ms: int = DEFAULT_TIMER_FLUSH_INTERVAL_MS

    @classmethod
    def keys(cls) -> dict[str, str]:
        """RocketMQ key -> field name, with Java's acronym spellings (``checkCRCOnRecover``)."""
        return {_KEY_OVERRIDES.get(name, key): name for key, name in super().keys().items()}

    def commit_log_dir(self) -> str:
        """``getStorePathCommitLog``: the configured path or ``<root>/commitlog``."""
        return self.store_path_commit_log or os.path.join(self.store_path_root_dir, "commitlog")

    def consume_queue_dir(self) -> str:
        """``StorePathConfigHelper#getStorePathConsumeQueue``: ``<root>/consumequeue``."""
        return os.path.join(self.store_path_root_dir, "consumequeue")

    def index_dir(self) -> str:
        """``StorePathConfigHelper#getStorePathIndex``: ``<root>/index``."""
        return os.path.join(self.store_path_root_dir, "index")

    def checkpoint_path(self) -> str:
        """``StorePathConfigHelper#getStoreCheckpoint``: ``<root>/checkpoint``."""
        return os.path.join(self.store_path_root_dir, "checkpoint")

    def abort_path(self) -> str:
        """``StorePathConfigHelper#getAbortFile``: ``<root>/abort``."""
        return os.path.join(self.store_path_root_dir, "abort")

    def epoch_file_path(self) -> str:
        """``getStorePathEpochFile``: the configured path or ``<root>/epochFileCheckpoint``."""
        return self.store_path_epoch_file or os.path.join(
            self.store_path_root_dir, "epochFileCheckpoint"
        )

    def broker_identity_path(self) -> str:
        """``getStorePathBrokerIdentity``: the configured path or ``<root>/brokerIdentity``."""
        return self.store_path_broker_identity or os.path.join(
            self.store_path_root_dir, "brokerIdentity"
        )

    def consume_queue_file_size(self) -> int:
        """``getMappedFileSizeConsumeQueue``: the setting rounded up to whole 20-byte entries."""
        units = -(-self.mapped_file_size_consume_queue // CQ_STORE_UNIT_SIZE)
        return units * CQ_STORE_UNIT_SIZE

    def slave_fallbehind_max(self) -> int:
        """The SYNC_MASTER gap limit: ``haMaxGapNotInSync`` (5.x) if set, else
        ``haSlaveFallbehindMax`` (4.x)."""
        return self.ha_max_gap_not_in_sync or self.ha_slave_fallbehind_max

    def validate(self) -> None:
        """Raise ``ValueError`` for settings the store cannot run with."""
        if self.flush_disk_type not in FLUSH_DISK_TYPES:
            raise ValueError(f"flushDiskType must be one of {sorted(FLUSH_DISK_TYPES)}")
        if self.broker_role not in BROKER_ROLES:
            raise ValueError(f"brokerRole must be one of {sorted(BROKER_ROLES)}")
        if self.mapped_file_size_commit_log <= 0 or self.mapped_file_size_consume_queue <= 0:
            raise ValueError("mapped file sizes must be positive")
        if self.max_message_size <= 0:
            raise ValueError("maxMessageSize must be positive")
        if min(self.ha_send_heartbeat_interval, self.ha_housekeeping_interval) <= 0:
            raise ValueError("haSendHeartbeatInterval and haHousekeepingInterval must be positive")
        if not 0 < self.ha_transfer_batch_size <= _MAX_HA_TRANSFER_BATCH_SIZE:
            raise ValueError(f"haTransferBatchSize must be in 1..{_MAX_HA_TRANSFER_BATCH_SIZE}")
        if self.min_in_sync_replicas < 1 or self.ha_max_time_slave_not_catchup <= 0:
            raise ValueError("minInSyncReplicas must be >= 1, haMaxTimeSlaveNotCatchup > 0")
        if self.timer_precision_ms <= 0 or self.timer_roll_window_slot < 2:
            raise ValueError("timerPrecisionMs must be positive and timerRollWindowSlot >= 2")
