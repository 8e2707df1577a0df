"""Broker-side message filtering: SQL92 selectors and the pull's ``MessageFilter``
(RocketMQ's ``filter`` module and ``broker/.../filter``)."""

from rocketq.broker.filter.message_filter import ExpressionMessageFilter, Sql92FilterCache
from rocketq.broker.filter.sql92 import (
    Sql92EvaluationError,
    Sql92Filter,
    Sql92ParseError,
    compile_sql92,
)

__all__ = [
    "ExpressionMessageFilter",
    "Sql92EvaluationError",
    "Sql92Filter",
    "Sql92FilterCache",
    "Sql92ParseError",
    "compile_sql92",
]
