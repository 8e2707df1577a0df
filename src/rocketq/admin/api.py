"""The admin API behind ``rocketq admin`` and the console (RocketMQ ``DefaultMQAdminExt``).

Built on the client's :class:`~rocketq.client.api.MQClientAPI`, as ``MQAdminExt`` sits on
``MQClientAPIImpl``: every request goes through it, with its NameServer fail-over. Several
NameServers may be given (``"a:9876;b:9876"``): reads go to the one that answered last (the
next on a transport error), writes of KV config, permissions and settings go to all of them,
as mqadmin does. Queues, messages, send and pull results are the client's types.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rocketq.admin.consumers import ConsumersMixin
from rocketq.admin.controller import ControllerAdminMixin
from rocketq.admin.dlq import DEFAULT_DLQ_MAX as DEFAULT_DLQ_MAX
from rocketq.admin.dlq import DLQ_TOOLS_GROUP as DLQ_TOOLS_GROUP
from rocketq.admin.dlq import DlqMixin
from rocketq.admin.maintenance import MaintenanceMixin
from rocketq.admin.types import (
    ConsumeStats,
    DlqMessage,
    OffsetWrapper,
    RollbackStats,
    TopicOffset,
)
from rocketq.client.api import MQClientAPI, OffsetNotFoundError
from rocketq.client.message import MessageQueue, PullResult, SendResult
from rocketq.common.config import dump_properties, parse_properties
from rocketq.common.errors import BrokerError, ClientError
from rocketq.common.ids import UniqIdGenerator
from rocketq.common.topic import TopicConfig, retry_topic
from rocketq.remoting import fastjson
from rocketq.remoting.body import (
    ClusterInfo,
    HARuntimeInfo,
    KVTable,
    SubscriptionGroupConfig,
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
    GetKVConfigRequestHeader,
    GetKVConfigResponseHeader,
    GetKVListByNamespaceRequestHeader,
    GetProducerConnectionListRequestHeader,
    GetTopicStatsInfoRequestHeader,
    PutKVConfigRequestHeader,
    ResetOffsetRequestHeader,
    WipeWritePermOfBrokerRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
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
    "parse_namesrv_addrs",
]

# mqadmin's default RPC timeout.
DEFAULT_ADMIN_TIMEOUT = 3.0
# MixAll: the retry topic of a group.


def parse_namesrv_addrs(text: str) -> list[str]:
    """``"a:9876;b:9876"`` (RocketMQ's separator; commas accepted too) -> list."""
    addrs = [a.strip() for a in text.replace(",", ";").split(";") if a.strip()]
    if not addrs:
        raise ClientError("no NameServer address given (use -n host:port or NAMESRV_ADDR)")
    return addrs


class AdminClient(DlqMixin, ConsumersMixin, MaintenanceMixin, ControllerAdminMixin):
    """Async admin operations; use as ``async with AdminClient("127.0.0.1:9876") as admin``.

    Message operations (view, query, pull, send) come from
    :class:`~rocketq.admin.messages.MessagesMixin`, dead-letter queues from
    :class:`~rocketq.admin.dlq.DlqMixin`, consumer inspection from
    :class:`~rocketq.admin.consumers.ConsumersMixin`, broker maintenance from
    :class:`~rocketq.admin.maintenance.MaintenanceMixin`."""

    def __init__(self, namesrv_addr: str | list[str], timeout: float = DEFAULT_ADMIN_TIMEOUT):
        if isinstance(namesrv_addr, str):
            namesrv_addr = parse_namesrv_addrs(namesrv_addr)
        self.namesrv_addrs = list(namesrv_addr)
        self.timeout = timeout
        self.remoting = RemotingClient()
        self.api = MQClientAPI(self.remoting, self.namesrv_addrs, timeout)
        self.uniq_ids = UniqIdGenerator()

    async def __aenter__(self) -> AdminClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection."""
        await self.remoting.aclose()

    # -- routes ----------------------------------------------------------------------------

    async def cluster_info(self) -> ClusterInfo:
        """Clusters, broker groups and addresses."""
        cmd = RemotingCommand.request(RequestCode.GET_BROKER_CLUSTER_INFO)
        return ClusterInfo.decode((await self.api.request_namesrv(cmd)).body)

    async def topic_list(self) -> list[str]:
        """Every topic the NameServer knows."""
        cmd = RemotingCommand.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
        return TopicList.decode((await self.api.request_namesrv(cmd)).body).topic_list

    async def topic_route(self, topic: str) -> TopicRouteData:
        """The route of a topic; BrokerError(TOPIC_NOT_EXIST) when there is none."""
        return await self.api.get_topic_route(topic)

    async def set_write_perm(self, broker_name: str, writable: bool) -> dict[str, int]:
        """Wipe or add write permission of a broker on every NameServer: addr -> topics."""
        if writable:
            ext = AddWritePermOfBrokerRequestHeader(broker_name=broker_name).to_ext()
            resps = await self.api.request_each_namesrv(RequestCode.ADD_WRITE_PERM_OF_BROKER, ext)
            return {
                addr: AddWritePermOfBrokerResponseHeader.from_ext(r.ext_fields).add_topic_count
                for addr, r in resps.items()
            }
        ext = WipeWritePermOfBrokerRequestHeader(broker_name=broker_name).to_ext()
        resps = await self.api.request_each_namesrv(RequestCode.WIPE_WRITE_PERM_OF_BROKER, ext)
        return {
            addr: WipeWritePermOfBrokerResponseHeader.from_ext(r.ext_fields).wipe_topic_count
            for addr, r in resps.items()
        }

    # -- NameServer config -----------------------------------------------------------------

    async def namesrv_config(self) -> dict[str, dict[str, str]]:
        """Each NameServer's settings: addr -> {key: value}."""
        resps = await self.api.request_each_namesrv(RequestCode.GET_NAMESRV_CONFIG)
        return {addr: parse_properties((r.body or b"").decode()) for addr, r in resps.items()}

    async def update_namesrv_config(self, values: dict[str, str]) -> None:
        """Change settings on every NameServer."""
        body = dump_properties(values).encode()
        await self.api.request_each_namesrv(RequestCode.UPDATE_NAMESRV_CONFIG, body=body)

    # -- KV config -------------------------------------------------------------------------

    async def put_kv_config(self, namespace: str, key: str, value: str) -> None:
        """Create or update a KV item on every NameServer."""
        ext = PutKVConfigRequestHeader(namespace=namespace, key=key, value=value).to_ext()
        await self.api.request_each_namesrv(RequestCode.PUT_KV_CONFIG, ext)

    async def get_kv_config(self, namespace: str, key: str) -> str | None:
        """One KV item, or None when absent."""
        ext = GetKVConfigRequestHeader(namespace=namespace, key=key).to_ext()
        resp = await self.api.request_namesrv(
            RemotingCommand.request(RequestCode.GET_KV_CONFIG, ext),
            ResponseCode.SUCCESS,
            ResponseCode.QUERY_NOT_FOUND,
        )
        if resp.code == ResponseCode.QUERY_NOT_FOUND:
            return None
        return GetKVConfigResponseHeader.from_ext(resp.ext_fields).value

    async def delete_kv_config(self, namespace: str, key: str) -> None:
        """Delete a KV item on every NameServer."""
        ext = DeleteKVConfigRequestHeader(namespace=namespace, key=key).to_ext()
        await self.api.request_each_namesrv(RequestCode.DELETE_KV_CONFIG, ext)

    async def kv_list(self, namespace: str) -> dict[str, str]:
        """Every item of a namespace (empty when none)."""
        ext = GetKVListByNamespaceRequestHeader(namespace=namespace).to_ext()
        resp = await self.api.request_namesrv(
            RemotingCommand.request(RequestCode.GET_KVLIST_BY_NAMESPACE, ext),
            ResponseCode.SUCCESS,
            ResponseCode.QUERY_NOT_FOUND,
        )
        if resp.code == ResponseCode.QUERY_NOT_FOUND:
            return {}
        return KVTable.decode(resp.body).table

    # -- brokers ---------------------------------------------------------------------------

    async def broker_runtime_info(self, broker_addr: str) -> dict[str, str]:
        """GET_BROKER_RUNTIME_INFO of one broker (version, TPS, disk...)."""
        cmd = RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO)
        return KVTable.decode((await self.api.request(broker_addr, cmd)).body).table

    async def ha_status(self, broker_addr: str) -> HARuntimeInfo:
        """GET_BROKER_HA_STATUS: a master's slaves or a slave's link (``getBrokerHAStatus``)."""
        cmd = RemotingCommand.request(RequestCode.GET_BROKER_HA_STATUS)
        return HARuntimeInfo.decode((await self.api.request(broker_addr, cmd)).body)

    # -- broker admin ----------------------------------------------------------------------

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
        await self.api.request(
            broker_addr, RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_TOPIC, ext)
        )

    async def delete_topic_in_broker(self, broker_addr: str, topic: str) -> None:
        """DELETE_TOPIC_IN_BROKER on one broker."""
        ext = DeleteTopicRequestHeader(topic=topic).to_ext()
        await self.api.request(
            broker_addr, RemotingCommand.request(RequestCode.DELETE_TOPIC_IN_BROKER, ext)
        )

    async def delete_topic_in_namesrv(self, topic: str, cluster: str | None = None) -> None:
        """DELETE_TOPIC_IN_NAMESRV on every NameServer."""
        ext = {"topic": topic} if cluster is None else {"topic": topic, "clusterName": cluster}
        await self.api.request_each_namesrv(RequestCode.DELETE_TOPIC_IN_NAMESRV, ext)

    async def all_topic_config(self, broker_addr: str) -> TopicConfigSerializeWrapper:
        """GET_ALL_TOPIC_CONFIG of one broker."""
        cmd = RemotingCommand.request(RequestCode.GET_ALL_TOPIC_CONFIG)
        return TopicConfigSerializeWrapper.decode((await self.api.request(broker_addr, cmd)).body)

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
        resp = await self.api.request(
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
        for _name, addr in await self._route_brokers(retry_topic(group)):
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
        resp = await self.api.request(
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
            else [a for _n, a in await self._route_brokers(retry_topic(group))]
        )
        ext = GetConsumerConnectionListRequestHeader(consumer_group=group).to_ext()
        last: BrokerError | None = None
        for addr in addrs:
            cmd = RemotingCommand.request(RequestCode.GET_CONSUMER_CONNECTION_LIST, dict(ext))
            try:
                result: dict[str, Any] = fastjson.loads(
                    (await self.api.request(addr, cmd)).body or b"{}"
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
        obj = fastjson.loads((await self.api.request(broker_addr, cmd)).body or b"{}")
        return list(obj.get("connectionSet") or [])

    # -- subscription groups and offsets ---------------------------------------------------

    async def create_subscription_group(
        self, broker_addr: str, config: SubscriptionGroupConfig
    ) -> None:
        """UPDATE_AND_CREATE_SUBSCRIPTIONGROUP on one broker."""
        body = fastjson.dumps(config.to_obj())
        cmd = RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=body)
        await self.api.request(broker_addr, cmd)

    async def all_subscription_groups(self, broker_addr: str) -> dict[str, SubscriptionGroupConfig]:
        """GET_ALL_SUBSCRIPTIONGROUP_CONFIG of one broker."""
        cmd = RemotingCommand.request(RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG)
        obj = fastjson.loads((await self.api.request(broker_addr, cmd)).body or b"{}")
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
        await self.api.request(
            broker_addr, RemotingCommand.request(RequestCode.DELETE_SUBSCRIPTIONGROUP, ext)
        )

    async def all_consumer_offsets(self, broker_addr: str) -> dict[str, dict[int, int]]:
        """GET_ALL_CONSUMER_OFFSET of one broker: ``topic@group`` -> {queue: offset}."""
        cmd = RemotingCommand.request(RequestCode.GET_ALL_CONSUMER_OFFSET)
        obj = fastjson.loads((await self.api.request(broker_addr, cmd)).body or b"{}")
        return {
            str(k): {int(q): int(o) for q, o in v.items()}
            for k, v in (obj.get("offsetTable") or {}).items()
        }

    async def query_consumer_offset(
        self, broker_addr: str, group: str, mq: MessageQueue
    ) -> int | None:
        """QUERY_CONSUMER_OFFSET on one broker; None when the group committed nothing."""
        try:
            return await self.api.query_consumer_offset(
                broker_addr, group, mq, set_zero_if_not_found=False
            )
        except OffsetNotFoundError:
            return None

    async def update_consumer_offset(
        self, broker_addr: str, group: str, mq: MessageQueue, offset: int
    ) -> None:
        """UPDATE_CONSUMER_OFFSET (request/response) on one broker."""
        await self.api.update_consumer_offset(broker_addr, group, mq, offset, oneway=False)

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
            resp = await self.api.request(addr, cmd)
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
        return await self.api.get_max_offset(broker_addr, _queue(topic, queue_id))

    async def min_offset(self, broker_addr: str, topic: str, queue_id: int) -> int:
        """GET_MIN_OFFSET."""
        return await self.api.get_min_offset(broker_addr, _queue(topic, queue_id))

    async def search_offset(
        self, broker_addr: str, topic: str, queue_id: int, timestamp: int
    ) -> int:
        """SEARCH_OFFSET_BY_TIMESTAMP."""
        return await self.api.search_offset(broker_addr, _queue(topic, queue_id), timestamp)

    async def earliest_msg_store_time(self, broker_addr: str, topic: str, queue_id: int) -> int:
        """GET_EARLIEST_MSG_STORETIME."""
        return await self.api.get_earliest_msg_storetime(broker_addr, _queue(topic, queue_id))

    # -- broker config ---------------------------------------------------------------------

    async def broker_config(self, broker_addr: str) -> dict[str, str]:
        """GET_BROKER_CONFIG: every broker and store setting."""
        cmd = RemotingCommand.request(RequestCode.GET_BROKER_CONFIG)
        return parse_properties(((await self.api.request(broker_addr, cmd)).body or b"").decode())

    async def update_broker_config(self, broker_addr: str, values: dict[str, str]) -> None:
        """UPDATE_BROKER_CONFIG with a properties body."""
        body = dump_properties(values).encode()
        await self.api.request(
            broker_addr, RemotingCommand.request(RequestCode.UPDATE_BROKER_CONFIG, body=body)
        )

    # -- orderly locks ---------------------------------------------------------------------

    async def lock_batch_mq(
        self, broker_addr: str, group: str, client_id: str, mqs: list[MessageQueue]
    ) -> list[MessageQueue]:
        """LOCK_BATCH_MQ: the queues now locked by ``client_id``, sorted."""
        return sorted(await self.api.lock_batch_mq(broker_addr, group, client_id, mqs))

    async def unlock_batch_mq(
        self, broker_addr: str, group: str, client_id: str, mqs: list[MessageQueue]
    ) -> None:
        """UNLOCK_BATCH_MQ."""
        await self.api.unlock_batch_mq(broker_addr, group, client_id, mqs)


def _queue(topic: str, queue_id: int) -> MessageQueue:
    """A queue for requests that name only topic and queue id (the broker is the address)."""
    return MessageQueue(topic, "", queue_id)


def _object_keyed(body: bytes | None, name: str) -> dict[MessageQueue, Any]:
    """A MessageQueue-keyed map of a fastjson body (object keys, or quoted JSON keys)."""
    obj = fastjson.loads(body or b"{}")
    out = {}
    for key, value in (obj.get(name) or {}).items():
        mq_obj = key.as_dict() if isinstance(key, ObjectKey) else fastjson.loads(key)
        out[MessageQueue.from_obj(mq_obj)] = value
    return out
