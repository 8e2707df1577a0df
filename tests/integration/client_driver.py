"""A consumer process for the client tests: prints one JSON line per received message.

    python client_driver.py NAMESRV GROUP TOPIC [--orderly] [--broadcast] [--fail-times N]

Prints ``ready`` once started; stops cleanly on SIGTERM (SIGKILL tests a crash).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile

from rocketq.client.config import ClientConfig, ConsumerConfig
from rocketq.client.consume_service import ConsumeConcurrentlyStatus, ConsumeOrderlyStatus
from rocketq.client.message import MessageExt
from rocketq.client.push_consumer import AsyncPushConsumer


async def main(args: argparse.Namespace) -> None:
    client = ClientConfig(
        namesrv_addr=args.namesrv, rebalance_interval=1000, heartbeat_broker_interval=1000,
        persist_consumer_offset_interval=200, poll_name_server_interval=1000,
        instance_name=args.name,
    )  # fmt: skip
    config = ConsumerConfig(
        consume_from_where="CONSUME_FROM_FIRST_OFFSET",
        message_model="BROADCASTING" if args.broadcast else "CLUSTERING",
        suspend_current_queue_time_millis=100,
        max_reconsume_times=args.max_reconsume,
        offset_store_dir=tempfile.mkdtemp(prefix="rocketq-offsets-"),
    )
    failures: dict[str, int] = {}
    ok = ConsumeOrderlyStatus.SUCCESS if args.orderly else ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    later = (
        ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT
        if args.orderly
        else ConsumeConcurrentlyStatus.RECONSUME_LATER
    )

    async def listener(msgs: list[MessageExt], context: object) -> object:
        for m in msgs:
            line = {"body": m.body.decode(), "queue_id": m.queue_id, "offset": m.queue_offset,
                    "reconsume": m.reconsume_times, "keys": m.keys, "topic": m.topic,
                    "msg_id": m.msg_id, "name": args.name}  # fmt: skip
            print(json.dumps(line), flush=True)
            seen = failures.get(m.msg_id, 0)
            if seen < args.fail_times:
                failures[m.msg_id] = seen + 1
                return later
        return ok

    consumer = AsyncPushConsumer(args.group, config=config, client_config=client)
    consumer.subscribe(args.topic, args.expression)
    consumer.register_listener(listener, orderly=args.orderly)
    await consumer.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await consumer.aclose()
    print("closed", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("namesrv")
    parser.add_argument("group")
    parser.add_argument("topic")
    parser.add_argument("--expression", default="*")
    parser.add_argument("--orderly", action="store_true")
    parser.add_argument("--broadcast", action="store_true")
    parser.add_argument("--fail-times", type=int, default=0)
    parser.add_argument("--max-reconsume", type=int, default=-1)
    parser.add_argument("--name", default="c")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
