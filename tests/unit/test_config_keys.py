"""Config keys as RocketMQ spells them, and values checked when broker.conf is loaded."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rocketq.broker.config import BrokerConfig, load_broker_conf
from rocketq.common.config_keys import (
    BROKER_CONFIG_KEYS,
    CONTROLLER_CONFIG_KEYS,
    NAMESRV_CONFIG_KEYS,
    NETTY_CONFIG_KEYS,
    STORE_CONFIG_KEYS,
)
from rocketq.common.errors import ConfigError
from rocketq.namesrv.config import NamesrvConfig
from rocketq.store.config import StoreConfig

ROCKETMQ_KEYS = (
    BROKER_CONFIG_KEYS
    | STORE_CONFIG_KEYS
    | NETTY_CONFIG_KEYS
    | NAMESRV_CONFIG_KEYS
    | CONTROLLER_CONFIG_KEYS
)
# rocketq's own keys (documented in the README): none of these exists in RocketMQ's broker
# (the gRPC ones are the Proxy's: grpcServerPort and its TLS keys).
ROCKETQ_ONLY_KEYS = {
    "brokerChannelExpiredTime",
    "haConnectRetryInterval",
    "grpcServerPort",
    "tlsTestModeEnable",
    "tlsKeyPath",
    "tlsCertPath",
}


@pytest.mark.parametrize("cls", [BrokerConfig, StoreConfig, NamesrvConfig])
def test_every_key_is_a_rocketmq_key(cls: type[BrokerConfig]) -> None:
    assert set(cls.keys()) - ROCKETMQ_KEYS <= ROCKETQ_ONLY_KEYS


def test_java_spellings_of_irregular_keys() -> None:
    keys = set(BrokerConfig.keys()) | set(StoreConfig.keys())
    assert {"brokerIP1", "brokerIP2", "useTLS", "checkCRCOnRecover"} <= keys
    assert not {"brokerIp1", "brokerIp2", "useTls", "checkCrcOnRecover"} & keys


def conf(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broker.conf"
    path.write_text(text)
    return path


def test_broker_ip1_and_ip2_are_taken(tmp_path: Path) -> None:
    path = conf(tmp_path, "brokerIP1=127.0.0.1\nbrokerIP2=10.1.2.3\nlistenPort=10921\n")
    broker, store, unknown = load_broker_conf(path)
    assert broker.broker_addr == "127.0.0.1:10921"
    assert broker.ha_server_addr(store.ha_listen_port) == "10.1.2.3:10922"
    assert unknown == []


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("brokerRole=SYNC_MASTERR", "brokerRole"),
        ("flushDiskType=SYNC", "flushDiskType"),
        ("listenPort=70000", "listenPort"),
        ("listenPort=ten", "listenPort"),
        ("autoCreateTopicEnable=yes", "autoCreateTopicEnable"),
        ("brokerPermission=9", "brokerPermission"),
        ("defaultTopicQueueNums=0", "defaultTopicQueueNums"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(tmp_path: Path, line: str, named: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_broker_conf(conf(tmp_path, line + "\n"))
    message = str(info.value)
    assert named in message
    assert repr(line.split("=", 1)[1]) in message


def test_allowed_roles_are_listed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ASYNC_MASTER, SLAVE, SYNC_MASTER"):
        load_broker_conf(conf(tmp_path, "brokerRole=SYNC_MASTERR\n"))


def test_slave_needs_a_positive_broker_id(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="brokerId"):
        load_broker_conf(conf(tmp_path, "brokerRole=SLAVE\n"))
    broker, _, _ = load_broker_conf(conf(tmp_path, "brokerRole=SLAVE\nbrokerId=2\n"))
    assert broker.broker_id == 2


def test_master_id_is_forced_to_zero(tmp_path: Path) -> None:
    broker, _, _ = load_broker_conf(conf(tmp_path, "brokerRole=SYNC_MASTER\nbrokerId=3\n"))
    assert broker.broker_id == 0


def test_booleans_accept_java_case(tmp_path: Path) -> None:
    broker, _, _ = load_broker_conf(conf(tmp_path, "autoCreateTopicEnable=FALSE\n"))
    assert broker.auto_create_topic_enable is False


def test_ha_listen_port_follows_listen_port_unless_set(tmp_path: Path) -> None:
    _, store, _ = load_broker_conf(conf(tmp_path, "listenPort=20911\n"))
    assert store.ha_listen_port == 20912
    _, store, _ = load_broker_conf(conf(tmp_path, "listenPort=20911\nhaListenPort=30000\n"))
    assert store.ha_listen_port == 30000


def test_unimplemented_rocketmq_keys_are_reported_typos_returned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = "aclEnable=true\nsendMessageThreadPoolNums=4\nbrokerNmae=x\nbrokerName=b\n"
    with caplog.at_level(logging.WARNING, logger="rocketq.broker"):
        broker, _, unknown = load_broker_conf(conf(tmp_path, text))
    assert unknown == ["brokerNmae"]
    assert broker.broker_name == "b"
    reported = " ".join(r.getMessage() for r in caplog.records)
    assert "accepted, not implemented" in reported
    assert "aclEnable" in reported
    assert "sendMessageThreadPoolNums" in reported
    assert "brokerNmae" not in reported


def test_server_load_balancing_keys(tmp_path: Path) -> None:
    """RocketMQ 5's QUERY_ASSIGNMENT keys: their defaults, read from broker.conf, checked."""
    broker, _store, unknown = load_broker_conf(None)
    assert broker.default_message_request_mode == "PULL"
    assert broker.default_pop_share_queue_num == -1
    assert broker.server_load_balancer_enable is True
    text = (
        "defaultMessageRequestMode=POP\ndefaultPopShareQueueNum=2\nserverLoadBalancerEnable=false\n"
    )
    broker, _store, unknown = load_broker_conf(conf(tmp_path, text))
    assert (
        broker.default_message_request_mode,
        broker.default_pop_share_queue_num,
        broker.server_load_balancer_enable,
    ) == ("POP", 2, False)
    assert unknown == []
    assert {"defaultMessageRequestMode", "defaultPopShareQueueNum", "serverLoadBalancerEnable"} <= (
        set(broker.to_properties())
    )
    with pytest.raises(ConfigError, match=r"defaultMessageRequestMode.*POP, PULL"):
        load_broker_conf(conf(tmp_path, "defaultMessageRequestMode=PUSH\n"))
