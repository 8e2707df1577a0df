"""A transaction producer process that leaves its transactions open, for the check-back
test: it sends half messages, answers UNKNOW, never answers a check-back, prints ``sent``
and waits to be killed.

    python tx_producer_driver.py NAMESRV GROUP TOPIC COUNT

Message i has key ``commit-i`` when i is even, ``rollback-i`` when odd.
"""

from __future__ import annotations

import asyncio
import sys

from rocketq.client.config import ClientConfig
from rocketq.client.message import Message, MessageExt
from rocketq.client.transaction import AsyncTransactionProducer, LocalTransactionState


def unknown(msg: Message, arg: object) -> LocalTransactionState:
    return LocalTransactionState.UNKNOW


async def never_answer(msg: MessageExt) -> LocalTransactionState:
    await asyncio.Event().wait()  # a producer that hangs: the broker must ask another one
    return LocalTransactionState.UNKNOW


async def main(namesrv: str, group: str, topic: str, count: int) -> None:
    config = ClientConfig(
        namesrv_addr=namesrv, heartbeat_broker_interval=1000, poll_name_server_interval=1000
    )
    producer = AsyncTransactionProducer(
        group,
        client_config=config,
        execute_local_transaction=unknown,
        check_local_transaction=never_answer,
    )
    await producer.start()
    for i in range(count):
        key = f"commit-{i}" if i % 2 == 0 else f"rollback-{i}"
        result = await producer.send_message_in_transaction(Message(topic, key.encode(), keys=key))
        assert result.local_transaction_state is LocalTransactionState.UNKNOW
    print("sent", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
