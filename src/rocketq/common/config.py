"""Settings objects with RocketMQ's key names, loaded from Java ``.properties`` files.

A config class is a dataclass whose snake_case fields map to RocketMQ's camelCase keys
(``listen_port`` <-> ``listenPort``). ``broker.conf``/``namesrv.conf`` are Java
properties: ``key=value`` (or ``key: value``), ``#``/``!`` comments, blank lines.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Self

__all__ = ["ConfigBase", "dump_properties", "load_properties", "parse_properties"]


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


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _convert(tp: Any, text: str) -> Any:
    if tp is bool:
        return text.strip().lower() == "true"
    if tp is int:
        return int(text.strip())
    if tp is float:
        return float(text.strip())
    return text


class ConfigBase:
    """Base for settings dataclasses: properties in and out, by RocketMQ key names."""

    @classmethod
    def keys(cls) -> dict[str, str]:
        """RocketMQ key -> field name."""
        return {_camel(f.name): f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def from_properties(cls, values: dict[str, str]) -> Self:
        """Build from properties; unknown keys are ignored (as RocketMQ does)."""
        obj = cls()
        obj.update(values)
        return obj

    def update(self, values: dict[str, str]) -> list[str]:
        """Apply the known keys; return the keys that were not known."""
        hints = typing.get_type_hints(type(self))
        keys = self.keys()
        unknown = []
        for key, text in values.items():
            name = keys.get(key)
            if name is None:
                unknown.append(key)
                continue
            try:
                setattr(self, name, _convert(hints[name], text))
            except ValueError as exc:
                raise ValueError(f"bad value for {key}: {text!r}") from exc
        return unknown

    def to_properties(self) -> dict[str, str]:
        """Every setting as RocketMQ key -> text."""
        out = {}
        for key, name in self.keys().items():
            value = getattr(self, name)
            out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return out
