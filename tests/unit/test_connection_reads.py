"""A server connection answers the requests of one read at the end of that read: one write,
no loop turn in between (``Connection.data_received`` with many-processors)."""

from __future__ import annotations

import asyncio
from typing import Any

from rocketq.remoting.codec import FrameDecoder, encode
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection, ProcessorTable


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[list[bytes]] = []

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 4000) if name in ("peername", "sockname") else default

    def writelines(self, list_of_data: Any) -> None:
        self.writes.append(list(list_of_data))

    def is_closing(self) -> bool:
        return False


def _echo_many(conn: Connection, reqs: list[RemotingCommand]) -> list[RemotingCommand | None]:
    out: list[RemotingCommand | None] = []
    for req in reqs:
        if req.code == 2:  # answered straight as a frame, as the send path does
            conn.answer_frame(req, encode(req.make_response(remark="frame")))
            out.append(None)
        else:
            out.append(req.make_response(remark=str(req.opaque)))
    return out


async def test_the_answers_of_a_read_go_out_in_one_write_before_it_returns() -> None:
    table = ProcessorTable()
    for code in (1, 2):
        table.register(code, lambda c, r: None, _echo_many)
    conn = Connection(table, server_side=True)
    transport = _Transport()
    conn.connection_made(transport)
    reqs = [RemotingCommand(1 + n % 2, opaque=n + 1) for n in range(5)]
    conn.data_received(b"".join(encode(r) for r in reqs))
    assert len(transport.writes) == 1  # already written, with no loop turn
    answers = FrameDecoder().feed(b"".join(transport.writes[0]))
    by_opaque = {a.opaque: a.remark for a in answers}  # matched by opaque, not by order
    assert by_opaque == {1: "1", 2: "frame", 3: "3", 4: "frame", 5: "5"}
    conn.data_received(encode(reqs[0])[:5])  # part of a frame: nothing to answer yet
    await asyncio.sleep(0)
    assert len(transport.writes) == 1
