"""A plain HTTP request as the layers below the web layer see it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str
    """The raw (still percent-encoded) path, e.g. ``/``."""
    query_string: str
    """The raw query string without the leading ``?``."""
    headers: tuple[tuple[str, str], ...]
    """Header (name, value) pairs in arrival order; names lower-cased; duplicates kept."""
    body: bytes = b""
    source_ip: str = ""
    secure: bool = False
    _index: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        if not self._index:
            for key, value in self.headers:
                self._index.setdefault(key, value)
        return self._index.get(name.lower())
