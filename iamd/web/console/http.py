"""Small HTTP helpers for the console: cookies, forms, responses with the console's security headers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from iamd.core.http import HttpRequest
from iamd.web.protocol.form import parse_form

Response = tuple[int, list[tuple[bytes, bytes]], bytes]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def cookies(request: HttpRequest) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in request.headers:
        if name != "cookie":
            continue
        for part in value.split(";"):
            key, sep, val = part.strip().partition("=")
            if sep and key and key not in out:
                out[key] = val
    return out


def form(request: HttpRequest) -> dict[str, str]:
    content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
    if request.method != "POST" or content_type != "application/x-www-form-urlencoded":
        return {}
    try:
        return parse_form(request.body)
    except Exception:
        return {}


def json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    location: str | None = None
    set_cookies: list[str] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)

    def encode(self) -> Response:
        headers = [
            ("content-type", self.content_type),
            ("content-length", str(len(self.body))),
            ("cache-control", "no-store"),
            ("content-security-policy", CSP),
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "same-origin"),
            *self.extra,
        ]
        if self.location is not None:
            headers.append(("location", self.location))
        headers.extend(("set-cookie", c) for c in self.set_cookies)
        return self.status, [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers], self.body


def redirect(location: str) -> Reply:
    return Reply(status=303, location=location)


def json_reply(data: dict[str, Any], status: int = 200) -> Reply:
    return Reply(status=status, body=json.dumps(data).encode(), content_type="application/json")


def cookie(name: str, value: str, *, secure: bool, max_age: int | None = None) -> str:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


def expired_cookie(name: str, *, secure: bool) -> str:
    return cookie(name, "", secure=secure, max_age=0)
