"""Hypothesis strategies for values of a compiled model shape that satisfy all its constraints.

Strings follow the model's pattern (our Java-to-Python translation) within min/max length, or
its enum; numbers their range; lists and maps stay small; structures always set their required
members and sometimes the others; a union sets exactly one member; documents are small JSON
values.  ``where`` narrows strings to what the transport can carry: ``header`` values are
printable ASCII without surrounding blanks.  Timestamps are whole seconds for requests (what
botocore sends in a JSON body) and milliseconds for answers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from iamd.web.protocol.model import Member, Shape

_INT_BOUNDS = {
    "integer": (-(2**31), 2**31 - 1),
    "long": (-(2**63), 2**63 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-(2**7), 2**7 - 1),
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_DEPTH = 4
MAX_ITEMS = 3

_json_scalars = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8)
documents = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _bounded(shape: Shape, low: int, high: int) -> tuple[int, int]:
    lo = max(low, int(shape.min)) if shape.min is not None else low
    hi = min(high, int(shape.max)) if shape.max is not None else high
    return lo, hi


#: Small samples of the classes model patterns use, for generation: drawing from the full
#: Unicode categories is slow, and strings are checked against the real pattern anyway.
_SAMPLES = {
    "p{L}": "a-zA-Z\u00e9\u00df\u4e2d",
    "p{N}": "0-9\u0663",
    "p{Z}": " \u00a0",
    "p{M}": "\u0301",
    "p{S}": "+<$^",
    "p{P}": "!.,\\-",
    "d": "0-9",
    "w": "a-zA-Z0-9_",
    "s": " \t\n\r",
    "S": "!-~",
}


def generation_pattern(java: str) -> re.Pattern[str]:
    """``java`` with its character classes narrowed to :data:`_SAMPLES` (a subset of what the
    model allows), for hypothesis' ``from_regex``."""
    out: list[str] = []
    i, n = 0, len(java)
    in_class = False
    while i < n:
        ch = java[i]
        if ch == "\\" and i + 1 < n:
            token = java[i + 1 : i + 5] if java[i + 1] == "p" else java[i + 1]
            sample = _SAMPLES.get(token)
            if sample is not None:
                out.append(sample if in_class else f"[{sample}]")
                i += 1 + len(token)
                continue
            out.append(java[i : i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class and out and out[-1] not in ("[", "[^"):
            in_class = False
        out.append(ch)
        i += 1
    text = "".join(out)
    # A leading or trailing ".*" (rolesanywhere's ids) only widens the language: drop it.
    text = text.removeprefix(".*").removesuffix(".*") or text
    return re.compile(text)


def strings(shape: Shape, where: str = "body") -> st.SearchStrategy[str]:
    if shape.enum is not None:
        return st.sampled_from(shape.enum)
    lo, hi = _bounded(shape, 0, 2**31)
    if where == "header":
        lo = max(lo, 1)
        alphabet = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
        base: st.SearchStrategy[str] = st.text(alphabet, min_size=lo, max_size=min(hi, lo + 20))
        if shape.pattern is not None:
            pattern = shape.pattern
            base = base.filter(lambda s: pattern.fullmatch(s) is not None)
        return base
    if where == "label":
        lo = max(lo, 1)
    if shape.pattern is not None and shape.pattern_text is not None:
        pattern = shape.pattern
        source = generation_pattern(shape.pattern_text)
        return st.from_regex(source, fullmatch=True).filter(lambda s: lo <= len(s) <= hi and pattern.fullmatch(s))
    return st.text(min_size=lo, max_size=min(hi, lo + 20))


def timestamps(precision: str) -> st.SearchStrategy[datetime]:
    if precision == "seconds":
        return st.integers(0, 4_102_444_800).map(lambda s: _EPOCH + timedelta(seconds=s))
    return st.integers(0, 4_102_444_800_000).map(lambda ms: _EPOCH + timedelta(milliseconds=ms))


def values(shape: Shape, *, where: str = "body", depth: int = 0, precision: str = "seconds") -> st.SearchStrategy[Any]:
    kind = shape.type
    if kind == "structure":
        if shape.document:
            return documents.filter(lambda v: v is not None)
        return structures(shape, depth=depth, precision=precision)
    if kind == "list":
        element = shape.member
        assert element is not None
        lo, hi = _bounded(shape, 0, MAX_ITEMS)
        hi = max(hi, lo)
        return st.lists(
            values(element.shape, where=where, depth=depth + 1, precision=precision), min_size=lo, max_size=hi
        )
    if kind == "map":
        key, value = shape.key, shape.value
        assert key is not None and value is not None
        lo, hi = _bounded(shape, 0, MAX_ITEMS)
        return st.dictionaries(
            strings(key.shape),
            values(value.shape, depth=depth + 1, precision=precision),
            min_size=lo,
            max_size=max(hi, lo),
        )
    if kind in ("string", "character"):
        return strings(shape, where)
    if kind in _INT_BOUNDS:
        lo, hi = _bounded(shape, *_INT_BOUNDS[kind])
        return st.integers(lo, hi)
    if kind in ("float", "double"):
        return st.floats(min_value=shape.min, max_value=shape.max, allow_nan=False, allow_infinity=False, width=64).map(
            lambda f: f + 0.0
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return timestamps(precision)
    if kind == "blob":
        lo, hi = _bounded(shape, 0, 64)
        return st.binary(min_size=lo, max_size=min(hi, lo + 64))
    raise TypeError(kind)


def _member_values(member: Member, depth: int, precision: str) -> st.SearchStrategy[Any]:
    where = {"header": "header", "uri": "label"}.get(member.location or "", "body")
    return values(member.shape, where=where, depth=depth + 1, precision=precision)


def structures(shape: Shape, *, depth: int = 0, precision: str = "seconds") -> st.SearchStrategy[dict[str, Any]]:
    if shape.union:
        options = [
            st.builds(lambda v, name=name: {name: v}, _member_values(member, depth, precision))
            for name, member in shape.members.items()
            if depth < MAX_DEPTH or member.shape.type != "structure"
        ]
        return st.one_of(options)
    required = {
        name: _member_values(member, depth, precision)
        for name, member in shape.members.items()
        if name in shape.required and member.location not in ("statusCode", "headers")
    }
    optional = {}
    if depth < MAX_DEPTH:
        optional = {
            name: _member_values(member, depth, precision)
            for name, member in shape.members.items()
            if name not in shape.required and member.location not in ("statusCode", "headers")
        }
    return st.fixed_dictionaries(required, optional=optional)
