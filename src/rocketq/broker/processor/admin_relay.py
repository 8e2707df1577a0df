"""Admin requests the broker relays to a consumer over the consumer's own connection
(RocketMQ ``AdminBrokerProcessor#callConsumer``, ``Broker2Client#getConsumeStatus``):
GET_CONSUMER_RUNNING_INFO (307), CONSUME_MESSAGE_DIRECTLY (309) and
INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223).

The admin tool cannot reach a client (clients listen on nothing); the broker holds each
client's connection and asks on it, then hands the client's answer back unchanged. A gRPC
client's "connection" is its ``GrpcClientChannel``, whose ``invoke`` asks over the client's
Telemetry stream and answers as the Java proxy does (``rocketq.broker.grpc.relay``); it
cannot report offsets, so GET_CONSUMER_STATUS_FROM_CLIENT skips it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from rocketq.common.errors import BrokerError, RemotingError, RemotingTimeoutError
from rocketq.common.record import decode_offset_msg_id
from rocketq.remoting import fastjson
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.fastjson import ObjectKey
from rocketq.remoting.headers.broker import (
    ConsumeMessageDirectlyResultRequestHeader,
    GetConsumerRunningInfoRequestHeader,
    GetConsumerStatusRequestHeader,
)

if TYPE_CHECKING:
    from rocketq.broker.client_manager import ClientChannelInfo, ConsumerManager
    from rocketq.broker.config import BrokerConfig
    from rocketq.store.message_store import DefaultMessageStore

__all__ = ["AdminRelayProcessor"]

log = logging.getLogger("rocketq.broker")

# Broker2Client#callClient: how long the broker waits for the client's answer.
CALL_CLIENT_TIMEOUT_S = 10.0
# Broker2Client#getConsumeStatus waits less per client: it asks every member in turn.
CONSUMER_STATUS_TIMEOUT_S = 5.0
# MQVersion.Version.V3_1_8_SNAPSHOT.ordinal(): older clients cannot answer 307/309.
_VERSION_CALL_CONSUMER = 62
# MQVersion.Version.V3_0_7_SNAPSHOT.ordinal(): older clients cannot report their status.
_VERSION_CONSUMER_STATUS = 28


@runtime_checkable
class ClientCall(Protocol):
    """What the broker asks a client on: a remoting ``Connection``, or a gRPC client's
    channel (``GrpcClientChannel``), which the broker package imports only when it serves
    gRPC."""

    async def invoke(self, cmd: RemotingCommand, timeout: float) -> RemotingCommand:
        """Send a request to the client; its response within ``timeout`` seconds."""
        ...


class AdminRelayProcessor:
    """Ask a consumer client something on the broker's connection to it."""

    def __init__(
        self,
        *,
        config: BrokerConfig,
        store: DefaultMessageStore,
        consumer_manager: ConsumerManager,
        call_timeout: float = CALL_CLIENT_TIMEOUT_S,
    ) -> None:
        self.config = config
        self.store = store
        self.consumer_manager = consumer_manager
        self.call_timeout = call_timeout

    def _find_channel(self, group: str, client_id: str | None) -> ClientChannelInfo | None:
        """``ConsumerManager#findChannel``: the member of ``group`` with ``client_id``."""
        info = self.consumer_manager.groups.get(group)
        if info is None:
            return None
        return next((c for c in info.channels.values() if c.client_id == client_id), None)

    async def _call_consumer(
        self, code: int, req: RemotingCommand, group: str, client_id: str | None
    ) -> RemotingCommand:
        """``callConsumer``: the same extFields and body under ``code`` to the client; its
        response (code, remark, body) is the answer."""
        member = self._find_channel(group, client_id)
        if member is None:
            raise BrokerError(
                ResponseCode.SYSTEM_ERROR, f"The Consumer <{group}> <{client_id}> not online"
            )
        if member.version < _VERSION_CALL_CONSUMER:
            raise BrokerError(
                ResponseCode.SYSTEM_ERROR,
                f"The Consumer <{group}> Version <{member.version}> too low to finish, "
                "please upgrade it to V3_1_8_SNAPSHOT",
            )
        relayed = RemotingCommand.request(code, dict(req.ext_fields or {}), req.body)
        conn = member.connection
        try:
            if not isinstance(conn, ClientCall):
                raise RemotingError(f"cannot call a client on {conn!r}")
            answer = await conn.invoke(relayed, self.call_timeout)
        except RemotingTimeoutError as exc:
            raise BrokerError(
                ResponseCode.CONSUME_MSG_TIMEOUT, f"consumer <{group}> <{client_id}> Timeout: {exc}"
            ) from exc
        except RemotingError as exc:
            raise BrokerError(
                ResponseCode.SYSTEM_ERROR,
                f"invoke consumer <{group}> <{client_id}> Exception: {exc}",
            ) from exc
        return req.make_response(answer.code, answer.remark, answer.ext_fields, answer.body)

    async def get_consumer_running_info(
        self, conn: Connection, req: RemotingCommand
    ) -> RemotingCommand:
        """GET_CONSUMER_RUNNING_INFO: the client's ConsumerRunningInfo, as it sent it."""
        h = GetConsumerRunningInfoRequestHeader.from_ext(req.ext_fields)
        return await self._call_consumer(
            RequestCode.GET_CONSUMER_RUNNING_INFO, req, h.consumer_group, h.client_id
        )

    async def consume_message_directly(
        self, conn: Connection, req: RemotingCommand
    ) -> RemotingCommand:
        """CONSUME_MESSAGE_DIRECTLY: the stored record named by ``msgId`` goes to the client
        as the body, with this broker's name; the client's ConsumeMessageDirectlyResult is
        the answer."""
        h = ConsumeMessageDirectlyResultRequestHeader.from_ext(req.ext_fields)
        ext = dict(req.ext_fields or {})
        ext["brokerName"] = self.config.broker_name
        body = req.body
        try:  # Java sends the request on without a body when the msgId is not one of ours
            _addr, offset = decode_offset_msg_id(h.msg_id or "")
            body = self.store.select_one_message_by_offset(offset) or body
        except ValueError:
            log.info("consumeMessageDirectly: %r is not an offset msgId", h.msg_id)
        relayed = RemotingCommand.request(RequestCode.CONSUME_MESSAGE_DIRECTLY, ext, body)
        return await self._call_consumer(
            RequestCode.CONSUME_MESSAGE_DIRECTLY, relayed, h.consumer_group, h.client_id
        )

    async def get_consumer_status(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """INVOKE_BROKER_TO_GET_CONSUMER_STATUS (``Broker2Client#getConsumeStatus``): each
        member's (or the one ``clientAddr`` names) offsets on a topic, as GetConsumerStatusBody
        ``consumerTable``: clientId -> {MessageQueue: offset}."""
        h = GetConsumerStatusRequestHeader.from_ext(req.ext_fields)
        info = self.consumer_manager.groups.get(h.group)
        if info is None or not info.channels:
            raise BrokerError(
                ResponseCode.SYSTEM_ERROR,
                f"No Any Consumer online in the consumer group: [{h.group}]",
            )
        ask = GetConsumerStatusRequestHeader(topic=h.topic, group=h.group).to_ext()
        table: dict[str, dict[ObjectKey, int]] = {}
        for member in list(info.channels.values()):
            if member.version < _VERSION_CONSUMER_STATUS:
                raise BrokerError(
                    ResponseCode.SYSTEM_ERROR,
                    f"the client does not support this feature. version={member.version}",
                )
            if h.client_addr and h.client_addr != member.client_id:
                continue
            offsets = await self._client_status(member, ask)
            if offsets is not None:
                table[member.client_id] = offsets
            if h.client_addr:
                break
        body = {"consumerTable": table, "messageQueueTable": {}}
        return req.make_response(body=fastjson.dumps_java(body))

    async def _client_status(
        self, member: ClientChannelInfo, ext: dict[str, str]
    ) -> dict[ObjectKey, int] | None:
        """GET_CONSUMER_STATUS_FROM_CLIENT to one member; None when it fails or says no."""
        cmd = RemotingCommand.request(RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT, dict(ext))
        conn = member.connection
        if not isinstance(conn, ClientCall):
            return None
        try:
            answer = await conn.invoke(cmd, CONSUMER_STATUS_TIMEOUT_S)
        except RemotingError as exc:
            log.warning("get consumer status from %s failed: %s", member.client_id, exc)
            return None
        if answer.code != ResponseCode.SUCCESS or not answer.body:
            return None
        obj = fastjson.loads(answer.body)
        out: dict[ObjectKey, int] = {}
        for key, offset in (obj.get("messageQueueTable") or {}).items():
            if not isinstance(key, ObjectKey):  # a quoted JSON key
                key = ObjectKey(sorted(fastjson.loads(key).items()))
            out[key] = int(offset)
        return out
