"""Child process for the crash test: many concurrent writers append with SYNC_FLUSH and
print one line per acknowledged message: ``ack <writer> <seq> <queue_offset> <phys>``.
Keys and bodies carry the run number given on the command line, so they are unique
across restarts."""

from __future__ import annotations

import asyncio
import sys

from rocketq.store.config import StoreConfig
from rocketq.store.format import StoredMessage, encode_properties
from rocketq.store.message_store import DefaultMessageStore

WRITERS = 16


async def writer(store: DefaultMessageStore, run: str, n: int) -> None:
    seq = 0
    while True:
        key = f"r{run}-w{n}-s{seq}"
        body = f"{key}-".encode() * 8
        props = encode_properties({"KEYS": key, "TAGS": f"w{n}"})
        msg = StoredMessage(topic="Crash", queue_id=n % 4, body=body, properties=props)
        result = await store.put_message(msg)
        if result.status.name == "PUT_OK":
            a = result.appended[0]
            sys.stdout.write(f"ack {n} {seq} {a.queue_offset} {a.physical_offset}\n")
            sys.stdout.flush()
        seq += 1


async def main(root: str, run: str) -> None:
    config = StoreConfig(
        store_path_root_dir=root,
        mapped_file_size_commit_log=64 * 1024,
        mapped_file_size_consume_queue=20 * 256,
        flush_disk_type="SYNC_FLUSH",
    )
    store = DefaultMessageStore(config)
    await store.start()
    print("ready", flush=True)
    await asyncio.gather(*(writer(store, run, n) for n in range(WRITERS)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "0"))
