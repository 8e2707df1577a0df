"""Settings objects with RocketMQ's key names, loaded from Java ``.properties`` files.

A config class is a dataclass whose snake_case fields map to RocketMQ's keys. A key is the
Java field name ``MixAll#properties2Object`` matches: usually the camelCase of the field
(``listen_port`` <-> ``listenPort``); where Java spells it otherwise (``brokerIP1``,
``useTLS``, ``checkCRCOnRecover``) the field says so with :func:`setting`. Values are
checked when they are loaded: a bad one raises :class:`ConfigError` naming the key, the
value and what is allowed. ``broker.conf``/``namesrv.conf`` are Java properties:
``key=value`` (or ``key: value``), ``#``/``!`` comments, blank lines.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any, Self

from rocketq.common.errors import ConfigError

__all__ = [
    "ConfigBase",
    "dump_properties",
    "load_properties",
    "parse_properties",
    "setting",
    "split_keys",
]

# Java's long range: the widest number a RocketMQ setting holds.
_JAVA_LONG_MAX = 2**63 - 1


def parse_properties(text: str) -> dict[str, str]:
    """Parse Java properties text (the subset RocketMQ config files use)."""
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for raw in lines:
        line = raw.strip()
        while line.endswith("\\"):  # continuation line
            line = line[:-1] + next(lines, "").strip()
        if not line or line[0] in "#!":
            continue
        seps = [i for i in (line.find("="), line.find(":")) if i >= 0]
        if seps:
            cut = min(seps)
            key, value = line[:cut].strip(), line[cut + 1 :].strip()
        else:
            key, _, value = line.partition(" ")
            value = value.strip()
        out[key] = value
    return out


def load_properties(path: str | Path) -> dict[str, str]:
    """Read a properties file."""
    return parse_properties(Path(path).read_text(encoding="utf-8"))


def dump_properties(values: dict[str, str]) -> str:
    """``MixAll.properties2String``: one ``key=value`` line each."""
    return "".join(f"{k}={v}\n" for k, v in values.items())


def setting(
    default: Any = dataclasses.MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    key: str | None = None,
    choices: Collection[str] | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
    implemented: bool = True,
) -> Any:
    """A config field with what the loader must know about it.

    ``key``: the Java field name when it is not the camelCase of the Python name;
    ``choices``: the allowed values of an enum (``brokerRole``); ``minimum``/``maximum``:
    the allowed range of a number; ``implemented=False``: RocketMQ's key is accepted and
    shown (``getBrokerConfig``) but changes nothing in rocketq yet, so setting it is reported.
    """
    meta = {"key": key, "choices": choices, "minimum": minimum, "maximum": maximum,
            "implemented": implemented}  # fmt: skip
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError("expected true or false")
    return lowered == "true"


def _parse_int(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError("expected a whole number") from None
    if not -_JAVA_LONG_MAX - 1 <= value <= _JAVA_LONG_MAX:
        raise ValueError("out of the range of a Java long")
    return value


def _convert(tp: Any, text: str) -> Any:
    if tp is bool:
        return _parse_bool(text)
    if tp is int:
        return _parse_int(text)
    if tp is float:
        try:
            return float(text.strip())
        except ValueError:
            raise ValueError("expected a number") from None
    return text


def _check(meta: typing.Mapping[str, Any], value: Any) -> None:
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ValueError(f"allowed: {', '.join(sorted(choices))}")
    low, high = meta.get("minimum"), meta.get("maximum")
    if low is not None and value < low:
        raise ValueError(f"must be >= {low}" + (f" and <= {high}" if high is not None else ""))
    if high is not None and value > high:
        raise ValueError(f"must be <= {high}" + (f" and >= {low}" if low is not None else ""))


def split_keys(
    keys: Iterable[str], known_elsewhere: Collection[str]
) -> tuple[list[str], list[str]]:
    """Split keys no config object took into (RocketMQ's keys rocketq does not implement,
    keys no RocketMQ has), both sorted."""
    keys = set(keys)
    accepted = sorted(k for k in keys if k in known_elsewhere)
    return accepted, sorted(keys.difference(accepted))


class ConfigBase:
    """Base for settings dataclasses: properties in and out, by RocketMQ key names."""

    @classmethod
    def keys(cls) -> dict[str, str]:
        """RocketMQ key -> field name."""
        return {
            f.metadata.get("key") or _camel(f.name): f.name
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        }

    @classmethod
    def not_implemented_keys(cls) -> frozenset[str]:
        """Keys this class accepts whose setting changes nothing in rocketq yet."""
        return frozenset(
            f.metadata.get("key") or _camel(f.name)
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if not f.metadata.get("implemented", True)
        )

    @classmethod
    def from_properties(cls, values: dict[str, str]) -> Self:
        """Build from properties; unknown keys are ignored (as RocketMQ does)."""
        obj = cls()
        obj.update(values)
        return obj

    def update(self, values: dict[str, str]) -> list[str]:
        """Apply the known keys; return the keys that were not known.

        Raises :class:`ConfigError` for a value the key does not allow (nothing is applied
        from the values after it).
        """
        hints = typing.get_type_hints(type(self))
        fields = {f.name: f for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        keys = self.keys()
        unknown = []
        for key, text in values.items():
            name = keys.get(key)
            if name is None:
                unknown.append(key)
                continue
            try:
                value = _convert(hints[name], text)
                _check(fields[name].metadata, value)
            except ValueError as exc:
                raise ConfigError(f"bad value for {key}: {text!r} ({exc})") from None
            setattr(self, name, value)
        return unknown

    def to_properties(self) -> dict[str, str]:
        """Every setting as RocketMQ key -> text."""
        out = {}
        for key, name in self.keys().items():
            value = getattr(self, name)
            out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return out
