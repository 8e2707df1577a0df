"""RouteInfoManager and NameServer config, driven with a fake clock (no sockets, no sleeps)."""

from __future__ import annotations

from rocketq.common.config import dump_properties, parse_properties
from rocketq.common.topic import TopicConfig
from rocketq.namesrv import KVConfigManager, NamesrvConfig, RouteInfoManager
from rocketq.remoting.body import DataVersion, TopicConfigSerializeWrapper


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class FakeConnection:
    def __init__(self) -> None:
        self.closed_with: str | None = None

    def close(self, reason: str) -> None:
        self.closed_with = reason


def wrapper(counter: int = 1, **topics: tuple[int, int, int]) -> TopicConfigSerializeWrapper:
    return TopicConfigSerializeWrapper(
        {t: TopicConfig(t, r, w, p) for t, (r, w, p) in topics.items()},
        DataVersion(timestamp=42, counter=counter),
    )


def test_register_builds_route_and_expiry_removes_it() -> None:
    clock = FakeClock()
    routes = RouteInfoManager(120_000, clock)
    conn = FakeConnection()
    routes.register_broker("C", "h:1", "b", 0, "h:2", wrapper(T=(4, 4, 6)), connection=conn)
    route = routes.pickup_topic_route_data("T")
    assert route is not None
    assert route.broker_datas[0].broker_addrs == {0: "h:1"}
    assert routes.scan_not_active_broker() == []
    clock.now += 120_001
    assert routes.scan_not_active_broker() == ["h:1"]
    assert conn.closed_with == "broker registration expired"
    assert routes.pickup_topic_route_data("T") is None
    assert routes.cluster_info().cluster_addr_table == {}


def test_per_broker_timeout_from_register_header() -> None:
    clock = FakeClock()
    routes = RouteInfoManager(120_000, clock)
    routes.register_broker("C", "h:1", "b", 0, "", wrapper(T=(1, 1, 6)), timeout_ms=5_000)
    clock.now += 5_001
    assert routes.scan_not_active_broker() == ["h:1"]


def test_touch_keeps_alive() -> None:
    clock = FakeClock()
    routes = RouteInfoManager(1_000, clock)
    routes.register_broker("C", "h:1", "b", 0, "", wrapper(T=(1, 1, 6)))
    clock.now += 900
    routes.touch("h:1")
    clock.now += 900
    assert routes.scan_not_active_broker() == []


def test_connection_close_removes_only_that_broker() -> None:
    routes = RouteInfoManager(120_000, FakeClock())
    c1, c2 = FakeConnection(), FakeConnection()
    routes.register_broker("C", "h:1", "b1", 0, "", wrapper(T=(4, 4, 6)), connection=c1)
    routes.register_broker("C", "h:2", "b2", 0, "", wrapper(T=(4, 4, 6)), connection=c2)
    routes.on_connection_closed(c1)
    route = routes.pickup_topic_route_data("T")
    assert route is not None
    assert [q.broker_name for q in route.queue_datas] == ["b2"]
    assert routes.cluster_info().cluster_addr_table == {"C": ["b2"]}


def test_slave_promoted_to_master_replaces_old_id() -> None:
    routes = RouteInfoManager(120_000, FakeClock())
    routes.register_broker("C", "m:1", "b", 0, "m:2", wrapper(T=(4, 4, 6)))
    result = routes.register_broker("C", "s:1", "b", 1, "s:2", wrapper(T=(4, 4, 6)))
    assert (result.master_addr, result.ha_server_addr) == ("m:1", "m:2")
    routes.unregister_broker("C", "m:1", "b", 0)
    routes.register_broker("C", "s:1", "b", 0, "s:2", wrapper(counter=2, T=(4, 4, 6)))
    assert routes.broker_addr_table["b"].broker_addrs == {0: "s:1"}


def test_unchanged_version_does_not_touch_queues() -> None:
    routes = RouteInfoManager(120_000, FakeClock())
    routes.register_broker("C", "h:1", "b", 0, "", wrapper(1, T=(4, 4, 6)))
    routes.register_broker("C", "h:1", "b", 0, "", wrapper(1, T=(8, 8, 6)))
    assert routes.topic_queue_table["T"]["b"].read_queue_nums == 4
    assert not routes.is_topic_config_changed("h:1", DataVersion(42, 1))
    assert routes.is_topic_config_changed("h:1", DataVersion(42, 2))
    routes.register_broker("C", "h:1", "b", 0, "", wrapper(2, T=(8, 8, 6)))
    assert routes.topic_queue_table["T"]["b"].read_queue_nums == 8


def test_write_perm_delete_topic_and_lists() -> None:
    routes = RouteInfoManager(120_000, FakeClock())
    routes.register_broker("C1", "h:1", "b1", 0, "", wrapper(A=(4, 4, 6), B=(4, 4, 6)))
    routes.register_broker("C2", "h:2", "b2", 0, "", wrapper(A=(4, 4, 6)))
    assert routes.set_write_perm("b1", writable=False) == 2
    assert routes.topic_queue_table["A"]["b1"].perm == 4
    assert routes.topic_queue_table["A"]["b2"].perm == 6
    assert routes.set_write_perm("b1", writable=True) == 2
    assert routes.topic_queue_table["A"]["b1"].perm == 6
    assert routes.topics_by_cluster("C2").topic_list == ["A"]
    routes.delete_topic("A", "C1")
    assert list(routes.topic_queue_table["A"]) == ["b2"]
    routes.delete_topic("A")
    assert routes.all_topics().topic_list == ["B"]
    system = routes.system_topics()
    assert set(system.topic_list) == {"C1", "b1", "C2", "b2"}
    assert system.broker_addr in {"h:1", "h:2"}


def test_kv_config_manager_in_memory_and_file(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "sub" / "kv.json"
    kv = KVConfigManager(str(path))
    kv.put("N", "k", "v")
    kv.put("N", "k2", "v2")
    kv.delete("N", "k")
    again = KVConfigManager(str(path))
    again.load()
    assert again.namespace("N") == {"k2": "v2"}
    path.write_text("{broken")
    broken = KVConfigManager(str(path))
    broken.load()  # logged, not raised
    assert broken.namespace("N") == {}


def test_properties_and_namesrv_config() -> None:
    text = "# comment\n! other\nlistenPort = 9877\norderMessageEnable: true\n\nmulti=a\\\n  b\n"
    values = parse_properties(text)
    assert values == {"listenPort": "9877", "orderMessageEnable": "true", "multi": "ab"}
    config = NamesrvConfig()
    assert config.update(values) == ["multi"]
    assert config.listen_port == 9877 and config.order_message_enable is True
    props = config.to_properties()
    assert props["orderMessageEnable"] == "true"
    assert parse_properties(dump_properties(props)) == props
