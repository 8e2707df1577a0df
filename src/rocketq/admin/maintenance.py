"""Broker maintenance and inspection of the admin API (``MQAdminExt``): clean expired
ConsumeQueues, delete expired CommitLog files, clean unused topics, read raw ConsumeQueue
entries, stats items, system topics, resume a half message's checks and RocketMQ 5's
group/topic list codes. A mixin of :class:`~rocketq.admin.api.AdminClient`."""

from __future__ import annotations

from typing import Any

from rocketq.client.api import MQClientAPI
from rocketq.common.topic import TopicConfig
from rocketq.remoting import fastjson
from rocketq.remoting.body import SubscriptionGroupConfig
from rocketq.remoting.codes import RequestCode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.headers.broker import (
    GetSubscriptionGroupConfigRequestHeader,
    QueryConsumeQueueRequestHeader,
    ResumeCheckHalfMessageRequestHeader,
    ViewBrokerStatsDataRequestHeader,
)

__all__ = ["MaintenanceMixin"]


class MaintenanceMixin:
    """Requests that maintain or inspect one broker (see the module docstring)."""

    api: MQClientAPI

    async def _call(
        self, addr: str, code: int, ext: dict[str, str] | None = None, body: bytes | None = None
    ) -> RemotingCommand:
        return await self.api.request(addr, RemotingCommand.request(code, ext, body))

    async def clean_expired_consume_queue(self, broker_addr: str) -> bool:
        """CLEAN_EXPIRED_CONSUMEQUEUE: drop queues whose messages are all deleted."""
        await self._call(broker_addr, RequestCode.CLEAN_EXPIRED_CONSUMEQUEUE)
        return True

    async def delete_expired_commit_log(self, broker_addr: str) -> bool:
        """DELETE_EXPIRED_COMMITLOG: delete expired CommitLog files in the next rounds."""
        await self._call(broker_addr, RequestCode.DELETE_EXPIRED_COMMITLOG)
        return True

    async def clean_unused_topic(self, broker_addr: str) -> bool:
        """CLEAN_UNUSED_TOPIC: drop the queues of topics the broker no longer has."""
        await self._call(broker_addr, RequestCode.CLEAN_UNUSED_TOPIC)
        return True

    async def query_consume_queue(
        self,
        broker_addr: str,
        topic: str,
        queue_id: int,
        index: int,
        count: int,
        group: str | None = None,
    ) -> tuple[dict[str, Any], str | None]:
        """QUERY_CONSUME_QUEUE: (QueryConsumeQueueResponseBody, remark); the body is empty
        and the remark says why when ``index`` is outside the queue."""
        ext = QueryConsumeQueueRequestHeader(
            topic=topic, queue_id=queue_id, index=index, count=count, consumer_group=group
        ).to_ext()
        resp = await self._call(broker_addr, RequestCode.QUERY_CONSUME_QUEUE, ext)
        return (fastjson.loads(resp.body) if resp.body else {}), resp.remark

    async def broker_stats_data(self, broker_addr: str, name: str, key: str) -> dict[str, Any]:
        """VIEW_BROKER_STATS_DATA: BrokerStatsData (statsMinute/Hour/Day: sum, tps, avgpt);
        BrokerError(SYSTEM_ERROR) when the broker keeps no such item."""
        ext = ViewBrokerStatsDataRequestHeader(stats_name=name, stats_key=key).to_ext()
        resp = await self._call(broker_addr, RequestCode.VIEW_BROKER_STATS_DATA, ext)
        result: dict[str, Any] = fastjson.loads(resp.body or b"{}")
        return result

    async def system_topics_of_broker(self, broker_addr: str) -> list[str]:
        """GET_SYSTEM_TOPIC_LIST_FROM_BROKER."""
        resp = await self._call(broker_addr, RequestCode.GET_SYSTEM_TOPIC_LIST_FROM_BROKER)
        obj = fastjson.loads(resp.body or b"{}")
        return [str(t) for t in obj.get("topicList") or []]

    async def resume_check_half_message(self, broker_addr: str, msg_id: str) -> bool:
        """RESUME_CHECK_HALF_MESSAGE: check the transaction message again."""
        ext = ResumeCheckHalfMessageRequestHeader(msg_id=msg_id).to_ext()
        await self._call(broker_addr, RequestCode.RESUME_CHECK_HALF_MESSAGE, ext)
        return True

    async def subscription_group_config(
        self, broker_addr: str, group: str
    ) -> SubscriptionGroupConfig:
        """GET_SUBSCRIPTIONGROUP_CONFIG (RocketMQ 5): one group's settings."""
        ext = GetSubscriptionGroupConfigRequestHeader(group=group).to_ext()
        resp = await self._call(broker_addr, RequestCode.GET_SUBSCRIPTIONGROUP_CONFIG, ext)
        return SubscriptionGroupConfig.from_obj(fastjson.loads(resp.body or b"{}"), group)

    async def create_topic_list(self, broker_addr: str, configs: list[TopicConfig]) -> None:
        """UPDATE_AND_CREATE_TOPIC_LIST (RocketMQ 5): several topics in one request."""
        body = fastjson.dumps({"topicConfigList": [c.to_obj() for c in configs]})
        await self._call(broker_addr, RequestCode.UPDATE_AND_CREATE_TOPIC_LIST, body=body)

    async def create_subscription_group_list(
        self, broker_addr: str, configs: list[SubscriptionGroupConfig]
    ) -> None:
        """UPDATE_AND_CREATE_SUBSCRIPTIONGROUP_LIST (RocketMQ 5): several groups at once."""
        body = fastjson.dumps({"groupConfigList": [c.to_obj() for c in configs]})
        await self._call(
            broker_addr, RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP_LIST, body=body
        )
