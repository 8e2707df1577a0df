"""The Apache RocketMQ C++ client through a controller-mode failover (issue 12).

A NameServer with the controller inside and three controller-mode brokers with
``allAckInSyncStateSet`` (real processes, ``controller_cluster``). A C++ producer sends
without pause while the master is SIGKILLed: sends fail while its route still names the dead
master, and go on once librocketmq's periodic route refresh finds the new one. Every message
the C++ producer saw acknowledged is on the new master, and a C++ push consumer started
afterwards receives every one of them, as does one that ran across the failover."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from rocketq.admin import AdminClient
from rocketq.testing import async_wait_until, controller_cluster, create_replicated_topic
from tests.integration.conftest import pull_all
from tests.interop.conftest import CPP_DRIVER, Driver

pytestmark = [pytest.mark.interop, pytest.mark.slow]  # a broker is SIGKILLed

GROUP = "cpp-ctl"
TOPIC = "CppFailover"
QUEUES = 4
# Only the closed connection may elect in time: heartbeats would take a minute.
NO_TIMEOUT = {"controllerHeartBeatTimeoutMills": "60000"}
SETTLE_S = 60.0
# librocketmq refreshes routes every 30 s; a loaded machine may add some.
ROUTE_REFRESH_BOUND_S = 90.0
BEFORE_KILL = 100  # acknowledged sends before the master dies
AFTER_FAILOVER = 100  # acknowledged sends needed after it


def cpp(python: Path, home: Path, *args: str) -> Driver:
    return Driver([str(python), str(CPP_DRIVER), *args], env={"HOME": str(home)})


def acked(producer: Driver) -> list[str]:
    """Keys of the sends the C++ producer saw answered SEND_OK (its ``OK``), in order."""
    return [f"f{m['i']}" for m in producer.lines if m.get("status") == "OK"]


async def create_topic(admin: AdminClient, route: dict[int, str]) -> None:
    slaves = [a for b, a in route.items() if b]
    await create_replicated_topic(admin, route[0], slaves, TOPIC, QUEUES, SETTLE_S)


async def test_cpp_producer_and_consumer_go_on_through_a_failover(
    tmp_path: Path, cpp_python: Path, drivers: list[Driver]
) -> None:
    with controller_cluster(tmp_path, 3, broker_name=GROUP, broker_config=NO_TIMEOUT) as group:
        ns = group.namesrv.addr
        async with AdminClient(ns) as admin:
            route = await group.wait_settled(admin, SETTLE_S)
            old_master = route[0]
            await create_topic(admin, route)
            producer = cpp(cpp_python, tmp_path, "produce", "--namesrv", ns, "--topic",
                           TOPIC, "--group", "cpp-ctl-pg", "--count", "1000000",
                           "--keys-prefix", "f")  # fmt: skip
            drivers.append(producer)
            # a consumer running across the failover, beside one started after it (below)
            across = cpp(cpp_python, tmp_path, "consume", "--namesrv", ns, "--topic", TOPIC,
                         "--group", "cpp-ctl-across", "--expect", "1000000",
                         "--timeout", "300")  # fmt: skip
            drivers.append(across)
            await async_wait_until(
                lambda: len(acked(producer)) >= BEFORE_KILL and len(across.messages) > 0,
                SETTLE_S,
                message="no C++ sends or deliveries",
            )
            group.brokers[group.index_of(old_master)].stop(signal.SIGKILL)
            at_kill = len(acked(producer))

            async def new_master() -> str | None:
                r = await group.route(admin)
                return r[0] if r.get(0) not in (None, old_master) else None

            master = await async_wait_until(new_master, SETTLE_S, 0.05, "no new master")
            t0 = time.monotonic()
            await async_wait_until(
                lambda: len(acked(producer)) >= at_kill + AFTER_FAILOVER,
                ROUTE_REFRESH_BOUND_S,
                message="the C++ producer did not go on after the failover",
            )
            print(f"\nC++ producer sending again {time.monotonic() - t0:.1f} s after failover")
            producer.kill()
            keys = set(acked(producer))
            stored = {m.keys for m in await pull_all(admin, master, TOPIC, QUEUES)}
            assert keys <= stored, f"acknowledged but lost: {sorted(keys - stored)[:5]}"

            def received(consumer: Driver) -> set[str]:
                return {str(m["keys"]) for m in consumer.messages}

            await async_wait_until(
                lambda: keys <= received(across),
                ROUTE_REFRESH_BOUND_S,
                message="the consumer running across the failover missed acknowledged sends",
            )
            across.kill()

        consumer = cpp(cpp_python, tmp_path, "consume", "--namesrv", ns, "--topic", TOPIC,
                       "--group", "cpp-ctl-cg", "--expect", str(len(stored)),
                       "--timeout", "150")  # fmt: skip
        drivers.append(consumer)
        done = consumer.wait(180)
        assert done["timed_out"] is False, done
        assert keys <= received(consumer)
