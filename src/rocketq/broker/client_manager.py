"""Producers and consumers known to the broker (RocketMQ ``ProducerManager``,
``ConsumerManager``, ``ConsumerGroupInfo``).

Clients announce themselves with HEART_BEAT every 30 s; a channel not heard from for
``channelExpiredTimeout`` (120 s) or whose connection closes is dropped. When a consumer
group's membership or subscriptions change, every member is sent
NOTIFY_CONSUMER_IDS_CHANGED (one-way) so it rebalances at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rocketq.remoting.heartbeat import ConsumerData, SubscriptionData

__all__ = ["ClientChannelInfo", "ConsumerGroupInfo", "ConsumerManager", "ProducerManager"]

log = logging.getLogger("rocketq.broker")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class ClientChannelInfo:
    """One client connection: its id, language and version, when last heard from."""

    connection: Any
    client_id: str
    language: str
    version: int
    last_update: int = field(default_factory=_now_ms)

    @property
    def client_addr(self) -> str:
        """The client's socket address."""
        return str(getattr(self.connection, "peer", "?"))


@dataclass(slots=True)
class ConsumerGroupInfo:
    """The members and subscriptions of one consumer group."""

    group_name: str
    consume_type: str = "CONSUME_PASSIVELY"
    message_model: str = "CLUSTERING"
    consume_from_where: str = "CONSUME_FROM_LAST_OFFSET"
    channels: dict[Any, ClientChannelInfo] = field(default_factory=dict)
    subscriptions: dict[str, SubscriptionData] = field(default_factory=dict)
    last_update: int = field(default_factory=_now_ms)

    def client_ids(self) -> list[str]:
        """Member client ids (``getAllClientId``)."""
        return [info.client_id for info in self.channels.values()]

    def update_channel(self, info: ClientChannelInfo, data: ConsumerData) -> bool:
        """Record a heartbeat; True when this channel is new to the group."""
        self.consume_type = data.consume_type
        self.message_model = data.message_model
        self.consume_from_where = data.consume_from_where
        self.last_update = info.last_update
        old = self.channels.get(info.connection)
        self.channels[info.connection] = info
        return old is None or old.client_id != info.client_id

    def update_subscriptions(self, subs: list[SubscriptionData]) -> bool:
        """Take the heartbeat's subscriptions; True when topics were added or removed.

        A newer ``subVersion`` of a known topic replaces it without counting as a change,
        as in ``ConsumerGroupInfo#updateSubscription``.
        """
        changed = False
        wanted = {s.topic for s in subs}
        for sub in subs:
            old = self.subscriptions.get(sub.topic)
            if old is None:
                self.subscriptions[sub.topic] = sub
                changed = True
            elif sub.sub_version > old.sub_version:
                self.subscriptions[sub.topic] = sub
        for topic in list(self.subscriptions):
            if topic not in wanted:
                del self.subscriptions[topic]
                changed = True
        return changed


class ConsumerManager:
    """Consumer groups by name; ``notify`` is called with (group, channels) on changes."""

    def __init__(
        self,
        notify: Callable[[str, list[ClientChannelInfo]], None],
        channel_expired_ms: int = 120_000,
    ) -> None:
        self.groups: dict[str, ConsumerGroupInfo] = {}
        self._notify = notify
        self.channel_expired_ms = channel_expired_ms

    def register(self, info: ClientChannelInfo, data: ConsumerData, notify_enabled: bool) -> bool:
        """A consumer heartbeat; returns True when membership or subscriptions changed."""
        group = self.groups.get(data.group_name)
        if group is None:
            group = self.groups[data.group_name] = ConsumerGroupInfo(data.group_name)
        new_member = group.update_channel(info, data)
        new_subs = group.update_subscriptions(data.subscription_data_set)
        changed = new_member or new_subs
        if changed:
            log.info("consumer group %s changed: %s", data.group_name, group.client_ids())
            if notify_enabled and data.message_model == "CLUSTERING":
                self._notify(data.group_name, list(group.channels.values()))
        return changed

    def unregister(self, group_name: str, connection: Any, notify_enabled: bool = True) -> None:
        """UNREGISTER_CLIENT for a consumer group."""
        group = self.groups.get(group_name)
        if group is None or group.channels.pop(connection, None) is None:
            return
        self._after_removal(group, notify_enabled)

    def _after_removal(self, group: ConsumerGroupInfo, notify_enabled: bool) -> None:
        if not group.channels:
            log.info("consumer group %s has no member left", group.group_name)
            del self.groups[group.group_name]
        elif notify_enabled and group.message_model == "CLUSTERING":
            self._notify(group.group_name, list(group.channels.values()))

    def connection_closed(self, connection: Any) -> None:
        """Drop the connection from every group (``doChannelCloseEvent``)."""
        for group in list(self.groups.values()):
            if group.channels.pop(connection, None) is not None:
                self._after_removal(group, True)

    def scan_not_active(self, now: int | None = None) -> list[str]:
        """Drop channels silent for longer than the expiry; return their client ids."""
        now = _now_ms() if now is None else now
        dropped = []
        for group in list(self.groups.values()):
            for conn, info in list(group.channels.items()):
                if now - info.last_update > self.channel_expired_ms:
                    log.warning("consumer %s of %s expired", info.client_id, group.group_name)
                    del group.channels[conn]
                    dropped.append(info.client_id)
                    if hasattr(conn, "close"):
                        conn.close("client channel expired")
            if not group.channels:
                del self.groups[group.group_name]
        return dropped

    def find_subscription(self, group: str, topic: str) -> SubscriptionData | None:
        """The subscription a group's heartbeats announced for a topic."""
        info = self.groups.get(group)
        return info.subscriptions.get(topic) if info is not None else None

    def groups_of_topic(self, topic: str) -> set[str]:
        """Online groups subscribed to a topic (``queryTopicConsumeByWho``)."""
        return {g for g, info in self.groups.items() if topic in info.subscriptions}


class ProducerManager:
    """Producer groups by name: their live channels (for transaction check-back)."""

    def __init__(self, channel_expired_ms: int = 120_000) -> None:
        self.groups: dict[str, dict[Any, ClientChannelInfo]] = {}
        self.channel_expired_ms = channel_expired_ms

    def register(self, group: str, info: ClientChannelInfo) -> None:
        """A producer heartbeat."""
        self.groups.setdefault(group, {})[info.connection] = info

    def unregister(self, group: str, connection: Any) -> None:
        """UNREGISTER_CLIENT for a producer group."""
        channels = self.groups.get(group)
        if channels is not None:
            channels.pop(connection, None)
            if not channels:
                del self.groups[group]

    def connection_closed(self, connection: Any) -> None:
        """Drop the connection from every group."""
        for group in list(self.groups):
            self.unregister(group, connection)

    def scan_not_active(self, now: int | None = None) -> None:
        """Drop silent channels."""
        now = _now_ms() if now is None else now
        for group, channels in list(self.groups.items()):
            for conn, info in list(channels.items()):
                if now - info.last_update > self.channel_expired_ms:
                    del channels[conn]
            if not channels:
                del self.groups[group]

    def available_channel(self, group: str) -> ClientChannelInfo | None:
        """Some open channel of a producer group (``getAvailableChannel``)."""
        for info in self.groups.get(group, {}).values():
            if getattr(info.connection, "is_open", True):
                return info
        return None
