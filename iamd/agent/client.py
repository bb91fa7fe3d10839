"""HTTP(S) calls the agent and the credential helper make to iamd (stdlib ``urllib``)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from iamd.agent.credentials import CredentialSourceError

__all__ = ["check_endpoint", "opener", "service_error"]

TIMEOUT_SECONDS = 30


def check_endpoint(endpoint: str) -> str:
    """``endpoint`` without a trailing slash; ValueError unless it is an http(s) URL."""
    endpoint = endpoint.rstrip("/")
    split = urlsplit(endpoint)
    if split.scheme not in ("http", "https") or not split.netloc:
        raise ValueError(f"The endpoint must be an http(s) URL, not '{endpoint}'.")
    return endpoint


def opener(
    endpoint: str, *, ca_bundle: Path | None = None, verify_tls: bool = True, use_proxy: bool = False
) -> urllib.request.OpenerDirector:
    context: ssl.SSLContext | None = None
    if urlsplit(endpoint).scheme == "https":
        context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
        if not verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    handlers: list[urllib.request.BaseHandler] = [urllib.request.HTTPSHandler(context=context)]
    if not use_proxy:
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


def service_error(error: urllib.error.HTTPError, operation: str) -> CredentialSourceError:
    """The service's JSON error (``message``/``code``, ``x-amzn-ErrorType``) as a CredentialSourceError;
    a 4xx answer other than 429 is a refusal (``denied``)."""
    body = error.read()
    message = ""
    code = (error.headers.get("x-amzn-ErrorType") or "").split(":", 1)[0]
    try:
        document = json.loads(body)
        if isinstance(document, dict):
            message = str(document.get("message") or document.get("Message") or "")
            code = code or str(document.get("code") or document.get("__type") or "").rsplit("#", 1)[-1]
    except ValueError:
        message = body.decode("utf-8", "replace").strip()[:500]
    code = code or f"HTTP{error.code}"
    text = f"{operation} failed (HTTP {error.code}, {code}): {message or error.reason}"
    return CredentialSourceError(text, code=code, denied=400 <= error.code < 500 and error.code != 429)


def post_json(
    client: urllib.request.OpenerDirector, request: urllib.request.Request, operation: str, endpoint: str
) -> object:
    """Send ``request``; its JSON answer, or CredentialSourceError (refused, unreachable, unreadable)."""
    try:
        with client.open(request, timeout=TIMEOUT_SECONDS) as response:
            payload = response.read()
    except urllib.error.HTTPError as error:
        raise service_error(error, operation) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CredentialSourceError(f"Cannot reach {endpoint}: {reason}") from None
    try:
        return json.loads(payload)
    except ValueError:
        raise CredentialSourceError(f"{endpoint} answered {operation} with something that is not JSON.") from None
