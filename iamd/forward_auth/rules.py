"""Forward-auth rules: which action on which resource an HTTP request is (pure; no I/O beyond reading text).

A rules file is TOML::

    [vars]                          # optional: values for {placeholders}
    region = "eu-west-1"
    account = "123456789012"

    [[rule]]
    method = ["GET", "HEAD"]        # a method, a list, or "*" (the default)
    path = "/documents/{id}"
    action = "myapp:GetDocument"
    resource = "arn:aws:myapp:{region}:{account}:document/{id}"

    [[rule]]
    path = "/health"
    anonymous = true                # no authentication, no decision: let it through

    [[rule]]
    path = "/files/{key**}"         # the rest of the path, slashes included
    action = "myapp:GetFile"
    resource = "arn:aws:myapp:{region}:{account}:file/{key}"

The first rule that matches the method and the path wins.  A request no rule matches is denied.

Path patterns are matched segment by segment against the request path (percent-decoded per segment,
the query string ignored):

* a literal segment matches itself (``documents``);
* ``{name}`` captures one whole segment; a segment may add literal text around one capture
  (``v{version}``, ``{id}.json``);
* ``*`` matches one segment; ``**`` matches what is left (zero or more segments), last only;
* ``{name**}`` captures what is left (zero or more segments, joined by ``/``), last only.

``action`` and ``resource`` are templates over the rule's captures, ``[vars]``, and ``{method}``
and ``{host}`` (the request's).  A captured value never contains ``/`` unless it was captured by
``{name**}``: a single segment whose decoding holds a slash (``%2F``) does not match.

Errors name the line: ``rules.toml:12: rule 3: unknown placeholder {idd} in resource``.

Matching cost does not grow with the number of rules: rules are compiled into a tree of path
segments (literal children in a dict, then patterns), each node knowing the smallest rule number
below it, and the search stops at any branch that cannot beat the best match found so far.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
BUILTIN_VARS = frozenset({"method", "host"})
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PLACEHOLDER = re.compile(r"\{(" + _NAME + r")\}")
_CAPTURE = re.compile(r"\{(" + _NAME + r")(\*\*)?\}")
_ACTION = re.compile(r"[A-Za-z0-9-]+:[A-Za-z0-9*?{}_-]+")
_RULE_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\]\]\s*(#.*)?$")
_KEY_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=")
_RULE_KEYS = frozenset({"method", "path", "action", "resource", "anonymous", "name"})


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class _Segment:
    kind: str
    """``literal``, ``capture`` (with optional prefix/suffix), ``star``, ``rest`` (``**``), ``rest_capture``."""
    text: str = ""
    name: str = ""
    prefix: str = ""
    suffix: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    index: int
    methods: frozenset[str] | None
    """None: any method."""
    path: str
    action: str
    resource: str
    anonymous: bool
    line: int
    name: str | None = None
    segments: tuple[_Segment, ...] = ()


@dataclass(frozen=True, slots=True)
class Match:
    rule: Rule
    captures: Mapping[str, str]
    action: str
    resource: str

    @property
    def anonymous(self) -> bool:
        return self.rule.anonymous


@dataclass(slots=True)
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    patterns: list[tuple[_Segment, _Node]] = field(default_factory=list)
    ends: list[Rule] = field(default_factory=list)
    """Rules whose pattern ends here."""
    rests: list[tuple[_Segment, Rule]] = field(default_factory=list)
    """Rules whose pattern ends with ``**`` or ``{name**}`` here."""
    best: int = 1 << 60
    """The smallest rule index at or below this node."""


class RuleSet:
    """Compiled rules; :meth:`match` finds the first rule for a request."""

    def __init__(self, rules: Sequence[Rule], variables: Mapping[str, str]) -> None:
        self.rules = tuple(rules)
        self.variables = dict(variables)
        self._root = _Node()
        for rule in self.rules:
            self._add(rule)

    def _add(self, rule: Rule) -> None:
        node = self._root
        node.best = min(node.best, rule.index)
        for segment in rule.segments:
            if segment.kind in ("rest", "rest_capture"):
                node.rests.append((segment, rule))
                return
            if segment.kind == "literal":
                node = node.literal.setdefault(segment.text, _Node())
            else:
                for existing, child in node.patterns:
                    if existing == segment:
                        node = child
                        break
                else:
                    child = _Node()
                    node.patterns.append((segment, child))
                    node = child
            node.best = min(node.best, rule.index)
        node.ends.append(rule)

    def match(self, method: str, path: str, host: str = "") -> Match | None:
        """The first rule matching ``method`` and ``path`` (raw, percent-encoded; query ignored), or None."""
        method = method.upper()
        raw = path.split("?", 1)[0].split("#", 1)[0]
        if not raw.startswith("/"):
            raw = "/" + raw
        parts = raw.split("/")[1:]
        if parts == [""]:
            parts = []
        found: list[tuple[Rule, dict[str, str]]] = []
        self._search(self._root, parts, 0, method, {}, found)
        if not found:
            return None
        rule, captures = min(found, key=lambda item: item[0].index)
        values = {**self.variables, **captures, "method": method, "host": host}
        return Match(rule, captures, _render(rule.action, values), _render(rule.resource, values))

    def _search(
        self,
        node: _Node,
        parts: list[str],
        at: int,
        method: str,
        captures: dict[str, str],
        found: list[tuple[Rule, dict[str, str]]],
    ) -> None:
        best = found[0][0].index if found else None
        if best is not None and node.best >= best:
            return
        for segment, rule in node.rests:
            if (best is None or rule.index < best) and _allows(rule, method):
                got = dict(captures)
                if segment.kind == "rest_capture":
                    got[segment.name] = "/".join(unquote(p) for p in parts[at:])
                found[:] = [(rule, got)]
                best = rule.index
        if at == len(parts):
            for rule in node.ends:
                if (best is None or rule.index < best) and _allows(rule, method):
                    found[:] = [(rule, dict(captures))]
                    best = rule.index
            return
        raw = parts[at]
        segment_text = unquote(raw)
        child = node.literal.get(segment_text)
        if child is not None:
            self._search(child, parts, at + 1, method, captures, found)
        for pattern, sub in node.patterns:
            value = _segment_match(pattern, segment_text)
            if value is None:
                continue
            if pattern.kind == "capture":
                self._search(sub, parts, at + 1, method, {**captures, pattern.name: value}, found)
            else:
                self._search(sub, parts, at + 1, method, captures, found)


def _allows(rule: Rule, method: str) -> bool:
    return rule.methods is None or method in rule.methods


def _segment_match(segment: _Segment, text: str) -> str | None:
    if "/" in text or text == "":
        return None  # an encoded slash or an empty segment never fills a one-segment pattern
    if segment.kind == "star":
        return text
    if not (text.startswith(segment.prefix) and text.endswith(segment.suffix)):
        return None
    if len(text) <= len(segment.prefix) + len(segment.suffix):
        return None
    return text[len(segment.prefix) : len(text) - len(segment.suffix)]


def _render(template: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


# -- loading ---------------------------------------------------------------------------------------


def load(path: str) -> RuleSet:
    """Read and compile a rules file (RulesError naming the line when it is not valid)."""
    with open(path, encoding="utf-8") as handle:
        return parse(handle.read(), source=path)


def parse(text: str, source: str = "rules.toml") -> RuleSet:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: {exc}") from exc
    lines = text.splitlines()
    rule_lines = [n for n, line in enumerate(lines, 1) if _RULE_HEADER.match(line)]
    unknown = set(data) - {"rule", "vars"}
    if unknown:
        key = sorted(unknown)[0]
        raise RulesError(f"{source}:{_find_key(lines, key, 1, len(lines))}: unknown top-level key {key!r}")
    variables = data.get("vars", {})
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise RulesError(f"{source}:{_find_table(lines, 'vars')}: [vars] must map names to strings")
    for name in variables:
        if not re.fullmatch(_NAME, name) or name in BUILTIN_VARS:
            raise RulesError(f"{source}:{_find_key(lines, name, 1, len(lines))}: invalid variable name {name!r}")
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RulesError(f"{source}: no rules: add [[rule]] tables")
    rules = []
    for index, raw in enumerate(raw_rules):
        start = rule_lines[index] if index < len(rule_lines) else 1
        end = rule_lines[index + 1] - 1 if index + 1 < len(rule_lines) else len(lines)
        rules.append(_rule(raw, index, variables, source, lines, start, end))
    return RuleSet(rules, variables)


def _find_key(lines: list[str], key: str, start: int, end: int) -> int:
    for number in range(start, min(end, len(lines)) + 1):
        match = _KEY_LINE.match(lines[number - 1])
        if match and match.group(1) == key:
            return number
    return start


def _find_table(lines: list[str], name: str) -> int:
    for number, line in enumerate(lines, 1):
        if re.match(r"^\s*\[\s*" + re.escape(name) + r"\s*\]", line):
            return number
    return 1


def _rule(
    raw: Any, index: int, variables: Mapping[str, str], source: str, lines: list[str], start: int, end: int
) -> Rule:
    where = f"{source}:{start}: rule {index + 1}"

    def fail(key: str | None, message: str) -> RulesError:
        line = _find_key(lines, key, start, end) if key else start
        return RulesError(f"{source}:{line}: rule {index + 1}: {message}")

    if not isinstance(raw, dict):
        raise RulesError(f"{where}: a rule must be a table")
    for key in raw:
        if key not in _RULE_KEYS:
            raise fail(key, f"unknown key {key!r} (use {', '.join(sorted(_RULE_KEYS))})")
    path = raw.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise fail("path" if "path" in raw else None, "path must be a string starting with /")
    try:
        segments = _compile_path(path)
    except ValueError as exc:
        raise fail("path", str(exc)) from exc
    methods = _methods(raw.get("method", "*"), fail)
    anonymous = raw.get("anonymous", False)
    if not isinstance(anonymous, bool):
        raise fail("anonymous", "anonymous must be true or false")
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise fail("name", "name must be a string")
    action = raw.get("action", "")
    resource = raw.get("resource", "")
    if anonymous:
        if action or resource:
            raise fail("action" if action else "resource", "an anonymous rule takes no action or resource")
    else:
        if not isinstance(action, str) or not action:
            raise fail("action" if "action" in raw else None, "action is required (service:Action)")
        if not isinstance(resource, str) or not resource:
            raise fail("resource" if "resource" in raw else None, "resource is required (an ARN template or *)")
        if not _ACTION.fullmatch(action):
            raise fail("action", f"action {action!r} is not service:Action")
        captured = {s.name for s in segments if s.name}
        known = captured | set(variables) | BUILTIN_VARS
        for key, template in (("action", action), ("resource", resource)):
            for placeholder in _PLACEHOLDER.findall(template):
                if placeholder not in known:
                    raise fail(key, f"unknown placeholder {{{placeholder}}} in {key}")
            leftover = _PLACEHOLDER.sub("", template)
            if "{" in leftover or "}" in leftover:
                raise fail(key, f"a brace in {key} that is not a {{placeholder}}")
        if resource != "*" and not resource.startswith("arn:"):
            raise fail("resource", "resource must be an ARN template (arn:...) or *")
    return Rule(
        index=index,
        methods=methods,
        path=path,
        action=action,
        resource=resource,
        anonymous=anonymous,
        line=start,
        name=name,
        segments=segments,
    )


def _methods(value: Any, fail: Any) -> frozenset[str] | None:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(m, str) for m in items):
        raise fail("method", "method must be a method name, a list of them, or *")
    if "*" in items:
        if len(items) > 1:
            raise fail("method", "* stands alone")
        return None
    upper = [m.upper() for m in items]
    for method in upper:
        if method not in HTTP_METHODS:
            raise fail("method", f"unknown HTTP method {method!r}")
    return frozenset(upper)


def _compile_path(path: str) -> tuple[_Segment, ...]:
    parts = path.split("/")[1:]
    if parts == [""]:
        return ()
    segments: list[_Segment] = []
    names: set[str] = set()
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if part == "":
            raise ValueError(f"empty segment in path {path!r}")
        if part == "**" or (_CAPTURE.fullmatch(part) and part.endswith("**}")):
            if not last:
                raise ValueError(f"{part} must be the last segment of the path")
            if part == "**":
                segments.append(_Segment("rest"))
            else:
                name = part[1:-3]
                _new_name(name, names)
                segments.append(_Segment("rest_capture", name=name))
            continue
        if part == "*":
            segments.append(_Segment("star"))
            continue
        captures = list(_CAPTURE.finditer(part))
        if not captures:
            if "{" in part or "}" in part or "*" in part:
                raise ValueError(f"invalid path segment {part!r}")
            segments.append(_Segment("literal", text=unquote(part)))
            continue
        if len(captures) > 1:
            raise ValueError(f"one capture per segment: {part!r}")
        match = captures[0]
        if match.group(2):
            raise ValueError(f"{match.group(0)} must be a whole segment, and the last")
        prefix, suffix = part[: match.start()], part[match.end() :]
        if any(c in prefix + suffix for c in "{}*"):
            raise ValueError(f"invalid path segment {part!r}")
        _new_name(match.group(1), names)
        segments.append(_Segment("capture", name=match.group(1), prefix=unquote(prefix), suffix=unquote(suffix)))
    return tuple(segments)


def _new_name(name: str, names: set[str]) -> None:
    if name in names:
        raise ValueError(f"capture {{{name}}} appears twice")
    if name in BUILTIN_VARS:
        raise ValueError(f"{{{name}}} is built in; capture under another name")
    names.add(name)
