"""PullRequestHoldService's expiry: held pulls are answered on 50 ms ticks, never before
their suspend time and at most a tick after it; a pull woken by a message leaves its
tick; the one loop timer follows the earliest tick."""

from __future__ import annotations

import asyncio

from rocketq.broker.long_polling import TICK_S, HeldPull, PullRequestHoldService
from rocketq.remoting.command import RemotingCommand
from tests.unit.test_broker_processors_alone import connection


def _pull(offset: int = 0) -> HeldPull:
    conn, _ = connection()
    return HeldPull(conn, RemotingCommand.request(11, {}), offset, lambda _code: True)


async def test_held_pulls_expire_after_their_suspend_time_within_a_tick() -> None:
    loop = asyncio.get_running_loop()
    answered: dict[int, float] = {}
    start = loop.time()
    service = PullRequestHoldService(
        lambda pull: answered.setdefault(pull.pull_offset, loop.time() - start)
    )
    # a late timeout first, then earlier ones: the timer moves to the earliest tick
    for offset, timeout_ms in ((1, 300), (2, 120), (3, 0), (4, 120)):
        service.suspend("T", offset, _pull(offset), timeout_ms)
    assert len(service) == 4
    await asyncio.sleep(0.5)
    assert len(service) == 0 and sorted(answered) == [1, 2, 3, 4]
    for offset, timeout_ms in ((1, 300), (2, 120), (3, 0), (4, 120)):
        waited = answered[offset]
        assert timeout_ms / 1000 - 0.002 <= waited <= timeout_ms / 1000 + TICK_S + 0.08, (
            offset,
            waited,
        )
    assert service._timer is None and not service._ticks  # nothing armed once all are gone


async def test_a_woken_pull_leaves_its_tick_and_is_not_answered_twice() -> None:
    answered: list[int] = []
    service = PullRequestHoldService(lambda pull: answered.append(pull.pull_offset))
    service.suspend("T", 0, _pull(5), 100)
    service.suspend("T", 1, _pull(7), 100)
    service.notify_message_arriving("T", 0, 6)  # the queue's next offset passes 5: woken
    assert answered == [5] and len(service) == 1
    assert sum(len(pulls) for pulls in service._ticks.values()) == 1
    service.notify_message_arriving("T", 1, 7)  # not past offset 7: still held
    assert answered == [5]
    await asyncio.sleep(0.25)
    assert answered == [5, 7] and len(service) == 0 and not service._ticks


async def test_wake_all_answers_everything_and_disarms() -> None:
    answered: list[int] = []
    service = PullRequestHoldService(lambda pull: answered.append(pull.pull_offset))
    for offset in range(3):
        service.suspend("T", offset, _pull(offset), 15_000)
    service.wake_all()
    assert sorted(answered) == [0, 1, 2] and len(service) == 0
    assert service._timer is None and not service._ticks


async def test_a_pull_whose_filter_refuses_the_message_stays_held() -> None:
    answered: list[int] = []
    service = PullRequestHoldService(lambda pull: answered.append(pull.pull_offset))
    conn, _ = connection()
    tagged = HeldPull(conn, RemotingCommand.request(11, {}), 0, lambda code: code == 7)
    service.suspend("T", 0, tagged, 15_000)
    service.notify_messages_arriving([("T", 0, 1, 3)])  # another tag: not woken
    assert answered == [] and len(service) == 1
    service.notify_messages_arriving([("T", 0, 2, 7)])
    assert answered == [0] and len(service) == 0 and not service._ticks
