"""A slave's copy of its master's metadata (RocketMQ ``SlaveSynchronize``).

Every ``syncBrokerMetadataPeriod`` a slave asks its master, over the master's remoting
port, for the topic table (GET_ALL_TOPIC_CONFIG), the committed consumer offsets
(GET_ALL_CONSUMER_OFFSET), the delay-level progress (GET_ALL_DELAY_OFFSET), the
subscription groups (GET_ALL_SUBSCRIPTIONGROUP_CONFIG) and, RocketMQ 5, the groups'
message request modes (GET_ALL_MESSAGE_REQUEST_MODE, ``syncMessageRequestMode``), and keeps
them as its own files.
So when the master dies, consumers that fall back to the slave find their groups and
resume at the offsets the master had, and delay progress is not lost.

The master's address comes from the NameServer's answer to each registration (its
brokerId-0 member), as in RocketMQ.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from rocketq.broker.config_file import ConfigFile
from rocketq.broker.consumer_offset import ConsumerOffsetManager
from rocketq.broker.pop.request_mode import MessageRequestModeManager
from rocketq.broker.subscription_group import SubscriptionGroupManager
from rocketq.broker.topic_config import TopicConfigManager
from rocketq.common.errors import BrokerError, RemotingError
from rocketq.remoting import fastjson
from rocketq.remoting.body import TopicConfigSerializeWrapper
from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codes import RequestCode, ResponseCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.pop_body import MessageRequestModeSerializeWrapper

__all__ = ["SlaveSyncStats", "SlaveSynchronize"]

log = logging.getLogger("rocketq.broker")

# How long one metadata request to the master may take (BrokerOuterAPI uses 3 s).
SYNC_REQUEST_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class SlaveSyncStats:
    """How the slave's copies stand."""

    master_addr: str | None
    rounds: int
    failures: int


class SlaveSynchronize:
    """Copies the master's metadata into the slave's managers; :meth:`sync_all` once."""

    def __init__(
        self,
        client: RemotingClient,
        topics: TopicConfigManager,
        offsets: ConsumerOffsetManager,
        groups: SubscriptionGroupManager,
        delay_offsets: ConfigFile,
        request_modes: MessageRequestModeManager | None = None,
    ) -> None:
        self.client = client
        self.topics = topics
        self.offsets = offsets
        self.groups = groups
        self.delay_offsets = delay_offsets
        self.request_modes = request_modes
        self.master_addr: str | None = None
        self._rounds = 0
        self._failures = 0

    async def sync_all(self) -> bool:
        """One round of every copy; False when the master is unknown or a copy failed."""
        if not self.master_addr:
            return False
        ok = True
        for what, step in (
            ("topic config", self._sync_topic_config),
            ("consumer offsets", self._sync_consumer_offsets),
            ("delay offsets", self._sync_delay_offsets),
            ("subscription groups", self._sync_subscription_groups),
            ("message request modes", self._sync_message_request_modes),
        ):
            try:
                await step(self.master_addr)
            except RemotingError as exc:  # the master is unreachable: the rest would fail too
                log.warning("slave sync from master %s failed: %s", self.master_addr, exc)
                ok = False
                break
            except (BrokerError, ValueError, TypeError, KeyError) as exc:
                log.warning("slave sync of %s from %s failed: %s", what, self.master_addr, exc)
                ok = False
        self._rounds += 1
        self._failures += not ok
        return ok

    async def _fetch(self, addr: str, code: RequestCode) -> bytes:
        resp = await self.client.invoke(addr, RemotingCommand.request(code), SYNC_REQUEST_TIMEOUT_S)
        if resp.code != ResponseCode.SUCCESS:
            raise BrokerError(resp.code, resp.remark)
        return resp.body or b""

    async def _sync_topic_config(self, addr: str) -> None:
        body = await self._fetch(addr, RequestCode.GET_ALL_TOPIC_CONFIG)
        wrapper = TopicConfigSerializeWrapper.decode(body)
        if wrapper.data_version == self.topics.data_version:
            return
        # The master's table replaces ours: topics deleted there go here too.
        self.topics.table = dict(wrapper.topic_config_table)
        self.topics.data_version = wrapper.data_version
        self.topics.persist()

    async def _sync_consumer_offsets(self, addr: str) -> None:
        obj = _json_object(await self._fetch(addr, RequestCode.GET_ALL_CONSUMER_OFFSET))
        master = ConsumerOffsetManager(self.offsets.path)
        master.decode(obj)
        for key, queues in master.table.items():  # putAll: the master's offsets win
            self.offsets.table.setdefault(key, {}).update(queues)
        self.offsets.persist()

    async def _sync_delay_offsets(self, addr: str) -> None:
        body = await self._fetch(addr, RequestCode.GET_ALL_DELAY_OFFSET)
        if body.strip():
            self.delay_offsets.decode(_json_object(body))
            self.delay_offsets.persist()

    async def _sync_subscription_groups(self, addr: str) -> None:
        obj = _json_object(await self._fetch(addr, RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG))
        master = SubscriptionGroupManager(self.groups.path)
        master.decode(obj)
        if master.data_version == self.groups.data_version:
            return
        self.groups.table = master.table
        self.groups.data_version = master.data_version
        self.groups.persist()

    async def _sync_message_request_modes(self, addr: str) -> None:
        """The master's table replaces ours (cleared, then filled), as
        ``syncMessageRequestMode`` does. A master without the request (RocketMQ 4) has
        none to copy."""
        if self.request_modes is None:
            return
        cmd = RemotingCommand.request(RequestCode.GET_ALL_MESSAGE_REQUEST_MODE)
        resp = await self.client.invoke(addr, cmd, SYNC_REQUEST_TIMEOUT_S)
        if resp.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED:
            return
        if resp.code != ResponseCode.SUCCESS:
            raise BrokerError(resp.code, resp.remark)
        master = MessageRequestModeSerializeWrapper.from_obj(_json_object(resp.body or b"{}"))
        self.request_modes.table = master
        self.request_modes.persist()

    def stats(self) -> SlaveSyncStats:
        """The master followed and how many rounds ran and failed."""
        return SlaveSyncStats(self.master_addr, self._rounds, self._failures)


def _json_object(body: bytes) -> dict[str, Any]:
    obj = fastjson.loads(body)
    if not isinstance(obj, dict):
        raise ValueError("the master's answer is not a JSON object")
    return obj
