"""StoreConfig: RocketMQ key names, 4.9.4 defaults and derived paths."""

from __future__ import annotations

import os

import pytest

from rocketq.common.config import parse_properties
from rocketq.store.config import StoreConfig


def test_defaults_match_message_store_config_4_9_4() -> None:
    props = StoreConfig(store_path_root_dir="/r").to_properties()
    expected = {
        "storePathRootDir": "/r",
        "mappedFileSizeCommitLog": str(1024**3),
        "mappedFileSizeConsumeQueue": "6000000",
        "flushDiskType": "ASYNC_FLUSH",
        "brokerRole": "ASYNC_MASTER",
        "flushIntervalCommitLog": "500",
        "flushCommitLogLeastPages": "4",
        "flushCommitLogThoroughInterval": "10000",
        "syncFlushTimeout": "5000",
        "maxMessageSize": str(4 * 1024 * 1024),
        "checkCRCOnRecover": "true",
        "fileReservedTime": "72",
        "deleteWhen": "04",
        "diskMaxUsedSpaceRatio": "75",
        "maxHashSlotNum": "5000000",
        "maxIndexNum": "20000000",
        "messageIndexEnable": "true",
        "destroyMapedFileIntervalForcibly": "120000",
        "osPageCacheBusyTimeOutMills": "1000",
        "haListenPort": "10912",
    }
    assert {k: props[k] for k in expected} == expected


def test_check_crc_key_uses_java_spelling() -> None:
    # MessageStoreConfig#setCheckCRCOnRecover => key checkCRCOnRecover, not checkCrcOnRecover.
    assert StoreConfig.keys()["checkCRCOnRecover"] == "check_crc_on_recover"
    key_map = StoreConfig.keys()
    assert "checkCrcOnRecover" not in key_map
    cfg = StoreConfig()
    assert cfg.update({"checkCRCOnRecover": "false"}) == []
    assert cfg.check_crc_on_recover is False


def test_from_broker_conf_text() -> None:
    text = "storePathRootDir=/data/s\nflushDiskType=SYNC_FLUSH\nmappedFileSizeCommitLog=4096\n"
    cfg = StoreConfig.from_properties(parse_properties(text))
    assert cfg.flush_disk_type == "SYNC_FLUSH"
    assert cfg.mapped_file_size_commit_log == 4096
    assert cfg.commit_log_dir() == os.path.join("/data/s", "commitlog")
    assert cfg.consume_queue_dir() == os.path.join("/data/s", "consumequeue")
    assert cfg.index_dir() == os.path.join("/data/s", "index")
    assert cfg.checkpoint_path().endswith("checkpoint")
    assert cfg.abort_path().endswith("abort")
    cfg.validate()


def test_commit_log_dir_override_and_cq_rounding() -> None:
    cfg = StoreConfig(store_path_commit_log="/x/cl", mapped_file_size_consume_queue=101)
    assert cfg.commit_log_dir() == "/x/cl"
    assert cfg.consume_queue_file_size() == 120
    assert StoreConfig().consume_queue_file_size() == 6_000_000


@pytest.mark.parametrize(
    "values",
    [{"flushDiskType": "NOPE"}, {"brokerRole": "MASTER"}, {"mappedFileSizeCommitLog": "0"}],
)
def test_validate_rejects(values: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        StoreConfig.from_properties(values).validate()
