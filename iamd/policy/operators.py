"""Condition operator names and the value types they compare (no evaluation here).

AWS's operators: String*, Numeric*, Date*, Bool, BinaryEquals, IpAddress/NotIpAddress, Arn*, Null;
each but Null takes an ``IfExists`` suffix, and each may take a ``ForAllValues:`` or
``ForAnyValue:`` set qualifier.  Names are matched exactly (they are case-sensitive).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from iamd.policy.dates import parse_aws_date


class Family(enum.Enum):
    STRING = "String"
    NUMERIC = "Numeric"
    DATE = "Date"
    BOOL = "Bool"
    BINARY = "Binary"
    IP = "IpAddress"
    ARN = "Arn"
    NULL = "Null"


class Compare(enum.Enum):
    EQ = "eq"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    EQ_IGNORE_CASE = "eq_ic"
    LIKE = "like"
    IN_NETWORK = "in"


@dataclass(frozen=True, slots=True)
class Base:
    name: str
    family: Family
    compare: Compare
    negated: bool
    variables: bool
    """Whether policy variables are resolved in this operator's values (String, Arn, Bool)."""


def _b(name: str, family: Family, compare: Compare, negated: bool = False) -> Base:
    variables = family in (Family.STRING, Family.ARN, Family.BOOL)
    return Base(name, family, compare, negated, variables)


BASE_OPERATORS: dict[str, Base] = {
    b.name: b
    for b in (
        _b("StringEquals", Family.STRING, Compare.EQ),
        _b("StringNotEquals", Family.STRING, Compare.EQ, True),
        _b("StringEqualsIgnoreCase", Family.STRING, Compare.EQ_IGNORE_CASE),
        _b("StringNotEqualsIgnoreCase", Family.STRING, Compare.EQ_IGNORE_CASE, True),
        _b("StringLike", Family.STRING, Compare.LIKE),
        _b("StringNotLike", Family.STRING, Compare.LIKE, True),
        _b("NumericEquals", Family.NUMERIC, Compare.EQ),
        _b("NumericNotEquals", Family.NUMERIC, Compare.EQ, True),
        _b("NumericLessThan", Family.NUMERIC, Compare.LT),
        _b("NumericLessThanEquals", Family.NUMERIC, Compare.LE),
        _b("NumericGreaterThan", Family.NUMERIC, Compare.GT),
        _b("NumericGreaterThanEquals", Family.NUMERIC, Compare.GE),
        _b("DateEquals", Family.DATE, Compare.EQ),
        _b("DateNotEquals", Family.DATE, Compare.EQ, True),
        _b("DateLessThan", Family.DATE, Compare.LT),
        _b("DateLessThanEquals", Family.DATE, Compare.LE),
        _b("DateGreaterThan", Family.DATE, Compare.GT),
        _b("DateGreaterThanEquals", Family.DATE, Compare.GE),
        _b("Bool", Family.BOOL, Compare.EQ),
        _b("BinaryEquals", Family.BINARY, Compare.EQ),
        _b("IpAddress", Family.IP, Compare.IN_NETWORK),
        _b("NotIpAddress", Family.IP, Compare.IN_NETWORK, True),
        _b("ArnEquals", Family.ARN, Compare.LIKE),
        _b("ArnLike", Family.ARN, Compare.LIKE),
        _b("ArnNotEquals", Family.ARN, Compare.LIKE, True),
        _b("ArnNotLike", Family.ARN, Compare.LIKE, True),
        _b("Null", Family.NULL, Compare.EQ),
    )
}

FOR_ANY_VALUE = "ForAnyValue"
FOR_ALL_VALUES = "ForAllValues"


@dataclass(frozen=True, slots=True)
class Operator:
    text: str
    base: Base
    qualifier: str | None
    if_exists: bool


def parse_operator(text: str) -> Operator | None:
    """``ForAnyValue:StringLikeIfExists`` -> Operator; None for anything AWS does not define."""
    qualifier: str | None = None
    name = text
    for prefix in (FOR_ANY_VALUE, FOR_ALL_VALUES):
        if name.startswith(prefix + ":"):
            qualifier = prefix
            name = name[len(prefix) + 1 :]
            break
    if_exists = False
    if name.endswith("IfExists") and name != "IfExists":
        if_exists = True
        name = name[: -len("IfExists")]
    base = BASE_OPERATORS.get(name)
    if base is None or (if_exists and base.family is Family.NULL):
        return None
    return Operator(text, base, qualifier, if_exists)


_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


@lru_cache(maxsize=4096)
def parse_date(text: str) -> float | None:
    """Epoch seconds of a date value as IAM reads it (``iamd.policy.dates``): epoch seconds
    (``1706702400``) or an ISO 8601 date/time (``2024-01-31T12:00:00Z``, ``2024-01``, ``2024-031``,
    ``2024-W05-3``...); None if IAM would refuse it.  No zone designator means UTC."""
    return parse_aws_date(text)


@lru_cache(maxsize=4096)
def parse_number(text: str) -> Decimal | None:
    text = text.strip()
    if not _NUMBER.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None
