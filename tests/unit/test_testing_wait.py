"""``rocketq.testing.wait_until`` and ``async_wait_until``: poll until true, return the value."""

from __future__ import annotations

import itertools

import pytest

from rocketq.testing import async_wait_until, wait_until


def test_wait_until_returns_the_first_true_value() -> None:
    counter = itertools.count()
    assert wait_until(lambda: [n] if (n := next(counter)) == 3 else [], interval=0) == [3]


def test_wait_until_names_what_did_not_happen() -> None:
    with pytest.raises(AssertionError, match="not true within 0 s: the queue drained"):
        wait_until(lambda: False, timeout=0, message="the queue drained")


async def test_wait_until_refuses_to_block_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="async_wait_until"):
        wait_until(lambda: True)


async def test_async_wait_until_takes_plain_and_async_predicates() -> None:
    counter = itertools.count()

    async def ready() -> int:
        return next(counter) >= 2 and 42

    assert await async_wait_until(ready, interval=0) == 42
    assert await async_wait_until(lambda: "yes") == "yes"
    with pytest.raises(AssertionError, match="ready"):
        await async_wait_until(lambda: 0, timeout=0, message="ready")
