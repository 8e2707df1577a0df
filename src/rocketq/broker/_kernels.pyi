"""Types of the compiled twins in ``_kernels.pyx`` (the pure-Python reference in
``plain_send.py`` carries the same signatures and the docs)."""

from rocketq.remoting.command import RemotingCommand

DEFAULT_MAX_FRAME_LENGTH: int

def decode_send_frame(frame: bytes | memoryview) -> RemotingCommand: ...

class SendFrameDecoder:
    def __init__(self, max_frame_length: int = ...) -> None: ...
    @property
    def buffered(self) -> int: ...
    def feed(self, data: bytes | bytearray | memoryview) -> list[RemotingCommand]: ...
