"""``RemotingCommand``: the one message shape of RocketMQ's remoting protocol.

Mirrors ``org.apache.rocketmq.remoting.protocol.RemotingCommand``: a code, the
sender's language and version, an ``opaque`` id that matches a response to its
request, a ``flag`` (bit 0 response, bit 1 one-way), an optional ``remark``,
the ``extFields`` string map (the "custom header") and an opaque body.
"""

from __future__ import annotations

from dataclasses import dataclass

from rocketq.remoting.codes import ResponseCode, SerializeType

__all__ = [
    "DEFAULT_LANGUAGE",
    "DEFAULT_VERSION",
    "FLAG_ONEWAY",
    "FLAG_RESPONSE",
    "RemotingCommand",
]

FLAG_RESPONSE = 1
FLAG_ONEWAY = 2

# We are Python; Java 4.9's LanguageCode already knows the name PYTHON, so Java peers map it.
DEFAULT_LANGUAGE = "PYTHON"
# MQVersion.Version.V4_9_4.ordinal(): Java clients compare the broker's version against
# feature gates (e.g. SQL92 filtering needs >= V4_1_0) and pick quoted route JSON at >= 401.
DEFAULT_VERSION = 401


@dataclass(slots=True)
class RemotingCommand:
    """A request or a response, as it travels on the wire."""

    code: int
    language: str = DEFAULT_LANGUAGE
    version: int = DEFAULT_VERSION
    opaque: int = 0
    flag: int = 0
    remark: str | None = None
    ext_fields: dict[str, str] | None = None
    body: bytes | None = None
    serialize_type: int = SerializeType.JSON

    @classmethod
    def request(
        cls,
        code: int,
        ext_fields: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> RemotingCommand:
        """Build a request; the transport assigns the ``opaque``."""
        return cls(code=code, ext_fields=ext_fields, body=body)

    @property
    def is_response(self) -> bool:
        """True for a response (flag bit 0)."""
        return bool(self.flag & FLAG_RESPONSE)

    @property
    def is_oneway(self) -> bool:
        """True for a request that wants no answer (flag bit 1)."""
        return bool(self.flag & FLAG_ONEWAY)

    def make_response(
        self,
        code: int = ResponseCode.SUCCESS,
        remark: str | None = None,
        ext_fields: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> RemotingCommand:
        """A response to this request: same opaque, response flag, same serialization."""
        # positional: keywords cost a slotted dataclass's __init__ twice as much (every
        # answer the broker writes comes through here)
        return RemotingCommand(
            code,
            DEFAULT_LANGUAGE,
            DEFAULT_VERSION,
            self.opaque,
            FLAG_RESPONSE,
            remark,
            ext_fields,
            body,
            self.serialize_type,
        )

    def ext(self, key: str, default: str | None = None) -> str | None:
        """One extFields value, or ``default``."""
        if self.ext_fields is None:
            return default
        return self.ext_fields.get(key, default)
