"""NameServer request processors (RocketMQ ``DefaultRequestProcessor`` and
``ClientRequestProcessor``): one small function per request code."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from rocketq.common.config import dump_properties, parse_properties
from rocketq.common.errors import BrokerError, ProtocolError
from rocketq.namesrv.kv_config import NAMESPACE_ORDER_TOPIC_CONFIG
from rocketq.remoting.body import (
    DataVersion,
    KVTable,
    RegisterBrokerBody,
    TopicConfigSerializeWrapper,
    TopicList,
)
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection, ProcessorTable
from rocketq.remoting.headers import (
    AddWritePermOfBrokerRequestHeader,
    AddWritePermOfBrokerResponseHeader,
    BrokerHeartbeatRequestHeader,
    DeleteKVConfigRequestHeader,
    DeleteTopicFromNamesrvRequestHeader,
    GetKVConfigRequestHeader,
    GetKVConfigResponseHeader,
    GetKVListByNamespaceRequestHeader,
    GetRouteInfoRequestHeader,
    GetTopicsByClusterRequestHeader,
    PutKVConfigRequestHeader,
    QueryDataVersionRequestHeader,
    QueryDataVersionResponseHeader,
    RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader,
    UnRegisterBrokerRequestHeader,
    WipeWritePermOfBrokerRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
)

if TYPE_CHECKING:
    from rocketq.namesrv.controller import NamesrvController

__all__ = ["build_processor_table"]

# MQVersion.Version.V3_0_11: brokers from this version on send a RegisterBrokerBody.
_VERSION_REGISTER_BODY = 37
# MQVersion.Version.V4_9_4: from here on routes come as standard JSON (quoted keys).
_VERSION_STANDARD_JSON = 401


class NamesrvProcessor:
    """Holds the controller and answers each request code."""

    def __init__(self, controller: NamesrvController) -> None:
        self.ctl = controller
        self.routes = controller.route_info
        self.kv = controller.kv_config

    # -- brokers ---------------------------------------------------------------------------

    def register_broker(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        header = RegisterBrokerRequestHeader.from_ext(req.ext_fields)
        body = req.body or b""
        if header.body_crc32 != 0 and (zlib.crc32(body) & 0x7FFFFFFF) != header.body_crc32:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, "crc32 not match")
        reg_body = self._decode_register_body(req, header.compressed)
        result = self.routes.register_broker(
            header.cluster_name,
            header.broker_addr,
            header.broker_name,
            header.broker_id,
            header.ha_server_addr,
            reg_body.topic_config_wrapper,
            reg_body.filter_server_list,
            timeout_ms=header.heartbeat_timeout_millis,
            connection=conn,
        )
        response = req.make_response(
            ext_fields=RegisterBrokerResponseHeader(
                ha_server_addr=result.ha_server_addr, master_addr=result.master_addr
            ).to_ext()
        )
        if self.ctl.config.return_order_topic_config_to_broker:
            order = self.kv.namespace(NAMESPACE_ORDER_TOPIC_CONFIG)
            if order:
                response.body = KVTable(order).encode()
        return response

    @staticmethod
    def _decode_register_body(req: RemotingCommand, compressed: bool) -> RegisterBrokerBody:
        try:
            if not req.body:
                return RegisterBrokerBody()
            if req.version < _VERSION_REGISTER_BODY:
                return RegisterBrokerBody(TopicConfigSerializeWrapper.decode(req.body))
            if compressed:
                return RegisterBrokerBody.decode_compressed(req.body)
            return RegisterBrokerBody.decode(req.body)
        except ProtocolError as exc:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, f"bad register body: {exc}") from exc

    def unregister_broker(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        h = UnRegisterBrokerRequestHeader.from_ext(req.ext_fields)
        self.routes.unregister_broker(h.cluster_name, h.broker_addr, h.broker_name, h.broker_id)
        return req.make_response()

    def broker_heartbeat(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        h = BrokerHeartbeatRequestHeader.from_ext(req.ext_fields)
        self.routes.touch(h.broker_addr)
        return req.make_response()

    def query_data_version(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        h = QueryDataVersionRequestHeader.from_ext(req.ext_fields)
        try:
            version = DataVersion.decode(req.body)
        except ProtocolError as exc:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, f"bad DataVersion body: {exc}") from exc
        changed = self.routes.is_topic_config_changed(h.broker_addr, version)
        if not changed:
            self.routes.touch(h.broker_addr)
        current = self.routes.query_data_version(h.broker_addr)
        return req.make_response(
            ext_fields=QueryDataVersionResponseHeader(changed=changed).to_ext(),
            body=current.encode() if current is not None else None,
        )

    # -- routes ----------------------------------------------------------------------------

    def get_route_info(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        topic = req.ext("topic")
        h = GetRouteInfoRequestHeader.from_ext(req.ext_fields) if topic is not None else None
        route = self.routes.pickup_topic_route_data(topic) if topic is not None else None
        if route is None or h is None:
            # Java's text first (tools show it), then what to do about it.
            return req.make_response(
                ResponseCode.TOPIC_NOT_EXIST,
                f"No topic route info in name server for the topic: {topic}\n"
                "Create the topic on a broker (mqadmin updateTopic -t TOPIC -c CLUSTER) "
                "or enable autoCreateTopicEnable on the broker.",
            )
        if self.ctl.config.order_message_enable:
            route.order_topic_conf = self.kv.get(NAMESPACE_ORDER_TOPIC_CONFIG, h.topic)
        # Java's NameServer (ClientRequestProcessor): standard JSON with quoted broker-id keys
        # for clients >= 4.9.4 (or that ask for it), fastjson's bare keys for older ones
        # (the C++ client, ali-ons, Go): some of them split the raw key text themselves.
        if req.version >= _VERSION_STANDARD_JSON or h.accept_standard_json_only:
            return req.make_response(body=route.encode())
        return req.make_response(body=route.encode_java())

    def get_cluster_info(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        # Java writes this body with bare broker-id keys for every client version.
        return req.make_response(body=self.routes.cluster_info().encode_java())

    def get_all_topic_list(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        if not self.ctl.config.enable_all_topic_list:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, "disable")
        return req.make_response(body=self.routes.all_topics().encode())

    def get_topics_by_cluster(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        if not self.ctl.config.enable_topic_list:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, "disable")
        h = GetTopicsByClusterRequestHeader.from_ext(req.ext_fields)
        return req.make_response(body=self.routes.topics_by_cluster(h.cluster).encode())

    def get_system_topics(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        return req.make_response(body=self.routes.system_topics().encode())

    def _unit_list(self, req: RemotingCommand, **flags: bool) -> RemotingCommand:
        if not self.ctl.config.enable_topic_list:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, "disable")
        topics: TopicList = self.routes.unit_topics(**flags)
        return req.make_response(body=topics.encode())

    def delete_topic(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        h = DeleteTopicFromNamesrvRequestHeader.from_ext(req.ext_fields)
        self.routes.delete_topic(h.topic, h.cluster_name)
        return req.make_response()

    def wipe_write_perm(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        h = WipeWritePermOfBrokerRequestHeader.from_ext(req.ext_fields)
        count = self.routes.set_write_perm(h.broker_name, writable=False)
        return req.make_response(
            ext_fields=WipeWritePermOfBrokerResponseHeader(wipe_topic_count=count).to_ext()
        )

    def add_write_perm(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        h = AddWritePermOfBrokerRequestHeader.from_ext(req.ext_fields)
        count = self.routes.set_write_perm(h.broker_name, writable=True)
        return req.make_response(
            ext_fields=AddWritePermOfBrokerResponseHeader(add_topic_count=count).to_ext()
        )

    # -- KV config -------------------------------------------------------------------------

    def put_kv(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        h = PutKVConfigRequestHeader.from_ext(req.ext_fields)
        self.kv.put(h.namespace, h.key, h.value)
        return req.make_response()

    def get_kv(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        h = GetKVConfigRequestHeader.from_ext(req.ext_fields)
        value = self.kv.get(h.namespace, h.key)
        if value is None:
            return req.make_response(
                ResponseCode.QUERY_NOT_FOUND,
                f"No config item, Namespace: {h.namespace} Key: {h.key}",
            )
        return req.make_response(ext_fields=GetKVConfigResponseHeader(value=value).to_ext())

    def delete_kv(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        h = DeleteKVConfigRequestHeader.from_ext(req.ext_fields)
        self.kv.delete(h.namespace, h.key)
        return req.make_response()

    def get_kv_list(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        h = GetKVListByNamespaceRequestHeader.from_ext(req.ext_fields)
        table = self.kv.namespace(h.namespace)
        if not table:
            return req.make_response(
                ResponseCode.QUERY_NOT_FOUND, f"No config item, Namespace: {h.namespace}"
            )
        return req.make_response(body=KVTable(table).encode())

    # -- NameServer config -----------------------------------------------------------------

    def get_config(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        text = dump_properties(self.ctl.config.to_properties())
        return req.make_response(body=text.encode())

    def update_config(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        try:
            values = parse_properties((req.body or b"").decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, "string2Properties error") from exc
        if self.ctl.config.black_list() & values.keys():
            raise BrokerError(ResponseCode.NO_PERMISSION, "Can not update config in black list.")
        try:
            unknown = self.ctl.config.update(values)
        except ValueError as exc:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, str(exc)) from exc
        remark = f"unknown keys ignored: {', '.join(unknown)}" if unknown else None
        return req.make_response(remark=remark)


def build_processor_table(controller: NamesrvController) -> ProcessorTable:
    """Every request code the NameServer answers."""
    p = NamesrvProcessor(controller)
    table = ProcessorTable()
    rc = RequestCode
    for code, fn in (
        (rc.REGISTER_BROKER, p.register_broker),
        (rc.UNREGISTER_BROKER, p.unregister_broker),
        (rc.BROKER_HEARTBEAT, p.broker_heartbeat),
        (rc.QUERY_DATA_VERSION, p.query_data_version),
        (rc.GET_ROUTEINFO_BY_TOPIC, p.get_route_info),
        (rc.GET_BROKER_CLUSTER_INFO, p.get_cluster_info),
        (rc.GET_ALL_TOPIC_LIST_FROM_NAMESERVER, p.get_all_topic_list),
        (rc.GET_TOPICS_BY_CLUSTER, p.get_topics_by_cluster),
        (rc.GET_SYSTEM_TOPIC_LIST_FROM_NS, p.get_system_topics),
        (rc.DELETE_TOPIC_IN_NAMESRV, p.delete_topic),
        (rc.WIPE_WRITE_PERM_OF_BROKER, p.wipe_write_perm),
        (rc.ADD_WRITE_PERM_OF_BROKER, p.add_write_perm),
        (rc.PUT_KV_CONFIG, p.put_kv),
        (rc.GET_KV_CONFIG, p.get_kv),
        (rc.DELETE_KV_CONFIG, p.delete_kv),
        (rc.GET_KVLIST_BY_NAMESPACE, p.get_kv_list),
        (rc.GET_NAMESRV_CONFIG, p.get_config),
        (rc.UPDATE_NAMESRV_CONFIG, p.update_config),
    ):
        table.register(code, fn)
    table.register(rc.GET_UNIT_TOPIC_LIST, lambda c, r: p._unit_list(r, unit=True, unit_sub=False))
    table.register(
        rc.GET_HAS_UNIT_SUB_TOPIC_LIST, lambda c, r: p._unit_list(r, unit=False, unit_sub=True)
    )
    table.register(
        rc.GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST,
        lambda c, r: p._unit_list(r, unit=False, unit_sub=True, not_unit=True),
    )
    return table
