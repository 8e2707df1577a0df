"""``rocketq.testing.running_cluster``: a whole cluster inside a user's own async test."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rocketq import (
    AsyncProducer,
    AsyncPushConsumer,
    ClientConfig,
    ConsumeConcurrentlyStatus,
    Message,
)
from rocketq.client.config import ConsumerConfig
from rocketq.client.message import MessageExt
from rocketq.testing import running_cluster


async def test_running_cluster_round_trip(tmp_path: Path) -> None:
    async with running_cluster(tmp_path / "store") as (namesrv, broker):
        got: asyncio.Queue[bytes] = asyncio.Queue()

        async def listener(msgs: list[MessageExt], context: object) -> ConsumeConcurrentlyStatus:
            for m in msgs:
                await got.put(m.body)
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS

        config = ConsumerConfig(
            consume_from_where="CONSUME_FROM_FIRST_OFFSET", offset_store_dir=str(tmp_path)
        )
        consumer = AsyncPushConsumer(
            "helper-cg", config=config, client_config=ClientConfig(namesrv_addr=namesrv.address)
        )
        async with AsyncProducer("helper-pg", namesrv.address) as producer:
            await producer.send(Message("HelperTopic", b"hi"))
        consumer.subscribe("HelperTopic", "*")
        consumer.register_listener(listener)
        async with consumer:
            assert await asyncio.wait_for(got.get(), 30) == b"hi"
        assert broker.stats().topics > 0
