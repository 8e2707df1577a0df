"""The client's remote calls (RocketMQ ``MQClientAPIImpl``): one method per request, each
turning a non-success response into ``BrokerError`` with RocketMQ's code and remark.

The producers, the consumers and the admin API (``rocketq.admin``, as ``MQAdminExt`` sits on
``MQClientAPIImpl``) all send their requests through here, so NameServer fail-over, offset
look-ups, locks, pulls and sends exist once. ``request``/``request_namesrv``/
``request_each_namesrv`` carry the admin's own requests with the same checks.
"""

from __future__ import annotations

from rocketq.client.message import (
    MessageExt,
    MessageQueue,
    PullResult,
    PullStatus,
    SendResult,
    SendStatus,
    new_send_result,
)
from rocketq.client.offset_store import OffsetNotFoundError
from rocketq.common.errors import BrokerError, RemotingError
from rocketq.common.message import MessageConst
from rocketq.common.record import decode_records, messages_of_pull_body
from rocketq.remoting import fastjson
from rocketq.remoting.body import TopicRouteData
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.headers import (
    ConsumerSendMsgBackRequestHeader,
    GetConsumerListByGroupRequestHeader,
    GetEarliestMsgStoretimeRequestHeader,
    GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader,
    GetMaxOffsetResponseHeader,
    GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader,
    PullMessageRequestHeader,
    PullMessageResponseHeader,
    QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader,
    QueryMessageRequestHeader,
    SearchOffsetRequestHeader,
    SearchOffsetResponseHeader,
    SendMessageResponseHeader,
    UnregisterClientRequestHeader,
    UpdateConsumerOffsetRequestHeader,
    ViewMessageRequestHeader,
)
from rocketq.remoting.heartbeat import HeartbeatData
from rocketq.remoting.send_codec import send_result_of

__all__ = ["MQClientAPI", "OffsetNotFoundError", "check_response", "process_send_response"]

# MixAll.UNIQUE_MSG_QUERY_FLAG: a QUERY_MESSAGE ext field saying the key is a UNIQ_KEY.
UNIQUE_MSG_QUERY_FLAG = "_UNIQUE_KEY_QUERY"

_PULL_STATUS: dict[int, PullStatus] = {
    ResponseCode.SUCCESS: PullStatus.FOUND,
    ResponseCode.PULL_NOT_FOUND: PullStatus.NO_NEW_MSG,
    ResponseCode.PULL_RETRY_IMMEDIATELY: PullStatus.NO_MATCHED_MSG,
    ResponseCode.PULL_OFFSET_MOVED: PullStatus.OFFSET_ILLEGAL,
}


# Response codes of a stored message (MQClientAPIImpl#processSendResponse).
_SEND_STATUS: dict[int, SendStatus] = {
    ResponseCode.SUCCESS: SendStatus.SEND_OK,
    ResponseCode.FLUSH_DISK_TIMEOUT: SendStatus.FLUSH_DISK_TIMEOUT,
    ResponseCode.FLUSH_SLAVE_TIMEOUT: SendStatus.FLUSH_SLAVE_TIMEOUT,
    ResponseCode.SLAVE_NOT_AVAILABLE: SendStatus.SLAVE_NOT_AVAILABLE,
}


def check_response(resp: RemotingCommand, *codes: int) -> RemotingCommand:
    """``resp`` when its code is one of ``codes`` (default SUCCESS), else BrokerError."""
    if resp.code not in (codes or (ResponseCode.SUCCESS,)):
        raise BrokerError(resp.code, resp.remark)
    return resp


def process_send_response(resp: RemotingCommand, mq: MessageQueue, uniq: str) -> SendResult:
    """``processSendResponse``: a send's response as a SendResult (``uniq``: its UNIQ_KEY)."""
    status = _SEND_STATUS.get(resp.code)
    if status is None:
        raise BrokerError(resp.code, resp.remark)
    ext = resp.ext_fields or {}
    # SendMessageResponseHeader's fields read straight from extFields into the result
    # (every send pays for this: compiled); the other cases below.
    result = send_result_of(SendResult, status, uniq, ext, mq)
    if result is not None:
        return result
    # A missing or bad field is left to from_ext, which names it in its error.
    try:
        offset_msg_id = ext["msgId"]
        queue_id = int(ext["queueId"])
        queue_offset = int(ext["queueOffset"])
    except (KeyError, ValueError):
        h = SendMessageResponseHeader.from_ext(ext)
        offset_msg_id, queue_id, queue_offset = h.msg_id, h.queue_id, h.queue_offset
    if queue_id != mq.queue_id:
        mq = MessageQueue(mq.topic, mq.broker_name, queue_id)
    get = ext.get
    return new_send_result(
        status,
        uniq,
        offset_msg_id,
        mq,
        queue_offset,
        get("transactionId"),
        get(_MSG_REGION, "DefaultRegion"),
        get(_TRACE_SWITCH) != "false",  # traceOn
    )


_MSG_REGION = MessageConst.MSG_REGION
_TRACE_SWITCH = MessageConst.TRACE_SWITCH


class MQClientAPI:
    """Requests to NameServers (with fail-over) and brokers."""

    def __init__(self, remoting: RemotingClient, namesrv_addrs: list[str], timeout: float = 3.0):
        self.remoting = remoting
        self.namesrv_addrs = namesrv_addrs
        self.timeout = timeout
        self._namesrv_index = 0

    # -- generic requests (the admin's own request codes use these) ---------------------------

    async def request(self, addr: str, cmd: RemotingCommand, *codes: int) -> RemotingCommand:
        """Send ``cmd`` to ``addr``; the response when its code is one of ``codes`` (default
        SUCCESS), else BrokerError."""
        return check_response(await self.remoting.invoke(addr, cmd, self.timeout), *codes)

    async def request_namesrv(self, cmd: RemotingCommand, *codes: int) -> RemotingCommand:
        """As :meth:`request`, to a NameServer, with fail-over."""
        return check_response(await self._namesrv(cmd), *codes)

    async def request_each_namesrv(
        self, code: int, ext: dict[str, str] | None = None, body: bytes | None = None
    ) -> dict[str, RemotingCommand]:
        """A write every NameServer must see (KV config, permissions, settings), in order;
        the first error stops it. NameServer address -> response."""
        out = {}
        for addr in self.namesrv_addrs:
            cmd = RemotingCommand.request(code, dict(ext) if ext else None, body)
            out[addr] = await self.request(addr, cmd)
        return out

    async def _namesrv(self, cmd: RemotingCommand, timeout: float | None = None) -> RemotingCommand:
        """Ask the NameServer that answered last; on a transport error try the next one."""
        last: RemotingError | None = None
        n = len(self.namesrv_addrs)
        for i in range(n):
            index = (self._namesrv_index + i) % n
            try:
                resp = await self.remoting.invoke(
                    self.namesrv_addrs[index], cmd, timeout or self.timeout
                )
            except RemotingError as exc:
                last = exc
                continue
            self._namesrv_index = index
            return resp
        if last is None:
            raise RemotingError("no NameServer address configured")
        raise last

    async def get_topic_route(self, topic: str) -> TopicRouteData:
        """The route of a topic; BrokerError(TOPIC_NOT_EXIST) when there is none."""
        cmd = RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic})
        return TopicRouteData.decode(check_response(await self._namesrv(cmd)).body)

    async def send_heartbeat(self, addr: str, data: HeartbeatData) -> int:
        """HEART_BEAT; returns the broker's version."""
        cmd = RemotingCommand.request(RequestCode.HEART_BEAT, body=data.encode())
        return check_response(await self.remoting.invoke(addr, cmd, self.timeout)).version

    async def unregister_client(
        self, addr: str, client_id: str, producer_group: str | None, consumer_group: str | None
    ) -> None:
        """UNREGISTER_CLIENT."""
        ext = UnregisterClientRequestHeader(client_id, producer_group, consumer_group).to_ext()
        cmd = RemotingCommand.request(RequestCode.UNREGISTER_CLIENT, ext)
        check_response(await self.remoting.invoke(addr, cmd, self.timeout))

    async def get_consumer_id_list(self, addr: str, group: str) -> list[str]:
        """The client ids of a consumer group."""
        ext = GetConsumerListByGroupRequestHeader(consumer_group=group).to_ext()
        cmd = RemotingCommand.request(RequestCode.GET_CONSUMER_LIST_BY_GROUP, ext)
        body = fastjson.loads(
            check_response(await self.remoting.invoke(addr, cmd, self.timeout)).body or b"{}"
        )
        return [str(c) for c in body.get("consumerIdList") or []]

    async def query_consumer_offset(
        self, addr: str, group: str, mq: MessageQueue, set_zero_if_not_found: bool | None = None
    ) -> int:
        """The committed offset; OffsetNotFoundError when the broker has none (with
        ``set_zero_if_not_found=False`` the broker never answers 0 in its place)."""
        ext = QueryConsumerOffsetRequestHeader(
            group, mq.topic, mq.queue_id, set_zero_if_not_found
        ).to_ext()
        resp = await self.remoting.invoke(
            addr, RemotingCommand.request(RequestCode.QUERY_CONSUMER_OFFSET, ext), self.timeout
        )
        if resp.code == ResponseCode.QUERY_NOT_FOUND:
            raise OffsetNotFoundError(resp.remark)
        return QueryConsumerOffsetResponseHeader.from_ext(check_response(resp).ext_fields).offset

    async def update_consumer_offset(
        self, addr: str, group: str, mq: MessageQueue, offset: int, oneway: bool = True
    ) -> None:
        """UPDATE_CONSUMER_OFFSET, one-way as Java sends it."""
        ext = UpdateConsumerOffsetRequestHeader(group, mq.topic, mq.queue_id, offset).to_ext()
        cmd = RemotingCommand.request(RequestCode.UPDATE_CONSUMER_OFFSET, ext)
        if oneway:
            await self.remoting.invoke_oneway(addr, cmd)
        else:
            check_response(await self.remoting.invoke(addr, cmd, self.timeout))

    async def pull_message(
        self,
        addr: str,
        header: PullMessageRequestHeader | dict[str, str],
        timeout: float,
        broker_name: str,
    ) -> PullResult:
        """PULL_MESSAGE (the header, or its extFields as :func:`pull_request_ext` writes
        them); the body is decoded into MessageExt (filtered later by the caller)."""
        ext = header if isinstance(header, dict) else header.to_ext()
        cmd = RemotingCommand(RequestCode.PULL_MESSAGE, ext_fields=ext)
        resp = await self.remoting.invoke(addr, cmd, timeout)
        status = _PULL_STATUS.get(resp.code)
        if status is None:
            raise BrokerError(resp.code, resp.remark)
        ext = resp.ext_fields or {}
        try:  # PullMessageResponseHeader read straight from extFields: once per pull
            suggest, next_begin, low, high = (
                int(ext["suggestWhichBrokerId"]),
                int(ext["nextBeginOffset"]),
                int(ext["minOffset"]),
                int(ext["maxOffset"]),
            )
        except (KeyError, ValueError):  # from_ext names the missing or bad field
            h = PullMessageResponseHeader.from_ext(ext)
            suggest, next_begin, low, high = (
                h.suggest_which_broker_id,
                h.next_begin_offset,
                h.min_offset,
                h.max_offset,
            )
        messages: list[MessageExt] = []
        if status is PullStatus.FOUND and resp.body:
            messages = messages_of_pull_body(resp.body, MessageExt, broker_name, low, high)
        return PullResult(status, next_begin, low, high, messages, suggest)

    async def send_message_back(
        self, addr: str, msg: MessageExt, group: str, delay_level: int, max_reconsume: int
    ) -> None:
        """CONSUMER_SEND_MSG_BACK: hand a failed message to the retry topic."""
        ext = ConsumerSendMsgBackRequestHeader(
            offset=msg.commit_log_offset,
            group=group,
            delay_level=delay_level,
            origin_msg_id=msg.msg_id,
            origin_topic=msg.topic,
            unit_mode=False,
            max_reconsume_times=max_reconsume,
        ).to_ext()
        cmd = RemotingCommand.request(RequestCode.CONSUMER_SEND_MSG_BACK, ext)
        check_response(await self.remoting.invoke(addr, cmd, self.timeout))

    async def lock_batch_mq(
        self, addr: str, group: str, client_id: str, mqs: list[MessageQueue]
    ) -> set[MessageQueue]:
        """LOCK_BATCH_MQ: the queues now locked by this client."""
        body = {"clientId": client_id, "consumerGroup": group, "mqSet": [m.to_obj() for m in mqs]}
        cmd = RemotingCommand.request(RequestCode.LOCK_BATCH_MQ, body=fastjson.dumps(body))
        resp = check_response(await self.remoting.invoke(addr, cmd, self.timeout))
        locked = fastjson.loads(resp.body or b"{}").get("lockOKMQSet") or []
        return {MessageQueue.from_obj(m) for m in locked}

    async def unlock_batch_mq(
        self, addr: str, group: str, client_id: str, mqs: list[MessageQueue], oneway: bool = False
    ) -> None:
        """UNLOCK_BATCH_MQ."""
        body = {"clientId": client_id, "consumerGroup": group, "mqSet": [m.to_obj() for m in mqs]}
        cmd = RemotingCommand.request(RequestCode.UNLOCK_BATCH_MQ, body=fastjson.dumps(body))
        if oneway:
            await self.remoting.invoke_oneway(addr, cmd)
        else:
            check_response(await self.remoting.invoke(addr, cmd, self.timeout))

    async def get_max_offset(self, addr: str, mq: MessageQueue) -> int:
        """The queue's max offset (next to be written)."""
        ext = GetMaxOffsetRequestHeader(mq.topic, mq.queue_id).to_ext()
        cmd = RemotingCommand.request(RequestCode.GET_MAX_OFFSET, ext)
        resp = check_response(await self.remoting.invoke(addr, cmd, self.timeout))
        return GetMaxOffsetResponseHeader.from_ext(resp.ext_fields).offset

    async def get_min_offset(self, addr: str, mq: MessageQueue) -> int:
        """The queue's min offset."""
        ext = GetMinOffsetRequestHeader(mq.topic, mq.queue_id).to_ext()
        cmd = RemotingCommand.request(RequestCode.GET_MIN_OFFSET, ext)
        resp = check_response(await self.remoting.invoke(addr, cmd, self.timeout))
        return GetMinOffsetResponseHeader.from_ext(resp.ext_fields).offset

    async def search_offset(self, addr: str, mq: MessageQueue, timestamp: int) -> int:
        """The first offset stored at/after ``timestamp`` ms."""
        ext = SearchOffsetRequestHeader(mq.topic, mq.queue_id, timestamp).to_ext()
        cmd = RemotingCommand.request(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, ext)
        resp = check_response(await self.remoting.invoke(addr, cmd, self.timeout))
        return SearchOffsetResponseHeader.from_ext(resp.ext_fields).offset

    async def get_earliest_msg_storetime(self, addr: str, mq: MessageQueue) -> int:
        """The store time (ms) of the queue's first message."""
        ext = GetEarliestMsgStoretimeRequestHeader(mq.topic, mq.queue_id).to_ext()
        cmd = RemotingCommand.request(RequestCode.GET_EARLIEST_MSG_STORETIME, ext)
        resp = check_response(await self.remoting.invoke(addr, cmd, self.timeout))
        return GetEarliestMsgStoretimeResponseHeader.from_ext(resp.ext_fields).timestamp

    # -- messages ----------------------------------------------------------------------------

    async def send_message(
        self, addr: str, cmd: RemotingCommand, mq: MessageQueue, uniq: str, timeout: float
    ) -> SendResult:
        """SEND_MESSAGE(_V2)/SEND_BATCH_MESSAGE ``cmd`` to ``mq``'s broker at ``addr``;
        ``uniq`` is the UNIQ_KEY the request carries (comma-joined for a batch)."""
        return process_send_response(await self.remoting.invoke(addr, cmd, timeout), mq, uniq)

    async def view_message(self, addr: str, commit_log_offset: int) -> MessageExt:
        """VIEW_MESSAGE_BY_ID: the message stored at a commit-log offset."""
        ext = ViewMessageRequestHeader(offset=commit_log_offset).to_ext()
        cmd = RemotingCommand.request(RequestCode.VIEW_MESSAGE_BY_ID, ext)
        resp = check_response(await self.remoting.invoke(addr, cmd, self.timeout))
        records = decode_records(resp.body or b"")
        if not records:
            raise BrokerError(ResponseCode.SYSTEM_ERROR, "the broker answered no message")
        return MessageExt.from_record(records[0])

    async def query_message(
        self, addr: str, header: QueryMessageRequestHeader, unique: bool, broker_name: str = ""
    ) -> list[MessageExt]:
        """QUERY_MESSAGE on one broker (``unique``: the key is a UNIQ_KEY); [] when none."""
        ext = header.to_ext()
        if unique:
            ext[UNIQUE_MSG_QUERY_FLAG] = "true"
        cmd = RemotingCommand.request(RequestCode.QUERY_MESSAGE, ext)
        resp = check_response(
            await self.remoting.invoke(addr, cmd, self.timeout),
            ResponseCode.SUCCESS,
            ResponseCode.QUERY_NOT_FOUND,
        )
        if resp.code == ResponseCode.QUERY_NOT_FOUND:
            return []
        return [MessageExt.from_record(r, broker_name) for r in decode_records(resp.body or b"")]
