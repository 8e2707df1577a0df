"""RocketMQ's remoting protocol: codec, codes, headers, bodies and asyncio transports."""

from rocketq.remoting.client import RemotingClient
from rocketq.remoting.codec import DEFAULT_MAX_FRAME_LENGTH, FrameDecoder, encode, encode_parts
from rocketq.remoting.codes import LanguageCode, RequestCode, ResponseCode, SerializeType
from rocketq.remoting.command import RemotingCommand
from rocketq.remoting.connection import Connection, ProcessorTable
from rocketq.remoting.server import RemotingServer

__all__ = [
    "DEFAULT_MAX_FRAME_LENGTH",
    "Connection",
    "FrameDecoder",
    "LanguageCode",
    "ProcessorTable",
    "RemotingClient",
    "RemotingCommand",
    "RemotingServer",
    "RequestCode",
    "ResponseCode",
    "SerializeType",
    "encode",
    "encode_parts",
]
