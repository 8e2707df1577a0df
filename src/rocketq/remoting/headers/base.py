"""Typed command headers: one frozen dataclass per request/response, one mapping.

RocketMQ's ``CommandCustomHeader`` classes travel as the ``extFields`` string map.
Here each header is a frozen, slotted dataclass whose fields are ``int``, ``bool`` or
``str`` (optionally ``None``); ``from_ext`` and ``to_ext`` convert at the codec
boundary, and nowhere else. The wire name of a field is its camelCase spelling
unless the field's metadata gives one (``field(metadata={"wire": "a"})`` for the
one-letter SEND_MESSAGE_V2 names).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

from rocketq.common.errors import BrokerError
from rocketq.remoting.codes import ResponseCode

__all__ = ["CommandHeader", "parse_bool", "wire"]

_Spec = tuple[str, str, Callable[[str], Any], bool]  # attr, wire name, parser, required


def wire(name: str, default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field whose extFields key is ``name``."""
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata={"wire": name})
    return dataclasses.field(default=default, metadata={"wire": name})


def parse_bool(text: str) -> bool:
    """Java's ``Boolean.parseBoolean``, plus the C++ client's ``"1"``."""
    return text.lower() in ("true", "1")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _parser_for(tp: Any) -> Callable[[str], Any]:
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = inner[0]
    if tp is bool:
        return parse_bool
    if tp is int:
        return int
    if tp is str:
        return str
    raise TypeError(f"unsupported header field type {tp!r}")


def _to_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


class CommandHeader:
    """Base of every typed header. Subclasses are ``@dataclass(frozen=True, slots=True)``."""

    _specs: ClassVar[tuple[_Spec, ...] | None] = None

    @classmethod
    def _field_specs(cls) -> tuple[_Spec, ...]:
        specs: tuple[_Spec, ...] | None = cls.__dict__.get("_specs_cache")
        if specs is None:
            hints = typing.get_type_hints(cls)
            specs = tuple(
                (
                    f.name,
                    f.metadata.get("wire", _camel(f.name)),
                    _parser_for(hints[f.name]),
                    f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
                )
                for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            )
            type.__setattr__(cls, "_specs_cache", specs)
        return specs

    @classmethod
    def from_ext(cls, ext: Mapping[str, str] | None) -> Self:
        """Build the header from an extFields map.

        A missing required field or an unparsable value is answered the way Java's
        ``RemotingCommand#decodeCommandCustomHeader`` is: SYSTEM_ERROR with the reason.
        """
        ext = ext or {}
        kwargs: dict[str, Any] = {}
        for attr, key, parse, required in cls._field_specs():
            text = ext.get(key)
            if text is None:
                if required:
                    raise BrokerError(
                        ResponseCode.SYSTEM_ERROR, f"the custom field <{key}> is null"
                    )
                continue
            try:
                kwargs[attr] = parse(text)
            except ValueError as exc:
                raise BrokerError(
                    ResponseCode.SYSTEM_ERROR,
                    f"the custom field <{key}> has a bad value {text!r}",
                ) from exc
        return cls(**kwargs)

    def to_ext(self) -> dict[str, str]:
        """The extFields map: every non-null field as text (what C++ clients require)."""
        out: dict[str, str] = {}
        for attr, key, _parse, _required in self._field_specs():
            value = getattr(self, attr)
            if value is not None:
                out[key] = _to_text(value)
        return out
