"""Types of the compiled twins in ``_kernels.pyx`` (the pure-Python reference in
``plain_send.py`` carries the same signatures and the docs)."""

from typing import Any

from rocketq.remoting.command import RemotingCommand

DEFAULT_MAX_FRAME_LENGTH: int

def decode_send_frame(frame: bytes | memoryview) -> RemotingCommand: ...

class SendFrameDecoder:
    def __init__(self, max_frame_length: int = ...) -> None: ...
    @property
    def buffered(self) -> int: ...
    def feed(self, data: bytes | bytearray | memoryview) -> list[RemotingCommand]: ...

def plain_message(
    topic: str,
    queue_id: int,
    body: bytes,
    text: str,
    flag: int,
    sys_flag: int,
    born_timestamp: int,
    born_host: tuple[str, int],
    reconsume_times: int,
    cluster: str,
    refuse: frozenset[str],
) -> tuple[Any, bool] | None: ...
