"""Policy values as templates: literal text, wildcards (``*``, ``?``) and policy variables.

``${aws:username}`` is replaced by the request's value for that key (keys are case-insensitive);
``${aws:username, 'guest'}`` falls back to ``guest`` when the key has no single value; ``${*}``,
``${?}`` and ``${$}`` are a literal ``*``, ``?`` and ``$``.  Variables exist only in documents of
Version 2012-10-17; in older documents (or without a Version) ``${...}`` is literal text.
A substituted value is always literal text: wildcard characters in it match only themselves.

A variable whose key is missing, multivalued, or without a default makes the value it appears in
unresolvable: that one value matches nothing.

``Pattern`` compiles a template once into the cheapest check that implements it: equality, a
prefix test, or a regex (rendered per request only when variables are involved).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Final

LITERAL: Final = 0
STAR: Final = 1
QMARK: Final = 2
VARIABLE: Final = 3

Part = tuple[int, str, str | None]
"""(kind, text, default): text is the literal text, or the lower-cased key of a variable."""

Lookup = Callable[[str], str | None]
"""Resolves a lower-cased context key to its single value, or None."""

Fragment = str | Part
"""Regex source text, or a variable to escape into it."""

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}
_DEFAULT = re.compile(r"^\s*([^\s,'$][^,'$]*?)\s*,\s*'([^']*)'\s*$")
_NAME = re.compile(r"^\s*([^\s,'$][^,'$]*?)\s*$")


def tokenize(value: str, variables: bool) -> tuple[Part, ...]:
    """Split a policy string into literal runs, wildcards and (if ``variables``) variables."""
    parts: list[Part] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            parts.append((LITERAL, "".join(buf), None))
            buf.clear()

    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if variables and ch == "$" and value.startswith("${", i):
            m = _VARIABLE.match(value, i)
            if m is not None:
                inner = m.group(1)
                if inner in _SPECIAL:
                    buf.append(_SPECIAL[inner])
                    i = m.end()
                    continue
                dm = _DEFAULT.match(inner)
                nm = _NAME.match(inner) if dm is None else None
                if dm is not None:
                    flush()
                    parts.append((VARIABLE, dm.group(1).lower(), dm.group(2)))
                    i = m.end()
                    continue
                if nm is not None:
                    flush()
                    parts.append((VARIABLE, nm.group(1).lower(), None))
                    i = m.end()
                    continue
        if ch == "*":
            flush()
            parts.append((STAR, "", None))
        elif ch == "?":
            flush()
            parts.append((QMARK, "", None))
        else:
            buf.append(ch)
        i += 1
    flush()
    return tuple(parts)


def has_variables(parts: tuple[Part, ...]) -> bool:
    return any(p[0] == VARIABLE for p in parts)


def has_wildcards(parts: tuple[Part, ...]) -> bool:
    return any(p[0] == STAR or p[0] == QMARK for p in parts)


def _raw(part: Part) -> str:
    if part[2] is None:
        return "${" + part[1] + "}"
    return "${" + part[1] + ", '" + part[2] + "'}"


def pin_early_variables(parts: tuple[Part, ...]) -> tuple[Part, ...]:
    """ARN patterns: variables are allowed only in the resource part (after the fifth colon);
    earlier ones stay literal text, as AWS leaves them."""
    out: list[Part] = []
    colons = 0
    for part in parts:
        if part[0] == LITERAL:
            colons += part[1].count(":")
            out.append(part)
        elif part[0] == VARIABLE and colons < 5:
            out.append((LITERAL, _raw(part), None))
        else:
            out.append(part)
    merged: list[Part] = []
    for part in out:
        if merged and part[0] == LITERAL and merged[-1][0] == LITERAL:
            merged[-1] = (LITERAL, merged[-1][1] + part[1], None)
        else:
            merged.append(part)
    return tuple(merged)


def _value(part: Part, lookup: Lookup | None) -> str | None:
    got = lookup(part[1]) if lookup is not None else None
    return got if got is not None else part[2]


def resolve(parts: tuple[Part, ...], lookup: Lookup | None) -> str | None:
    """The value with variables replaced and wildcards kept as the literal characters they are
    (for operators without wildcards: StringEquals, Bool...).  None when a variable does not resolve."""
    out: list[str] = []
    for part in parts:
        kind = part[0]
        if kind == LITERAL:
            out.append(part[1])
        elif kind == STAR:
            out.append("*")
        elif kind == QMARK:
            out.append("?")
        else:
            got = _value(part, lookup)
            if got is None:
                return None
            out.append(got)
    return "".join(out)


@lru_cache(maxsize=8192)
def compiled(source: str) -> re.Pattern[str]:
    return re.compile(source, re.DOTALL)


def render(fragments: tuple[Fragment, ...], lookup: Lookup | None) -> str | None:
    """Regex source from fragments, variables escaped in; None when one does not resolve."""
    out: list[str] = []
    for fragment in fragments:
        if isinstance(fragment, str):
            out.append(fragment)
        else:
            got = _value(fragment, lookup)
            if got is None:
                return None
            out.append(re.escape(got))
    return "".join(out)


def glob_fragments(parts: tuple[Part, ...]) -> tuple[Fragment, ...]:
    """StringLike / action patterns: ``*`` any run of characters, ``?`` any one character."""
    out: list[Fragment] = []
    for part in parts:
        kind = part[0]
        if kind == LITERAL:
            out.append(re.escape(part[1]))
        elif kind == STAR:
            out.append(".*")
        elif kind == QMARK:
            out.append(".")
        else:
            out.append(part)
    return tuple(out)


def arn_fragments(parts: tuple[Part, ...], *, resource_element: bool) -> tuple[Fragment, ...]:
    """ARN patterns, segment by segment.

    The first five colons of the pattern split it into six segments; ``*`` and ``?`` do not cross a
    colon inside the first five segments, and anything goes in the sixth (the resource part, whose
    own colons belong to it).  This is ``ArnLike``.  For the ``Resource`` element
    (``resource_element``) AWS documents one more rule: a ``*`` that is the last character of a
    segment may expand beyond the colon boundaries.  A lone ``*`` matches anything.
    """
    if len(parts) == 1 and parts[0][0] == STAR:
        return (".*",)
    out: list[Fragment] = []
    seg = 0
    count = len(parts)
    for idx, part in enumerate(parts):
        kind = part[0]
        if kind == LITERAL:
            for ch in part[1]:
                if ch == ":" and seg < 5:
                    seg += 1
                    out.append(":")
                else:
                    out.append(re.escape(ch))
        elif kind == STAR:
            if seg >= 5 or (resource_element and _ends_segment(parts, idx, count)):
                out.append(".*")
            else:
                out.append("[^:]*")
        elif kind == QMARK:
            out.append("." if seg >= 5 else "[^:]")
        else:
            out.append(part)
    return tuple(out)


def _ends_segment(parts: tuple[Part, ...], idx: int, count: int) -> bool:
    if idx + 1 >= count:
        return True
    nxt = parts[idx + 1]
    return nxt[0] == LITERAL and nxt[1].startswith(":")


GLOB: Final = 0
ARN: Final = 1
RESOURCE: Final = 2

EXACT: Final = 0
PREFIX: Final = 1
REGEX: Final = 2

Resolved = tuple[int, object]
"""(EXACT, text) | (PREFIX, text) | (REGEX, compiled pattern)."""


class Pattern:
    """One policy pattern compiled for its semantics (GLOB, ARN or RESOURCE).

    ``head`` is the literal text before the first wildcard or variable: every value the pattern
    matches starts with it, which rejects most values before any variable is resolved.
    """

    __slots__ = ("dynamic", "fragments", "head", "mode", "parts", "static")

    def __init__(self, parts: tuple[Part, ...], semantics: int) -> None:
        if semantics != GLOB:
            parts = pin_early_variables(parts)
        self.parts = parts
        self.head = parts[0][1] if parts and parts[0][0] == LITERAL else ""
        self.dynamic = has_variables(parts)
        fragments = (
            glob_fragments(parts) if semantics == GLOB else arn_fragments(parts, resource_element=semantics == RESOURCE)
        )
        self.fragments = fragments
        wild = [i for i, p in enumerate(parts) if p[0] == STAR or p[0] == QMARK]
        if not wild:
            self.mode = EXACT
        elif wild == [len(parts) - 1] and parts[-1][0] == STAR and fragments[-1] == ".*":
            self.mode = PREFIX
        else:
            self.mode = REGEX
        self.static: Resolved | None = None if self.dynamic else self.resolve(None)

    def resolve(self, lookup: Lookup | None) -> Resolved | None:
        """The pattern with variables substituted, ready for ``matches``; None if unresolvable."""
        if self.mode == EXACT:
            text = resolve(self.parts, lookup)
            return None if text is None else (EXACT, text)
        if self.mode == PREFIX:
            text = resolve(self.parts[:-1], lookup)
            return None if text is None else (PREFIX, text)
        source = render(self.fragments, lookup)
        return None if source is None else (REGEX, compiled(source))


def matches(value: str, resolved: Resolved) -> bool:
    mode, payload = resolved
    if mode == EXACT:
        return value == payload
    if mode == PREFIX:
        return value.startswith(payload)  # type: ignore[arg-type]
    return payload.fullmatch(value) is not None  # type: ignore[attr-defined]


def regex_source(parts: tuple[Part, ...], semantics: int) -> str | None:
    """Static regex source for a pattern without variables (None if it has some)."""
    if has_variables(parts):
        return None
    if semantics == GLOB:
        return render(glob_fragments(parts), None)
    return render(arn_fragments(pin_early_variables(parts), resource_element=semantics == RESOURCE), None)
