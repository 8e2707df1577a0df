"""JSON bodies as Java's fastjson writes and reads them.

fastjson (what Apache RocketMQ serializes bodies with) is looser than JSON:

* maps with integer keys are written with bare keys: ``{"brokerAddrs":{0:"1.2.3.4:10911"}}``;
* maps keyed by an object (``MessageQueue``) are written with the object as key:
  ``{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:42}}``.

``loads`` reads standard JSON at orjson speed and falls back to a small parser that
also accepts those two forms. A bare number key becomes the string of that number
(so ``{0:"x"}`` and ``{"0":"x"}`` read the same); an object key becomes an
``ObjectKey`` (a hashable, sorted tuple of its items). ``dumps`` writes standard JSON
with quoted keys, which every RocketMQ client reads (remoting.md §6).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from rocketq.common.errors import ProtocolError

__all__ = ["ObjectKey", "dumps", "dumps_java", "loads"]


class ObjectKey(tuple[tuple[str, Any], ...]):
    """A JSON object used as a map key by fastjson, as a sorted tuple of (name, value)."""

    __slots__ = ()

    def as_dict(self) -> dict[str, Any]:
        """The key object as a plain dict."""
        return dict(self)


def dumps(obj: Any) -> bytes:
    """Standard JSON; non-string map keys (ints) are quoted."""
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON as fastjson writes it (see module docstring)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    text = data if isinstance(data, str) else bytes(data).decode("utf-8", "replace")
    parser = _LenientParser(text)
    try:
        value = parser.value()
        parser.end()
    except (orjson.JSONDecodeError, RecursionError) as exc:
        # a bad number/string token (re-read by orjson) or absurd nesting
        raise parser.fail(str(exc) or type(exc).__name__) from exc
    return value


_WS = re.compile(r"\s*")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_BARE = re.compile(r"[A-Za-z_$][\w$]*")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)


class _LenientParser:
    """Recursive descent over the text; only used when orjson refuses the input."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> ProtocolError:
        return ProtocolError(f"bad JSON body at {self.pos}: {what}")

    def skip(self) -> None:
        m = _WS.match(self.text, self.pos)
        assert m is not None
        self.pos = m.end()

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos : self.pos + 1]

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise self.fail(f"expected {ch!r}")
        self.pos += 1

    def end(self) -> None:
        if self.peek():
            raise self.fail("trailing characters")

    def value(self) -> Any:
        ch = self.peek()
        if ch == "{":
            return self.obj()
        if ch == "[":
            return self.array()
        if ch == '"':
            return self.string()
        m = _NUMBER.match(self.text, self.pos)
        if m:
            self.pos = m.end()
            return orjson.loads(m.group())
        m = _BARE.match(self.text, self.pos)
        if m and m.group() in ("true", "false", "null"):
            self.pos = m.end()
            return {"true": True, "false": False, "null": None}[m.group()]
        raise self.fail("expected a value")

    def string(self) -> str:
        self.skip()
        m = _STRING.match(self.text, self.pos)
        if not m:
            raise self.fail("unterminated string")
        self.pos = m.end()
        result: str = orjson.loads(m.group())
        return result

    def key(self) -> Any:
        ch = self.peek()
        if ch == '"':
            return self.string()
        if ch in "{[":
            value = self.value()
            return _freeze(value)
        m = _NUMBER.match(self.text, self.pos) or _BARE.match(self.text, self.pos)
        if not m:
            raise self.fail("expected a key")
        self.pos = m.end()
        return m.group()

    def obj(self) -> dict[Any, Any]:
        self.expect("{")
        out: dict[Any, Any] = {}
        if self.peek() == "}":
            self.pos += 1
            return out
        while True:
            k = self.key()
            self.expect(":")
            out[k] = self.value()
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect("}")
            return out

    def array(self) -> list[Any]:
        self.expect("[")
        out: list[Any] = []
        if self.peek() == "]":
            self.pos += 1
            return out
        while True:
            out.append(self.value())
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect("]")
            return out


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return ObjectKey(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def dumps_java(obj: Any) -> bytes:
    """JSON as Java's fastjson writes it, for bodies that Java tools read back.

    Map keys are written by type: ``str`` quoted, ``int`` bare (``{0:12}``), and an
    ``ObjectKey`` (or any tuple of ``(name, value)`` pairs, e.g. a ``MessageQueue``) as
    a JSON object: ``{{"brokerName":"b","queueId":0,"topic":"T"}:42}`` (remoting.md §6).
    Values are written as standard JSON; tuples that are not keys become arrays.
    """
    return _java_value(obj).encode()


def _java_value(obj: Any) -> str:
    if isinstance(obj, dict):
        return "{" + ",".join(f"{_java_key(k)}:{_java_value(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, ObjectKey):
        return _java_value(obj.as_dict())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return "[" + ",".join(_java_value(v) for v in obj) + "]"
    text: str = orjson.dumps(obj).decode()
    return text


def _java_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, tuple):
        return _java_value(dict(key))
    text: str = orjson.dumps(str(key)).decode()
    return text
