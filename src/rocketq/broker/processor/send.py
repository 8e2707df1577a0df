"""SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320)
(RocketMQ ``SendMessageProcessor`` / ``AbstractSendMessageProcessor``)."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rocketq.broker.plain_send import PlainSend, plain_message
from rocketq.broker.schedule import delay_level_of, to_schedule
from rocketq.broker.stats import BrokerStatsManager
from rocketq.broker.timer.transform import TIMER_PROPERTIES, strip_timer_properties, to_timer
from rocketq.broker.transaction.bridge import is_transaction_prepared
from rocketq.common import speedups
from rocketq.common.errors import BrokerError
from rocketq.common.message import (
    NAME_VALUE_SEPARATOR,
    PROPERTY_SEPARATOR,
    MessageConst,
    SysFlag,
    decode_batch,
    decode_properties,
    encode_properties,
)
from rocketq.common.topic import (
    NOT_ALLOWED_SEND_TOPICS,
    PERM_READ,
    PERM_WRITE,
    RETRY_GROUP_TOPIC_PREFIX,
    SCHEDULE_TOPIC,
    TopicConfig,
    dlq_topic,
    topic_name_problem,
)
from rocketq.remoting.codec import encode_send_ok
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import FLAG_ONEWAY, RemotingCommand
from rocketq.remoting.connection import Connection
from rocketq.remoting.headers import (
    SendMessageRequestHeader,
    SendMessageRequestHeaderV2,
)
from rocketq.store.format import StoredMessage, sent_message
from rocketq.store.result import PutMessageResult, PutMessageStatus

if TYPE_CHECKING:
    from rocketq.broker.config import BrokerConfig
    from rocketq.broker.registrar import Registrar
    from rocketq.broker.subscription_group import SubscriptionGroupManager
    from rocketq.broker.topic_config import TopicConfigManager
    from rocketq.broker.transaction import TransactionalMessageService
    from rocketq.store.config import StoreConfig
    from rocketq.store.message_store import DefaultMessageStore

__all__ = ["SendMessageProcessor", "parse_host"]

log = logging.getLogger("rocketq.broker")

SendHeader = SendMessageRequestHeader | SendMessageRequestHeaderV2

# MQVersion.Version.V3_4_9: clients from here on may carry maxReconsumeTimes in the header.
_VERSION_MAX_RECONSUME = 121
# SendMessageProcessor.DLQ_NUMS_PER_GROUP.
DLQ_NUMS_PER_GROUP = 1
_TIMER_KEYS = frozenset(TIMER_PROPERTIES)
# Bounds of the per-processor caches of pure answers (a topic name found valid, a peer's
# parsed address): more distinct names than this and the cache starts over.
_CACHE_LIMIT = 4096
_PUT_OK = PutMessageStatus.PUT_OK
_TRANSACTION_MASK = int(SysFlag.TRANSACTION_MASK)
_MULTI_TAGS = int(SysFlag.MULTI_TAGS)
_SEND_V2 = int(RequestCode.SEND_MESSAGE_V2)
# Properties that take a send off the plain path: a delay level, a 5.x timer, a half.
_SPECIAL_KEYS = frozenset(
    {MessageConst.DELAY_TIME_LEVEL, MessageConst.TRANSACTION_PREPARED, *TIMER_PROPERTIES}
)


def _v2_from_ext() -> Callable[
    [type[SendMessageRequestHeaderV2], object], SendMessageRequestHeaderV2
]:
    """The V2 header's own extraction function, without from_ext's lookup per call."""
    SendMessageRequestHeaderV2.from_ext({"a": "g", "b": "t", "c": "d", "d": "4", "e": "0",
                                          "f": "0", "g": "0", "h": "0", "j": "0"})  # fmt: skip
    fn: Callable[..., SendMessageRequestHeaderV2] = SendMessageRequestHeaderV2.__dict__[
        "_from_ext_fn"
    ]
    return fn


_V2_FROM_EXT = _v2_from_ext()
_STORED_CODES = {
    PutMessageStatus.PUT_OK: ResponseCode.SUCCESS,
    PutMessageStatus.FLUSH_DISK_TIMEOUT: ResponseCode.FLUSH_DISK_TIMEOUT,
    PutMessageStatus.FLUSH_SLAVE_TIMEOUT: ResponseCode.FLUSH_SLAVE_TIMEOUT,
    PutMessageStatus.SLAVE_NOT_AVAILABLE: ResponseCode.SLAVE_NOT_AVAILABLE,
}


def parse_host(addr: str) -> tuple[str, int]:
    """``"ip:port"`` of a peer -> (IPv4 text, port); loopback/v4-mapped IPv6 become IPv4,
    because the C++ client and ali-ons read stored hosts as IPv4 only."""
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    if host.startswith("::ffff:"):
        host = host[7:]
    elif host == "::1":
        host = "127.0.0.1"
    return host, int(port) if port.isdigit() else 0


class SendMessageProcessor:
    """Checks a send the way RocketMQ does, stores it, answers with the offset msgId."""

    def __init__(
        self,
        *,
        config: BrokerConfig,
        store_config: StoreConfig,
        store: DefaultMessageStore,
        topic_config_manager: TopicConfigManager,
        subscription_group_manager: SubscriptionGroupManager,
        transactions: TransactionalMessageService,
        registrar: Registrar,
        stats: BrokerStatsManager | None = None,
    ) -> None:
        self.config = config
        self.stats = stats or BrokerStatsManager(config.broker_cluster_name)
        self.store_config = store_config
        self.store = store
        self.topic_config_manager = topic_config_manager
        self.subscription_group_manager = subscription_group_manager
        self.transactions = transactions
        self.registrar = registrar
        self._clean_cluster: str | None = None  # the cluster name, once checked for separators
        # topic_name_problem and parse_host depend on their argument only: cached
        self._valid_topics: set[str] = set()
        self._plain_names: set[str] = set()  # see _plain_topic
        self._born_hosts: dict[str, tuple[str, int]] = {}

    async def process(self, conn: Connection, req: RemotingCommand) -> RemotingCommand:
        """Entry point for codes 10, 310 and 320, as a coroutine (see :meth:`handle`)."""
        answer = self._handle(conn, req, callback=False)
        if isinstance(answer, RemotingCommand):
            return answer
        assert answer is not None  # only callback=True answers later
        return await answer

    def handle(
        self, conn: Connection, req: RemotingCommand
    ) -> RemotingCommand | Awaitable[RemotingCommand] | None:
        """The processor-table entry for codes 10, 310 and 320.

        A send the store completes at once (ASYNC_FLUSH, or no WAIT) is answered here,
        without a coroutine or a Task: most sends. A SYNC_FLUSH send returns None and is
        answered from the group commit's callback (:meth:`Connection.answer`). Only a put
        that waits for a slave, and a transaction half, come back as an awaitable answer.
        """
        return self._handle(conn, req, callback=True)

    def handle_many(
        self, conn: Connection, reqs: list[RemotingCommand]
    ) -> list[RemotingCommand | Awaitable[RemotingCommand] | None]:
        """The sends of one read together (:meth:`Connection` hands consecutive ones over):
        each checked and built as :meth:`handle` would, then all stored with one
        ``submit_many`` (one CommitLog write, one dispatch pass), answered in order."""
        answers: list[RemotingCommand | Awaitable[RemotingCommand] | None] = []
        puts: list[tuple[list[StoredMessage], bool]] = []
        waiting: list[tuple[int, RemotingCommand, RemotingCommand | None, StoredMessage]] = []
        writable = self.config.broker_permission & PERM_WRITE
        born = self._born_host(conn.peer)
        for req in reqs:
            try:
                plain = self._plain(req, born) if writable else None
                prepared = self._prepare(conn, req) if plain is None else None
            except Exception as exc:  # one bad request fails alone, not its whole read
                log.exception("preparing a send from %s failed", conn.peer)
                answers.append(
                    _fail(req.make_response(ext_fields={}), ResponseCode.SYSTEM_ERROR, repr(exc))
                )
                continue
            if plain is not None:
                waiting.append((len(answers), req, None, plain[0][0]))
                puts.append(plain)
                answers.append(None)
                continue
            assert prepared is not None
            if not isinstance(prepared, tuple):
                answers.append(prepared)
                continue
            refusal_to, msgs, wait = prepared
            if not msgs:
                answers.append(refusal_to)
                continue
            waiting.append((len(answers), req, refusal_to, msgs[0]))
            puts.append((msgs, wait))
            answers.append(None)
        if not puts:
            return answers
        self._store_and_answer(conn, puts, waiting, answers)
        return answers

    def _store_and_answer(
        self,
        conn: Connection,
        puts: list[tuple[list[StoredMessage], bool]],
        waiting: list[tuple[int, RemotingCommand, RemotingCommand | None, StoredMessage]],
        answers: list[RemotingCommand | Awaitable[RemotingCommand] | None],
    ) -> None:
        """Store the prepared sends of a read with one ``submit_many`` and fill ``answers``
        (``waiting``: each one's place, request, refusal-to response, first message).

        The stored ones are answered before the store's dispatch pass. A failure after
        that began does not answer anyone twice: those answered stay answered, the rest
        get SYSTEM_ERROR. A store that refuses the whole read (not running, a slave, disk
        full) answers each send with its refusal, as RocketMQ does, so the client retries
        elsewhere at once instead of timing out."""
        done = [-1]  # sends answered so far; -1 until the store hands its results over

        def answer(stored_all: list[PutMessageResult | Awaitable[PutMessageResult]]) -> None:
            done[0] = 0
            self._answer_stored(conn, waiting, stored_all, answers, done)

        try:
            stored_all = self.store.submit_many(puts, answer)
        except Exception as exc:
            if done[0] < 0:
                raise  # nobody answered yet: the connection answers the read SYSTEM_ERROR
            log.exception("storing the sends of a read from %s failed", conn.peer)
            for at, req, _, _ in waiting[done[0] :]:
                error = req.make_response(ext_fields={})
                answers[at] = _fail(error, ResponseCode.SYSTEM_ERROR, repr(exc))
            return
        if done[0] < 0:  # refused before anything was written: no dispatch pass to precede
            answer(stored_all)

    def _answer_stored(
        self,
        conn: Connection,
        waiting: list[tuple[int, RemotingCommand, RemotingCommand | None, StoredMessage]],
        stored_all: list[PutMessageResult | Awaitable[PutMessageResult]],
        answers: list[RemotingCommand | Awaitable[RemotingCommand] | None],
        done: list[int],
    ) -> None:
        """Answer the sends of a read the store took (``done[0]`` counts them as it goes):
        a one-message send stored fine with its frame written straight (``_answered_ok``
        inline, its ``on_put`` one call per run of one topic), any other as ``_answered``."""
        region = self.config.region_id
        topic, nums, size = "", 0, 0
        ok_frames: list[bytes] = []
        if len(stored_all) != len(waiting):
            raise ValueError(f"{len(stored_all)} results for {len(waiting)} sends")
        try:
            for i, (at, req, response, first) in enumerate(waiting):
                stored = stored_all[i]  # (enumerate and index: cheaper than zip's strict)
                if not (type(stored) is PutMessageResult and stored.status is _PUT_OK
                        and len(stored.appended) == 1):  # fmt: skip
                    if response is None:
                        response = req.make_response(ext_fields={})
                    answers[at] = self._answered(conn, req, response, first, stored, True)
                    done[0] += 1
                    continue
                one = stored.appended[0]
                if first.topic == topic:
                    nums += 1
                    size += one.size
                elif first.topic == SCHEDULE_TOPIC:  # counted per queue too
                    self.stats.on_put(first.topic, first.queue_id, 1, one.size)
                else:
                    if nums:
                        self.stats.on_put_run(topic, nums, size)
                    topic, nums, size = first.topic, 1, one.size
                if not req.flag & FLAG_ONEWAY:
                    ok_frames.append(encode_send_ok(req.opaque, req.serialize_type, one.msg_id,
                                                    first.queue_id, one.queue_offset,
                                                    region))  # fmt: skip
                done[0] += 1
        finally:  # what was answered is sent and counted, even if a later one failed
            conn.answer_frames(ok_frames)
            if nums:
                self.stats.on_put_run(topic, nums, size)
        conn.flush()

    def _plain(
        self, req: RemotingCommand, born: tuple[str, int]
    ) -> tuple[list[StoredMessage], bool] | None:
        """The usual send, checked and built in one go: SEND_MESSAGE_V2 of one message to
        an existing writable topic and a valid queue, no transaction, delay, timer, retry
        or DLQ handling to do; ``born`` is the sender's address. None for anything else,
        and for anything wrong: then :meth:`_prepare` takes the request and decides (and
        words the refusal)."""
        if type(req) is PlainSend:  # read from its frame (plain_send.py): not a batch
            topic, queue_id, sys_flag = req.topic, req.queue_id, req.sys_flag
            text, msg_flag = req.properties, req.msg_flag
            born_at, reconsume = req.born_timestamp, req.reconsume_times
        else:
            if req.code != _SEND_V2:
                return None
            try:
                header = _V2_FROM_EXT(SendMessageRequestHeaderV2, req.ext_fields)
            except BrokerError:
                return None
            if header.batch:
                return None
            topic, queue_id, sys_flag = header.topic, header.queue_id, header.sys_flag
            text, msg_flag, born_at = header.properties or "", header.flag, header.born_timestamp
            reconsume = header.reconsume_times or 0
        if sys_flag & _TRANSACTION_MASK or not self._plain_topic(topic):
            return None
        config = self.topic_config_manager.table.get(topic)  # (a slave's sync replaces it)
        if config is None or not config.perm & PERM_WRITE or queue_id < 0:
            return None
        if queue_id >= config.write_queue_nums and queue_id >= config.read_queue_nums:
            return None
        if config.topic_filter_type == "MULTI_TAG":
            sys_flag |= _MULTI_TAGS
        # WAIT out, CLUSTER in, the properties encoded again; None: a delay, timer or half
        built = plain_message(topic, queue_id, req.body or b"", text, msg_flag, sys_flag, born_at,
                              born, reconsume, self.config.broker_cluster_name,
                              _SPECIAL_KEYS)  # fmt: skip
        if built is None:
            return None
        return [built[0]], built[1]

    def _plain_topic(self, topic: str) -> bool:
        """Whether a send to ``topic`` may take the plain path as far as its name goes:
        valid (checked by :meth:`_check` before), not a system topic that refuses sends,
        not a retry topic. A name's answer never changes: kept."""
        if topic in self._plain_names:
            return True
        if (
            topic not in self._valid_topics
            or topic in NOT_ALLOWED_SEND_TOPICS
            or topic.startswith(RETRY_GROUP_TOPIC_PREFIX)
        ):
            return False
        if len(self._plain_names) >= _CACHE_LIMIT:
            self._plain_names.clear()
        self._plain_names.add(topic)
        return True

    def _answered_ok(
        self, conn: Connection, req: RemotingCommand, stored: PutMessageResult, msg: StoredMessage
    ) -> bool:
        """Answer a one-message put stored fine (PUT_OK) with its frame written straight
        (``encode_send_ok``); False for any other case."""
        if stored.status is not _PUT_OK or len(stored.appended) != 1:
            return False
        appended = stored.appended[0]
        self.stats.on_put(msg.topic, msg.queue_id, 1, appended.size)
        frame = encode_send_ok(
            req.opaque,
            req.serialize_type,
            appended.msg_id,
            msg.queue_id,
            appended.queue_offset,
            self.config.region_id,
        )
        conn.answer_frame(req, frame)
        return True

    def _handle(
        self, conn: Connection, req: RemotingCommand, callback: bool
    ) -> RemotingCommand | Awaitable[RemotingCommand] | None:
        prepared = self._prepare(conn, req)
        if not isinstance(prepared, tuple):
            return prepared
        response, msgs, wait = prepared
        if not msgs:
            return response
        stored = self.store.submit_messages(msgs, wait_store=wait)
        return self._answered(conn, req, response, msgs[0], stored, callback)

    def _prepare(
        self, conn: Connection, req: RemotingCommand
    ) -> (
        RemotingCommand
        | Awaitable[RemotingCommand]
        | tuple[RemotingCommand, list[StoredMessage], bool]
    ):
        """Checks and builds one send: (response, messages to store, wait) for a plain
        put, else the answer itself (a refusal, or a transaction half's answer)."""
        if type(req) is PlainSend:  # the general path reads the header in full
            req = req.command()
        header: SendHeader
        if req.code == RequestCode.SEND_MESSAGE:
            header = SendMessageRequestHeader.from_ext(req.ext_fields)
        else:
            # Same field names as V1: used as it is (converting would cost a few µs a send).
            header = SendMessageRequestHeaderV2.from_ext(req.ext_fields)
        # extFields always present: the C++ client dereferences the header even on errors.
        response = req.make_response(ext_fields={})
        try:
            topic_config = self._check(conn, header)
        except BrokerError as exc:
            return _fail(response, exc.code, exc.remark)
        batch = header.batch or req.code == RequestCode.SEND_BATCH_MESSAGE
        try:
            msgs, wait = self._build(conn, req, header, topic_config, batch, response)
        except ValueError as exc:
            return _fail(response, ResponseCode.MESSAGE_ILLEGAL, f"bad batch body: {exc}")
        except BrokerError as exc:  # a timer message refused (HookUtils#handleScheduleMessage)
            return _fail(response, exc.code, exc.remark)
        if msgs and not batch and is_transaction_prepared(msgs[0]):  # a half message (§7.1)
            if self.config.reject_transaction_message:
                return _fail(
                    response,
                    ResponseCode.NO_PERMISSION,
                    f"the broker[{self.config.broker_ip1}] sending transaction message "
                    "is forbidden",
                )
            return self._answer_after(
                response, self.transactions.prepare_message(msgs[0], wait), msgs[0]
            )
        return response, msgs, wait

    def _answered(
        self,
        conn: Connection,
        req: RemotingCommand,
        response: RemotingCommand,
        msg: StoredMessage,
        stored: PutMessageResult | Awaitable[PutMessageResult],
        callback: bool,
    ) -> RemotingCommand | Awaitable[RemotingCommand] | None:
        if isinstance(stored, PutMessageResult):
            return self._answer(response, stored, msg)
        if callback and isinstance(stored, asyncio.Future):  # SYNC_FLUSH: from the group commit
            stored.add_done_callback(
                functools.partial(self._answer_when_stored, conn, req, response, msg)
            )
            return None
        return self._answer_after(response, stored, msg)

    def _answer_when_stored(
        self,
        conn: Connection,
        req: RemotingCommand,
        response: RemotingCommand,
        msg: StoredMessage,
        stored: asyncio.Future[PutMessageResult],
    ) -> None:
        if stored.cancelled():
            return
        error = stored.exception()
        if error is not None:
            log.error("storing a send failed: %r", error)
            conn.answer(req, _fail(response, ResponseCode.SYSTEM_ERROR, repr(error)))
        elif not self._answered_ok(conn, req, stored.result(), msg):
            conn.answer(req, self._answer(response, stored.result(), msg))

    async def _answer_after(
        self, response: RemotingCommand, stored: Awaitable[PutMessageResult], msg: StoredMessage
    ) -> RemotingCommand:
        return self._answer(response, await stored, msg)

    # -- checks -----------------------------------------------------------------------------

    def _check(self, conn: Connection, header: SendHeader) -> TopicConfig:
        """``msgCheck``: broker and topic permission, name, existence (auto-create), queue."""
        b = self.config
        if not b.broker_permission & PERM_WRITE:
            raise BrokerError(
                ResponseCode.NO_PERMISSION,
                f"the broker[{b.broker_ip1}] sending message is forbidden",
            )
        if header.topic not in self._valid_topics:
            problem = topic_name_problem(header.topic)
            if problem is not None:
                raise BrokerError(ResponseCode.SYSTEM_ERROR, problem)
            if len(self._valid_topics) >= _CACHE_LIMIT:
                self._valid_topics.clear()
            self._valid_topics.add(header.topic)
        if header.topic in NOT_ALLOWED_SEND_TOPICS:
            raise BrokerError(
                ResponseCode.NO_PERMISSION,
                f"Sending message to topic[{header.topic}] is forbidden.",
            )
        config = self._topic_config(header)
        if config is None:
            raise BrokerError(
                ResponseCode.TOPIC_NOT_EXIST,
                f"topic[{header.topic}] not exist, apply first please! Create it with "
                "mqadmin updateTopic, or enable autoCreateTopicEnable on the broker.",
            )
        if not config.perm & PERM_WRITE:
            raise BrokerError(
                ResponseCode.NO_PERMISSION,
                f"the topic[{header.topic}] sending message is forbidden",
            )
        valid = max(config.write_queue_nums, config.read_queue_nums)
        if header.queue_id >= valid:
            raise BrokerError(
                ResponseCode.SYSTEM_ERROR,
                f"request queueId[{header.queue_id}] is illegal, {config} Producer: {conn.peer}",
            )
        return config

    def _topic_config(self, header: SendHeader) -> TopicConfig | None:
        tcm = self.topic_config_manager
        config = tcm.select(header.topic)
        if config is not None:
            return config
        config = tcm.create_in_send(
            header.topic, header.default_topic, header.default_topic_queue_nums
        )
        if config is None and header.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            config = tcm.create_in_send_back(header.topic, 1, PERM_READ | PERM_WRITE)
        if config is not None:
            log.info("auto-created topic %s", config)
            self.registrar.request_register()
        return config

    # -- building the stored messages -------------------------------------------------------

    def _build(
        self,
        conn: Connection,
        req: RemotingCommand,
        header: SendHeader,
        config: TopicConfig,
        batch: bool,
        response: RemotingCommand,
    ) -> tuple[list[StoredMessage], bool]:
        props = decode_properties(header.properties or "")
        wait = props.pop(MessageConst.WAIT_STORE_MSG_OK, "true").lower() != "false"
        props[MessageConst.CLUSTER] = self.config.broker_cluster_name
        topic, queue_id = header.topic, header.queue_id
        if queue_id < 0:
            queue_id = random.randrange(max(config.write_queue_nums, 1))
        retry = self._retry_or_dlq(req, header, response)
        if retry is None:
            return [], wait
        if retry:  # diverted to the DLQ: no delay any more
            topic, queue_id = retry, 0
            props.pop(MessageConst.DELAY_TIME_LEVEL, None)
        tx = header.sys_flag & SysFlag.TRANSACTION_MASK
        if tx in (SysFlag.TRANSACTION_NOT_TYPE, SysFlag.TRANSACTION_COMMIT_TYPE):
            # a level wins over a timer (checkIfTimerMessage); no DELAY property: level 0
            if MessageConst.DELAY_TIME_LEVEL in props and delay_level_of(props) > 0:
                strip_timer_properties(props)
                levels = len(self.store.delay_levels)
                topic, queue_id = to_schedule(props, topic, queue_id, levels)
            elif not batch and not _TIMER_KEYS.isdisjoint(props):
                # 5.x timer: park in rmq_sys_wheel_timer until due (to_timer leaves a message
                # without a timer property as it is)
                now = int(time.time() * 1000)
                topic, queue_id = to_timer(props, topic, queue_id, self.store_config, now)
        sys_flag = header.sys_flag | (
            SysFlag.MULTI_TAGS if config.topic_filter_type == "MULTI_TAG" else 0
        )
        born = self._born_host(conn.peer)
        reconsume = header.reconsume_times or 0
        # Untouched properties are the request's own pairs plus CLUSTER: joined without
        # encode_properties' separator checks (split on the separators, they hold none).
        join = _JOIN_CLEAN if topic == header.topic and self._cluster_clean() else encode_properties
        if not batch:
            body = req.body or b""
            return [
                sent_message(topic, queue_id, body, join(props), props, header.flag, sys_flag,
                             header.born_timestamp, born, reconsume)
            ], wait  # fmt: skip
        out = []
        for entry in decode_batch(req.body or b""):
            inner = decode_properties(entry.properties)
            inner[MessageConst.CLUSTER] = props[MessageConst.CLUSTER]
            out.append(
                sent_message(topic, queue_id, entry.body, join(inner), inner, entry.flag,
                             sys_flag, header.born_timestamp, born, reconsume)
            )  # fmt: skip
        return out, wait

    def _born_host(self, peer: str) -> tuple[str, int]:
        born = self._born_hosts.get(peer)
        if born is None:
            if len(self._born_hosts) >= _CACHE_LIMIT:
                self._born_hosts.clear()
            born = self._born_hosts[peer] = parse_host(peer)
        return born

    def _cluster_clean(self) -> bool:
        name = self.config.broker_cluster_name
        if name is not self._clean_cluster:
            if NAME_VALUE_SEPARATOR in name or PROPERTY_SEPARATOR in name:
                return False
            self._clean_cluster = name
        return True

    def _retry_or_dlq(
        self, req: RemotingCommand, header: SendHeader, response: RemotingCommand
    ) -> str | None:
        """``handleRetryAndDLQ``: "" to keep the topic, a DLQ topic to divert, None = refused."""
        if not header.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            return ""
        group = header.topic[len(RETRY_GROUP_TOPIC_PREFIX) :]
        group_config = self.subscription_group_manager.find(group)
        if group_config is None:
            _fail(
                response,
                ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                f"subscription group not exist, {group}",
            )
            return None
        max_times = group_config.retry_max_times
        if req.version >= _VERSION_MAX_RECONSUME and header.max_reconsume_times is not None:
            max_times = header.max_reconsume_times
        if (header.reconsume_times or 0) < max_times:
            return ""
        dlq = dlq_topic(group)
        self.topic_config_manager.create_in_send_back(
            dlq, DLQ_NUMS_PER_GROUP, PERM_READ | PERM_WRITE
        )
        self.registrar.request_register()
        return dlq

    # -- answering --------------------------------------------------------------------------

    def _answer(
        self, response: RemotingCommand, result: PutMessageResult, msg: StoredMessage
    ) -> RemotingCommand:
        status = result.status
        # PUT_OK without the dict: an Enum member hashes in Python (a few tenths of a µs)
        code = ResponseCode.SUCCESS if status is _PUT_OK else _STORED_CODES.get(status)
        if code is None:
            return _fail(response, *_failure(result, self.store_config.max_message_size))
        first = result.appended[0]
        appended = result.appended
        size = first.size if len(appended) == 1 else sum(a.size for a in appended)
        self.stats.on_put(msg.topic, msg.queue_id, len(appended), size)  # sendOK's figures
        # SendMessageResponseHeader.to_ext's keys in its order, then region and trace.
        response.ext_fields = {
            "msgId": first.msg_id if len(appended) == 1 else ",".join(a.msg_id for a in appended),
            "queueId": str(msg.queue_id),
            "queueOffset": str(first.queue_offset),
            MessageConst.MSG_REGION: self.config.region_id,
            MessageConst.TRACE_SWITCH: "true",
        }
        response.code = code
        return response


def _join_clean(props: dict[str, str]) -> str:
    """``encode_properties`` for pairs known to hold no separator."""
    return PROPERTY_SEPARATOR.join(
        [f"{name}{NAME_VALUE_SEPARATOR}{value}" for name, value in props.items()]
    )


# The compiled encode_properties, checks and all, is faster than the join without them.
_JOIN_CLEAN = encode_properties if speedups.ACTIVE else _join_clean


def _failure(result: PutMessageResult, max_size: int) -> tuple[int, str]:
    status = result.status
    if status in (PutMessageStatus.MESSAGE_ILLEGAL, PutMessageStatus.PROPERTIES_SIZE_EXCEEDED):
        return ResponseCode.MESSAGE_ILLEGAL, (
            "the message is illegal, maybe msg body or properties length not matched. "
            f"msg body length limit {max_size}B, msg properties length limit 32KB. {result.remark}"
        )
    if status is PutMessageStatus.SERVICE_NOT_AVAILABLE:
        return ResponseCode.SERVICE_NOT_AVAILABLE, (
            "service not available now. It may be caused by one of the following reasons: "
            f"the broker's disk is full, messages are put to the slave, message store has been "
            f"shut down, etc. ({result.remark})"
        )
    if status is PutMessageStatus.CREATE_MAPPED_FILE_FAILED:
        return ResponseCode.SYSTEM_ERROR, "create mapped file failed, server is busy or broken."
    if status is PutMessageStatus.OS_PAGE_CACHE_BUSY:
        return (
            ResponseCode.SYSTEM_ERROR,
            "[PC_SYNCHRONIZED]broker busy, start flow control for a while",
        )
    return ResponseCode.SYSTEM_ERROR, f"UNKNOWN_ERROR {result.remark}"


def _fail(response: RemotingCommand, code: int, remark: str) -> RemotingCommand:
    response.code = code
    response.remark = remark
    return response
