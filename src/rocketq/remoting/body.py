"""JSON bodies of the routing requests: route data, cluster info, registrations;
and of the admin ones: KV tables, topic lists, subscription groups.

Each class mirrors the RocketMQ class of the same name (``protocol/route`` and
``protocol/body``) and converts to and from the JSON object fastjson writes
(``to_obj``/``from_obj``); ``encode``/``decode`` give the bytes. Readers are lenient the
way fastjson is (numbers as strings, bare integer keys); writers emit standard JSON
with quoted keys and JSON numbers, which Java, C++ and ali-ons all read.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Self

from rocketq.common.errors import ProtocolError
from rocketq.common.topic import TopicConfig
from rocketq.remoting import fastjson

__all__ = [
    "BrokerData",
    "ClusterInfo",
    "DataVersion",
    "HAClientRuntimeInfo",
    "HAConnectionRuntimeInfo",
    "HARuntimeInfo",
    "KVTable",
    "QueueData",
    "RegisterBrokerBody",
    "SubscriptionGroupConfig",
    "TopicConfigSerializeWrapper",
    "TopicList",
    "TopicRouteData",
]


class _JsonBody:
    """``encode``/``decode`` on top of ``to_obj``/``from_obj``."""

    def to_obj(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> Self:
        raise NotImplementedError

    def encode(self) -> bytes:
        """The body bytes."""
        return fastjson.dumps(self.to_obj())

    @classmethod
    def decode(cls, data: bytes | None) -> Self:
        """Parse body bytes; a malformed body raises ``ProtocolError``."""
        obj = fastjson.loads(data or b"{}")
        if not isinstance(obj, dict):
            raise ProtocolError(f"{cls.__name__} body is not a JSON object")
        try:
            return cls.from_obj(obj)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise ProtocolError(f"bad {cls.__name__} body: {exc!r}") from exc


@dataclass(slots=True)
class DataVersion(_JsonBody):
    """A version stamp of a broker's topic table; changed = other timestamp/counter."""

    timestamp: int = 0
    counter: int = 0
    state_version: int = 0

    def to_obj(self) -> dict[str, Any]:
        return {
            "counter": self.counter,
            "stateVersion": self.state_version,
            "timestamp": self.timestamp,
        }

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> DataVersion:
        return cls(
            timestamp=int(obj.get("timestamp", 0)),
            counter=int(obj.get("counter", 0)),
            state_version=int(obj.get("stateVersion", 0)),
        )


@dataclass(slots=True)
class QueueData(_JsonBody):
    """The queues one broker offers for one topic."""

    broker_name: str
    read_queue_nums: int
    write_queue_nums: int
    perm: int
    topic_sys_flag: int = 0

    def to_obj(self) -> dict[str, Any]:
        return {
            "brokerName": self.broker_name,
            "perm": self.perm,
            "readQueueNums": self.read_queue_nums,
            "topicSysFlag": self.topic_sys_flag,
            "writeQueueNums": self.write_queue_nums,
        }

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> QueueData:
        return cls(
            broker_name=str(obj["brokerName"]),
            read_queue_nums=int(obj.get("readQueueNums", 0)),
            write_queue_nums=int(obj.get("writeQueueNums", 0)),
            perm=int(obj.get("perm", 0)),
            # RocketMQ before 4.x spelled it topicSynFlag
            topic_sys_flag=int(obj.get("topicSysFlag", obj.get("topicSynFlag", 0))),
        )


@dataclass(slots=True)
class BrokerData(_JsonBody):
    """A broker group: its cluster, name and address per broker id (0 = master)."""

    cluster: str
    broker_name: str
    broker_addrs: dict[int, str] = field(default_factory=dict)

    def to_obj(self) -> dict[str, Any]:
        return {
            "brokerAddrs": {str(k): v for k, v in sorted(self.broker_addrs.items())},
            "brokerName": self.broker_name,
            "cluster": self.cluster,
        }

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> BrokerData:
        addrs = obj.get("brokerAddrs") or {}
        return cls(
            cluster=str(obj.get("cluster", "")),
            broker_name=str(obj["brokerName"]),
            broker_addrs={int(k): str(v) for k, v in addrs.items()},
        )

    def master_addr(self) -> str | None:
        """Address of brokerId 0, if registered."""
        return self.broker_addrs.get(0)


@dataclass(slots=True)
class TopicRouteData(_JsonBody):
    """GET_ROUTEINFO_BY_TOPIC answer: which brokers hold the topic, and how."""

    queue_datas: list[QueueData] = field(default_factory=list)
    broker_datas: list[BrokerData] = field(default_factory=list)
    filter_server_table: dict[str, list[str]] = field(default_factory=dict)
    order_topic_conf: str | None = None

    def to_obj(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "brokerDatas": [b.to_obj() for b in self.broker_datas],
            "filterServerTable": self.filter_server_table,
        }
        if self.order_topic_conf is not None:
            out["orderTopicConf"] = self.order_topic_conf
        out["queueDatas"] = [q.to_obj() for q in self.queue_datas]
        return out

    def encode_java(self) -> bytes:
        """As Java's NameServer answers clients older than 4.9.4: bare broker-id keys."""
        obj = self.to_obj()
        obj["brokerDatas"] = [_bare_broker_ids(b) for b in obj["brokerDatas"]]
        return fastjson.dumps_java(obj)

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> TopicRouteData:
        conf = obj.get("orderTopicConf")
        return cls(
            queue_datas=[QueueData.from_obj(q) for q in obj.get("queueDatas") or []],
            broker_datas=[BrokerData.from_obj(b) for b in obj.get("brokerDatas") or []],
            filter_server_table={
                str(k): [str(a) for a in v] for k, v in (obj.get("filterServerTable") or {}).items()
            },
            order_topic_conf=None if conf is None else str(conf),
        )


def _bare_broker_ids(broker: dict[str, Any]) -> dict[str, Any]:
    """A BrokerData object with int broker-id keys, which ``dumps_java`` writes bare."""
    return {**broker, "brokerAddrs": {int(k): v for k, v in broker["brokerAddrs"].items()}}


@dataclass(slots=True)
class ClusterInfo(_JsonBody):
    """GET_BROKER_CLUSTER_INFO answer."""

    broker_addr_table: dict[str, BrokerData] = field(default_factory=dict)
    cluster_addr_table: dict[str, list[str]] = field(default_factory=dict)

    def to_obj(self) -> dict[str, Any]:
        return {
            "brokerAddrTable": {k: v.to_obj() for k, v in self.broker_addr_table.items()},
            "clusterAddrTable": {k: sorted(v) for k, v in self.cluster_addr_table.items()},
        }

    def encode_java(self) -> bytes:
        """As Java's NameServer writes it: bare broker-id keys (``{0:"host:port"}``)."""
        obj = self.to_obj()
        obj["brokerAddrTable"] = {
            name: _bare_broker_ids(b) for name, b in obj["brokerAddrTable"].items()
        }
        return fastjson.dumps_java(obj)

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> ClusterInfo:
        return cls(
            broker_addr_table={
                str(k): BrokerData.from_obj(v)
                for k, v in (obj.get("brokerAddrTable") or {}).items()
            },
            cluster_addr_table={
                str(k): [str(n) for n in v] for k, v in (obj.get("clusterAddrTable") or {}).items()
            },
        )


@dataclass(slots=True)
class TopicConfigSerializeWrapper(_JsonBody):
    """A broker's topic table with its DataVersion."""

    topic_config_table: dict[str, TopicConfig] = field(default_factory=dict)
    data_version: DataVersion = field(default_factory=DataVersion)

    def to_obj(self) -> dict[str, Any]:
        return {
            "dataVersion": self.data_version.to_obj(),
            "topicConfigTable": {k: v.to_obj() for k, v in self.topic_config_table.items()},
        }

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> TopicConfigSerializeWrapper:
        table = obj.get("topicConfigTable") or {}
        return cls(
            topic_config_table={str(k): TopicConfig.from_obj(v, str(k)) for k, v in table.items()},
            data_version=DataVersion.from_obj(obj.get("dataVersion") or {}),
        )


_INT = struct.Struct(">i")


@dataclass(slots=True)
class RegisterBrokerBody(_JsonBody):
    """REGISTER_BROKER body: the broker's topics and its filter servers."""

    topic_config_wrapper: TopicConfigSerializeWrapper = field(
        default_factory=TopicConfigSerializeWrapper
    )
    filter_server_list: list[str] = field(default_factory=list)

    def to_obj(self) -> dict[str, Any]:
        return {
            "filterServerList": self.filter_server_list,
            "topicConfigSerializeWrapper": self.topic_config_wrapper.to_obj(),
        }

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> RegisterBrokerBody:
        return cls(
            topic_config_wrapper=TopicConfigSerializeWrapper.from_obj(
                obj.get("topicConfigSerializeWrapper") or {}
            ),
            filter_server_list=[str(a) for a in obj.get("filterServerList") or []],
        )

    def encode_compressed(self) -> bytes:
        """``RegisterBrokerBody#encode(true)``: a zlib stream of length-prefixed parts."""
        parts = [self.topic_config_wrapper.data_version.encode()]
        out = bytearray(_INT.pack(len(parts[0])) + parts[0])
        table = self.topic_config_wrapper.topic_config_table
        out += _INT.pack(len(table))
        for config in table.values():
            data = config.encode().encode()
            out += _INT.pack(len(data)) + data
        data = fastjson.dumps(self.filter_server_list)
        out += _INT.pack(len(data)) + data
        return zlib.compress(bytes(out), 9)

    @classmethod
    def decode_compressed(cls, data: bytes) -> RegisterBrokerBody:
        """Inverse of ``encode_compressed``; 5.x's trailing queue-mapping part is skipped."""
        try:
            raw = zlib.decompress(data)
            pos = 0

            def take() -> bytes:
                nonlocal pos
                (n,) = _INT.unpack_from(raw, pos)
                if n < 0 or pos + 4 + n > len(raw):
                    raise ValueError("length runs past the data")
                chunk = raw[pos + 4 : pos + 4 + n]
                pos += 4 + n
                return chunk

            version = DataVersion.decode(take())
            (count,) = _INT.unpack_from(raw, pos)
            pos += 4
            table: dict[str, TopicConfig] = {}
            for _ in range(count):
                config = TopicConfig.decode(take().decode())
                table[config.topic_name] = config
            filters = fastjson.loads(take())
        except (zlib.error, struct.error, ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError(f"bad compressed RegisterBrokerBody: {exc}") from exc
        return cls(
            topic_config_wrapper=TopicConfigSerializeWrapper(table, version),
            filter_server_list=[str(a) for a in filters or []],
        )


@dataclass(slots=True)
class KVTable(_JsonBody):
    """``{"table": {key: value}}``."""

    table: dict[str, str] = field(default_factory=dict)

    def to_obj(self) -> dict[str, Any]:
        return {"table": self.table}

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> KVTable:
        return cls({str(k): str(v) for k, v in (obj.get("table") or {}).items()})


@dataclass(frozen=True, slots=True)
class HAConnectionRuntimeInfo:
    """One slave as its master sees it (``HARuntimeInfo.HAConnectionRuntimeInfo``)."""

    addr: str
    slave_ack_offset: int
    diff: int
    in_sync: bool
    transferred_byte_in_second: int
    transfer_from_where: int

    def to_obj(self) -> dict[str, Any]:
        return {
            "addr": self.addr, "diff": self.diff, "inSync": self.in_sync,
            "slaveAckOffset": self.slave_ack_offset, "transferFromWhere": self.transfer_from_where,
            "transferredByteInSecond": self.transferred_byte_in_second,
        }  # fmt: skip

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> HAConnectionRuntimeInfo:
        return cls(
            str(obj.get("addr", "")), int(obj.get("slaveAckOffset", 0)), int(obj.get("diff", 0)),
            bool(obj.get("inSync", False)), int(obj.get("transferredByteInSecond", 0)),
            int(obj.get("transferFromWhere", 0)),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class HAClientRuntimeInfo:
    """A slave's link to its master (``HARuntimeInfo.HAClientRuntimeInfo``)."""

    master_addr: str = ""
    transferred_byte_in_second: int = 0
    max_offset: int = 0
    last_read_timestamp: int = 0
    last_write_timestamp: int = 0
    master_flush_offset: int = 0
    activated: bool = False

    def to_obj(self) -> dict[str, Any]:
        return {
            "activated": self.activated, "lastReadTimestamp": self.last_read_timestamp,
            "lastWriteTimestamp": self.last_write_timestamp, "masterAddr": self.master_addr,
            "masterFlushOffset": self.master_flush_offset, "maxOffset": self.max_offset,
            "transferredByteInSecond": self.transferred_byte_in_second,
        }  # fmt: skip

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> HAClientRuntimeInfo:
        return cls(
            str(obj.get("masterAddr") or ""), int(obj.get("transferredByteInSecond", 0)),
            int(obj.get("maxOffset", 0)), int(obj.get("lastReadTimestamp", 0)),
            int(obj.get("lastWriteTimestamp", 0)), int(obj.get("masterFlushOffset", 0)),
            bool(obj.get("activated", False)),
        )  # fmt: skip


@dataclass(slots=True)
class HARuntimeInfo(_JsonBody):
    """GET_BROKER_HA_STATUS answer (5.x ``HARuntimeInfo``): a master's slaves, or a slave's
    link; what ``mqadmin haStatus`` prints."""

    master: bool = True
    master_commit_log_max_offset: int = 0
    in_sync_slave_nums: int = 0
    ha_connection_info: list[HAConnectionRuntimeInfo] = field(default_factory=list)
    ha_client_runtime_info: HAClientRuntimeInfo = field(default_factory=HAClientRuntimeInfo)

    def to_obj(self) -> dict[str, Any]:
        return {
            "haClientRuntimeInfo": self.ha_client_runtime_info.to_obj(),
            "haConnectionInfo": [c.to_obj() for c in self.ha_connection_info],
            "inSyncSlaveNums": self.in_sync_slave_nums,
            "master": self.master,
            "masterCommitLogMaxOffset": self.master_commit_log_max_offset,
        }

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> HARuntimeInfo:
        return cls(
            master=bool(obj.get("master", True)),
            master_commit_log_max_offset=int(obj.get("masterCommitLogMaxOffset", 0)),
            in_sync_slave_nums=int(obj.get("inSyncSlaveNums", 0)),
            ha_connection_info=[
                HAConnectionRuntimeInfo.from_obj(c) for c in obj.get("haConnectionInfo") or []
            ],
            ha_client_runtime_info=HAClientRuntimeInfo.from_obj(
                obj.get("haClientRuntimeInfo") or {}
            ),
        )


@dataclass(slots=True)
class TopicList(_JsonBody):
    """``{"topicList": [...]}``, optionally with the answering broker's address."""

    topic_list: list[str] = field(default_factory=list)
    broker_addr: str | None = None

    def to_obj(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.broker_addr is not None:
            out["brokerAddr"] = self.broker_addr
        out["topicList"] = self.topic_list
        return out

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> TopicList:
        addr = obj.get("brokerAddr")
        topics = [str(t) for t in obj.get("topicList") or []]
        return cls(topics, None if addr is None else str(addr))


# SubscriptionGroupConfig.retryMaxTimes: a message goes to %DLQ% after 16 failed deliveries.
DEFAULT_RETRY_MAX_TIMES = 16


@dataclass(slots=True)
class SubscriptionGroupConfig:
    """One consumer group's settings (RocketMQ ``SubscriptionGroupConfig``)."""

    group_name: str
    consume_enable: bool = True
    consume_from_min_enable: bool = True
    consume_broadcast_enable: bool = True
    retry_queue_nums: int = 1
    retry_max_times: int = DEFAULT_RETRY_MAX_TIMES
    broker_id: int = 0
    which_broker_when_consume_slowly: int = 1
    notify_consumer_ids_changed_enable: bool = True
    # RocketMQ 5: a FIFO group (POP delivers each queue's messages in order).
    consume_message_orderly: bool = False

    def java_string(self) -> str:
        """``SubscriptionGroupConfig#toString`` (4.9.4), as mqadmin prints a group."""
        b = {True: "true", False: "false"}
        return (
            f"SubscriptionGroupConfig [groupName={self.group_name}, "
            f"consumeEnable={b[self.consume_enable]}, "
            f"consumeFromMinEnable={b[self.consume_from_min_enable]}, "
            f"consumeBroadcastEnable={b[self.consume_broadcast_enable]}, "
            f"retryQueueNums={self.retry_queue_nums}, retryMaxTimes={self.retry_max_times}, "
            f"brokerId={self.broker_id}, "
            f"whichBrokerWhenConsumeSlowly={self.which_broker_when_consume_slowly}, "
            f"notifyConsumerIdsChangedEnable={b[self.notify_consumer_ids_changed_enable]}]"
        )

    def to_obj(self) -> dict[str, Any]:
        """fastjson's shape (alphabetical keys)."""
        return {
            "brokerId": self.broker_id,
            "consumeBroadcastEnable": self.consume_broadcast_enable,
            "consumeEnable": self.consume_enable,
            "consumeFromMinEnable": self.consume_from_min_enable,
            "consumeMessageOrderly": self.consume_message_orderly,
            "groupName": self.group_name,
            "notifyConsumerIdsChangedEnable": self.notify_consumer_ids_changed_enable,
            "retryMaxTimes": self.retry_max_times,
            "retryQueueNums": self.retry_queue_nums,
            "whichBrokerWhenConsumeSlowly": self.which_broker_when_consume_slowly,
        }

    @classmethod
    def from_obj(cls, obj: dict[str, Any], name: str | None = None) -> SubscriptionGroupConfig:
        """Read leniently (strings or numbers, as fastjson does)."""

        def flag(key: str, default: bool) -> bool:
            value = obj.get(key, default)
            return value.lower() == "true" if isinstance(value, str) else bool(value)

        return cls(
            group_name=str(obj.get("groupName") or name or ""),
            consume_enable=flag("consumeEnable", True),
            consume_from_min_enable=flag("consumeFromMinEnable", True),
            consume_broadcast_enable=flag("consumeBroadcastEnable", True),
            retry_queue_nums=int(obj.get("retryQueueNums", 1)),
            retry_max_times=int(obj.get("retryMaxTimes", DEFAULT_RETRY_MAX_TIMES)),
            broker_id=int(obj.get("brokerId", 0)),
            which_broker_when_consume_slowly=int(obj.get("whichBrokerWhenConsumeSlowly", 1)),
            notify_consumer_ids_changed_enable=flag("notifyConsumerIdsChangedEnable", True),
            consume_message_orderly=flag("consumeMessageOrderly", False),
        )
