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
import functools
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

from rocketq.common import speedups
from rocketq.remoting.codec import (
    FIELD_BOOL,
    FIELD_INT,
    FIELD_STR,
    FieldPlan,
    header_field_bad,
    header_field_missing,
    header_from_ext,
)

__all__ = ["CommandHeader", "field_plan", "parse_bool", "wire"]

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
        The conversion is compiled once per class (every request pays for it).
        """
        fn = cls.__dict__.get("_from_ext_fn")
        if fn is None:
            fn = _compile(cls)[0]
        result: Self = fn(cls, ext)
        return result

    def to_ext(self) -> dict[str, str]:
        """The extFields map: every non-null field as text (what C++ clients require)."""
        fn = type(self).__dict__.get("_to_ext_fn")
        if fn is None:
            fn = _compile(type(self))[1]
        out: dict[str, str] = fn(self)
        return out


_KIND = {parse_bool: FIELD_BOOL, int: FIELD_INT, str: FIELD_STR}
_PARSE_EXPR = {parse_bool: "v.lower() in ('true', '1')", int: "int(v)", str: "v"}
_TEXT_EXPR = {parse_bool: "'true' if v else 'false'", int: "str(v)", str: "str(v)"}


# The generic compiled extraction beats the generated code; the generic pure-Python reference
# does not, so without the compiled core the generated code runs.
_KERNEL_ACTIVE = header_from_ext is not speedups.REFERENCE["header_from_ext"]


def field_plan(cls: type[CommandHeader]) -> FieldPlan:
    """``cls``'s fields for :func:`~rocketq.remoting.codec.header_from_ext`: (attribute,
    wire key, kind, required, default) in field order."""
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return tuple(
        (attr, key, _KIND[parse], required, None if required else defaults[attr])
        for attr, key, parse, required in cls._field_specs()
    )


def _compile(cls: type[CommandHeader]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Generate ``from_ext``/``to_ext`` for one header class (as ``dataclasses`` generates
    ``__init__``): straight-line code, no per-field loop or getattr on the request path."""
    specs = cls._field_specs()
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    names: dict[str, Any] = {"_missing": header_field_missing, "_bad": header_field_bad}
    body = ["def from_ext(cls, ext):", "    get = (ext or {}).get"]
    for i, (attr, key, parse, required) in enumerate(specs):
        body.append(f"    v = get({key!r})")
        if required:
            body.append(f"    if v is None: raise _missing({key!r})")
        else:
            names[f"_d{i}"] = defaults[attr]
            body.append(f"    if v is None: f{i} = _d{i}")
            body.append("    else:")
        indent = "    " if required else "        "
        if parse is str:
            body.append(f"{indent}f{i} = v")
        else:
            body.append(f"{indent}try: f{i} = {_PARSE_EXPR[parse]}")
            body.append(f"{indent}except ValueError as exc: raise _bad({key!r}, v) from exc")
    # Fill the slots through their descriptors: a frozen dataclass's __init__ pays an
    # object.__setattr__ per field, several microseconds for a send header.
    slotted = all(
        isinstance(cls.__dict__.get(attr), types.MemberDescriptorType) for attr, *_ in specs
    )
    if slotted:
        names["_new"] = object.__new__
        body.append("    o = _new(cls)")
        for i, (attr, *_rest) in enumerate(specs):
            names[f"_s{i}"] = cls.__dict__[attr].__set__
            body.append(f"    _s{i}(o, f{i})")
        body.append("    return o")
    else:
        args = ", ".join(f"f{i}" for i in range(len(specs)))
        body.append(f"    return cls({args})")
    out = ["def to_ext(self):", "    out = {}"]
    for attr, key, parse, _required in specs:
        out.append(f"    v = self.{attr}")
        out.append(f"    if v is not None: out[{key!r}] = {_TEXT_EXPR[parse]}")
    out.append("    return out")
    exec("\n".join(body) + "\n\n" + "\n".join(out), names)
    from_ext, to_ext = names["from_ext"], names["to_ext"]
    type.__setattr__(cls, "_generated_from_ext_fn", from_ext)  # the tests compare the two
    if slotted and _KERNEL_ACTIVE:  # the compiled twin fills the slots from a field plan
        from_ext = functools.partial(header_from_ext, field_plan(cls))
    type.__setattr__(cls, "_from_ext_fn", from_ext)
    type.__setattr__(cls, "_to_ext_fn", to_ext)
    return from_ext, to_ext
