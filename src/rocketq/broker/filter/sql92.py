"""SQL92 message selectors (RocketMQ's ``filter`` module): tokenizer, parser, evaluator.

``compile_sql92(text)`` turns a selector such as ``a > 5 AND b IN ('x', 'y')`` into a
:class:`Sql92Filter`; ``Sql92Filter.matches(properties)`` is True only when the selector
evaluates to TRUE for a message's properties (all strings, as on the wire).

The grammar is ``filter/.../parser/SelectorParser.jj`` (5.x: with CONTAINS, STARTSWITH,
ENDSWITH); the semantics are those of ``filter/.../expression/*.java``:

* three-valued logic: a missing property is null, and null propagates through
  comparisons; ``AND``/``OR``/``NOT`` follow SQL (``LogicExpression``, ``UnaryExpression``);
* the parser always enables ``convertStringExpressions``, so a property (a string) compared
  with a number is converted to that number's Java type (``Integer.valueOf``,
  ``Long.valueOf``, ``Double.valueOf``); a string that does not convert is an *evaluation
  error*, which makes the whole message not match (``ExpressionMessageFilter``);
* ``>``, ``>=``, ``<``, ``<=`` between two strings (two properties) compare them as doubles;
  string constants are only allowed with ``=``/``<>``/``IN``/``CONTAINS``…;
* ``NOT`` binds tighter than comparisons (``NOT a = 'x'`` is ``(NOT a) = 'x'``), as in
  ActiveMQ's grammar that RocketMQ inherited; ``x NOT IN (…)`` etc. are comparison forms.

One deliberate difference: RocketMQ's parser stops after the first complete expression and
ignores what follows (``a = 1 b = 2`` is accepted as ``a = 1``); here trailing input is a
parse error, so a typo cannot silently widen a subscription.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn

from rocketq.common.errors import ClientError

__all__ = ["Sql92EvaluationError", "Sql92Filter", "Sql92ParseError", "compile_sql92"]

# Parentheses / unary operators nested deeper than this are refused: each level costs the
# recursive-descent parser about six Python frames, and the interpreter's limit is 1000.
MAX_NESTING = 64
# The evaluator recurses once per tree level; chains like ``a = b = c = …`` grow the tree
# without growing the parser's recursion, so the tree's depth is checked as well.
MAX_TREE_DEPTH = 128

Value = bool | int | float | str | None

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_DOUBLE_MAX = 1.7976931348623157e308  # Double.MAX_VALUE
_DOUBLE_MIN = 5e-324  # Double.MIN_VALUE: the smallest positive double


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
    low, high = (_INT_MIN, _INT_MAX) if bits == 32 else (_LONG_MIN, _LONG_MAX)
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
        return v if v == _LONG_MIN else JavaLong(-v)
    if isinstance(v, int):
        return v if v == _INT_MIN else -v
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


_ORDERING: dict[str, Callable[[int], bool]] = {
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
        return _ORDERING[self.op](java_compare(lv, rv))

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


# ---------------------------------------------------------------------------------------------
# Tokenizer (the TOKEN sections of SelectorParser.jj: longest match, keywords ignore case)

_STRING_TESTS = ("CONTAINS", "STARTSWITH", "ENDSWITH")
_KEYWORDS = frozenset(
    ("NOT", "AND", "OR", "BETWEEN", "IN", "TRUE", "FALSE", "NULL", "IS", *_STRING_TESTS)
)
_NEGATABLE = (*_STRING_TESTS, "BETWEEN", "IN")
_OPERATORS = ("<>", ">=", "<=", "=", ">", "<", "(", ")", ",", "+", "-")
_SKIP = re.compile(r"[ \t\n\r\f]+|--[^\n\r]*|/\*.*?\*/", re.DOTALL)
_ID = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_DECIMAL = re.compile(r"0|[1-9][0-9]*[lL]?")
_FLOAT = re.compile(r"(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+")
_STRING = re.compile(r"'(?:''|[^'])*'")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # a keyword, an operator, ID, STRING, DECIMAL, FLOAT or EOF
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        skip = _SKIP.match(text, pos)
        if skip:
            pos = skip.end()
            continue
        token = _next_token(text, pos)
        tokens.append(token)
        pos += len(token.text)
    tokens.append(_Token("EOF", "", len(text)))
    return tokens


def _next_token(text: str, pos: int) -> _Token:
    c = text[pos]
    if c.isascii() and (c.isdigit() or c == "."):
        floating, decimal = _FLOAT.match(text, pos), _DECIMAL.match(text, pos)
        f_len = floating.end() - pos if floating else 0
        d_len = decimal.end() - pos if decimal else 0
        if f_len > d_len:
            return _Token("FLOAT", text[pos : pos + f_len], pos)
        if d_len:
            return _Token("DECIMAL", text[pos : pos + d_len], pos)
    elif c == "'":
        string = _STRING.match(text, pos)
        if string is None:
            raise Sql92ParseError("unterminated string literal", pos)
        return _Token("STRING", string.group(), pos)
    elif word := _ID.match(text, pos):
        kind = word.group().upper()
        return _Token(kind if kind in _KEYWORDS else "ID", word.group(), pos)
    for op in _OPERATORS:
        if text.startswith(op, pos):
            return _Token(op, op, pos)
    if text.startswith("/*", pos):
        raise Sql92ParseError("unterminated /* comment", pos)
    raise Sql92ParseError(f"unexpected character {c!r}", pos)


# ---------------------------------------------------------------------------------------------
# Parser (the productions of SelectorParser.jj, with the checks of the create* factories)


class _Parser:
    """Recursive descent over the token list; one instance per parse."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.nesting = 0

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.peek()
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def fail(self, expected: str) -> NoReturn:
        token = self.peek()
        found = "the end of the expression" if token.kind == "EOF" else repr(token.text)
        raise Sql92ParseError(f"expected {expected} but found {found}", token.pos)

    def expect(self, kind: str, expected: str) -> _Token:
        if self.peek().kind != kind:
            self.fail(expected)
        return self.advance()

    def parse(self) -> Expr:
        """``JmsSelector``: the whole text must be one boolean expression."""
        if self.peek().kind == "EOF":
            raise Sql92ParseError("empty expression")
        tree = self.logic("OR")
        if self.peek().kind != "EOF":
            self.fail("AND, OR, a comparison or the end of the expression")
        return _as_boolean(tree)

    def logic(self, op: str) -> Expr:
        """``orExpression`` / ``andExpression``: a chain kept as one n-ary node."""
        operands = [self.logic("AND") if op == "OR" else self.equality()]
        while self.peek().kind == op:
            self.advance()
            operands.append(self.logic("AND") if op == "OR" else self.equality())
        if len(operands) == 1:
            return operands[0]
        return Logic(op, tuple(_as_boolean(e) for e in operands))

    def equality(self) -> Expr:
        """``equalityExpression``: ``=``, ``<>``, ``IS [NOT] NULL``."""
        left = self.comparison()
        while True:
            kind = self.peek().kind
            if kind in ("=", "<>"):
                self.advance()
                node = _create_equal(left, self.comparison())
                left = node if kind == "=" else Unary("NOT", node)
            elif kind == "IS":
                self.advance()
                negated = self.peek().kind == "NOT"
                if negated:
                    self.advance()
                self.expect("NULL", "NULL after IS NOT" if negated else "NULL or NOT NULL after IS")
                node = Comparison("=", left, Constant(None))
                left = Unary("NOT", node) if negated else node
            else:
                return left

    def comparison(self) -> Expr:
        """``comparisonExpression``: ordering, string tests, BETWEEN, IN (each NOT-able)."""
        left = self.unary()
        while True:
            kind = self.peek().kind
            negated = kind == "NOT" and self.peek(1).kind in _NEGATABLE
            if kind in _ORDERING:
                self.advance()
                left = _create_ordering(kind, left, self.unary())
            elif kind in _NEGATABLE or negated:
                self.advance()
                left = self.negatable(self.advance().kind if negated else kind, left, negated)
            else:
                return left

    def negatable(self, kind: str, left: Expr, negated: bool) -> Expr:
        if kind in _STRING_TESTS:
            return StringTest(kind, left, self.string_literal(f"a string after {kind}"), negated)
        if kind == "BETWEEN":
            low = self.unary()
            self.expect("AND", "AND between the bounds of BETWEEN")
            return _create_between(left, low, self.unary(), negated)
        self.expect("(", "'(' after IN")
        values = [self.string_literal("a string in the IN list")]
        while self.peek().kind == ",":
            self.advance()
            values.append(self.string_literal("a string in the IN list"))
        self.expect(")", "',' or ')' in the IN list")
        if not isinstance(left, Property):
            raise Sql92ParseError(f"IN needs a property on its left, got: {left}")
        return InList(left, frozenset(values), negated)

    def unary(self) -> Expr:
        """``unaryExpr``: ``+x``, ``-x``, ``NOT x`` (binding tighter than comparisons)."""
        kind = self.peek().kind
        if kind not in ("+", "-", "NOT"):
            return self.primary()
        self.advance()
        operand = self.nested(self.unary)
        if kind == "+":
            return operand
        if kind == "-":
            return Unary("-", operand)
        return Unary("NOT", _as_boolean(operand))

    def primary(self) -> Expr:
        """``primaryExpr``: a literal, a property or a parenthesised expression."""
        token = self.peek()
        if token.kind == "(":
            self.advance()
            inner = self.nested(lambda: self.logic("OR"))
            self.expect(")", "')'")
            return inner
        if token.kind == "ID":
            self.advance()
            return Property(token.text)
        if token.kind in _LITERALS:
            self.advance()
            return Constant(_LITERALS[token.kind](token))
        self.fail("a value, a property or '('")

    def nested(self, parse: Callable[[], Expr]) -> Expr:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise Sql92ParseError(f"expression is nested deeper than {MAX_NESTING} levels")
        try:
            return parse()
        finally:
            self.nesting -= 1

    def string_literal(self, expected: str) -> str:
        return _unquote(self.expect("STRING", expected).text)


def _unquote(text: str) -> str:
    return text[1:-1].replace("''", "'")


def _decimal(token: _Token) -> Value:
    # ConstantExpression#createFromDecimal: a Long, narrowed to Integer when it fits.
    value = int(token.text.rstrip("lL"))
    if value > _LONG_MAX:
        raise Sql92ParseError(f"integer {token.text} is out of the 64-bit range", token.pos)
    return value if value <= _INT_MAX else JavaLong(value)


def _float(token: _Token) -> Value:
    # ConstantExpression#createFloat refuses infinity and anything below Double.MIN_VALUE,
    # which includes every literal equal to zero (write 0, not 0.0).
    value = float(token.text)
    if value > _DOUBLE_MAX:
        raise Sql92ParseError(f"{token.text} is greater than 1.7976931348623157E308", token.pos)
    if value < _DOUBLE_MIN:
        raise Sql92ParseError(
            f"{token.text} is less than 4.9E-324 (RocketMQ refuses zero float literals; write 0)",
            token.pos,
        )
    return value


_LITERALS: dict[str, Callable[[_Token], Value]] = {
    "STRING": lambda t: _unquote(t.text),
    "DECIMAL": _decimal,
    "FLOAT": _float,
    "TRUE": lambda t: True,
    "FALSE": lambda t: False,
    "NULL": lambda t: None,
}


def _as_boolean(expr: Expr) -> Expr:
    # SelectorParser#asBooleanExpression: a bare property is cast, other values refused.
    if isinstance(expr, Property):
        return Unary("CAST", expr)
    if not expr.is_boolean():
        raise Sql92ParseError(f"expression will not result in a boolean value: {expr}")
    return expr


def _create_equal(left: Expr, right: Expr) -> Expr:
    # ComparisonExpression#createEqual: checkEqualOperand, checkEqualOperandCompatability.
    for side in (left, right):
        if isinstance(side, Constant) and side.value is None:
            raise Sql92ParseError("'NULL' cannot be compared with = or <> (use IS NULL)")
    if (
        isinstance(left, Constant)
        and isinstance(right, Constant)
        and left.is_boolean()
        and not right.is_boolean()
    ):
        raise Sql92ParseError(f"'{left}' cannot be compared with '{right}'")
    return Comparison("=", left, right)


def _create_ordering(op: str, left: Expr, right: Expr) -> Expr:
    # ComparisonExpression#checkLessThanOperand: only numbers (or non-boolean values).
    for side in (left, right):
        if isinstance(side, Constant):
            value = side.value
            refused = isinstance(value, bool) or not isinstance(value, int | float)
        else:
            refused = side.is_boolean()
        if refused:
            raise Sql92ParseError(f"value {side} cannot be compared with {op}")
    return Comparison(op, left, right)


def _create_between(value: Expr, low: Expr, high: Expr, negated: bool) -> Expr:
    if negated:  # createNotBetween: no check of the bounds
        return Logic("OR", (_create_ordering("<", value, low), _create_ordering(">", value, high)))
    if isinstance(low, Constant) and isinstance(high, Constant):
        if low.value is None or high.value is None:
            raise Sql92ParseError("illegal BETWEEN: the bounds cannot be NULL")
        try:
            reversed_bounds = java_compare(high.value, low.value) < 0
        except Sql92EvaluationError as exc:
            raise Sql92ParseError(f"illegal BETWEEN bounds {low} and {high}: {exc}") from exc
        if reversed_bounds:
            raise Sql92ParseError(
                f"illegal BETWEEN: the low bound ({low}) must be less than or equal to "
                f"the high bound ({high})"
            )
    return Logic("AND", (_create_ordering(">=", value, low), _create_ordering("<=", value, high)))


# ---------------------------------------------------------------------------------------------
# Compiled filter


@dataclass(frozen=True, slots=True)
class Sql92Filter:
    """A compiled selector; immutable, so one instance can serve every pull."""

    expression: str
    tree: Expr

    def evaluate(self, properties: Props) -> Value:
        """TRUE, FALSE or None; raises :class:`Sql92EvaluationError` as Java would throw."""
        return self.tree.evaluate(properties)

    def matches(self, properties: Props) -> bool:
        """True only when the selector is TRUE (null and evaluation errors do not match)."""
        try:
            return self.tree.evaluate(properties) is True
        except Sql92EvaluationError:
            return False


def compile_sql92(text: str) -> Sql92Filter:
    """Parse ``text``; raises :class:`Sql92ParseError` with the reason."""
    tree = _Parser(text).parse()
    _check_depth(tree)
    return Sql92Filter(text, tree)


def _check_depth(tree: Expr) -> None:
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise Sql92ParseError(f"expression is nested deeper than {MAX_TREE_DEPTH} levels")
        stack.extend((child, depth + 1) for child in node.children())
