"""SQL92 selectors: parsing, RocketMQ's three-valued evaluation and its edge cases, parse
errors, the filter cache and the pull's ExpressionMessageFilter on stored records."""

from __future__ import annotations

import pytest

from rocketq.broker.filter import (
    ExpressionMessageFilter,
    Sql92EvaluationError,
    Sql92FilterCache,
    Sql92ParseError,
    compile_sql92,
)
from rocketq.broker.filter.message_filter import retry_filter_lookup
from rocketq.broker.filter.sql92 import MAX_NESTING, java_compare, java_parse_double
from rocketq.common.message import MessageConst, encode_properties
from rocketq.common.record import StoredMessage, encode_record
from rocketq.remoting.heartbeat import EXPRESSION_SQL92, SubscriptionData, build_subscription

P = {"a": "5", "b": "abc", "f": "3.14", "t": "true", "neg": "-7", "big": "3000000000"}
ERROR = "error"  # evaluation raises (Java throws; the message does not match)

# (expression, properties, value of the expression: True / False / None / ERROR)
CASES: list[tuple[str, dict[str, str], object]] = [
    # numbers: the property string is converted to the constant's Java type
    ("a = 5", P, True),
    ("a > 4", P, True),
    ("a >= 5 AND a <= 5", P, True),
    ("a < 5", P, False),
    ("a <> 5", P, False),
    ("a = 5.0", P, True),  # Double.valueOf("5") = 5.0
    ("f > 3", P, ERROR),  # Integer.valueOf("3.14") fails
    ("f > 3.0", P, True),
    ("a > 3.1E0", P, True),
    ("neg < -6", P, True),
    ("neg = -7", P, True),
    ("a = 5L", P, True),
    ("big > 2147483647", P, ERROR),  # compared with an Integer: Integer.valueOf overflows
    ("big > 2147483648", P, True),  # compared with a Long: Long.valueOf
    ("big > 2147483647.5", P, True),
    ("5 = a", P, True),  # constant on the left: the right side is converted
    ("a > b", P, ERROR),  # two strings with '>': both as doubles, 'abc' fails
    ("a < f", {"a": "1", "f": "1.5"}, True),
    ("b = 5", P, ERROR),  # '=' with a number converts too
    ("b = 5 OR a = 5", P, ERROR),  # the error escapes OR
    ("a = 5 OR b = 5", P, True),  # ... unless OR is already decided (short-circuit)
    # strings: only =, <>, IN, CONTAINS… on them
    ("b = 'abc'", P, True),
    ("b <> 'abc'", P, False),
    ("b = 'ABC'", P, False),
    ("'a' = 'a'", P, True),
    ("a = '5'", P, True),  # string to string
    ("a = '5.0'", P, False),
    ("x = 'it''s'", {"x": "it's"}, True),
    ("t = TRUE", P, True),  # Boolean.valueOf
    ("b = TRUE", P, False),
    ("1 = TRUE", P, False),  # unrelated types compare as "not equal"
    # missing properties are null
    ("missing = 'x'", P, None),
    ("missing > 1", P, None),
    ("missing <> 'x'", P, None),
    ("'x' = missing", P, False),  # null only on the right: FALSE (doCreateEqual)
    ("'x' <> missing", P, True),
    ("missing = other", P, True),  # two nulls are equal, as IS NULL relies on
    ("NOT (missing = 'x')", P, None),
    ("missing IS NULL", P, True),
    ("a IS NULL", P, False),
    ("a IS NOT NULL", P, True),
    ("missing IS NOT NULL", P, False),
    ("missing IS NULL AND a = 5", P, True),
    # AND / OR with null
    ("missing = 'x' AND a = 5", P, None),
    ("missing = 'x' AND a = 6", P, False),
    ("missing = 'x' OR a = 5", P, True),
    ("missing = 'x' OR a = 6", P, None),
    ("TRUE", P, True),
    ("FALSE OR TRUE AND FALSE", P, False),  # AND binds tighter than OR
    ("(FALSE OR TRUE) AND TRUE", P, True),
    ("NOT FALSE", P, True),
    ("NOT NOT TRUE", P, True),
    ("NULL", P, None),
    ("NOT NULL", P, None),
    ("t", P, False),  # a bare property is cast to boolean: a string is never TRUE
    ("missing", P, None),
    # NOT binds tighter than comparisons (ActiveMQ/RocketMQ grammar)
    ("NOT a = 'x'", P, ERROR),  # (NOT a) = 'x': FALSE's NOT compared with a string
    ("NOT missing = 'x'", P, None),
    # BETWEEN: bounds inclusive
    ("a BETWEEN 5 AND 10", P, True),
    ("a BETWEEN 1 AND 5", P, True),
    ("a BETWEEN 6 AND 10", P, False),
    ("a NOT BETWEEN 6 AND 10", P, True),
    ("a NOT BETWEEN 5 AND 10", P, False),
    ("a BETWEEN -5 AND 5", P, True),
    ("missing BETWEEN 1 AND 2", P, None),
    ("f BETWEEN 3 AND 4", P, ERROR),  # Integer.valueOf("3.14")
    ("f BETWEEN 3.0 AND 4.0", P, True),
    # IN
    ("b IN ('x', 'abc')", P, True),
    ("b IN ('x', 'y', 'z', 'w', 'v', 'u')", P, False),
    ("b NOT IN ('x', 'y')", P, True),
    ("b NOT IN ('abc')", P, False),
    ("missing IN ('x')", P, None),
    ("missing NOT IN ('x')", P, None),
    ("a IN ('5')", P, True),
    # CONTAINS / STARTSWITH / ENDSWITH (5.x): FALSE for null and empty search
    ("b CONTAINS 'b'", P, True),
    ("b STARTSWITH 'ab'", P, True),
    ("b ENDSWITH 'bc'", P, True),
    ("b NOT CONTAINS 'x'", P, True),
    ("b NOT ENDSWITH 'c'", P, False),
    ("b CONTAINS ''", P, False),
    ("missing CONTAINS 'x'", P, False),
    ("missing NOT CONTAINS 'x'", P, False),
    ("'axb' contains 'x'", P, True),
    # words, comments, literals
    ("A = 5 and B = 'abc'", {"A": "5", "B": "abc"}, True),
    ("a = 5 -- trailing comment", P, True),
    ("a = 5 /* block */ AND /* x */ b = 'abc'", P, True),
    ("TAGS = 'tagA' AND KEYS = 'k1'", {"TAGS": "tagA", "KEYS": "k1"}, True),
    ("a > .5", P, True),
    ("a > 5.", P, False),
    ("a < 5E1", P, True),
    ("$x_1 = 'y'", {"$x_1": "y"}, True),
    ("now = 'x'", {"now": "x"}, True),  # NOW is not a keyword
    ("-a IS NULL", P, True),  # negating a string gives null
    ("+a = 5", P, True),
]

PARSE_ERRORS: list[tuple[str, str]] = [
    ("", "empty expression"),
    ("   ", "empty expression"),
    ("a >", "expected a value"),
    ("a = ", "expected a value"),
    ("a = NULL", "use IS NULL"),
    ("a > 'x'", "cannot be compared with >"),
    ("a > 'x' OR TRUE", "cannot be compared with >"),
    ("a > TRUE", "cannot be compared with >"),
    ("a > (b = 1)", "cannot be compared with >"),
    ("TRUE = 1", "cannot be compared with"),
    ("a BETWEEN 10 AND 0", "low bound"),
    ("a BETWEEN NULL AND 5", "cannot be NULL"),
    ("a BETWEEN 1", "AND between the bounds"),
    ("5", "will not result in a boolean"),
    ("'abc'", "will not result in a boolean"),
    ("a = 1 AND 5", "will not result in a boolean"),
    ("-a", "will not result in a boolean"),
    ("a = 1 b = 2", "found 'b'"),
    ("a = 1)", "found ')'"),
    ("(a = 1", "expected ')'"),
    ("a == 1", "expected a value"),
    ("a != 1", "unexpected character '!'"),
    ("a IN ()", "a string in the IN list"),
    ("a IN ('x' 'y')", "',' or ')'"),
    ("a IN (1, 2)", "a string in the IN list"),
    ("'x' IN ('x')", "IN needs a property"),
    ("a CONTAINS x", "a string after CONTAINS"),
    ("a IS 5", "NULL or NOT NULL after IS"),
    ("a IS NOT 5", "NULL after IS NOT"),
    ("a NOT = 1", "found 'NOT'"),
    ("a = 'abc", "unterminated string literal"),
    ("a = 1 /* never closed", "unterminated /* comment"),
    ("a > 0.0", "zero float literals"),
    ("a > 1e400", "greater than"),
    ("a > 100000000000000000000000", "out of the 64-bit range"),
    ("a > 0x1F", "found 'x1F'"),  # no hex literals in RocketMQ's grammar
    ("a > 007", "found '0'"),  # nor octal ones
    ("a.b = 1", "unexpected character '.'"),
    ("é = 1", "unexpected character"),
    ("(" * (MAX_NESTING + 1) + "TRUE" + ")" * (MAX_NESTING + 1), "nested deeper"),
    ("a = " + " = ".join(["1"] * 200), "nested deeper"),
]


def _value(expression: str, props: dict[str, str]) -> object:
    try:
        return compile_sql92(expression).evaluate(props)
    except Sql92EvaluationError:
        return ERROR


@pytest.mark.parametrize(("expression", "props", "expected"), CASES)
def test_evaluation(expression: str, props: dict[str, str], expected: object) -> None:
    assert _value(expression, props) == expected
    assert compile_sql92(expression).matches(props) is (expected is True)


@pytest.mark.parametrize(("expression", "reason"), PARSE_ERRORS)
def test_parse_errors_say_why(expression: str, reason: str) -> None:
    with pytest.raises(Sql92ParseError) as info:
        compile_sql92(expression)
    assert reason in info.value.message
    assert reason in str(info.value)


def test_parse_error_reports_the_column() -> None:
    with pytest.raises(Sql92ParseError) as info:
        compile_sql92("a = 1 AND b #")
    assert info.value.position == 12
    assert "column 13" in info.value.message


def test_long_and_chains_are_flat() -> None:
    expression = " AND ".join(f"p{i} = '{i}'" for i in range(2000))
    flt = compile_sql92(expression)
    assert flt.matches({f"p{i}": str(i) for i in range(2000)})
    assert not flt.matches({"p0": "0"})


def test_java_double_forms() -> None:
    assert java_parse_double(" 1.5f ") == 1.5
    assert java_parse_double("0x1p3") == 8.0
    assert java_parse_double("-Infinity") == float("-inf")
    with pytest.raises(Sql92EvaluationError):
        java_parse_double("inf")
    with pytest.raises(Sql92EvaluationError):
        java_parse_double("1_000")


def test_java_compare_orders_nan_above_everything() -> None:
    assert java_compare(float("nan"), 1e308) == 1
    assert java_compare(float("nan"), float("nan")) == 0
    assert java_compare(-0.0, 0.0) == -1
    assert compile_sql92("a > 5.5").matches({"a": "NaN"})


def test_cache_keeps_parse_failures_and_evicts_oldest() -> None:
    cache = Sql92FilterCache(capacity=2)
    assert cache.get("a = 1") is cache.get("a = 1")
    for _ in range(2):
        with pytest.raises(Sql92ParseError):
            cache.get("a = ")
    cache.get("b = 1")
    assert len(cache) == 2
    with pytest.raises(Sql92ParseError, match="unknown expression type"):
        cache.compile("XPATH", "a = 1")


# -- ExpressionMessageFilter on stored records ---------------------------------------------


def _record(props: dict[str, str], topic: str = "T") -> memoryview:
    msg = StoredMessage(topic=topic, queue_id=0, body=b"x", properties=encode_properties(props))
    return memoryview(encode_record(msg))


def _sql_subscription(topic: str, expression: str) -> SubscriptionData:
    return build_subscription(topic, expression, EXPRESSION_SQL92)


def test_sql92_filter_reads_record_properties() -> None:
    flt = ExpressionMessageFilter(_sql_subscription("T", "a > 1"), compile_sql92("a > 1"))
    assert flt.is_matched_by_consume_queue(12345)
    assert flt.is_matched_by_consume_queue(None)
    assert flt.is_matched_by_commit_log(_record({"a": "2"}))
    assert not flt.is_matched_by_commit_log(_record({"a": "1"}))
    assert not flt.is_matched_by_commit_log(_record({}))
    assert not flt.is_matched_by_commit_log(memoryview(b"\x00" * 16))  # not a record


def test_tag_filter_uses_the_code_set_only() -> None:
    sub = build_subscription("T", "A || B")
    flt = ExpressionMessageFilter(sub)
    assert flt.is_matched_by_consume_queue(sub.code_set[0])
    assert not flt.is_matched_by_consume_queue(sub.code_set[0] + 1000)
    assert flt.is_matched_by_consume_queue(None)
    assert flt.is_matched_by_commit_log(_record({}))
    assert ExpressionMessageFilter(build_subscription("T", "*")).is_matched_by_consume_queue(7)
    assert ExpressionMessageFilter(None).is_matched_by_commit_log(_record({}))


def test_retry_topic_uses_the_original_topics_selector() -> None:
    cache = Sql92FilterCache()
    subs = {("g", "T"): _sql_subscription("T", "a = 'yes'")}
    lookup = retry_filter_lookup("g", lambda g, t: subs.get((g, t)), cache)
    retry_sub = build_subscription("%RETRY%g", "*")
    flt = ExpressionMessageFilter(retry_sub, None, lookup)
    retried = {MessageConst.RETRY_TOPIC: "T"}
    assert flt.is_matched_by_commit_log(_record({**retried, "a": "yes"}, "%RETRY%g"))
    assert not flt.is_matched_by_commit_log(_record({**retried, "a": "no"}, "%RETRY%g"))
    other = {MessageConst.RETRY_TOPIC: "U", "a": "no"}  # no SQL92 subscription on U
    assert flt.is_matched_by_commit_log(_record(other, "%RETRY%g"))
    assert flt.is_matched_by_commit_log(_record({"a": "no"}, "%RETRY%g"))
    # Without filterSupportRetry (no lookup) a retry subscription passes everything.
    plain = ExpressionMessageFilter(retry_sub)
    assert plain.is_matched_by_commit_log(_record({**retried, "a": "no"}, "%RETRY%g"))
