"""REST routing: (method, path, query) -> the operation whose ``http`` trait it matches.

Every operation's ``requestUri`` is compiled once per model into a route:

* path segments are literals (``/trustanchors``), labels (``{trustAnchorId}``: one non-empty
  segment) or one greedy label (``{Key+}``: one or more whole segments, ``/`` included);
* a literal query part (``/token?aws_iam=t``, ``?uploads``) must be present in the request's
  query string (``name=value``, or ``name`` with any value).

Request path segments are percent-decoded one by one (UTF-8), so ``%2F`` inside a label stays in
that label's value.  When several routes match, the most specific wins: segment by segment a
literal beats a label, a label beats a greedy label; then the route with more literal query
parts.  Two operations with the same method, segments and query literals would be ambiguous:
building the router refuses them.

:meth:`RestRouter.combined` merges the routes of several REST models (refusing any route two
services share): a request without a SigV4 signature names no service in a credential scope, so
its path alone must say which service and operation it is for (the SSO portal's and SSO-OIDC's
unsigned operations); the caller then checks that the operation is one called unsigned.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from iamd.core.errors import SerializationException, UnknownOperationPath
from iamd.web.protocol.model import ServiceSpec

LITERAL = 0
LABEL = 1
GREEDY = 2

_LABEL_RE = re.compile(r"\{([^{}+]+)(\+?)\}")


@dataclass(frozen=True)
class Segment:
    kind: int
    text: str
    """The literal text, or the label's name."""


@dataclass(frozen=True)
class Route:
    service: str
    operation: str
    method: str
    segments: tuple[Segment, ...]
    query: tuple[tuple[str, str | None], ...]
    """Literal query parts: (name, value), value None when only the name must be present."""

    @property
    def signature(self) -> tuple[object, ...]:
        shape = tuple((s.kind, s.text if s.kind == LITERAL else "") for s in self.segments)
        return (self.method, shape, frozenset(self.query))

    @property
    def rank(self) -> tuple[object, ...]:
        """Smaller is more specific."""
        return (tuple(s.kind for s in self.segments), -len(self.query), self.service, self.operation)


def compile_route(operation: str, method: str, request_uri: str, service: str = "") -> Route:
    path, _, query = request_uri.partition("?")
    if not path.startswith("/"):
        raise ValueError(f"{operation}: requestUri {request_uri!r} does not start with '/'")
    segments: list[Segment] = []
    for part in path[1:].split("/"):
        found = _LABEL_RE.fullmatch(part)
        if found is not None:
            segments.append(Segment(GREEDY if found.group(2) else LABEL, found.group(1)))
        elif "{" in part or "}" in part:
            raise ValueError(f"{operation}: a label must be a whole path segment in {request_uri!r}")
        else:
            segments.append(Segment(LITERAL, _decode(part)))
    if sum(1 for s in segments if s.kind == GREEDY) > 1:
        raise ValueError(f"{operation}: more than one greedy label in {request_uri!r}")
    literals: list[tuple[str, str | None]] = []
    for pair in query.split("&") if query else ():
        name, eq, value = pair.partition("=")
        literals.append((_decode(name), _decode(value) if eq else None))
    return Route(service, operation, method.upper(), tuple(segments), tuple(literals))


class RestRouter:
    """The routes of one REST model (or of the unsigned operations of several)."""

    def __init__(self, spec: ServiceSpec) -> None:
        self._build(spec.name, [(spec, name) for name in spec.operations])

    @classmethod
    def combined(cls, specs: Iterable[ServiceSpec]) -> RestRouter:
        """One router over every operation of the REST models ``specs`` (ValueError if two
        operations of them share a route); :attr:`Route.service` says whose each is."""
        router = cls.__new__(cls)
        chosen = list(specs)
        for spec in chosen:
            if spec.protocol != "rest-json":
                raise ValueError(f"{spec.name} speaks {spec.protocol}, not REST-JSON")
        router._build(" / ".join(s.name for s in chosen), [(s, name) for s in chosen for name in s.operations])
        return router

    def _build(self, description: str, operations: list[tuple[ServiceSpec, str]]) -> None:
        self.description = description
        routes: list[Route] = []
        seen: dict[tuple[object, ...], Route] = {}
        for spec, name in operations:
            op = spec.operations[name]
            route = compile_route(name, op.http_method, op.request_uri, spec.name)
            other = seen.get(route.signature)
            if other is not None:
                raise ValueError(
                    f"{other.service}:{other.operation} and {spec.name}:{name} are bound to the same route "
                    f"{op.http_method} {op.request_uri}"
                )
            seen[route.signature] = route
            routes.append(route)
        self.routes: tuple[Route, ...] = tuple(sorted(routes, key=lambda r: r.rank))
        self._by_method: dict[str, tuple[Route, ...]] = {}
        for method in {r.method for r in routes}:
            self._by_method[method] = tuple(r for r in self.routes if r.method == method)

    def resolve(self, method: str, path: str, query: str = "") -> tuple[Route, dict[str, str]]:
        """The matching route and its decoded URI labels; UnknownOperationPath (404) if none.

        ``path`` is the raw (percent-encoded) request path, ``query`` the raw query string.
        """
        candidates = self._by_method.get(method.upper(), ())
        if candidates:
            segments = [_decode(part) for part in path[1:].split("/")] if path.startswith("/") else []
            pairs = query_pairs(query) if any(r.query for r in candidates) else []
            for route in candidates:  # most specific first
                labels = _match_segments(route.segments, segments)
                if labels is not None and _match_query(route.query, pairs):
                    return route, labels
        raise UnknownOperationPath(f"No operation of {self.description} is bound to {method.upper()} {path}.")

    def match(self, method: str, path: str, query: str = "") -> tuple[str, dict[str, str]]:
        """The operation and its decoded URI labels (see :meth:`resolve`)."""
        route, labels = self.resolve(method, path, query)
        return route.operation, labels


def _match_segments(template: tuple[Segment, ...], segments: list[str]) -> dict[str, str] | None:
    greedy_at = next((i for i, s in enumerate(template) if s.kind == GREEDY), None)
    if greedy_at is None:
        if len(segments) != len(template):
            return None
        return _match_fixed(template, segments, {})
    after = len(template) - greedy_at - 1
    if len(segments) < len(template):
        return None
    labels = _match_fixed(template[:greedy_at], segments[:greedy_at], {})
    if labels is None:
        return None
    tail_start = len(segments) - after
    if _match_fixed(template[greedy_at + 1 :], segments[tail_start:], labels) is None:
        return None
    greedy = "/".join(segments[greedy_at:tail_start])
    if not greedy:
        return None
    labels[template[greedy_at].text] = greedy
    return labels


def _match_fixed(template: tuple[Segment, ...], segments: list[str], labels: dict[str, str]) -> dict[str, str] | None:
    for segment, text in zip(template, segments, strict=True):
        if segment.kind == LITERAL:
            if text != segment.text:
                return None
        elif not text:
            return None
        else:
            labels[segment.text] = text
    return labels


def _match_query(literals: tuple[tuple[str, str | None], ...], pairs: list[tuple[str, str]]) -> bool:
    return all(any(n == name and (value is None or v == value) for n, v in pairs) for name, value in literals)


def _decode(part: str, *, plus_is_space: bool = False) -> str:
    if plus_is_space:
        part = part.replace("+", " ")
    if "%" not in part:
        return part
    try:
        return unquote_to_bytes(part).decode("utf-8")
    except UnicodeDecodeError:
        raise SerializationException(f"{part!r} is not valid UTF-8 once percent-decoded.") from None


def query_pairs(query: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of a raw query string, decoded, in order, repeats kept
    (``+`` is a space; a name without ``=`` has the value "")."""
    pairs: list[tuple[str, str]] = []
    for pair in query.split("&") if query else ():
        if not pair:
            continue
        name, _, value = pair.partition("=")
        pairs.append((_decode(name, plus_is_space=True), _decode(value, plus_is_space=True)))
    return pairs


@functools.cache
def router_for(spec: ServiceSpec) -> RestRouter:
    """The router of ``spec`` (built on first use, then kept)."""
    return RestRouter(spec)
