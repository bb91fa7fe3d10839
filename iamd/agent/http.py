"""Responses of the agent's endpoints, independent of the HTTP server that sends them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from iamd.core.http import HttpRequest

__all__ = ["App", "HttpResponse", "aws_timestamp", "html_error", "text"]

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    token_response: bool = False
    """An IMDSv2 token (the server limits how far its packets may travel: the hop limit)."""


class App(Protocol):
    def handle(self, request: HttpRequest) -> HttpResponse: ...


def aws_timestamp(when: datetime) -> str:
    """``2024-05-06T07:08:09Z``: how IMDS and the container endpoint write times."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def text(body: str, status: int = 200, *extra: tuple[str, str]) -> HttpResponse:
    return HttpResponse(status, (("Content-Type", "text/plain"), *extra), body.encode())


def html_error(status: int, *extra: tuple[str, str]) -> HttpResponse:
    """The small XHTML page IMDS answers errors with."""
    title = f"{status} - {_REASONS.get(status, 'Error')}"
    page = (
        '<?xml version="1.0" encoding="iso-8859-1"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
        '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
        f" <head>\n  <title>{title}</title>\n </head>\n <body>\n  <h1>{title}</h1>\n </body>\n</html>\n"
    )
    return HttpResponse(status, (("Content-Type", "text/html"), *extra), page.encode())
