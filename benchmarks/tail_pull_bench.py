"""CPU per message of the broker when a push consumer keeps up with its producer: the path
RocketMQ's benchmark ``Consumer`` + ``Producer`` pair (the anchor kit's ``bench.sh e2e``)
runs, without sockets.

On the system topic ``BenchmarkTest`` (1,024 queues, as in RocketMQ) a consumer that keeps
up has a pull held on every queue, so each message costs three requests: its send, the
held pull it wakes (answered with that one message) and the pull that comes back to be
held again. A real :class:`BrokerController` (store in a temporary directory, ASYNC_FLUSH,
no NameServer) serves a producer's and a consumer's :class:`Connection` (transports that
count and drop what is written); each message goes:

1. the consumer's PULL_MESSAGE for the queue's next offset, as the Java client sends it
   (JSON header, commit-offset and suspend flags, the subscription from its heartbeat):
   held;
2. the producer's SEND_MESSAGE_V2 (1 KiB, UNIQ_KEY/WAIT/TAGS) to that queue: stored and
   answered; its arrival wakes the held pull, answered with the message.

Reported: process CPU µs per message (``time.process_time``), median and best of
``--repeat`` runs; ``--profile`` prints the top of a cProfile of the last run.

    .venv/bin/python benchmarks/tail_pull_bench.py [--messages 4096] [--repeat 7]
    .venv/bin/python benchmarks/tail_pull_bench.py --src base=/tmp/rq-base/src --src new=src

With several ``--src`` trees the runs alternate between child processes of each tree.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

_TOPIC = "BenchmarkTest"  # RocketMQ's benchmark topic: 1,024 queues
_GROUP = "benchmark_consumer"
_JAVA_FLAGS = 0x1 | 0x2  # COMMIT_OFFSET | SUSPEND (a Java push consumer's, no SUBSCRIPTION)


class CountingTransport(asyncio.Transport):
    """Counts the frames and bytes a Connection writes and drops them."""

    def __init__(self) -> None:
        super().__init__()
        self.frames = 0
        self.bytes = 0
        self.wrote = asyncio.Event()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name in ("peername", "sockname") else default

    def write(self, data: Any) -> None:
        self.writelines([data])

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.bytes += len(data)
        self.frames += 1
        self.wrote.set()

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


def _frames(messages: int, queues: int, start: int) -> list[tuple[bytes, bytes]]:
    """(pull frame, send frame) of each message, queue after queue round robin; the pull
    asks for the offset the queue's next message will take."""
    from rocketq.remoting.codec import encode
    from rocketq.remoting.codes import RequestCode
    from rocketq.remoting.command import RemotingCommand
    from rocketq.remoting.headers import SendMessageRequestHeaderV2

    out = []
    body = b"x" * 1024
    for i in range(start, start + messages):
        queue_id, offset = i % queues, i // queues
        ext = {
            "consumerGroup": _GROUP,
            "topic": _TOPIC,
            "queueId": str(queue_id),
            "queueOffset": str(offset),
            "maxMsgNums": "32",
            "sysFlag": str(_JAVA_FLAGS),
            "commitOffset": str(offset),
            "suspendTimeoutMillis": "15000",
            "subVersion": "0",
            "expressionType": "TAG",
        }
        pull = RemotingCommand.request(RequestCode.PULL_MESSAGE, ext)
        pull.opaque, pull.language = 2 * i + 1, "JAVA"
        header = SendMessageRequestHeaderV2(
            producer_group="benchmark_producer", topic=_TOPIC, default_topic="TBW102",
            default_topic_queue_nums=4, queue_id=queue_id, sys_flag=0,
            born_timestamp=int(time.time() * 1000), flag=0,
            properties=f"UNIQ_KEY\x01{uuid.uuid4().hex.upper()}\x02WAIT\x01true\x02TAGS\x01TagA\x02",
            reconsume_times=0, unit_mode=False, batch=False,
        )  # fmt: skip
        send = RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header.to_ext(), body)
        send.opaque, send.language = 2 * i + 2, "JAVA"
        out.append((encode(pull), encode(send)))
    return out


def _heartbeat() -> bytes:
    """A Java push consumer's HEART_BEAT: its group, subscribed to the topic with ``*``."""
    from rocketq.remoting.codec import encode
    from rocketq.remoting.codes import RequestCode
    from rocketq.remoting.command import RemotingCommand
    from rocketq.remoting.heartbeat import ConsumerData, HeartbeatData, build_subscription

    data = HeartbeatData(
        client_id="127.0.0.1@bench",
        consumer_data_set=[
            ConsumerData(_GROUP, subscription_data_set=[build_subscription(_TOPIC, "*")])
        ],
    )
    cmd = RemotingCommand.request(RequestCode.HEART_BEAT, {}, data.encode())
    cmd.language = "JAVA"
    return encode(cmd)


async def _drive(
    consumer: Any, producer: Any, pulled: CountingTransport, frames: list[tuple[bytes, bytes]]
) -> None:
    for pull, send in frames:
        answered = pulled.frames
        pulled.wrote.clear()
        consumer.data_received(pull)  # held: nothing written
        producer.data_received(send)  # stored and answered; wakes the pull
        while pulled.frames == answered:  # the wake pass and the pull's answer
            await pulled.wrote.wait()
            pulled.wrote.clear()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start a broker, drive the messages through, return the figures."""
    from rocketq.broker.config import BrokerConfig
    from rocketq.broker.controller import BrokerController
    from rocketq.common.topic import TopicConfig
    from rocketq.remoting.connection import Connection
    from rocketq.store.config import StoreConfig

    root = tempfile.mkdtemp(prefix="rq-tailbench-")
    store_config = StoreConfig(store_path_root_dir=root)
    store_config.ha_listen_port = 0
    config = BrokerConfig(broker_name="broker-a", listen_port=0, namesrv_addr="")
    controller = BrokerController(config, store_config)
    await controller.start()
    try:
        if args.queues:
            controller.topic_config_manager.update(TopicConfig(_TOPIC, args.queues, args.queues))
        queues = controller.topic_config_manager.table[_TOPIC].read_queue_nums
        conns = []
        for _ in range(2):
            transport = CountingTransport()
            conn = Connection(controller.server.processors)
            conn.connection_made(transport)
            conns.append((conn, transport))
        (consumer, pulled), (producer, _) = conns
        consumer.data_received(_heartbeat())  # the group and its subscription
        await pulled.wrote.wait()
        sent = 0
        await _drive(consumer, producer, pulled, _frames(queues, queues, sent))  # warm up
        sent += queues
        times: list[float] = []
        loop_times: list[float] = []  # the loop thread's alone
        profiler = cProfile.Profile() if args.profile else None
        for n in range(args.repeat):
            frames = _frames(args.messages, queues, sent)
            sent += args.messages
            before = pulled.bytes
            if profiler is not None and n == args.repeat - 1:
                profiler.enable()
            start, start_loop = time.process_time(), time.thread_time()
            await _drive(consumer, producer, pulled, frames)
            times.append((time.process_time() - start) * 1e6 / args.messages)
            loop_times.append((time.thread_time() - start_loop) * 1e6 / args.messages)
            if profiler is not None and n == args.repeat - 1:
                profiler.disable()
            assert pulled.bytes - before > args.messages * 1024, "pulls answered without bodies"
        out: dict[str, Any] = {"times": times, "loop_times": loop_times}
        if profiler is not None:
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(40)
            out["profile"] = text.getvalue()
        return out
    finally:
        await controller.aclose()
        shutil.rmtree(root, ignore_errors=True)


def child(args: argparse.Namespace) -> None:
    """One tree's runs, as JSON on stdout."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(run(args))))


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--messages", type=int, default=4096)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--queues", type=int, default=0, help="give the topic this many queues")
    p.add_argument("--rounds", type=int, default=3, help="alternations between --src trees")
    p.add_argument("--src", action="append", default=[], help="LABEL=PATH of a src tree")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    trees = [s.split("=", 1) for s in args.src] or [
        ["src", str(Path(__file__).parent.parent / "src")]
    ]
    results: dict[str, list[float]] = {label: [] for label, _ in trees}
    loop: dict[str, list[float]] = {label: [] for label, _ in trees}  # the loop thread alone
    for _ in range(args.rounds):
        for label, path in trees:
            env = {**os.environ, "PYTHONPATH": str(Path(path).resolve())}
            cmd = [sys.executable, __file__, "--child", "--messages", str(args.messages),
                   "--repeat", str(args.repeat), "--queues", str(args.queues)]  # fmt: skip
            if args.profile:
                cmd.append("--profile")
            out = json.loads(
                subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
            )
            results[label] += out["times"]
            loop[label] += out["loop_times"]
            if args.profile:
                print(out["profile"])
    what = "send + held pull + woken pull"
    print(f"consumer keeping up on {_TOPIC}: broker CPU µs per message ({what})")
    for label, values in results.items():
        median, best = statistics.median(values), min(values)
        on_loop = statistics.median(loop[label])
        print(f"  {label:>10}: median {median:6.1f}  best {best:6.1f}  (loop thread "
              f"{on_loop:.1f}; {len(values)} runs)")  # fmt: skip


if __name__ == "__main__":
    main()
