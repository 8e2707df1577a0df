"""Talking to a broker in raw RocketMQ frames, for tests that check answers frame by frame."""

from __future__ import annotations

import asyncio

from rocketq.remoting.codec import FrameDecoder, encode
from rocketq.remoting.command import RemotingCommand

ANSWER_TIMEOUT_S = 20.0


async def exchange(port: int, frames: list[RemotingCommand]) -> dict[int, RemotingCommand]:
    """Write all ``frames`` in one write to 127.0.0.1:``port``; their answers by opaque."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"".join(encode(cmd) for cmd in frames))
        await writer.drain()
        decoder = FrameDecoder()
        answers: dict[int, RemotingCommand] = {}
        while len(answers) < len(frames):
            data = await asyncio.wait_for(reader.read(65536), ANSWER_TIMEOUT_S)
            assert data, f"connection closed with {len(answers)} of {len(frames)} answers"
            for cmd in decoder.feed(data):
                answers[cmd.opaque] = cmd
        return answers
    finally:
        writer.close()
