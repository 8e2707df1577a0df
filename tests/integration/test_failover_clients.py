"""rocketq's push consumer through a controller-mode failover (issue 12): it runs across a
SIGKILL of the master while rocketq producers send, follows the route to the new master and
receives every acknowledged message."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.client import AsyncPushConsumer, ClientConfig, ConsumeConcurrentlyStatus
from rocketq.client.config import ConsumerConfig
from rocketq.client.message import MessageExt
from rocketq.testing import async_wait_until, controller_cluster

from .test_controller_mode import GROUP, NO_TIMEOUT, SETUP_DEADLINE, TOPIC, create_topic
from .test_ha_cluster import send_stream

pytestmark = pytest.mark.slow  # a broker is SIGKILLed


async def test_push_consumer_receives_every_acked_message_across_a_failover(
    tmp_path: Path,
) -> None:
    received: dict[str, bytes] = {}

    def listener(msgs: list[MessageExt], _ctx: object) -> ConsumeConcurrentlyStatus:
        for m in msgs:
            received[m.keys or ""] = m.body
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

    with controller_cluster(tmp_path, 3, broker_name=GROUP, broker_config=NO_TIMEOUT) as group:
        ns = group.namesrv.addr
        async with AdminClient(ns) as admin:
            route = await group.wait_settled(admin, SETUP_DEADLINE)
            old_master = route[0]
            await create_topic(admin, old_master, [a for b, a in route.items() if b])
            consumer = AsyncPushConsumer(
                "failover-cg",
                config=ConsumerConfig(consume_from_where="CONSUME_FROM_FIRST_OFFSET"),
                client_config=ClientConfig(namesrv_addr=ns, poll_name_server_interval=500),
            )
            consumer.subscribe(TOPIC, "*")
            consumer.register_listener(listener)
            await consumer.start()
            try:
                stop = asyncio.Event()
                stream = asyncio.create_task(send_stream(ns, "fo", stop, senders=4))
                await async_wait_until(lambda: len(received) > 20, SETUP_DEADLINE, 0.05)
                group.brokers[group.index_of(old_master)].stop(signal.SIGKILL)

                async def new_master() -> str | None:
                    r = await group.route(admin)
                    return r[0] if r.get(0) not in (None, old_master) else None

                await async_wait_until(new_master, SETUP_DEADLINE, 0.05, "no new master")
                before = len(received)
                # deliveries go on from the new master
                await async_wait_until(lambda: len(received) > before + 20, SETUP_DEADLINE, 0.05)
                stop.set()
                acked = await stream
                await async_wait_until(
                    lambda: set(acked) <= set(received),
                    SETUP_DEADLINE,
                    0.05,
                    "acknowledged messages never delivered",
                )
            finally:
                await consumer.aclose()
    assert all(received[k] == body for k, body in acked.items())
