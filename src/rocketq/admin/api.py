"""The admin API behind ``rocketq admin`` and the console (RocketMQ ``DefaultMQAdminExt``).

Talks to NameServers (and, for runtime figures, brokers) over the remoting protocol.
Several NameServers may be given (``"a:9876;b:9876"``): reads go to the first that
answers, writes of KV config go to all of them, as mqadmin does.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from rocketq.broker.subscription_group import SubscriptionGroupConfig
from rocketq.common.config import dump_properties, parse_properties
from rocketq.common.errors import BrokerError, ClientError, RemotingError
from rocketq.common.message import MessageConst, SysFlag, encode_properties
from rocketq.common.topic import AUTO_CREATE_TOPIC_KEY_TOPIC, PERM_READ, PERM_WRITE, TopicConfig
from rocketq.remoting import fastjson
from rocketq.remoting.body import (
    ClusterInfo,
    KVTable,
    TopicConfigSerializeWrapper,
    TopicList,
    TopicRouteData,
)
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import LanguageCode, RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.fastjson import ObjectKey
from rocketq.remoting.headers import (
    AddWritePermOfBrokerRequestHeader,
    AddWritePermOfBrokerResponseHeader,
    CreateTopicRequestHeader,
    DeleteKVConfigRequestHeader,
    DeleteSubscriptionGroupRequestHeader,
    DeleteTopicRequestHeader,
    GetConsumerConnectionListRequestHeader,
    GetConsumeStatsRequestHeader,
    GetEarliestMsgStoretimeRequestHeader,
    GetEarliestMsgStoretimeResponseHeader,
    GetKVConfigRequestHeader,
    GetKVConfigResponseHeader,
    GetKVListByNamespaceRequestHeader,
    GetMaxOffsetRequestHeader,
    GetMaxOffsetResponseHeader,
    GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader,
    GetProducerConnectionListRequestHeader,
    GetRouteInfoRequestHeader,
    GetTopicStatsInfoRequestHeader,
    PullMessageRequestHeader,
    PullMessageResponseHeader,
    PutKVConfigRequestHeader,
    QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader,
    QueryMessageRequestHeader,
    ResetOffsetRequestHeader,
    SearchOffsetRequestHeader,
    SearchOffsetResponseHeader,
    SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
    UpdateConsumerOffsetRequestHeader,
    ViewMessageRequestHeader,
    WipeWritePermOfBrokerRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
)
from rocketq.store.format import (
    MessageRecord,
    create_offset_msg_id,
    decode_offset_msg_id,
    decode_record,
)

__all__ = [
    "AdminClient",
    "ConsumeStats",
    "DlqMessage",
    "MessageQueue",
    "OffsetWrapper",
    "PullResult",
    "RollbackStats",
    "SendResult",
    "TopicOffset",
    "decode_records",
    "new_uniq_id",
    "parse_namesrv_addrs",
]

# mqadmin's default RPC timeout.
DEFAULT_ADMIN_TIMEOUT = 3.0
# MixAll: the retry topic of a group, the group mqadmin pulls with, the UNIQ_KEY query flag.
RETRY_GROUP_TOPIC_PREFIX = "%RETRY%"
TOOLS_CONSUMER_GROUP = "TOOLS_CONSUMER"
UNIQUE_MSG_QUERY_FLAG = "_UNIQUE_KEY_QUERY"
# MixAll.DLQ_GROUP_TOPIC_PREFIX: the dead-letter topic of a group.
DLQ_GROUP_TOPIC_PREFIX = "%DLQ%"
# The group whose committed offsets on ``%DLQ%group`` mark what was already re-sent
# ("drained"): dlq_messages starts after them, so a drained message is not listed again.
DLQ_TOOLS_GROUP = "TOOLS_DLQ_CONSUMER"
# Messages listed (and so re-sent) per call by default: a console page, as the dashboard's.
DEFAULT_DLQ_MAX = 64
# Characters of a body shown by a listing; the rest is elided.
DLQ_BODY_PREVIEW_CHARS = 48
# Properties a re-sent DLQ message keeps although MessageConst names them: what the user set.
_RESEND_KEPT_SYSTEM_PROPERTIES = frozenset(
    {MessageConst.TAGS, MessageConst.KEYS, MessageConst.SHARDING_KEY, MessageConst.TRACE_SWITCH}
)
# RocketMQ's bookkeeping, dropped on re-send (RETRY_TOPIC, ORIGIN_MESSAGE_ID, REAL_TOPIC, REAL_QID,
# DELAY, WAIT, CLUSTER, UNIQ_KEY, MIN/MAX_OFFSET, CONSUME_START_TIME, DELAY_SRC, TRAN_*, TIMER_*
# ...): every MessageConst value but the kept ones, plus 5.x names rocketq does not define
# (MessageConst.STRING_HASH_SET).
_RESEND_DROPPED_PROPERTIES = frozenset(
    v
    for k, v in vars(MessageConst).items()
    if k.isupper() and isinstance(v, str) and v != MessageConst.KEY_SEPARATOR
) - _RESEND_KEPT_SYSTEM_PROPERTIES | frozenset(
    {
        "__STARTDELIVERTIME",
        "INNER_MULTI_DISPATCH",
        "INNER_MULTI_QUEUE_OFFSET",
        "INNER_NUM",
        "INNER_BASE",
        "POP_CK",
        "POP_CK_OFFSET",
        "1ST_POP_TIME",
        "bname",
        "TIMER_OUT_MS",
        "TIMER_ENQUEUE_MS",
        "TIMER_DEQUEUE_MS",
        "TIMER_ROLL_TIMES",
        "TIMER_DEL_UNIQKEY",
        "MSG_TYPE",
        "TRANSFER_FLAG",
        "CORRECTION_FLAG",
        "MQ2_FLAG",
        "CORRELATION_ID",
        "REPLY_TO_CLIENT",
        "TTL",
        "ARRIVE_TIME",
    }
)
# Long.MAX_VALUE: "no end" for time ranges.
_LONG_MAX = (1 << 63) - 1
# PullSysFlag.SUBSCRIPTION: the expression travels in the request (no heartbeat needed).
_PULL_SUBSCRIPTION_FLAG = 0x4
_PULL_CODES = frozenset(
    {
        ResponseCode.SUCCESS,
        ResponseCode.PULL_NOT_FOUND,
        ResponseCode.PULL_RETRY_IMMEDIATELY,
        ResponseCode.PULL_OFFSET_MOVED,
    }
)
# Response codes of a stored message, as SendStatus names.
_SEND_STATUS: dict[int, str] = {
    ResponseCode.SUCCESS: "SEND_OK",
    ResponseCode.FLUSH_DISK_TIMEOUT: "FLUSH_DISK_TIMEOUT",
    ResponseCode.FLUSH_SLAVE_TIMEOUT: "FLUSH_SLAVE_TIMEOUT",
    ResponseCode.SLAVE_NOT_AVAILABLE: "SLAVE_NOT_AVAILABLE",
}


def parse_namesrv_addrs(text: str) -> list[str]:
    """``"a:9876;b:9876"`` (RocketMQ's separator; commas accepted too) -> list."""
    addrs = [a.strip() for a in text.replace(",", ";").split(";") if a.strip()]
    if not addrs:
        raise ClientError("no NameServer address given (use -n host:port or NAMESRV_ADDR)")
    return addrs


def _ok(response: RemotingCommand) -> RemotingCommand:
    if response.code != ResponseCode.SUCCESS:
        raise BrokerError(response.code, response.remark)
    return response


class AdminClient:
    """Async admin operations; use as ``async with AdminClient("127.0.0.1:9876") as admin``."""

    def __init__(self, namesrv_addr: str | list[str], timeout: float = DEFAULT_ADMIN_TIMEOUT):
        if isinstance(namesrv_addr, str):
            namesrv_addr = parse_namesrv_addrs(namesrv_addr)
        self.namesrv_addrs = list(namesrv_addr)
        self.timeout = timeout
        self.remoting = RemotingClient()
        self._uniq_seq = random.randrange(1 << 16)

    async def __aenter__(self) -> AdminClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection."""
        await self.remoting.aclose()

    async def _namesrv(self, cmd: RemotingCommand) -> RemotingCommand:
        """Ask the first NameServer that answers."""
        last: RemotingError | None = None
        for addr in self.namesrv_addrs:
            try:
                return await self.remoting.invoke(addr, cmd, self.timeout)
            except RemotingError as exc:
                last = exc
        assert last is not None
        raise last

    # -- routes ----------------------------------------------------------------------------

    async def cluster_info(self) -> ClusterInfo:
        """Clusters, broker groups and addresses."""
        resp = _ok(
            await self._namesrv(RemotingCommand.request(RequestCode.GET_BROKER_CLUSTER_INFO))
        )
        return ClusterInfo.decode(resp.body)

    async def topic_list(self) -> list[str]:
        """Every topic the NameServer knows."""
        cmd = RemotingCommand.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
        return TopicList.decode(_ok(await self._namesrv(cmd)).body).topic_list

    async def topic_route(self, topic: str) -> TopicRouteData:
        """The route of a topic; BrokerError(TOPIC_NOT_EXIST) when there is none."""
        ext = GetRouteInfoRequestHeader(topic=topic).to_ext()
        cmd = RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, ext)
        return TopicRouteData.decode(_ok(await self._namesrv(cmd)).body)

    async def set_write_perm(self, broker_name: str, writable: bool) -> dict[str, int]:
        """Wipe or add write permission of a broker on every NameServer: addr -> topics."""
        out: dict[str, int] = {}
        for addr in self.namesrv_addrs:
            if writable:
                code = RequestCode.ADD_WRITE_PERM_OF_BROKER
                ext = AddWritePermOfBrokerRequestHeader(broker_name=broker_name).to_ext()
            else:
                code = RequestCode.WIPE_WRITE_PERM_OF_BROKER
                ext = WipeWritePermOfBrokerRequestHeader(broker_name=broker_name).to_ext()
            resp = _ok(
                await self.remoting.invoke(addr, RemotingCommand.request(code, ext), self.timeout)
            )
            if writable:
                out[addr] = AddWritePermOfBrokerResponseHeader.from_ext(
                    resp.ext_fields
                ).add_topic_count
            else:
                out[addr] = WipeWritePermOfBrokerResponseHeader.from_ext(
                    resp.ext_fields
                ).wipe_topic_count
        return out

    # -- NameServer config -----------------------------------------------------------------

    async def namesrv_config(self) -> dict[str, dict[str, str]]:
        """Each NameServer's settings: addr -> {key: value}."""
        out = {}
        for addr in self.namesrv_addrs:
            cmd = RemotingCommand.request(RequestCode.GET_NAMESRV_CONFIG)
            resp = _ok(await self.remoting.invoke(addr, cmd, self.timeout))
            out[addr] = parse_properties((resp.body or b"").decode())
        return out

    async def update_namesrv_config(self, values: dict[str, str]) -> None:
        """Change settings on every NameServer."""
        body = dump_properties(values).encode()
        for addr in self.namesrv_addrs:
            cmd = RemotingCommand.request(RequestCode.UPDATE_NAMESRV_CONFIG, body=body)
            _ok(await self.remoting.invoke(addr, cmd, self.timeout))

    # -- KV config -------------------------------------------------------------------------

    async def put_kv_config(self, namespace: str, key: str, value: str) -> None:
        """Create or update a KV item on every NameServer."""
        ext = PutKVConfigRequestHeader(namespace=namespace, key=key, value=value).to_ext()
        for addr in self.namesrv_addrs:
            cmd = RemotingCommand.request(RequestCode.PUT_KV_CONFIG, dict(ext))
            _ok(await self.remoting.invoke(addr, cmd, self.timeout))

    async def get_kv_config(self, namespace: str, key: str) -> str | None:
        """One KV item, or None when absent."""
        ext = GetKVConfigRequestHeader(namespace=namespace, key=key).to_ext()
        resp = await self._namesrv(RemotingCommand.request(RequestCode.GET_KV_CONFIG, ext))
        if resp.code == ResponseCode.QUERY_NOT_FOUND:
            return None
        return GetKVConfigResponseHeader.from_ext(_ok(resp).ext_fields).value

    async def delete_kv_config(self, namespace: str, key: str) -> None:
        """Delete a KV item on every NameServer."""
        ext = DeleteKVConfigRequestHeader(namespace=namespace, key=key).to_ext()
        for addr in self.namesrv_addrs:
            cmd = RemotingCommand.request(RequestCode.DELETE_KV_CONFIG, dict(ext))
            _ok(await self.remoting.invoke(addr, cmd, self.timeout))

    async def kv_list(self, namespace: str) -> dict[str, str]:
        """Every item of a namespace (empty when none)."""
        ext = GetKVListByNamespaceRequestHeader(namespace=namespace).to_ext()
        resp = await self._namesrv(
            RemotingCommand.request(RequestCode.GET_KVLIST_BY_NAMESPACE, ext)
        )
        if resp.code == ResponseCode.QUERY_NOT_FOUND:
            return {}
        return KVTable.decode(_ok(resp).body).table

    # -- brokers ---------------------------------------------------------------------------

    async def broker_runtime_info(self, broker_addr: str) -> dict[str, str]:
        """GET_BROKER_RUNTIME_INFO of one broker (version, TPS, disk...)."""
        cmd = RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO)
        resp = _ok(await self.remoting.invoke(broker_addr, cmd, self.timeout))
        return KVTable.decode(resp.body).table

    # -- broker admin ----------------------------------------------------------------------

    async def _broker(self, addr: str, cmd: RemotingCommand) -> RemotingCommand:
        return _ok(await self.remoting.invoke(addr, cmd, self.timeout))

    async def broker_addrs(self, cluster: str, masters_only: bool = True) -> dict[str, str]:
        """broker address -> broker name of a cluster (``fetchMasterAddrByClusterName``)."""
        info = await self.cluster_info()
        names = info.cluster_addr_table.get(cluster)
        if names is None:
            raise ClientError(
                f"cluster {cluster!r} not found; known: {sorted(info.cluster_addr_table)}"
            )
        out = {}
        for name in sorted(names):
            data = info.broker_addr_table.get(name)
            for bid, addr in sorted((data.broker_addrs if data else {}).items()):
                if bid == 0 or not masters_only:
                    out[addr] = name
        return out

    async def create_topic(self, broker_addr: str, config: TopicConfig) -> None:
        """UPDATE_AND_CREATE_TOPIC on one broker."""
        ext = CreateTopicRequestHeader(
            topic=config.topic_name,
            read_queue_nums=config.read_queue_nums,
            write_queue_nums=config.write_queue_nums,
            perm=config.perm,
            topic_filter_type=config.topic_filter_type,
            topic_sys_flag=config.topic_sys_flag,
            order=config.order,
        ).to_ext()
        await self._broker(
            broker_addr, RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_TOPIC, ext)
        )

    async def delete_topic_in_broker(self, broker_addr: str, topic: str) -> None:
        """DELETE_TOPIC_IN_BROKER on one broker."""
        ext = DeleteTopicRequestHeader(topic=topic).to_ext()
        await self._broker(
            broker_addr, RemotingCommand.request(RequestCode.DELETE_TOPIC_IN_BROKER, ext)
        )

    async def delete_topic_in_namesrv(self, topic: str, cluster: str | None = None) -> None:
        """DELETE_TOPIC_IN_NAMESRV on every NameServer."""
        ext = {"topic": topic} if cluster is None else {"topic": topic, "clusterName": cluster}
        for addr in self.namesrv_addrs:
            cmd = RemotingCommand.request(RequestCode.DELETE_TOPIC_IN_NAMESRV, dict(ext))
            _ok(await self.remoting.invoke(addr, cmd, self.timeout))

    async def all_topic_config(self, broker_addr: str) -> TopicConfigSerializeWrapper:
        """GET_ALL_TOPIC_CONFIG of one broker."""
        cmd = RemotingCommand.request(RequestCode.GET_ALL_TOPIC_CONFIG)
        return TopicConfigSerializeWrapper.decode((await self._broker(broker_addr, cmd)).body)

    async def _route_brokers(self, topic: str) -> list[tuple[str, str]]:
        """(broker name, address) of each broker group of a route (master, else any)."""
        route = await self.topic_route(topic)
        out = []
        for data in route.broker_datas:
            addr = data.master_addr() or next(iter(data.broker_addrs.values()), None)
            if addr is not None:
                out.append((data.broker_name, addr))
        return out

    async def topic_stats(self, topic: str) -> dict[MessageQueue, TopicOffset]:
        """GET_TOPIC_STATS_INFO from every broker of the topic (``examineTopicStats``)."""
        out: dict[MessageQueue, TopicOffset] = {}
        for _name, addr in await self._route_brokers(topic):
            out.update(await self.broker_topic_stats(addr, topic))
        if not out:
            raise ClientError(f"Not found the topic stats info of {topic}")
        return dict(sorted(out.items()))

    async def broker_topic_stats(
        self, broker_addr: str, topic: str
    ) -> dict[MessageQueue, TopicOffset]:
        """GET_TOPIC_STATS_INFO of one broker."""
        ext = GetTopicStatsInfoRequestHeader(topic=topic).to_ext()
        resp = await self._broker(
            broker_addr, RemotingCommand.request(RequestCode.GET_TOPIC_STATS_INFO, ext)
        )
        table = _object_keyed(resp.body, "offsetTable")
        return {
            mq: TopicOffset(int(v["minOffset"]), int(v["maxOffset"]), int(v["lastUpdateTimestamp"]))
            for mq, v in table.items()
        }

    async def consume_stats(self, group: str, topic: str | None = None) -> ConsumeStats:
        """GET_CONSUME_STATS from every broker of ``%RETRY%group`` (``examineConsumeStats``);
        BrokerError(CONSUMER_NOT_ONLINE) when no broker knows an offset of the group."""
        stats = ConsumeStats()
        for _name, addr in await self._route_brokers(RETRY_GROUP_TOPIC_PREFIX + group):
            one = await self.broker_consume_stats(addr, group, topic)
            stats.offset_table.update(one.offset_table)
            stats.consume_tps += one.consume_tps
        if not stats.offset_table:
            raise BrokerError(
                ResponseCode.CONSUMER_NOT_ONLINE,
                "Not found the consumer group consume stats, because return offset table is "
                "empty, maybe the consumer not consume any message",
            )
        stats.offset_table = dict(sorted(stats.offset_table.items()))
        return stats

    async def broker_consume_stats(
        self, broker_addr: str, group: str, topic: str | None = None
    ) -> ConsumeStats:
        """GET_CONSUME_STATS of one broker."""
        ext = GetConsumeStatsRequestHeader(consumer_group=group, topic=topic).to_ext()
        resp = await self._broker(
            broker_addr, RemotingCommand.request(RequestCode.GET_CONSUME_STATS, ext)
        )
        obj = fastjson.loads(resp.body or b"{}")
        table = {
            mq: OffsetWrapper(
                int(v["brokerOffset"]), int(v["consumerOffset"]), int(v.get("lastTimestamp", 0))
            )
            for mq, v in _object_keyed(resp.body, "offsetTable").items()
        }
        return ConsumeStats(table, float(obj.get("consumeTps", 0.0)))

    async def consumer_connection(
        self, group: str, broker_addr: str | None = None
    ) -> dict[str, Any]:
        """GET_CONSUMER_CONNECTION_LIST (raw ConsumerConnection JSON) from the first broker
        of ``%RETRY%group``, or from ``broker_addr``."""
        addrs = (
            [broker_addr]
            if broker_addr
            else [a for _n, a in await self._route_brokers(RETRY_GROUP_TOPIC_PREFIX + group)]
        )
        ext = GetConsumerConnectionListRequestHeader(consumer_group=group).to_ext()
        last: BrokerError | None = None
        for addr in addrs:
            cmd = RemotingCommand.request(RequestCode.GET_CONSUMER_CONNECTION_LIST, dict(ext))
            try:
                result: dict[str, Any] = fastjson.loads(
                    (await self._broker(addr, cmd)).body or b"{}"
                )
                return result
            except BrokerError as exc:
                last = exc
        raise last or BrokerError(
            ResponseCode.CONSUMER_NOT_ONLINE, f"the consumer group[{group}] not online"
        )

    async def producer_connection(self, broker_addr: str, group: str) -> list[dict[str, Any]]:
        """GET_PRODUCER_CONNECTION_LIST of one broker: the group's connections."""
        ext = GetProducerConnectionListRequestHeader(producer_group=group).to_ext()
        cmd = RemotingCommand.request(RequestCode.GET_PRODUCER_CONNECTION_LIST, ext)
        obj = fastjson.loads((await self._broker(broker_addr, cmd)).body or b"{}")
        return list(obj.get("connectionSet") or [])

    # -- subscription groups and offsets ---------------------------------------------------

    async def create_subscription_group(
        self, broker_addr: str, config: SubscriptionGroupConfig
    ) -> None:
        """UPDATE_AND_CREATE_SUBSCRIPTIONGROUP on one broker."""
        body = fastjson.dumps(config.to_obj())
        cmd = RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=body)
        await self._broker(broker_addr, cmd)

    async def all_subscription_groups(self, broker_addr: str) -> dict[str, SubscriptionGroupConfig]:
        """GET_ALL_SUBSCRIPTIONGROUP_CONFIG of one broker."""
        cmd = RemotingCommand.request(RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG)
        obj = fastjson.loads((await self._broker(broker_addr, cmd)).body or b"{}")
        table = obj.get("subscriptionGroupTable") or {}
        return {str(k): SubscriptionGroupConfig.from_obj(v, str(k)) for k, v in table.items()}

    async def delete_subscription_group(
        self, broker_addr: str, group: str, clean_offset: bool = False
    ) -> None:
        """DELETE_SUBSCRIPTIONGROUP on one broker (4.9 and 5.x spellings of the flag)."""
        ext = DeleteSubscriptionGroupRequestHeader(
            group_name=group, clean_offset=clean_offset
        ).to_ext()
        ext["removeOffset"] = ext["cleanOffset"]
        await self._broker(
            broker_addr, RemotingCommand.request(RequestCode.DELETE_SUBSCRIPTIONGROUP, ext)
        )

    async def all_consumer_offsets(self, broker_addr: str) -> dict[str, dict[int, int]]:
        """GET_ALL_CONSUMER_OFFSET of one broker: ``topic@group`` -> {queue: offset}."""
        cmd = RemotingCommand.request(RequestCode.GET_ALL_CONSUMER_OFFSET)
        obj = fastjson.loads((await self._broker(broker_addr, cmd)).body or b"{}")
        return {
            str(k): {int(q): int(o) for q, o in v.items()}
            for k, v in (obj.get("offsetTable") or {}).items()
        }

    async def update_consumer_offset(
        self, broker_addr: str, group: str, mq: MessageQueue, offset: int
    ) -> None:
        """UPDATE_CONSUMER_OFFSET (request/response) on one broker."""
        ext = UpdateConsumerOffsetRequestHeader(
            consumer_group=group, topic=mq.topic, queue_id=mq.queue_id, commit_offset=offset
        ).to_ext()
        await self._broker(
            broker_addr, RemotingCommand.request(RequestCode.UPDATE_CONSUMER_OFFSET, ext)
        )

    async def reset_offset_by_time(
        self, topic: str, group: str, timestamp: int, force: bool = True, cpp: bool = False
    ) -> dict[MessageQueue, int]:
        """INVOKE_BROKER_TO_RESET_OFFSET on every broker of the topic (``-1`` = the end);
        BrokerError(CONSUMER_NOT_ONLINE) when the group has no live consumer."""
        out: dict[MessageQueue, int] = {}
        for _name, addr in await self._route_brokers(topic):
            ext = ResetOffsetRequestHeader(
                topic=topic, group=group, timestamp=timestamp, is_force=force
            ).to_ext()
            cmd = RemotingCommand.request(RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, ext)
            if cpp:
                cmd.language = LanguageCode.CPP.name
            resp = await self._broker(addr, cmd)
            out.update({mq: int(v) for mq, v in _object_keyed(resp.body, "offsetTable").items()})
        return dict(sorted(out.items()))

    async def reset_offset_by_time_old(
        self, topic: str, group: str, timestamp: int, force: bool = True
    ) -> list[RollbackStats]:
        """``resetOffsetByTimestampOld``: compute each queue's offset and commit it with
        UPDATE_CONSUMER_OFFSET (works with no consumer online)."""
        out = []
        for _name, addr in await self._route_brokers(topic):
            try:
                stats = (await self.broker_consume_stats(addr, group, topic)).offset_table
            except BrokerError:
                stats = {}
            if not stats:
                stats = {
                    mq: OffsetWrapper(t.max_offset, t.min_offset, 0)
                    for mq, t in (await self.broker_topic_stats(addr, topic)).items()
                }
            for mq, wrapper in sorted(stats.items()):
                out.append(await self._rollback(addr, group, mq, wrapper, timestamp, force))
        return out

    async def _rollback(
        self, addr: str, group: str, mq: MessageQueue, w: OffsetWrapper, timestamp: int, force: bool
    ) -> RollbackStats:
        if timestamp == -1:
            target = await self.max_offset(addr, mq.topic, mq.queue_id)
        else:
            target = await self.search_offset(addr, mq.topic, mq.queue_id, timestamp)
        reset = target if force or target < w.consumer_offset else w.consumer_offset
        await self.update_consumer_offset(addr, group, mq, reset)
        return RollbackStats(mq, w.broker_offset, w.consumer_offset, target, reset)

    # -- queue offsets ---------------------------------------------------------------------

    async def max_offset(self, broker_addr: str, topic: str, queue_id: int) -> int:
        """GET_MAX_OFFSET."""
        ext = GetMaxOffsetRequestHeader(topic=topic, queue_id=queue_id).to_ext()
        resp = await self._broker(
            broker_addr, RemotingCommand.request(RequestCode.GET_MAX_OFFSET, ext)
        )
        return GetMaxOffsetResponseHeader.from_ext(resp.ext_fields).offset

    async def min_offset(self, broker_addr: str, topic: str, queue_id: int) -> int:
        """GET_MIN_OFFSET."""
        ext = GetMinOffsetRequestHeader(topic=topic, queue_id=queue_id).to_ext()
        resp = await self._broker(
            broker_addr, RemotingCommand.request(RequestCode.GET_MIN_OFFSET, ext)
        )
        return GetMinOffsetResponseHeader.from_ext(resp.ext_fields).offset

    async def search_offset(
        self, broker_addr: str, topic: str, queue_id: int, timestamp: int
    ) -> int:
        """SEARCH_OFFSET_BY_TIMESTAMP."""
        ext = SearchOffsetRequestHeader(
            topic=topic, queue_id=queue_id, timestamp=timestamp
        ).to_ext()
        cmd = RemotingCommand.request(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, ext)
        return SearchOffsetResponseHeader.from_ext(
            (await self._broker(broker_addr, cmd)).ext_fields
        ).offset

    async def earliest_msg_store_time(self, broker_addr: str, topic: str, queue_id: int) -> int:
        """GET_EARLIEST_MSG_STORETIME."""
        ext = GetEarliestMsgStoretimeRequestHeader(topic=topic, queue_id=queue_id).to_ext()
        cmd = RemotingCommand.request(RequestCode.GET_EARLIEST_MSG_STORETIME, ext)
        resp = await self._broker(broker_addr, cmd)
        return GetEarliestMsgStoretimeResponseHeader.from_ext(resp.ext_fields).timestamp

    # -- broker config ---------------------------------------------------------------------

    async def broker_config(self, broker_addr: str) -> dict[str, str]:
        """GET_BROKER_CONFIG: every broker and store setting."""
        cmd = RemotingCommand.request(RequestCode.GET_BROKER_CONFIG)
        return parse_properties(((await self._broker(broker_addr, cmd)).body or b"").decode())

    async def update_broker_config(self, broker_addr: str, values: dict[str, str]) -> None:
        """UPDATE_BROKER_CONFIG with a properties body."""
        body = dump_properties(values).encode()
        await self._broker(
            broker_addr, RemotingCommand.request(RequestCode.UPDATE_BROKER_CONFIG, body=body)
        )

    # -- orderly locks ---------------------------------------------------------------------

    async def lock_batch_mq(
        self, broker_addr: str, group: str, client_id: str, mqs: list[MessageQueue]
    ) -> list[MessageQueue]:
        """LOCK_BATCH_MQ: the queues now locked by ``client_id``."""
        body = fastjson.dumps(
            {"clientId": client_id, "consumerGroup": group, "mqSet": [mq.to_obj() for mq in mqs]}
        )
        resp = await self._broker(
            broker_addr, RemotingCommand.request(RequestCode.LOCK_BATCH_MQ, body=body)
        )
        obj = fastjson.loads(resp.body or b"{}")
        return sorted(MessageQueue.from_obj(m) for m in obj.get("lockOKMQSet") or [])

    async def unlock_batch_mq(
        self, broker_addr: str, group: str, client_id: str, mqs: list[MessageQueue]
    ) -> None:
        """UNLOCK_BATCH_MQ."""
        body = fastjson.dumps(
            {"clientId": client_id, "consumerGroup": group, "mqSet": [mq.to_obj() for mq in mqs]}
        )
        await self._broker(
            broker_addr, RemotingCommand.request(RequestCode.UNLOCK_BATCH_MQ, body=body)
        )

    # -- messages --------------------------------------------------------------------------

    async def view_message(self, msg_id: str) -> MessageRecord:
        """VIEW_MESSAGE_BY_ID at the broker and offset encoded in an offset msgId."""
        try:
            (host, port), offset = decode_offset_msg_id(msg_id)
        except ValueError as exc:
            raise ClientError(f"not an offset msgId: {msg_id!r}") from exc
        ext = ViewMessageRequestHeader(offset=offset).to_ext()
        resp = await self._broker(
            f"{host}:{port}", RemotingCommand.request(RequestCode.VIEW_MESSAGE_BY_ID, ext)
        )
        return decode_record(resp.body or b"")

    async def query_message(
        self,
        topic: str,
        key: str,
        max_num: int = 64,
        begin: int = 0,
        end: int = _LONG_MAX,
        unique: bool = False,
    ) -> list[MessageRecord]:
        """QUERY_MESSAGE on every broker of the topic; ``unique``: key is a UNIQ_KEY."""
        out: list[MessageRecord] = []
        for _name, addr in await self._route_brokers(topic):
            ext = QueryMessageRequestHeader(
                topic=topic, key=key, max_num=max_num, begin_timestamp=begin, end_timestamp=end
            ).to_ext()
            if unique:
                ext[UNIQUE_MSG_QUERY_FLAG] = "true"
            resp = await self.remoting.invoke(
                addr, RemotingCommand.request(RequestCode.QUERY_MESSAGE, ext), self.timeout
            )
            if resp.code == ResponseCode.QUERY_NOT_FOUND:
                continue
            out.extend(decode_records(_ok(resp).body or b""))
        keep = [
            r
            for r in out
            if not unique
            or r.properties_map().get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX) == key
        ]
        return sorted(keep, key=lambda r: (r.store_timestamp, r.physical_offset))

    async def pull(
        self,
        broker_addr: str,
        topic: str,
        queue_id: int,
        offset: int,
        max_nums: int = 32,
        group: str = TOOLS_CONSUMER_GROUP,
    ) -> PullResult:
        """One PULL_MESSAGE without suspending or committing, subscription ``*``."""
        ext = PullMessageRequestHeader(
            consumer_group=group,
            topic=topic,
            queue_id=queue_id,
            queue_offset=offset,
            max_msg_nums=max_nums,
            sys_flag=_PULL_SUBSCRIPTION_FLAG,
            commit_offset=0,
            suspend_timeout_millis=0,
            subscription="*",
            sub_version=0,
            expression_type="TAG",
        ).to_ext()
        resp = await self.remoting.invoke(
            broker_addr, RemotingCommand.request(RequestCode.PULL_MESSAGE, ext), self.timeout
        )
        if resp.code not in _PULL_CODES:
            raise BrokerError(resp.code, resp.remark)
        h = PullMessageResponseHeader.from_ext(resp.ext_fields)
        records = decode_records(resp.body or b"") if resp.code == ResponseCode.SUCCESS else []
        return PullResult(resp.code, h.next_begin_offset, h.min_offset, h.max_offset, records)

    async def send_message(
        self,
        topic: str,
        body: bytes,
        tags: str | None = None,
        keys: str | None = None,
        broker_name: str | None = None,
        queue_id: int | None = None,
        group: str | None = None,
        *,
        properties: Mapping[str, str] | None = None,
        flag: int = 0,
    ) -> SendResult:
        """SEND_MESSAGE_V2 to one queue of the topic (a chosen one, or the next of the route;
        TBW102's route for a topic the NameServer does not know, as Java's producer does);
        ``properties``: user properties sent along (``tags``/``keys`` win over theirs)."""
        mqs = await self._publish_queues(topic)
        if broker_name is not None:
            mqs = [
                m
                for m in mqs
                if m[0].broker_name == broker_name
                and (queue_id is None or m[0].queue_id == queue_id)
            ]
        if not mqs:
            raise ClientError(
                f"no writable queue of topic {topic} (broker {broker_name}, queue {queue_id})"
            )
        mq, addr = mqs[random.randrange(len(mqs))]
        self._uniq_seq += 1
        uniq = new_uniq_id(self._uniq_seq)
        props: dict[str, str | None] = {
            **(properties or {}),
            MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX: uniq,
            MessageConst.WAIT_STORE_MSG_OK: "true",
        }
        if tags is not None:
            props[MessageConst.TAGS] = tags
        if keys is not None:
            props[MessageConst.KEYS] = keys
        ext = SendMessageRequestHeaderV2(
            producer_group=group or str(int(time.time() * 1000)),
            topic=topic,
            default_topic=AUTO_CREATE_TOPIC_KEY_TOPIC,
            default_topic_queue_nums=4,
            queue_id=mq.queue_id,
            sys_flag=0,
            born_timestamp=int(time.time() * 1000),
            flag=flag,
            properties=encode_properties(props, trailing_separator=False),
            reconsume_times=0,
        ).to_ext()
        resp = await self.remoting.invoke(
            addr, RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, ext, body), self.timeout
        )
        status = _SEND_STATUS.get(resp.code)
        if status is None:
            raise BrokerError(resp.code, resp.remark)
        h = SendMessageResponseHeader.from_ext(resp.ext_fields)
        return SendResult(
            status, uniq, h.msg_id, MessageQueue(topic, mq.broker_name, h.queue_id), h.queue_offset
        )

    async def _publish_queues(self, topic: str) -> list[tuple[MessageQueue, str]]:
        try:
            route, cap = await self.topic_route(topic), None
        except BrokerError as exc:
            if exc.code != ResponseCode.TOPIC_NOT_EXIST:
                raise
            route, cap = await self.topic_route(AUTO_CREATE_TOPIC_KEY_TOPIC), 4
        masters = {b.broker_name: b.master_addr() for b in route.broker_datas}
        out: list[tuple[MessageQueue, str]] = []
        for q in route.queue_datas:
            addr = masters.get(q.broker_name)
            if addr is None or not q.perm & PERM_WRITE:
                continue
            count = q.write_queue_nums if cap is None else min(cap, q.read_queue_nums)
            out.extend((MessageQueue(topic, q.broker_name, i), addr) for i in range(count))
        return sorted(out)

    async def subscribe_queues(self, topic: str) -> list[tuple[MessageQueue, str]]:
        """Readable queues of a topic with the address to pull each from."""
        route = await self.topic_route(topic)
        masters = {
            b.broker_name: b.master_addr() or next(iter(b.broker_addrs.values()), None)
            for b in route.broker_datas
        }
        out: list[tuple[MessageQueue, str]] = []
        for q in route.queue_datas:
            addr = masters.get(q.broker_name)
            if addr is not None and q.perm & PERM_READ:
                out.extend(
                    (MessageQueue(topic, q.broker_name, i), addr) for i in range(q.read_queue_nums)
                )
        return sorted(out)

    # -- dead-letter queues ----------------------------------------------------------------

    async def dlq_messages(
        self, group: str, max_num: int = DEFAULT_DLQ_MAX, tool_group: str | None = DLQ_TOOLS_GROUP
    ) -> list[DlqMessage]:
        """Up to ``max_num`` messages of ``%DLQ%group``, from every queue on every broker of
        its route, oldest first per queue; each queue is read from ``tool_group``'s committed
        offset (what :meth:`resend_dlq` marked drained), or from its start when ``tool_group``
        is None or has committed nothing. Empty when the group has no DLQ."""
        topic = DLQ_GROUP_TOPIC_PREFIX + group
        try:
            queues = await self.subscribe_queues(topic)
        except BrokerError as exc:
            if exc.code == ResponseCode.TOPIC_NOT_EXIST:
                return []
            raise
        out: list[DlqMessage] = []
        for mq, addr in queues:
            if len(out) >= max_num:
                break
            start = await self._dlq_start(addr, mq, tool_group)
            out.extend(await self._pull_dlq(addr, mq, start, max_num - len(out)))
        return out

    async def _dlq_start(self, addr: str, mq: MessageQueue, tool_group: str | None) -> int:
        """Where listing starts: the group's committed offset, never below the queue's min."""
        low = await self.min_offset(addr, mq.topic, mq.queue_id)
        if tool_group is None:
            return low
        committed = await self.query_consumer_offset(addr, tool_group, mq)
        return low if committed is None else max(low, committed)

    async def _pull_dlq(
        self, addr: str, mq: MessageQueue, offset: int, limit: int
    ) -> list[DlqMessage]:
        out: list[DlqMessage] = []
        while len(out) < limit:
            result = await self.pull(addr, mq.topic, mq.queue_id, offset, min(32, limit - len(out)))
            out.extend(DlqMessage.from_record(r, mq.broker_name) for r in result.messages)
            if result.code != ResponseCode.SUCCESS or result.next_begin_offset <= offset:
                break  # found nothing more (or an offset problem): this queue is done
            offset = result.next_begin_offset
        return out[:limit]

    async def query_consumer_offset(
        self, broker_addr: str, group: str, mq: MessageQueue
    ) -> int | None:
        """QUERY_CONSUMER_OFFSET on one broker; None when the group committed nothing."""
        ext = QueryConsumerOffsetRequestHeader(
            consumer_group=group, topic=mq.topic, queue_id=mq.queue_id, set_zero_if_not_found=False
        ).to_ext()
        cmd = RemotingCommand.request(RequestCode.QUERY_CONSUMER_OFFSET, ext)
        resp = await self.remoting.invoke(broker_addr, cmd, self.timeout)
        if resp.code == ResponseCode.QUERY_NOT_FOUND:
            return None
        return QueryConsumerOffsetResponseHeader.from_ext(_ok(resp).ext_fields).offset

    async def resend_dlq(
        self,
        group: str,
        msg_ids: list[str] | None = None,
        *,
        drain: bool = False,
        tool_group: str = DLQ_TOOLS_GROUP,
        max_num: int = DEFAULT_DLQ_MAX,
    ) -> list[tuple[DlqMessage, SendResult]]:
        """Send messages of ``%DLQ%group`` (those :meth:`dlq_messages` lists: all of them, or
        the ``msg_ids`` UNIQ_KEYs) to their original topic as new messages: same body, flag,
        tags, keys and user properties, a new UNIQ_KEY, none of RocketMQ's bookkeeping
        properties. Each UNIQ_KEY is sent once. ``drain``: then commit ``tool_group``'s offset
        on each DLQ queue past the leading messages that were re-sent, so they are not listed
        again. ClientError, before anything is sent, for an id not listed or a message that
        does not say its original topic."""
        listed = await self.dlq_messages(group, max_num, tool_group)
        chosen = _choose_dlq(listed, msg_ids)
        results = []
        for m in chosen:
            assert m.origin_topic is not None  # checked by _choose_dlq
            props = m.user_properties()
            result = await self.send_message(
                m.origin_topic, m.body, m.tags, m.keys, properties=props, flag=m.flag
            )
            results.append((m, result))
        if drain:
            await self._commit_drained(listed, {m.msg_id for m in chosen}, tool_group)
        return results

    async def _commit_drained(
        self, listed: list[DlqMessage], sent: set[str], tool_group: str
    ) -> None:
        """Per queue, commit the offset of the first listed message not re-sent (or past the
        last listed one): a message skipped by ``msg_ids`` stays listable."""
        commits: dict[MessageQueue, int] = {}
        stopped: set[MessageQueue] = set()
        for m in listed:  # in queue offset order within each queue
            if m.mq in stopped:
                continue
            if m.msg_id in sent:
                commits[m.mq] = m.queue_offset + 1
            else:
                stopped.add(m.mq)
        addrs = dict(await self.subscribe_queues(next(iter(commits)).topic)) if commits else {}
        for mq, offset in commits.items():
            await self.update_consumer_offset(addrs[mq], tool_group, mq, offset)


def _choose_dlq(listed: list[DlqMessage], msg_ids: list[str] | None) -> list[DlqMessage]:
    """The listed messages to re-send: each UNIQ_KEY once, all or the wanted ones."""
    wanted = None if msg_ids is None else set(msg_ids)
    missing = set() if wanted is None else wanted - {m.msg_id for m in listed}
    if missing:
        raise ClientError(f"not in the dead-letter queue (or beyond max): {sorted(missing)}")
    chosen: dict[str, DlqMessage] = {}
    for m in listed:
        if wanted is None or m.msg_id in wanted:
            chosen.setdefault(m.msg_id, m)
    orphans = [m.msg_id for m in chosen.values() if not m.origin_topic]
    if orphans:
        raise ClientError(f"no RETRY_TOPIC property (original topic unknown): {orphans}")
    return list(chosen.values())


@dataclass(frozen=True, order=True, slots=True)
class MessageQueue:
    """A queue of a topic on a broker group; sorts like Java's (topic, broker, queue)."""

    topic: str
    broker_name: str
    queue_id: int

    def to_obj(self) -> dict[str, Any]:
        """The JSON object of ``MessageQueue``."""
        return {"brokerName": self.broker_name, "queueId": self.queue_id, "topic": self.topic}

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> MessageQueue:
        """Read a MessageQueue JSON object (or an object key)."""
        return cls(str(obj["topic"]), str(obj["brokerName"]), int(obj["queueId"]))


@dataclass(frozen=True, slots=True)
class TopicOffset:
    """One queue of TopicStatsTable."""

    min_offset: int
    max_offset: int
    last_update_timestamp: int


@dataclass(frozen=True, slots=True)
class OffsetWrapper:
    """One queue of ConsumeStats."""

    broker_offset: int
    consumer_offset: int
    last_timestamp: int = 0


@dataclass(slots=True)
class ConsumeStats:
    """A group's progress per queue, and its consume TPS."""

    offset_table: dict[MessageQueue, OffsetWrapper] = field(default_factory=dict)
    consume_tps: float = 0.0

    def diff_total(self) -> int:
        """Messages not consumed yet, over every queue (``computeTotalDiff``)."""
        return sum(w.broker_offset - w.consumer_offset for w in self.offset_table.values())


@dataclass(frozen=True, slots=True)
class RollbackStats:
    """One queue of a reset done with UPDATE_CONSUMER_OFFSET (``RollbackStats``)."""

    mq: MessageQueue
    broker_offset: int
    consumer_offset: int
    timestamp_offset: int
    rollback_offset: int


@dataclass(frozen=True, slots=True)
class PullResult:
    """A pull's response code, next offset, queue bounds and the messages found."""

    code: int
    next_begin_offset: int
    min_offset: int
    max_offset: int
    messages: list[MessageRecord]


@dataclass(frozen=True, slots=True)
class SendResult:
    """Where a sent message went (``SendResult``)."""

    status: str
    msg_id: str
    offset_msg_id: str
    message_queue: MessageQueue
    queue_offset: int


@dataclass(frozen=True, slots=True)
class DlqMessage:
    """A message of a dead-letter queue ``%DLQ%group``, as ``dlqList`` shows it."""

    msg_id: str  # UNIQ_KEY, else the offset msgId
    origin_topic: str | None  # RETRY_TOPIC: the topic the message was first sent to
    mq: MessageQueue  # where it is in the DLQ
    queue_offset: int
    tags: str | None
    keys: str | None
    reconsume_times: int
    store_timestamp: int
    flag: int
    body: bytes  # inflated when stored compressed
    properties: dict[str, str] = field(hash=False)

    @classmethod
    def from_record(cls, record: MessageRecord, broker_name: str) -> DlqMessage:
        """Read a pulled DLQ record."""
        props = record.properties_map()
        body = record.body
        if record.sys_flag & SysFlag.COMPRESSED:
            body = zlib.decompress(body)
        return cls(
            msg_id=props.get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
            or create_offset_msg_id(record.store_host, record.physical_offset),
            origin_topic=props.get(MessageConst.RETRY_TOPIC),
            mq=MessageQueue(record.topic, broker_name, record.queue_id),
            queue_offset=record.queue_offset,
            tags=props.get(MessageConst.TAGS),
            keys=props.get(MessageConst.KEYS),
            reconsume_times=record.reconsume_times,
            store_timestamp=record.store_timestamp,
            flag=record.flag,
            body=body,
            properties=props,
        )

    def user_properties(self) -> dict[str, str]:
        """The properties a re-send keeps, without TAGS and KEYS (sent as fields)."""
        return {
            k: v
            for k, v in self.properties.items()
            if k not in _RESEND_DROPPED_PROPERTIES
            and k not in (MessageConst.TAGS, MessageConst.KEYS)
        }

    def body_preview(self, chars: int = DLQ_BODY_PREVIEW_CHARS) -> str:
        """The body as text on one line, cut to ``chars`` characters."""
        text = self.body.decode("utf-8", "replace")
        shown = "".join(c if c.isprintable() else "." for c in text[:chars])
        return shown + ("..." if len(text) > chars else "")


def _object_keyed(body: bytes | None, name: str) -> dict[MessageQueue, Any]:
    """A MessageQueue-keyed map of a fastjson body (object keys, or quoted JSON keys)."""
    obj = fastjson.loads(body or b"{}")
    out = {}
    for key, value in (obj.get(name) or {}).items():
        mq_obj = key.as_dict() if isinstance(key, ObjectKey) else fastjson.loads(key)
        out[MessageQueue.from_obj(mq_obj)] = value
    return out


def decode_records(data: bytes) -> list[MessageRecord]:
    """Concatenated stored records (a pull or query body) -> decoded messages."""
    out, pos = [], 0
    while pos < len(data):
        record = decode_record(data, pos)
        out.append(record)
        pos += record.total_size
    return out


def new_uniq_id(seq: int) -> str:
    """A UNIQ_KEY like ``MessageClientIDSetter``'s: ip, pid, random, ms time, ``seq`` (hex)."""
    head = socket.inet_aton(_local_ipv4())
    head += struct.pack(">HI", os.getpid() & 0xFFFF, random.getrandbits(32))
    tail = struct.pack(">IH", int(time.time() * 1000) & 0xFFFFFFFF, seq & 0xFFFF)
    return (head + tail).hex().upper()


def _local_ipv4() -> str:
    """This host's outbound IPv4 address (a UDP connect sends nothing), else loopback."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"
