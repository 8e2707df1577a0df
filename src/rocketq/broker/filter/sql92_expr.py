"""SQL92 selector trees and their evaluation (RocketMQ ``filter/.../expression/*.java``):
Java's conversions and comparisons, one node class per expression kind, and the errors of
the selector language. The semantics are described in :mod:`rocketq.broker.filter.sql92`."""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rocketq.common.errors import ClientError

__all__ = [
    "DOUBLE_MAX",
    "DOUBLE_MIN",
    "INT_MAX",
    "INT_MIN",
    "LONG_MAX",
    "LONG_MIN",
    "ORDERING",
    "Comparison",
    "Constant",
    "Expr",
    "InList",
    "JavaLong",
    "Logic",
    "Property",
    "Props",
    "Sql92EvaluationError",
    "Sql92ParseError",
    "StringTest",
    "Unary",
    "Value",
    "java_compare",
    "java_parse_double",
    "java_parse_int",
]

Value = bool | int | float | str | None

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
DOUBLE_MAX = 1.7976931348623157e308  # Double.MAX_VALUE
DOUBLE_MIN = 5e-324  # Double.MIN_VALUE: the smallest positive double


class Sql92ParseError(ClientError, ValueError):
    """The selector is not valid RocketMQ SQL92; ``message`` says why and where."""

    def __init__(self, message: str, position: int | None = None) -> None:
        text = message if position is None else f"{message} (at column {position + 1})"
        super().__init__(text)
        self.message = text
        self.position = position


class Sql92EvaluationError(ClientError, ValueError):
    """A value could not be converted or compared (Java throws; the message does not match)."""


class JavaLong(int):
    """An integer constant of Java type ``Long`` (outside the ``Integer`` range).

    The type matters: a property is converted with ``Long.valueOf`` when compared with a
    Long but with ``Integer.valueOf`` (and its smaller range) when compared with an Integer.
    """


# ---------------------------------------------------------------------------------------------
# Java conversions and comparisons (ComparisonExpression#__compare)

_JAVA_INT = re.compile(r"[+-]?\d+")
_JAVA_DOUBLE = re.compile(
    r"[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[fFdD]?"
)
_JAVA_HEX_DOUBLE = re.compile(
    r"([+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+)[fFdD]?"
)


def java_parse_int(text: str, bits: int = 32) -> int:
    """``Integer.valueOf`` (bits=32) / ``Long.valueOf`` (bits=64): no spaces, no fractions."""
    low, high = (INT_MIN, INT_MAX) if bits == 32 else (LONG_MIN, LONG_MAX)
    if _JAVA_INT.fullmatch(text):
        value = int(text)
        if low <= value <= high:
            return value if bits == 32 else JavaLong(value)
    raise Sql92EvaluationError(f"for input string: {text!r} (not a {bits}-bit integer)")


def java_parse_double(text: str) -> float:
    """``Double.valueOf``: trims control characters and spaces, accepts Java's forms only."""
    s = text.strip("".join(chr(c) for c in range(33)))
    if _JAVA_DOUBLE.fullmatch(s):
        s = s.rstrip("fFdD")
        return float(s.replace("Infinity", "inf"))
    hex_match = _JAVA_HEX_DOUBLE.fullmatch(s)
    if hex_match:
        return float.fromhex(hex_match.group(1))
    raise Sql92EvaluationError(f"for input string: {text!r} (not a number)")


def _double_bits(x: float) -> int:
    # Double.doubleToLongBits: every NaN collapses to one canonical value.
    if math.isnan(x):
        return 0x7FF8000000000000
    return int(struct.unpack(">q", struct.pack(">d", x))[0])


def _compare_double(a: float, b: float) -> int:
    """``Double.compare``: NaN is above everything, -0.0 is below 0.0."""
    if a < b:
        return -1
    if a > b:
        return 1
    ka, kb = _double_bits(a), _double_bits(b)
    return (ka > kb) - (ka < kb)


def _compare_same(lv: Value, rv: Value) -> int:
    if isinstance(lv, float) or isinstance(rv, float):
        return _compare_double(float(lv), float(rv))  # type: ignore[arg-type]
    if isinstance(lv, str) and isinstance(rv, str):
        # String#compareTo orders UTF-16 code units.
        le, re_ = lv.encode("utf-16-be", "surrogatepass"), rv.encode("utf-16-be", "surrogatepass")
        return (le > re_) - (le < re_)
    return (lv > rv) - (lv < rv)  # type: ignore[operator]


def _kind(v: Value) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, JavaLong):
        return "long"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "double"
    return "str"


_FROM_STRING = {
    "int": lambda s: java_parse_int(s, 32),
    "long": lambda s: java_parse_int(s, 64),
    "double": java_parse_double,
    "bool": lambda s: s.lower() == "true",  # Boolean.valueOf
}


def java_compare(lv: Value, rv: Value) -> int:
    """``ComparisonExpression.__compare(lv, rv, true)``; -1 for values it cannot relate."""
    lk, rk = _kind(lv), _kind(rv)
    if lk == rk:
        return _compare_same(lv, rv)
    if lk == "bool":
        if rk == "str":  # Java casts the Boolean to String here: ClassCastException
            raise Sql92EvaluationError("a boolean cannot be compared with a string")
        return -1
    if lk == "str":
        return _compare_same(_FROM_STRING[rk](lv), rv)  # type: ignore[no-untyped-call]
    if rk == "str":
        return _compare_same(lv, _FROM_STRING[lk](rv))  # type: ignore[no-untyped-call]
    if rk == "bool":
        return -1
    return _compare_same(lv, rv)  # int/long/double: widened as Java does


def _negate(v: Value) -> Value:
    """``UnaryExpression#negate`` with Java's overflow; non-numbers give null."""
    if v is None or isinstance(v, bool | str):
        return None
    if isinstance(v, JavaLong):
        return v if v == LONG_MIN else JavaLong(-v)
    if isinstance(v, int):
        return v if v == INT_MIN else -v
    return -v


def _java_str(v: Value) -> str:
    """``ConstantExpression#toString`` (for error messages)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return repr(v) if isinstance(v, float) else str(int(v))


# ---------------------------------------------------------------------------------------------
# The tree (one class per RocketMQ expression kind)

Props = Mapping[str, str]


class Expr:
    """A node of the selector tree."""

    __slots__ = ()

    def is_boolean(self) -> bool:
        """True for RocketMQ's ``BooleanExpression`` kinds (usable with AND/OR/NOT)."""
        return True

    def evaluate(self, props: Props) -> Value:
        """The node's value for one message (None is SQL's unknown)."""
        raise NotImplementedError

    def children(self) -> tuple[Expr, ...]:
        """Sub-expressions (for the depth check)."""
        return ()


@dataclass(frozen=True, slots=True)
class Constant(Expr):
    """A literal (``ConstantExpression``); TRUE, FALSE and NULL are boolean ones."""

    value: Value

    def is_boolean(self) -> bool:
        return self.value is None or isinstance(self.value, bool)

    def evaluate(self, props: Props) -> Value:
        return self.value

    def __str__(self) -> str:
        return _java_str(self.value)


@dataclass(frozen=True, slots=True)
class Property(Expr):
    """A message property (``PropertyExpression``): its string value, or null."""

    name: str

    def is_boolean(self) -> bool:
        return False

    def evaluate(self, props: Props) -> Value:
        return props.get(self.name)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Unary(Expr):
    """``-x`` (NEGATE), ``NOT x`` and the boolean cast of a bare property (BOOLEANCAST)."""

    op: str
    operand: Expr

    def is_boolean(self) -> bool:
        return self.op != "-"

    def evaluate(self, props: Props) -> Value:
        v = self.operand.evaluate(props)
        if self.op == "-":
            return _negate(v)
        if v is None:
            return None
        if self.op == "NOT":
            return not v
        return v if isinstance(v, bool) else False  # a string property is never TRUE

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)

    def __str__(self) -> str:
        return str(self.operand) if self.op == "CAST" else f"({self.op} {self.operand})"


@dataclass(frozen=True, slots=True)
class Logic(Expr):
    """``AND``/``OR`` over two or more operands, left to right with short-circuit."""

    op: str
    operands: tuple[Expr, ...]

    def evaluate(self, props: Props) -> Value:
        stop = self.op == "OR"  # the value that decides at once
        unknown = False
        for operand in self.operands:
            v = operand.evaluate(props)
            if v is None:
                unknown = True
            elif v is stop:
                return stop
        return None if unknown else not stop

    def children(self) -> tuple[Expr, ...]:
        return self.operands

    def __str__(self) -> str:
        return "(" + f" {self.op} ".join(map(str, self.operands)) + ")"


ORDERING: dict[str, Callable[[int], bool]] = {
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
}


@dataclass(frozen=True, slots=True)
class Comparison(Expr):
    """``=`` (and IS NULL) or an ordering operator (``ComparisonExpression``)."""

    op: str
    left: Expr
    right: Expr

    def evaluate(self, props: Props) -> Value:
        lv = self.left.evaluate(props)
        rv = self.right.evaluate(props)
        if self.op == "=":
            return _equal(lv, rv)
        if lv is None or rv is None:
            return None
        if isinstance(lv, str) and isinstance(rv, str):  # two properties: as doubles
            lv, rv = java_parse_double(lv), java_parse_double(rv)
        return ORDERING[self.op](java_compare(lv, rv))

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)

    def __str__(self) -> str:
        return f"({self.left} {'==' if self.op == '=' else self.op} {self.right})"


def _equal(lv: Value, rv: Value) -> Value:
    # doCreateEqual: null on the left only gives null; null on the right only gives FALSE;
    # two nulls are equal (that is how IS NULL works).
    if lv is None and rv is None:
        return True
    if lv is None:
        return None
    if rv is None:
        return False
    return java_compare(lv, rv) == 0


@dataclass(frozen=True, slots=True)
class StringTest(Expr):
    """``CONTAINS``/``STARTSWITH``/``ENDSWITH`` (5.x): FALSE for null, non-strings, ''."""

    op: str
    operand: Expr
    search: str
    negated: bool

    def evaluate(self, props: Props) -> Value:
        if not self.search:
            return False
        v = self.operand.evaluate(props)
        if not isinstance(v, str):
            return False
        if self.op == "CONTAINS":
            found = self.search in v
        elif self.op == "STARTSWITH":
            found = v.startswith(self.search)
        else:
            found = v.endswith(self.search)
        return found != self.negated

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)

    def __str__(self) -> str:
        return f"({'NOT ' * self.negated}{self.op} {self.operand} {_java_str(self.search)})"


@dataclass(frozen=True, slots=True)
class InList(Expr):
    """``prop [NOT] IN ('a', …)``: null when the property is missing."""

    operand: Property
    values: frozenset[str]
    negated: bool

    def evaluate(self, props: Props) -> Value:
        v = self.operand.evaluate(props)
        if not isinstance(v, str):
            return None
        return (v in self.values) != self.negated

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)

    def __str__(self) -> str:
        items = ", ".join(_java_str(v) for v in sorted(self.values))
        return f"{self.operand} {'NOT ' * self.negated}IN ( {items} )"
