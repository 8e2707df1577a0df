"""What a producer's every send builds: the SEND_MESSAGE_V2 request (RocketMQ
``MQClientAPIImpl#sendMessage`` with ``SendMessageRequestHeaderV2``) and the values of its
answer (``SendResult``, a frozen slotted dataclass of the client).

Both have compiled twins in ``_kernels.pyx`` (``rocketq.common.speedups``): written in
Python, the request's extFields (five numbers as text, eleven entries) and the result's
eight slots cost more than the rest of a send's client-side work together. The code here
is their reference.
"""

from __future__ import annotations

from typing import Any, TypeVar

from rocketq.common import speedups
from rocketq.common.message import MessageConst
from rocketq.common.topic import RETRY_GROUP_TOPIC_PREFIX
from rocketq.remoting.command import DEFAULT_LANGUAGE, DEFAULT_VERSION, RemotingCommand

__all__ = ["send_result_of", "send_v2_command", "slotted_instance"]

_T = TypeVar("_T")


@speedups.twin
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
) -> RemotingCommand:
    """A send request (``code``: SEND_MESSAGE_V2, SEND_BATCH_MESSAGE, SEND_REPLY_MESSAGE_V2)
    with ``SendMessageRequestHeaderV2``'s extFields written out, in its field order: what
    the header object's ``to_ext`` gives (a test keeps them the same), reconsumeTimes 0 for
    a retry topic, unitMode false. Has a compiled twin."""
    ext = {
        "a": group,  # producerGroup
        "b": topic,
        "c": default_topic,
        "d": str(default_topic_queue_nums),
        "e": str(queue_id),
        "f": str(sys_flag),
        "g": str(born_timestamp),
        "h": str(flag),
        "i": properties,
    }
    if topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
        ext["j"] = "0"  # reconsumeTimes
    ext["k"] = "false"  # unitMode
    ext["m"] = "true" if batch else "false"
    # Positional (the dataclass's defaults written out): keywords cost a third more.
    return RemotingCommand(code, DEFAULT_LANGUAGE, DEFAULT_VERSION, 0, 0, None, ext, body)


@speedups.twin
def slotted_instance(cls: type[_T], values: tuple[Any, ...]) -> _T:
    """An instance of the slotted class ``cls`` (a frozen dataclass too) with its
    ``__slots__`` set to ``values``, in order, without ``__init__``: a frozen dataclass's
    pays an ``object.__setattr__`` per field. Has a compiled twin."""
    names: tuple[str, ...] = cls.__slots__  # type: ignore[attr-defined]
    if len(values) != len(names):
        raise TypeError(f"{cls.__name__} has {len(names)} slots, {len(values)} values given")
    obj: _T = object.__new__(cls)
    for name, value in zip(names, values, strict=True):
        object.__setattr__(obj, name, value)
    return obj


@speedups.twin
def send_result_of(
    cls: type[_T], status: Any, msg_id: str, ext: dict[str, str], mq: Any
) -> _T | None:
    """The ``SendResult`` (``cls``) of a stored send's answer (``processSendResponse``): its
    slots status, ``msg_id`` (the UNIQ_KEY), msgId, ``mq``, queueOffset, transactionId,
    MSG_REGION (DefaultRegion when absent) and TRACE_ON (true unless "false") filled from
    the answer's extFields ``ext``; None when msgId, queueId or queueOffset is missing or
    not a number, or queueId is not ``mq.queue_id``: the caller then reads the answer its
    own slower way, which names what is wrong. Has a compiled twin."""
    try:
        offset_msg_id = ext["msgId"]
        queue_id = int(ext["queueId"])
        queue_offset = int(ext["queueOffset"])
    except (KeyError, ValueError, TypeError):
        return None
    if queue_id != mq.queue_id:
        return None
    get = ext.get
    values = (status, msg_id, offset_msg_id, mq, queue_offset, get("transactionId"),
              get(MessageConst.MSG_REGION, "DefaultRegion"),
              get(MessageConst.TRACE_SWITCH) != "false")  # fmt: skip
    return slotted_instance(cls, values)
