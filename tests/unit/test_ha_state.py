"""The HA link tables: every (state, event) pair is either a listed transition or an error,
and the paths a slave and a master take through them."""

from __future__ import annotations

import itertools

import pytest

from rocketq.store.ha.state import (
    MASTER_TRANSITIONS,
    SLAVE_TRANSITIONS,
    HALink,
    HALinkEvent,
    HALinkState,
    HAStateError,
)

S, E = HALinkState, HALinkEvent


def run(link: HALink, *events: HALinkEvent) -> list[HALinkState]:
    return [link.handle(event) for event in events]


def test_slave_connects_fails_retries_and_shuts_down() -> None:
    link = HALink.slave()
    assert link.state is S.READY
    path = run(
        link,
        E.MASTER_ADDRESS,
        E.FAILED,  # connect refused
        E.RETRY,
        E.CONNECTED,
        E.MASTER_ADDRESS,  # a new address does not cut a working link
        E.FAILED,  # EOF / offset mismatch / housekeeping
        E.MASTER_ADDRESS,
        E.RETRY,
        E.CONNECTED,
        E.CLOSE,
        E.FAILED,  # the reader noticing the close afterwards changes nothing
    )
    assert path == [
        S.HANDSHAKE,
        S.SUSPEND,
        S.HANDSHAKE,
        S.TRANSFER,
        S.TRANSFER,
        S.SUSPEND,
        S.SUSPEND,
        S.HANDSHAKE,
        S.TRANSFER,
        S.SHUTDOWN,
        S.SHUTDOWN,
    ]
    assert link.transitions == 8


def test_master_link_waits_for_the_first_report() -> None:
    link = HALink.master()
    assert link.state is S.HANDSHAKE
    assert run(link, E.REPORT, E.REPORT, E.FAILED, E.REPORT, E.CLOSE) == [
        S.TRANSFER,
        S.TRANSFER,
        S.SHUTDOWN,
        S.SHUTDOWN,
        S.SHUTDOWN,
    ]


@pytest.mark.parametrize(
    ("table", "state", "event"),
    [
        (table, state, event)
        for table in (SLAVE_TRANSITIONS, MASTER_TRANSITIONS)
        for state, event in itertools.product(HALinkState, HALinkEvent)
        if (state, event) not in table
    ],
)
def test_events_outside_the_table_are_errors(
    table: dict[tuple[HALinkState, HALinkEvent], HALinkState],
    state: HALinkState,
    event: HALinkEvent,
) -> None:
    link = HALink(table, state)
    with pytest.raises(HAStateError):
        link.handle(event)
    assert link.state is state


@pytest.mark.parametrize("table", [SLAVE_TRANSITIONS, MASTER_TRANSITIONS])
def test_shutdown_is_final_and_reachable_by_close_from_every_live_state(
    table: dict[tuple[HALinkState, HALinkEvent], HALinkState],
) -> None:
    live = {state for state, _ in table if state is not S.SHUTDOWN}
    for state in live:
        assert table[(state, E.CLOSE)] is S.SHUTDOWN
    assert all(new is S.SHUTDOWN for (state, _), new in table.items() if state is S.SHUTDOWN)
