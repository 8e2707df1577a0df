"""Master/slave routes on the client side, with hand-made TopicRouteData and no sockets.

Which member of a broker group a send, a pull and an offset request go to (Java 4.9
``MQClientInstance.findBrokerAddressInSubscribe`` / ``findBrokerAddressInPublish``,
``PullAPIWrapper``, ``RemoteBrokerOffsetStore``). The NameServer address is not a
``host:port``, so a route refresh fails at once without opening a socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from rocketq.client.config import ClientConfig
from rocketq.client.instance import (
    FindBrokerResult,
    MQClientInstance,
    RefreshThrottle,
    is_connection_failure,
    publish_info,
    subscribe_info,
)
from rocketq.client.message import MessageQueue
from rocketq.client.pull_wrapper import (
    PullAPIWrapper,
    find_broker_addr,
    find_master_addr,
    pull_sys_flag,
)
from rocketq.common.errors import (
    BrokerError,
    RemotingConnectError,
    RemotingSendRequestError,
    RemotingTimeoutError,
)
from rocketq.common.topic import PERM_READ, PERM_WRITE
from rocketq.remoting.body import BrokerData, QueueData, TopicRouteData

TOPIC = "T"
MASTER_A, SLAVE_A1, SLAVE_A2 = "10.0.0.1:10911", "10.0.0.2:10911", "10.0.0.3:10911"
MASTER_B = "10.0.1.1:10911"
MQ = MessageQueue(TOPIC, "broker-a", 0)


def route(a_members: dict[int, str], b_members: dict[int, str] | None = None) -> TopicRouteData:
    """A route of TOPIC: 2 queues on broker-a (and broker-b when given)."""
    rw = PERM_READ | PERM_WRITE
    queues = [QueueData("broker-a", 2, 2, rw)]
    brokers = [BrokerData("c", "broker-a", dict(a_members))]
    if b_members is not None:
        queues.append(QueueData("broker-b", 2, 2, rw))
        brokers.append(BrokerData("c", "broker-b", dict(b_members)))
    return TopicRouteData(queue_datas=queues, broker_datas=brokers)


@pytest.fixture
async def instance() -> AsyncIterator[MQClientInstance]:
    inst = MQClientInstance(ClientConfig(namesrv_addr="no-namesrv", client_ip="127.0.0.1"))
    yield inst
    await inst.aclose()


# -- producers: masters only -----------------------------------------------------------------


def test_publish_info_skips_groups_without_a_master() -> None:
    info = publish_info(TOPIC, route({1: SLAVE_A1}, {0: MASTER_B, 1: "10.0.1.2:10911"}))
    assert {mq.broker_name for mq in info.message_queues} == {"broker-b"}
    assert len(info.message_queues) == 2


def test_publish_info_has_no_queue_when_no_group_has_a_master() -> None:
    assert not publish_info(TOPIC, route({1: SLAVE_A1}, {2: "10.0.1.3:10911"})).ok


def test_subscribe_info_keeps_queues_of_groups_without_a_master() -> None:
    mqs = subscribe_info(TOPIC, route({1: SLAVE_A1}, {0: MASTER_B}))
    assert {mq.broker_name for mq in mqs} == {"broker-a", "broker-b"}


def test_find_broker_addr_master_is_none_without_a_master(instance: MQClientInstance) -> None:
    instance.install_route(TOPIC, route({1: SLAVE_A1}))
    assert instance.find_broker_addr_master("broker-a") is None
    instance.install_route(TOPIC, route({0: MASTER_A, 1: SLAVE_A1}))
    assert instance.find_broker_addr_master("broker-a") == MASTER_A


# -- findBrokerAddressInSubscribe -------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "broker_id", "only_this", "expected"),
    [
        ({0: MASTER_A, 1: SLAVE_A1}, 0, False, FindBrokerResult(MASTER_A, False)),
        ({0: MASTER_A, 1: SLAVE_A1}, 1, False, FindBrokerResult(SLAVE_A1, True)),
        # a missing slave id: the next slave id, as Java tries brokerId + 1
        ({0: MASTER_A, 2: SLAVE_A2}, 1, False, FindBrokerResult(SLAVE_A2, True)),
        ({0: MASTER_A, 2: SLAVE_A2}, 1, True, FindBrokerResult(SLAVE_A2, True)),
        # the suggested slave is gone: any member, the master first
        ({0: MASTER_A}, 1, False, FindBrokerResult(MASTER_A, False)),
        ({0: MASTER_A, 3: "10.0.0.4:10911"}, 1, False, FindBrokerResult(MASTER_A, False)),
        # the master is gone: a slave
        ({1: SLAVE_A1}, 0, False, FindBrokerResult(SLAVE_A1, True)),
        ({2: SLAVE_A2, 1: SLAVE_A1}, 0, False, FindBrokerResult(SLAVE_A1, True)),
        # only this broker: no fallback
        ({1: SLAVE_A1}, 0, True, None),
        ({0: MASTER_A}, 2, True, None),
    ],
)
def test_find_broker_address_in_subscribe(
    instance: MQClientInstance,
    members: dict[int, str],
    broker_id: int,
    only_this: bool,
    expected: FindBrokerResult | None,
) -> None:
    instance.install_route(TOPIC, route(members))
    assert instance.find_broker_address_in_subscribe("broker-a", broker_id, only_this) == expected


def test_find_broker_address_in_subscribe_unknown_group(instance: MQClientInstance) -> None:
    instance.install_route(TOPIC, route({0: MASTER_A}))
    assert instance.find_broker_address_in_subscribe("broker-x", 0, False) is None


# -- pulls: the pull-from-which-node table ----------------------------------------------------


async def pull_addr(instance: MQClientInstance, api: PullAPIWrapper) -> FindBrokerResult:
    return await find_broker_addr(instance, MQ, api.recalculate_pull_from_which_node(MQ))


async def test_pull_from_which_node_starts_at_the_master(instance: MQClientInstance) -> None:
    api = PullAPIWrapper(instance, "g")
    assert api.recalculate_pull_from_which_node(MQ) == 0
    instance.install_route(TOPIC, route({0: MASTER_A, 1: SLAVE_A1}))
    assert await pull_addr(instance, api) == FindBrokerResult(MASTER_A, False)


async def test_pull_follows_the_suggested_broker_per_queue(instance: MQClientInstance) -> None:
    api = PullAPIWrapper(instance, "g")
    instance.install_route(TOPIC, route({0: MASTER_A, 1: SLAVE_A1}))
    api.update_pull_from_which_node(MQ, 1)  # the master said: read this queue from slave 1
    other = MessageQueue(TOPIC, "broker-a", 1)
    assert await pull_addr(instance, api) == FindBrokerResult(SLAVE_A1, True)
    assert api.recalculate_pull_from_which_node(other) == 0
    api.update_pull_from_which_node(MQ, 0)  # caught up: back to the master
    assert await pull_addr(instance, api) == FindBrokerResult(MASTER_A, False)


async def test_pull_moves_to_the_slave_while_the_master_is_gone_and_back(
    instance: MQClientInstance,
) -> None:
    api = PullAPIWrapper(instance, "g")
    instance.install_route(TOPIC, route({0: MASTER_A, 1: SLAVE_A1}))
    assert (await pull_addr(instance, api)).addr == MASTER_A
    instance.install_route(TOPIC, route({1: SLAVE_A1}))  # the master died
    assert await pull_addr(instance, api) == FindBrokerResult(SLAVE_A1, True)
    # a slave without slaveReadEnable keeps suggesting the master (0)
    api.update_pull_from_which_node(MQ, 0)
    assert await pull_addr(instance, api) == FindBrokerResult(SLAVE_A1, True)
    instance.install_route(TOPIC, route({0: MASTER_A, 1: SLAVE_A1}))  # it came back
    assert await pull_addr(instance, api) == FindBrokerResult(MASTER_A, False)


async def test_pull_from_a_dead_suggested_slave_goes_to_the_master(
    instance: MQClientInstance,
) -> None:
    api = PullAPIWrapper(instance, "g")
    api.update_pull_from_which_node(MQ, 1)
    instance.install_route(TOPIC, route({0: MASTER_A}))
    assert await pull_addr(instance, api) == FindBrokerResult(MASTER_A, False)


async def test_pull_without_any_member_fails_after_a_route_refresh(
    instance: MQClientInstance,
) -> None:
    instance.install_route(TOPIC, route({0: MASTER_B}))
    with pytest.raises(BrokerError, match=r"broker\[broker-x\] not exist"):
        await find_broker_addr(instance, MessageQueue(TOPIC, "broker-x", 0))


@pytest.mark.parametrize(
    ("commit", "suspend", "lite", "slave", "flags"),
    [
        (True, True, False, False, 0x1 | 0x2 | 0x4),
        (True, True, False, True, 0x2 | 0x4),  # a slave never takes a commit offset
        (False, True, False, False, 0x2 | 0x4),
        (False, False, True, True, 0x4 | 0x10),
    ],
)
def test_pull_sys_flag(commit: bool, suspend: bool, lite: bool, slave: bool, flags: int) -> None:
    assert pull_sys_flag(commit_offset=commit, suspend=suspend, lite=lite, slave=slave) == flags


# -- consumer offsets: master, else a slave ---------------------------------------------------


async def offset_addr(instance: MQClientInstance) -> FindBrokerResult:
    return await find_broker_addr(instance, MQ, 0, only_this_broker=True)


async def test_offsets_go_to_the_master(instance: MQClientInstance) -> None:
    instance.install_route(TOPIC, route({0: MASTER_A, 1: SLAVE_A1}))
    assert await offset_addr(instance) == FindBrokerResult(MASTER_A, False)


async def test_offsets_go_to_a_slave_while_the_group_has_no_master(
    instance: MQClientInstance,
) -> None:
    instance.install_route(TOPIC, route({1: SLAVE_A1}))
    assert await offset_addr(instance) == FindBrokerResult(SLAVE_A1, True)
    instance.install_route(TOPIC, route({0: MASTER_A, 1: SLAVE_A1}))
    assert await offset_addr(instance) == FindBrokerResult(MASTER_A, False)


async def test_admin_offset_lookups_need_the_master(instance: MQClientInstance) -> None:
    instance.install_route(TOPIC, route({1: SLAVE_A1}))
    with pytest.raises(BrokerError, match="not exist"):
        await find_master_addr(instance, MQ)
    instance.install_route(TOPIC, route({0: MASTER_A, 1: SLAVE_A1}))
    assert await find_master_addr(instance, MQ) == MASTER_A


# -- route refresh after a broker failure ---------------------------------------------------


def test_refresh_throttle_once_per_interval_per_topic() -> None:
    throttle = RefreshThrottle(1.0)
    assert throttle.due("T", 100.0)
    assert not throttle.due("T", 100.5)
    assert throttle.due("U", 100.5)
    assert not throttle.due("T", 100.999)
    assert throttle.due("T", 101.0)
    assert not throttle.due("T", 101.5)


def test_only_connection_failures_refresh_the_route() -> None:
    assert is_connection_failure(RemotingConnectError("refused"))
    assert is_connection_failure(RemotingSendRequestError("connection closed"))
    assert not is_connection_failure(RemotingTimeoutError("slow"))
    assert not is_connection_failure(BrokerError(1, "system error"))
