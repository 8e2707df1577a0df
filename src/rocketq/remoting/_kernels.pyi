"""Types of the compiled twins in ``_kernels.pyx`` (the pure-Python reference in
``codec.py`` and ``send_codec.py`` carries the same signatures and the docs)."""

from collections.abc import Mapping
from typing import Any, TypeVar

from rocketq.remoting.command import RemotingCommand

DEFAULT_MAX_FRAME_LENGTH: int

class FrameDecoder:
    def __init__(self, max_frame_length: int = ...) -> None: ...
    @property
    def buffered(self) -> int: ...
    def feed(self, data: bytes | bytearray | memoryview) -> list[RemotingCommand]: ...

def decode_frame(frame: bytes | memoryview) -> RemotingCommand: ...
def encode_parts(cmd: RemotingCommand) -> list[bytes]: ...
def header_from_ext(
    plan: tuple[tuple[str, str, int, bool, Any], ...], cls: type[Any], ext: Mapping[str, str] | None
) -> Any: ...
def encode_send_ok(
    opaque: int, serialize_type: int, msg_id: str, queue_id: int, queue_offset: int, region: str
) -> bytes: ...
def send_v2_command(
    code: int,
    group: str,
    topic: str,
    default_topic: str,
    default_topic_queue_nums: int,
    queue_id: int,
    sys_flag: int,
    born_timestamp: int,
    flag: int,
    properties: str,
    batch: bool,
    body: bytes | None,
) -> RemotingCommand: ...

_T = TypeVar("_T")

def slotted_instance(cls: type[_T], values: tuple[Any, ...]) -> _T: ...
def send_result_of(
    cls: type[_T], status: Any, msg_id: str, ext: dict[str, str], mq: Any
) -> _T | None: ...
