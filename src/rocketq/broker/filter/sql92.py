"""SQL92 message selectors (RocketMQ's ``filter`` module): the public face of the tokenizer
and parser (:mod:`~rocketq.broker.filter.sql92_parser`) and of the tree and its evaluator
(:mod:`~rocketq.broker.filter.sql92_expr`).

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

from dataclasses import dataclass

from rocketq.broker.filter.sql92_expr import (
    Expr,
    Props,
    Sql92EvaluationError,
    Sql92ParseError,
    Value,
)
from rocketq.broker.filter.sql92_expr import java_compare as java_compare
from rocketq.broker.filter.sql92_expr import java_parse_double as java_parse_double
from rocketq.broker.filter.sql92_expr import java_parse_int as java_parse_int
from rocketq.broker.filter.sql92_parser import MAX_NESTING as MAX_NESTING
from rocketq.broker.filter.sql92_parser import parse_sql92

__all__ = ["Sql92EvaluationError", "Sql92Filter", "Sql92ParseError", "compile_sql92"]

# The evaluator recurses once per tree level; chains like ``a = b = c = …`` grow the tree
# without growing the parser's recursion, so the tree's depth is checked as well.
MAX_TREE_DEPTH = 128


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
    tree = parse_sql92(text)
    _check_depth(tree)
    return Sql92Filter(text, tree)


def _check_depth(tree: Expr) -> None:
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise Sql92ParseError(f"expression is nested deeper than {MAX_TREE_DEPTH} levels")
        stack.extend((child, depth + 1) for child in node.children())
