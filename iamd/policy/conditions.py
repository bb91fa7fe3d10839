"""Condition operators, compiled once per policy and evaluated against an ``EvalContext``.

The rules, as AWS documents them ("IAM JSON policy elements: Condition operators", "Conditions
with multiple context keys or values", "Single-valued vs. multivalued context keys"):

* several values for one key are OR-ed; for a negated operator (``StringNotEquals``,
  ``NotIpAddress``, ``ArnNotLike``...) the values are NOR-ed: none may match;
* a key missing from the request: the condition is false, except that negated operators are true
  and ``...IfExists`` operators are true;
* ``ForAllValues:`` is true when every request value matches (for a negated operator: matches none
  of the policy values) -- and true when the key is missing or its values are empty;
* ``ForAnyValue:`` is true when at least one request value matches (negated: fails to match every
  policy value) -- and false when the key is missing or its values are empty;
* without a set qualifier a multivalued key behaves like ``ForAnyValue`` (negated operators: no
  request value may match), a choice documented in docs/policy-engine.md.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final

from iamd.policy.context import EvalContext
from iamd.policy.grammar import ConditionEntry
from iamd.policy.operators import FOR_ALL_VALUES, FOR_ANY_VALUE, Compare, Family, parse_date, parse_number
from iamd.policy.variables import (
    ARN,
    EXACT,
    GLOB,
    PREFIX,
    Part,
    Pattern,
    compiled,
    has_variables,
    regex_source,
    resolve,
    tokenize,
)

NONE: Final = 0
ANY: Final = 1
ALL: Final = 2

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Condition:
    """One key under one operator.  Subclasses define ``prepare`` and ``match``."""

    __slots__ = ("entry", "fixed", "if_exists", "key", "negated", "qualifier")
    cost = 1
    """Relative evaluation cost: a statement checks its cheapest conditions first."""

    def __init__(self, entry: ConditionEntry) -> None:
        op = entry.operator
        self.entry = entry
        self.key = entry.key.lower()
        self.negated = op.base.negated
        self.if_exists = op.if_exists
        self.qualifier = {None: NONE, FOR_ANY_VALUE: ANY, FOR_ALL_VALUES: ALL}[op.qualifier]
        self.fixed: Any = None
        """The prepared policy values when they do not depend on the request (no variables)."""

    def prepare(self, ctx: EvalContext) -> Any:
        """The policy values ready for ``match`` (variables resolved)."""
        raise NotImplementedError

    def match(self, value: str, prepared: Any) -> bool:
        """Whether one request value matches any of the (prepared) policy values."""
        raise NotImplementedError

    def evaluate(self, ctx: EvalContext) -> bool:
        values = ctx.get(self.key)
        qualifier = self.qualifier
        if not values or (qualifier != NONE and values == ("",)):
            if self.if_exists:
                return True
            if qualifier == ALL:
                return True
            if qualifier == ANY:
                return False
            return self.negated
        prepared = self.fixed
        if prepared is None:
            prepared = self.prepare(ctx)
        match = self.match
        negated = self.negated
        if qualifier == NONE:
            for value in values:
                if match(value, prepared):
                    return not negated
            return negated
        if qualifier == ALL:
            for value in values:  # noqa: SIM110 - a plain loop is faster on this hot path
                if match(value, prepared) == negated:
                    return False
            return True
        for value in values:  # noqa: SIM110
            if match(value, prepared) != negated:
                return True
        return False


class _Templated(Condition):
    """String / Arn / Bool operators: values may hold policy variables."""

    __slots__ = ("_templates",)

    def __init__(self, entry: ConditionEntry, variables: bool) -> None:
        super().__init__(entry)
        use_vars = variables and entry.operator.base.variables
        self._templates: tuple[tuple[Part, ...], ...] = tuple(tokenize(v, use_vars) for v in entry.values)
        dynamic = any(has_variables(t) for t in self._templates)
        self.fixed = None if dynamic else self.build(self._templates, None)

    def build(self, templates: tuple[tuple[Part, ...], ...], ctx: EvalContext | None) -> Any:
        raise NotImplementedError

    def prepare(self, ctx: EvalContext) -> Any:
        return self.build(self._templates, ctx)


def _lookup(ctx: EvalContext | None) -> Callable[[str], str | None] | None:
    return ctx.variable if ctx is not None else None


class StringEquals(_Templated):
    __slots__ = ()

    def build(self, templates: tuple[tuple[Part, ...], ...], ctx: EvalContext | None) -> frozenset[str]:
        lookup = _lookup(ctx)
        return frozenset(v for v in (resolve(t, lookup) for t in templates) if v is not None)

    def match(self, value: str, prepared: frozenset[str]) -> bool:
        return value in prepared


class StringEqualsIgnoreCase(_Templated):
    __slots__ = ()

    def build(self, templates: tuple[tuple[Part, ...], ...], ctx: EvalContext | None) -> frozenset[str]:
        lookup = _lookup(ctx)
        return frozenset(v.lower() for v in (resolve(t, lookup) for t in templates) if v is not None)

    def match(self, value: str, prepared: frozenset[str]) -> bool:
        return value.lower() in prepared


_Prepared = tuple[frozenset[str], tuple[str, ...], tuple[re.Pattern[str], ...]]
"""Patterns ready to match: exact values, prefixes, regexes."""


class _Pattern(Condition):
    """Values with wildcards (StringLike, ArnLike): exact values, prefixes and regexes."""

    __slots__ = ("_patterns",)
    cost = 3
    semantics = GLOB

    def __init__(self, entry: ConditionEntry, variables: bool) -> None:
        super().__init__(entry)
        use_vars = variables and entry.operator.base.variables
        self._patterns = tuple(Pattern(tokenize(v, use_vars), self.semantics) for v in entry.values)
        if not any(p.dynamic for p in self._patterns):
            exact, prefixes, sources = set(), [], []
            for pattern in self._patterns:
                resolved = pattern.static
                assert resolved is not None
                if resolved[0] == EXACT:
                    exact.add(str(resolved[1]))
                elif resolved[0] == PREFIX:
                    prefixes.append(str(resolved[1]))
                else:
                    source = regex_source(pattern.parts, self.semantics)
                    if source is not None:
                        sources.append(source)
            regexes = (compiled("|".join(f"(?:{s})" for s in sources)),) if sources else ()
            self.fixed = (frozenset(exact), tuple(prefixes), regexes)

    def prepare(self, ctx: EvalContext) -> _Prepared:
        exact: set[str] = set()
        prefixes: list[str] = []
        regexes: list[re.Pattern[str]] = []
        for pattern in self._patterns:
            resolved = pattern.resolve(ctx.variable)
            if resolved is None:
                continue
            mode, payload = resolved
            if mode == EXACT:
                exact.add(str(payload))
            elif mode == PREFIX:
                prefixes.append(str(payload))
            else:
                regexes.append(payload)  # type: ignore[arg-type]
        return frozenset(exact), tuple(prefixes), tuple(regexes)

    def match(self, value: str, prepared: _Prepared) -> bool:
        exact, prefixes, regexes = prepared
        if value in exact:
            return True
        if prefixes and value.startswith(prefixes):
            return True
        for regex in regexes:  # noqa: SIM110
            if regex.fullmatch(value) is not None:
                return True
        return False


class StringLike(_Pattern):
    __slots__ = ()
    semantics = GLOB


class ArnLike(_Pattern):
    """ArnEquals / ArnLike (they behave identically): each of the six colon-delimited ARN
    components is matched separately; wildcards do not cross into the next component."""

    __slots__ = ()
    semantics = ARN


class Bool(_Templated):
    __slots__ = ()

    def build(self, templates: tuple[tuple[Part, ...], ...], ctx: EvalContext | None) -> frozenset[str]:
        lookup = _lookup(ctx)
        return frozenset(v.lower() for v in (resolve(t, lookup) for t in templates) if v is not None)

    def match(self, value: str, prepared: frozenset[str]) -> bool:
        return value.lower() in prepared


class _Static(Condition):
    """Operators whose values take no variables: parsed once."""

    __slots__ = ()

    def __init__(self, entry: ConditionEntry) -> None:
        super().__init__(entry)
        self.fixed = self.parse(entry.values)

    def parse(self, values: tuple[str, ...]) -> Any:
        raise NotImplementedError

    def prepare(self, ctx: EvalContext) -> Any:
        return self.fixed


_COMPARE: dict[Compare, Callable[[Any, Any], bool]] = {
    Compare.EQ: lambda a, b: bool(a == b),
    Compare.LT: lambda a, b: bool(a < b),
    Compare.LE: lambda a, b: bool(a <= b),
    Compare.GT: lambda a, b: bool(a > b),
    Compare.GE: lambda a, b: bool(a >= b),
}


class Numeric(_Static):
    __slots__ = ("_cmp",)
    cost = 3

    def __init__(self, entry: ConditionEntry) -> None:
        self._cmp = _COMPARE[entry.operator.base.compare]
        super().__init__(entry)

    def parse(self, values: tuple[str, ...]) -> tuple[Decimal, ...]:
        return tuple(n for n in (parse_number(v) for v in values) if n is not None)

    def match(self, value: str, prepared: tuple[Decimal, ...]) -> bool:
        number = parse_number(value)
        if number is None:
            return False
        cmp = self._cmp
        return any(cmp(number, p) for p in prepared)


class Date(_Static):
    __slots__ = ("_cmp",)
    cost = 3

    def __init__(self, entry: ConditionEntry) -> None:
        self._cmp = _COMPARE[entry.operator.base.compare]
        super().__init__(entry)

    def parse(self, values: tuple[str, ...]) -> tuple[float, ...]:
        return tuple(d for d in (parse_date(v) for v in values) if d is not None)

    def match(self, value: str, prepared: tuple[float, ...]) -> bool:
        when = parse_date(value)
        if when is None:
            return False
        cmp = self._cmp
        return any(cmp(when, p) for p in prepared)


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


class BinaryEquals(_Static):
    """Byte-for-byte comparison of base-64 values (request values are base-64 text too)."""

    __slots__ = ()
    cost = 3

    def parse(self, values: tuple[str, ...]) -> tuple[frozenset[bytes], frozenset[str]]:
        decoded = frozenset(b for b in (_b64(v) for v in values) if b is not None)
        return decoded, frozenset(values)

    def match(self, value: str, prepared: tuple[frozenset[bytes], frozenset[str]]) -> bool:
        decoded, raw = prepared
        if value in raw:
            return True
        got = _b64(value)
        return got is not None and got in decoded


@lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        if "/" in text:
            return ipaddress.ip_interface(text.strip()).ip
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


class IpAddress(_Static):
    """IPv4 / IPv6 CIDR ranges; a bare address is a /32 (or /128)."""

    __slots__ = ()
    cost = 4

    def parse(self, values: tuple[str, ...]) -> tuple[_Network, ...]:
        networks: list[_Network] = []
        for v in values:
            try:
                networks.append(ipaddress.ip_network(v.strip(), strict=False))
            except ValueError:
                continue
        return tuple(networks)

    def match(self, value: str, prepared: tuple[_Network, ...]) -> bool:
        addr = _address(value)
        if addr is None:
            return False
        return any(addr.version == net.version and addr in net for net in prepared)


class Null(Condition):
    """``true``: the key must be absent; ``false``: present.  Qualifiers do not change it."""

    __slots__ = ("_want_absent", "_want_present")

    def __init__(self, entry: ConditionEntry) -> None:
        super().__init__(entry)
        lowered = {v.lower() for v in entry.values}
        self._want_absent = "true" in lowered
        self._want_present = "false" in lowered

    def evaluate(self, ctx: EvalContext) -> bool:
        present = bool(ctx.get(self.key))
        return (self._want_absent and not present) or (self._want_present and present)


def compile_condition(entry: ConditionEntry, variables: bool) -> Condition:
    """A compiled condition; ``variables`` is True for Version 2012-10-17 documents."""
    base = entry.operator.base
    family = base.family
    if family is Family.STRING:
        if base.compare is Compare.EQ:
            return StringEquals(entry, variables)
        if base.compare is Compare.EQ_IGNORE_CASE:
            return StringEqualsIgnoreCase(entry, variables)
        return StringLike(entry, variables)
    if family is Family.ARN:
        return ArnLike(entry, variables)
    if family is Family.BOOL:
        return Bool(entry, variables)
    if family is Family.NUMERIC:
        return Numeric(entry)
    if family is Family.DATE:
        return Date(entry)
    if family is Family.BINARY:
        return BinaryEquals(entry)
    if family is Family.IP:
        return IpAddress(entry)
    return Null(entry)
