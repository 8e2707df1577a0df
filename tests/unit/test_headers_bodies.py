"""Typed extFields headers, the lenient fastjson reader, and the routing bodies.

Body literals are the fastjson output quoted in remoting.md §6/§12 (Java 4.9.4 jars);
the compressed RegisterBrokerBody is assembled here with zlib + struct per the Java layout.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib

import orjson
import pytest

from rocketq.common.errors import BrokerError, ProtocolError
from rocketq.common.topic import TopicConfig
from rocketq.remoting import fastjson
from rocketq.remoting.body import (
    BrokerData,
    ClusterInfo,
    DataVersion,
    KVTable,
    QueueData,
    RegisterBrokerBody,
    TopicConfigSerializeWrapper,
    TopicList,
    TopicRouteData,
)
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.fastjson import ObjectKey
from rocketq.remoting.headers import (
    GetRouteInfoRequestHeader,
    QueryDataVersionResponseHeader,
    RegisterBrokerRequestHeader,
    SendMessageRequestHeader,
    SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
    parse_bool,
)

# ---------------------------------------------------------------------------------------------
# headers

V2_EXT = {
    "a": "PG",
    "b": "TopicTest",
    "c": "TBW102",
    "d": "4",
    "e": "2",
    "f": "4",
    "g": "1700000000789",
    "h": "7",
    "i": "TAGS\x01TagA\x02",
    "j": "3",
    "k": "true",
    "l": "16",
    "m": "false",
    "n": "broker-a",
}


def test_v2_letters_map_to_fields() -> None:
    header = SendMessageRequestHeaderV2.from_ext(V2_EXT)
    assert header == SendMessageRequestHeaderV2(
        producer_group="PG",
        topic="TopicTest",
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=2,
        sys_flag=4,
        born_timestamp=1700000000789,
        flag=7,
        properties="TAGS\x01TagA\x02",
        reconsume_times=3,
        unit_mode=True,
        max_reconsume_times=16,
        batch=False,
        broker_name="broker-a",
    )
    assert header.to_ext() == V2_EXT


def test_v2_to_v1_uses_java_field_names() -> None:
    v1 = SendMessageRequestHeaderV2.from_ext(V2_EXT).to_v1()
    assert v1.to_ext() == {
        "producerGroup": "PG",
        "topic": "TopicTest",
        "defaultTopic": "TBW102",
        "defaultTopicQueueNums": "4",
        "queueId": "2",
        "sysFlag": "4",
        "bornTimestamp": "1700000000789",
        "flag": "7",
        "properties": "TAGS\x01TagA\x02",
        "reconsumeTimes": "3",
        "unitMode": "true",
        "batch": "false",
        "maxReconsumeTimes": "16",
        "brokerName": "broker-a",
    }
    assert SendMessageRequestHeader.from_ext(v1.to_ext()) == v1


def test_v2_optional_letters_default() -> None:
    ext = {k: v for k, v in V2_EXT.items() if k in "abcdefgh"}
    header = SendMessageRequestHeaderV2.from_ext(ext)
    assert header.properties is None
    assert header.reconsume_times is None
    assert header.unit_mode is False
    assert header.max_reconsume_times is None
    assert header.batch is False
    assert header.broker_name is None
    # None is omitted, False is written as "false"
    assert header.to_ext() == {**ext, "k": "false", "m": "false"}


@pytest.mark.parametrize(
    ("cls", "ext", "missing"),
    [
        (GetRouteInfoRequestHeader, {}, "topic"),
        (GetRouteInfoRequestHeader, None, "topic"),
        (SendMessageRequestHeaderV2, {k: v for k, v in V2_EXT.items() if k != "a"}, "a"),
        (SendMessageRequestHeaderV2, {k: v for k, v in V2_EXT.items() if k != "g"}, "g"),
        (RegisterBrokerRequestHeader, {"brokerName": "b", "brokerAddr": "x:1"}, "clusterName"),
        (SendMessageResponseHeader, {"msgId": "X", "queueId": "1"}, "queueOffset"),
    ],
)
def test_missing_required_field(cls: type, ext: dict[str, str] | None, missing: str) -> None:
    with pytest.raises(BrokerError) as info:
        cls.from_ext(ext)  # type: ignore[attr-defined]
    assert info.value.code == ResponseCode.SYSTEM_ERROR == 1
    assert info.value.remark == f"the custom field <{missing}> is null"


@pytest.mark.parametrize("bad", ["x", "", "1.5", "0x10", "4 2"])
def test_bad_int_is_broker_error(bad: str) -> None:
    with pytest.raises(BrokerError) as info:
        SendMessageRequestHeaderV2.from_ext({**V2_EXT, "e": bad})
    assert info.value.code == ResponseCode.SYSTEM_ERROR
    assert "<e>" in info.value.remark


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("1", True),
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("", False),
        ("yes", False),
        ("2", False),
        (" true", False),
        ("t", False),
    ],
)
def test_bool_parse(text: str, value: bool) -> None:
    assert parse_bool(text) is value
    assert SendMessageRequestHeaderV2.from_ext({**V2_EXT, "k": text}).unit_mode is value
    assert QueryDataVersionResponseHeader.from_ext({"changed": text}).changed is value


def test_register_broker_header_from_java_strings() -> None:
    ext = {
        "brokerName": "broker-a",
        "brokerAddr": "127.0.0.1:10911",
        "clusterName": "DefaultCluster",
        "haServerAddr": "127.0.0.1:10912",
        "brokerId": "0",
        "compressed": "false",
        "bodyCrc32": "1234567",
        "heartbeatTimeoutMillis": "120000",
        "__ZONE_NAME": "z1",  # extra keys are ignored
    }
    header = RegisterBrokerRequestHeader.from_ext(ext)
    assert header.broker_id == 0
    assert header.compressed is False
    assert header.body_crc32 == 1234567
    assert header.heartbeat_timeout_millis == 120000
    assert header.enable_acting_master is None
    out = header.to_ext()
    assert out == {k: v for k, v in ext.items() if k != "__ZONE_NAME"}
    assert all(isinstance(v, str) for v in out.values())


def test_response_header_to_ext_strings_only_and_omits_none() -> None:
    header = SendMessageResponseHeader(
        msg_id="7F00000100002A9F0000000000000000", queue_id=3, queue_offset=10
    )
    assert header.to_ext() == {
        "msgId": "7F00000100002A9F0000000000000000",
        "queueId": "3",
        "queueOffset": "10",
    }
    assert QueryDataVersionResponseHeader(changed=True).to_ext() == {"changed": "true"}


def test_headers_are_frozen() -> None:
    header = GetRouteInfoRequestHeader.from_ext({"topic": "T"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        header.topic = "U"  # type: ignore[misc]


def test_cpp_extras_are_ignored() -> None:
    ext = {"topic": "T", "AccessKey": "", "OnsChannel": "ALIYUN", "Signature": "c2ln"}
    assert GetRouteInfoRequestHeader.from_ext(ext) == GetRouteInfoRequestHeader(topic="T")


# ---------------------------------------------------------------------------------------------
# fastjson


def test_loads_bare_numeric_keys() -> None:
    assert fastjson.loads('{"brokerAddrs":{0:"127.0.0.1:10911",1:"x"}}') == {
        "brokerAddrs": {"0": "127.0.0.1:10911", "1": "x"}
    }


def test_loads_bare_and_quoted_keys_read_the_same() -> None:
    assert fastjson.loads('{0:"a",-1:"b"}') == fastjson.loads('{"0":"a","-1":"b"}')


def test_loads_object_keys() -> None:
    got = fastjson.loads('{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:42}}')
    ((key, value),) = got["offsetTable"].items()
    assert isinstance(key, ObjectKey)
    assert key.as_dict() == {"brokerName": "b", "queueId": 0, "topic": "T"}
    assert value == 42
    # the key is the same whatever order its fields were written in
    other = fastjson.loads('{{"topic":"T","queueId":0,"brokerName":"b"}:1}')
    assert set(other) == {key}


def test_loads_nested_fastjson_bodies() -> None:
    consume_stats = (
        '{"consumeTps":1.5,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:'
        '{"brokerOffset":10,"consumerOffset":7,"lastTimestamp":1700000000000},'
        '{"brokerName":"broker-a","queueId":1,"topic":"T"}:'
        '{"brokerOffset":11,"consumerOffset":11,"lastTimestamp":1700000000001}}}'
    )
    got = fastjson.loads(consume_stats)
    assert got["consumeTps"] == 1.5
    table = {k.as_dict()["queueId"]: v for k, v in got["offsetTable"].items()}
    assert table == {
        0: {"brokerOffset": 10, "consumerOffset": 7, "lastTimestamp": 1700000000000},
        1: {"brokerOffset": 11, "consumerOffset": 11, "lastTimestamp": 1700000000001},
    }
    offsets = fastjson.loads('{"offsetTable":{"T@g":{0:3,1:9},"%RETRY%g@g":{0:0}}}')
    assert offsets == {"offsetTable": {"T@g": {"0": 3, "1": 9}, "%RETRY%g@g": {"0": 0}}}


def test_loads_nested_object_key_inside_object_key() -> None:
    got = fastjson.loads('{{"mq":{"queueId":1,"topic":"T"},"tags":["a","b"]}:[true,null]}')
    ((key, value),) = got.items()
    assert key.as_dict()["mq"].as_dict() == {"queueId": 1, "topic": "T"}
    assert key.as_dict()["tags"] == ("a", "b")
    assert value == [True, None]


def test_loads_whitespace_and_scalars() -> None:
    text = ' {\n\t0 : "a\\"b\\u0001" ,\r\n 1:-2.5e3 , "x":[ true , false , null , [] , {} ] }\n'
    assert fastjson.loads(text) == {
        "0": 'a"b\x01',
        "1": -2500.0,
        "x": [True, False, None, [], {}],
    }


def test_loads_accepts_bytes_str_memoryview() -> None:
    data = b'{0:"x"}'
    assert fastjson.loads(data) == fastjson.loads(data.decode()) == {"0": "x"}
    assert fastjson.loads(memoryview(data)) == {"0": "x"}
    assert fastjson.loads(bytearray(data)) == {"0": "x"}


def test_loads_standard_json_unchanged() -> None:
    text = '{"a":[1,2,{"b":null}],"c":"d"}'
    assert fastjson.loads(text) == orjson.loads(text)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "{0:1",
        "{0 1}",
        "{0:}",
        "[1,]",
        "{0:tru}",
        "{0:1} x",
        '{0:"unterminated}',
        '{0:"bad escape \\x"}',
        "{0:01}",
        "{0:1,,1:2}",
        "{:1}",
        "[" * 5000,
        "{0:" * 5000,
        b"\xff\xfe{0:1}",
    ],
)
def test_loads_bad_input_is_protocol_error(bad: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        fastjson.loads(bad)


def test_dumps_quotes_int_keys() -> None:
    assert fastjson.dumps({"brokerAddrs": {0: "a", 1: "b"}}) == b'{"brokerAddrs":{"0":"a","1":"b"}}'


# ---------------------------------------------------------------------------------------------
# routing bodies

# remoting.md §12.1 (Java namesrv, quoted keys for version >= 401), whitespace removed.
ROUTE_JSON = (
    '{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911","1":"127.0.0.1:10921"},'
    '"brokerName":"broker-a","cluster":"DefaultCluster"}],'
    '"filterServerTable":{},'
    '"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,'
    '"writeQueueNums":4}]}'
)
# The same as an old client (version < 401) gets it: bare integer keys.
ROUTE_JSON_BARE = ROUTE_JSON.replace('"0":', "0:").replace('"1":', "1:")

EXPECTED_ROUTE = TopicRouteData(
    queue_datas=[
        QueueData(
            broker_name="broker-a", read_queue_nums=4, write_queue_nums=4, perm=6, topic_sys_flag=0
        )
    ],
    broker_datas=[
        BrokerData(
            cluster="DefaultCluster",
            broker_name="broker-a",
            broker_addrs={0: "127.0.0.1:10911", 1: "127.0.0.1:10921"},
        )
    ],
    filter_server_table={},
)


@pytest.mark.parametrize("text", [ROUTE_JSON, ROUTE_JSON_BARE], ids=["quoted", "bare"])
def test_topic_route_data_decode_java(text: str) -> None:
    route = TopicRouteData.decode(text.encode())
    assert route == EXPECTED_ROUTE
    assert route.broker_datas[0].master_addr() == "127.0.0.1:10911"


def test_topic_route_data_encode_is_java_shape() -> None:
    data = EXPECTED_ROUTE.encode()
    # standard JSON, quoted keys, numbers as JSON numbers, fastjson's key order
    assert data == ROUTE_JSON.encode()
    obj = orjson.loads(data)
    assert obj["queueDatas"][0]["perm"] == 6
    assert obj["brokerDatas"][0]["brokerAddrs"] == {
        "0": "127.0.0.1:10911",
        "1": "127.0.0.1:10921",
    }


def test_topic_route_data_lenient_and_optional_fields() -> None:
    text = (
        '{"brokerDatas":[{"brokerAddrs":{0:"h:1"},"brokerName":"b","cluster":"c",'
        '"enableActingMaster":false,"zoneName":"z"}],'
        '"orderTopicConf":"b:4","queueDatas":[{"brokerName":"b","perm":"6",'
        '"readQueueNums":"8","topicSynFlag":1,"writeQueueNums":8}],'
        '"topicQueueMappingByBroker":{}}'
    )
    route = TopicRouteData.decode(text.encode())
    assert route.order_topic_conf == "b:4"
    assert route.queue_datas == [QueueData("b", 8, 8, 6, 1)]
    assert route.broker_datas == [BrokerData("c", "b", {0: "h:1"})]
    assert route.filter_server_table == {}
    again = TopicRouteData.decode(route.encode())
    assert again == route
    assert orjson.loads(route.encode())["orderTopicConf"] == "b:4"


# remoting.md §12.5: Java writes bare integer keys here.
CLUSTER_JSON = (
    '{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"127.0.0.1:10911"},'
    '"brokerName":"broker-a","cluster":"DefaultCluster"}},'
    '"clusterAddrTable":{"DefaultCluster":["broker-a"]}}'
)


def test_cluster_info_decode_java_and_encode_quoted() -> None:
    info = ClusterInfo.decode(CLUSTER_JSON.encode())
    assert info == ClusterInfo(
        broker_addr_table={
            "broker-a": BrokerData("DefaultCluster", "broker-a", {0: "127.0.0.1:10911"})
        },
        cluster_addr_table={"DefaultCluster": ["broker-a"]},
    )
    assert info.encode() == CLUSTER_JSON.replace("{0:", '{"0":').encode()
    assert ClusterInfo.decode(info.encode()) == info


def test_broker_addrs_encode_in_numeric_order() -> None:
    data = BrokerData("c", "b", {10: "x:10", 2: "x:2", 0: "x:0"}).encode()
    assert data == (
        b'{"brokerAddrs":{"0":"x:0","2":"x:2","10":"x:10"},"brokerName":"b","cluster":"c"}'
    )


def table_of(*configs: TopicConfig) -> dict[str, TopicConfig]:
    return {c.topic_name: c for c in configs}


REGISTER_BODY = RegisterBrokerBody(
    topic_config_wrapper=TopicConfigSerializeWrapper(
        topic_config_table=table_of(
            TopicConfig("TopicTest", 8, 8, 6),
            TopicConfig("%RETRY%g", 1, 1, 6),
            TopicConfig("TBW102", 8, 8, 7, attributes={"+message.type": "NORMAL"}),
        ),
        data_version=DataVersion(timestamp=1795262554349, counter=3, state_version=1),
    ),
    filter_server_list=["127.0.0.1:10950"],
)


def test_register_broker_body_json_round_trip() -> None:
    assert RegisterBrokerBody.decode(REGISTER_BODY.encode()) == REGISTER_BODY


def test_register_broker_body_decode_java_json() -> None:
    # remoting.md §12.3 / §12.4 (4.9.4: no stateVersion, no attributes)
    text = (
        '{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":'
        '{"counter":0,"timestamp":1795262554349},"topicConfigTable":{"T":{"order":false,'
        '"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"T",'
        '"topicSysFlag":0,"writeQueueNums":4}}}}'
    )
    body = RegisterBrokerBody.decode(text.encode())
    assert body.filter_server_list == []
    assert body.topic_config_wrapper.data_version == DataVersion(1795262554349, 0, 0)
    assert body.topic_config_wrapper.topic_config_table == {"T": TopicConfig("T", 4, 4, 6)}


def test_register_broker_body_compressed_round_trip() -> None:
    # The compressed form carries TopicConfig#encode's fields only. Our encoder writes the
    # 4.9 five-field form (no attributes), so attributes, like order/topicSysFlag in Java,
    # do not survive it.
    got = RegisterBrokerBody.decode_compressed(REGISTER_BODY.encode_compressed())
    table = REGISTER_BODY.topic_config_wrapper.topic_config_table
    expected = RegisterBrokerBody(
        TopicConfigSerializeWrapper(
            {k: dataclasses.replace(v, attributes={}) for k, v in table.items()},
            REGISTER_BODY.topic_config_wrapper.data_version,
        ),
        REGISTER_BODY.filter_server_list,
    )
    assert got == expected


def _int(n: int) -> bytes:
    return struct.pack(">i", n)


def _part(data: bytes) -> bytes:
    return _int(len(data)) + data


def test_register_broker_body_compressed_by_hand_4_9() -> None:
    # RegisterBrokerBody#encode(true) in 4.9: int len + DataVersion JSON, int count,
    # per topic int len + TopicConfig#encode ("name r w perm filterType"), int len + filters.
    raw = (
        _part(b'{"counter":2,"timestamp":1795262554349}')
        + _int(2)
        + _part(b"name 8 8 6 SINGLE_TAG")
        + _part(b"%RETRY%g 1 1 6 SINGLE_TAG")
        + _part(b'["127.0.0.1:10950"]')
    )
    body = RegisterBrokerBody.decode_compressed(zlib.compress(raw, 9))
    wrapper = body.topic_config_wrapper
    assert wrapper.data_version == DataVersion(timestamp=1795262554349, counter=2)
    assert wrapper.topic_config_table == table_of(
        TopicConfig("name", 8, 8, 6, "SINGLE_TAG"), TopicConfig("%RETRY%g", 1, 1, 6)
    )
    assert body.filter_server_list == ["127.0.0.1:10950"]


def test_register_broker_body_compressed_by_hand_5_x() -> None:
    # 5.x: TopicConfig#encode appends the attributes JSON; a queue-mapping part follows.
    raw = (
        _part(b'{"counter":1,"stateVersion":4,"timestamp":1795262554349}')
        + _int(2)
        + _part(b'name 8 8 6 SINGLE_TAG {"+message.type":"FIFO"}')
        + _part(b"plain 4 4 6 MULTI_TAG {}")
        + _part(b"[]")
        + _int(1)
        + _part(b'{"bname":"broker-a","currIdMap":{},"epoch":0,"topic":"name","totalQueues":8}')
    )
    body = RegisterBrokerBody.decode_compressed(zlib.compress(raw))
    assert body.topic_config_wrapper.data_version == DataVersion(1795262554349, 1, 4)
    assert body.topic_config_wrapper.topic_config_table == table_of(
        TopicConfig("name", 8, 8, 6, attributes={"+message.type": "FIFO"}),
        TopicConfig("plain", 4, 4, 6, "MULTI_TAG"),
    )
    assert body.filter_server_list == []


def test_register_broker_body_compressed_layout() -> None:
    # Our encoder, read back with struct alone, follows the same Java layout.
    raw = zlib.decompress(REGISTER_BODY.encode_compressed())
    pos = 0

    def take() -> bytes:
        nonlocal pos
        (n,) = struct.unpack_from(">i", raw, pos)
        chunk = raw[pos + 4 : pos + 4 + n]
        pos += 4 + n
        return chunk

    assert orjson.loads(take()) == {
        "counter": 3,
        "stateVersion": 1,
        "timestamp": 1795262554349,
    }
    (count,) = struct.unpack_from(">i", raw, pos)
    pos += 4
    assert count == 3
    topics = [take().decode() for _ in range(count)]
    assert topics[:2] == ["TopicTest 8 8 6 SINGLE_TAG", "%RETRY%g 1 1 6 SINGLE_TAG"]
    assert topics[2].startswith("TBW102 8 8 7 SINGLE_TAG")
    assert orjson.loads(take()) == ["127.0.0.1:10950"]


@pytest.mark.parametrize(
    "data",
    [
        b"not zlib",
        zlib.compress(b""),
        zlib.compress(_part(b'{"counter":1}')),  # count missing
        zlib.compress(_part(b'{"counter":1}') + _int(2) + _part(b"a 1 1 6 SINGLE_TAG")),
        zlib.compress(_part(b'{"counter":1}') + _int(1) + _part(b"a 1 1") + _part(b"[]")),
        zlib.compress(_part(b'{"counter":1}') + _int(1) + _part(b"a x 1 6 S") + _part(b"[]")),
        zlib.compress(_int(100) + b"{}"),
        zlib.compress(_int(-1)),
        zlib.compress(_part(b"{bad") + _int(0) + _part(b"[]")),
    ],
)
def test_register_broker_body_compressed_garbage(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        RegisterBrokerBody.decode_compressed(data)


@pytest.mark.parametrize(
    "data",
    [
        b"[1]",
        b"not json",
        b'{"queueDatas":[{}]}',  # QueueData without brokerName
        b'{"queueDatas":[1]}',
        b'{"queueDatas":[{"brokerName":"b","perm":"x"}]}',
        b'{"brokerDatas":[{"brokerName":"b","brokerAddrs":{"master":"h:1"}}]}',
        b'{"brokerDatas":[{"cluster":"c"}]}',
    ],
)
def test_topic_route_data_bad_body(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        TopicRouteData.decode(data)


def test_empty_body_decodes_to_defaults() -> None:
    assert TopicRouteData.decode(None) == TopicRouteData()
    assert ClusterInfo.decode(b"") == ClusterInfo()


def test_kv_table_and_topic_list() -> None:
    assert KVTable.decode(b'{"table":{"k":"v","n":1}}') == KVTable({"k": "v", "n": "1"})
    assert KVTable({"k": "v"}).encode() == b'{"table":{"k":"v"}}'
    topics = TopicList.decode(b'{"brokerAddr":"h:1","topicList":["T","TBW102"]}')
    assert topics == TopicList(["T", "TBW102"], "h:1")
    assert TopicList(["T"]).encode() == b'{"topicList":["T"]}'
    assert TopicList.decode(topics.encode()) == topics


def test_data_version_lenient() -> None:
    assert DataVersion.decode(b'{"counter":"5","timestamp":"17"}') == DataVersion(17, 5, 0)
