"""The send path's shortcuts equal the general code they stand in for (issue 11)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from rocketq.broker.processor.send import _join_clean
from rocketq.common.message import decode_properties, encode_properties
from rocketq.common.record import StoredMessage, sent_message
from rocketq.remoting.codec import FrameDecoder, encode
from rocketq.remoting.command import RemotingCommand
from rocketq.store.commit_log import CommitLog
from rocketq.store.config import StoreConfig
from rocketq.store.flush import CommitLogFlushService


def test_sent_message_equals_the_dataclass_constructor() -> None:
    fast = sent_message("T", 3, b"body", "a\x01b", {"a": "b"}, 7, 8, 9, ("10.0.0.1", 5), 2)
    slow = StoredMessage(
        topic="T", queue_id=3, body=b"body", properties="a\x01b", props={"a": "b"}, flag=7,
        sys_flag=8, born_timestamp=9, born_host=("10.0.0.1", 5), reconsume_times=2,
    )  # fmt: skip
    assert fast == slow
    for f in dataclasses.fields(StoredMessage):
        assert getattr(fast, f.name) == getattr(slow, f.name), f.name


_text = st.text(st.characters(blacklist_characters="\x01\x02"), max_size=12)


@given(st.lists(st.tuples(_text, _text), max_size=8))
def test_join_clean_equals_encode_properties_on_decoded_pairs(pairs: list[tuple[str, str]]) -> None:
    props = decode_properties("\x02".join(f"{k}\x01{v}" for k, v in pairs))
    props["CLUSTER"] = "DefaultCluster"
    assert _join_clean(props) == encode_properties(props)


@given(
    st.integers(-(2**15), 2**15 - 1),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(0, 3),
    st.sampled_from(["JAVA", "CPP", "PYTHON"]),
)
def test_json_header_round_trip(code: int, opaque: int, flag: int, language: str) -> None:
    cmd = RemotingCommand(code=code, opaque=opaque, flag=flag, language=language,
                          ext_fields={"a": "1"}, body=b"x")  # fmt: skip
    (back,) = FrameDecoder().feed(encode(cmd))
    assert back == cmd


async def test_group_commit_waiters_answered_once_in_order(tmp_path: Path) -> None:
    config = StoreConfig(store_path_root_dir=str(tmp_path), flush_disk_type="SYNC_FLUSH")
    log = CommitLog(tmp_path / "commitlog", 64 * 1024, ("127.0.0.1", 10911))
    log.load()
    service = CommitLogFlushService(log, config)
    answers: list[tuple[int, bool]] = []
    # Nobody syncs yet: the first waiter times out, exactly once.
    end = _append(log)
    service.when_flushed(end, 0.01, lambda ok: answers.append((1, ok)))
    while not answers:
        await asyncio.sleep(0.005)
    assert answers == [(1, False)]
    service.start()
    done = asyncio.Event()
    for n in range(2, 6):
        end = _append(log)
        service.when_flushed(end, 30.0, lambda ok, n=n: answers.append((n, ok)))
    service.when_flushed(end, 30.0, lambda ok: done.set())
    await done.wait()
    assert answers == [(1, False), (2, True), (3, True), (4, True), (5, True)]
    assert log.queue.flushed_where >= end
    # Already on disk: answered at once.
    service.when_flushed(end, 30.0, lambda ok: answers.append((6, ok)))
    assert answers[-1] == (6, True)
    await service.aclose()
    log.close()


def _append(log: CommitLog) -> int:
    (result,) = log.append_batch([StoredMessage(topic="T", queue_id=0, body=b"x" * 100)])
    return result.physical_offset + result.size


async def test_requests_of_the_next_loop_turns_share_the_syncs(tmp_path: Path) -> None:
    # A Java client writes each request on its own: the frames of one turn of its senders
    # reach the broker in consecutive turns of the loop. The group commit thread syncs the
    # first at once; those that arrive meanwhile share the next sync (GroupCommitService).
    config = StoreConfig(store_path_root_dir=str(tmp_path), flush_disk_type="SYNC_FLUSH")
    log = CommitLog(tmp_path / "commitlog", 64 * 1024, ("127.0.0.1", 10911))
    log.load()
    syncs: list[int] = []
    service = CommitLogFlushService(log, config, syncs.append)
    service.start()
    answered: list[tuple[int, bool]] = []
    loop = asyncio.get_running_loop()
    ends: list[int] = []

    def request(n: int) -> None:
        ends.append(_append(log))
        service.when_flushed(ends[-1], 30.0, lambda ok: answered.append((n, ok)))
        if n < 6:
            loop.call_soon(request, n + 1)  # the next one, a turn later

    request(1)
    while len(answered) < 6:
        await asyncio.sleep(0.005)
    assert answered == [(n, True) for n in range(1, 7)]
    assert 1 <= len(syncs) <= 6  # fewer when later requests shared a sync (disk speed)
    assert syncs[-1] >= ends[-1] and log.queue.flushed_where >= ends[-1]
    await service.aclose()
    log.close()
