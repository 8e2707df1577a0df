"""The SQL92 selector tokenizer and parser (RocketMQ ``SelectorParser.jj``, 5.x with
CONTAINS, STARTSWITH, ENDSWITH), with the checks of the ``create*`` factories of
``filter/.../expression``: text in, a tree of :mod:`rocketq.broker.filter.sql92_expr` out."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from rocketq.broker.filter.sql92_expr import (
    DOUBLE_MAX,
    DOUBLE_MIN,
    INT_MAX,
    LONG_MAX,
    ORDERING,
    Comparison,
    Constant,
    Expr,
    InList,
    JavaLong,
    Logic,
    Property,
    Sql92EvaluationError,
    Sql92ParseError,
    StringTest,
    Unary,
    Value,
    java_compare,
)

__all__ = ["MAX_NESTING", "parse_sql92"]

# Parentheses / unary operators nested deeper than this are refused: each level costs the
# recursive-descent parser about six Python frames, and the interpreter's limit is 1000.
MAX_NESTING = 64

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
            if kind in ORDERING:
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
    if value > LONG_MAX:
        raise Sql92ParseError(f"integer {token.text} is out of the 64-bit range", token.pos)
    return value if value <= INT_MAX else JavaLong(value)


def _float(token: _Token) -> Value:
    # ConstantExpression#createFloat refuses infinity and anything below Double.MIN_VALUE,
    # which includes every literal equal to zero (write 0, not 0.0).
    value = float(token.text)
    if value > DOUBLE_MAX:
        raise Sql92ParseError(f"{token.text} is greater than 1.7976931348623157E308", token.pos)
    if value < DOUBLE_MIN:
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


def parse_sql92(text: str) -> Expr:
    """The tree of a selector; raises :class:`Sql92ParseError` with the reason."""
    return _Parser(text).parse()
