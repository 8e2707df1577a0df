"""kill -9 a process that appends with SYNC_FLUSH from many writers, 20 times in a row on
the same store: every acknowledged message must come back byte-identical, queue offsets
stay dense, every visible message is indexed, and no torn record is ever exposed. A shorter
run has the writer in pure Python (ROCKETQ_PURE_PYTHON=1) while this process, with the
compiled core where it is built, recovers and reads its store: the two write the same bytes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rocketq.common import speedups
from rocketq.store.config import StoreConfig
from rocketq.store.format import StoredMessage, encode_properties
from rocketq.store.message_store import DefaultMessageStore, decode_records

WRITER = Path(__file__).with_name("store_writer.py")
KILLS = 20
# The pure-Python writer's run: enough for one recovery check, a quarter of the time.
PURE_KILLS = 5


def body_of(key: str) -> bytes:
    return f"{key}-".encode() * 8


Ack = tuple[str, int, int]  # key, queue id, queue offset


def run_and_kill(root: Path, run: int, acks_wanted: int, pure: bool = False) -> list[Ack]:
    """Run the writer, SIGKILL it after ``acks_wanted`` acks; return what it acknowledged.
    ``pure``: the writer runs the pure-Python reference instead of the compiled core."""
    env = {**os.environ, speedups.ENV_VAR: "1"} if pure else None
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(root), str(run)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    acks: list[Ack] = []
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        while len(acks) < acks_wanted:
            line = proc.stdout.readline()
            if not line:
                break
            _, w, s, q, _p = line.split()
            acks.append((f"r{run}-w{w}-s{s}", int(w) % 4, int(q)))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return acks


def config_for(root: Path, **kw: object) -> StoreConfig:
    config = StoreConfig(
        store_path_root_dir=str(root),
        mapped_file_size_commit_log=64 * 1024,
        mapped_file_size_consume_queue=20 * 256,
    )
    for k, v in kw.items():
        setattr(config, k, v)
    return config


async def read_all(store: DefaultMessageStore) -> dict[tuple[int, int], bytes]:
    found: dict[tuple[int, int], bytes] = {}
    for qid in range(4):
        offset = 0
        while True:
            r = store.get_message("g", "Crash", qid, offset, 32)
            if r.status.name != "FOUND":
                break
            for rec in decode_records(b"".join(r.buffers)):  # raises on a torn record
                props = rec.properties_map()
                assert rec.queue_id == qid and rec.body == body_of(props["KEYS"])
                found[(qid, rec.queue_offset)] = rec.body
            offset = r.next_begin_offset
            r.release()
    return found


async def check_store(root: Path, acked: list[Ack], rnd: random.Random) -> None:
    store = DefaultMessageStore(config_for(root))
    await store.start()
    try:
        found = await read_all(store)
        for key, qid, offset in acked:
            assert found.get((qid, offset)) == body_of(key), (key, qid, offset)
        for qid in range(4):
            offsets = sorted(o for (x, o) in found if x == qid)
            assert offsets == list(range(len(offsets)))
        for key, _qid, _offset in rnd.sample(acked, min(20, len(acked))):  # fully indexed
            hits = store.query_message("Crash", key, 32, 0, 2**62)
            assert [decode_records(b)[0].body for b in hits.buffers] == [body_of(key)]
    finally:
        await store.aclose()


@pytest.mark.slow
@pytest.mark.parametrize(("writer", "kills"), [("default", KILLS), ("pure", PURE_KILLS)])
async def test_kill_9_twenty_times_loses_no_acknowledged_message(
    tmp_path: Path, writer: str, kills: int
) -> None:
    rnd = random.Random(20261121)
    root = tmp_path / "store"
    acked: list[Ack] = []
    for kill in range(kills):
        acked += run_and_kill(root, kill, rnd.randint(0, 250), pure=writer == "pure")
        if kill % 5 == 4:
            await check_store(root, acked, rnd)
    assert len(acked) > kills * 50


async def test_async_flush_clean_stop_loses_nothing(tmp_path: Path) -> None:
    config = config_for(tmp_path / "s", flush_disk_type="ASYNC_FLUSH")
    store = DefaultMessageStore(config)
    await store.start()
    for i in range(500):
        key = f"w{i % 4}-s{i}"
        msg = StoredMessage(
            topic="Crash",
            queue_id=i % 4,
            body=body_of(key),
            properties=encode_properties({"KEYS": key}),
        )
        assert (await store.put_message(msg)).status.name == "PUT_OK"
    await store.aclose()
    again = DefaultMessageStore(config)
    await again.start()
    try:
        assert len(await read_all(again)) == 500
    finally:
        await again.aclose()
