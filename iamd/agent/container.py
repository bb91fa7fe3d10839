"""The container credentials endpoint (``AWS_CONTAINER_CREDENTIALS_FULL_URI``).

SDKs send ``GET <full URI>`` with ``Authorization: <token>``, the token taken from
``AWS_CONTAINER_AUTHORIZATION_TOKEN`` or read from ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``. The
answer is the JSON ECS and EKS agents give: ``AccessKeyId``, ``SecretAccessKey``, ``Token``,
``Expiration``, ``AccountId`` (and ``RoleArn`` when known).

A request without ``Authorization`` is 401, one with another token 403 (compared in constant time);
when the source refuses credentials 403 with its code, when it is unreachable and nothing valid is
cached 503. Errors are JSON ``{"code": ..., "message": ...}``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable

from iamd.agent.credentials import CredentialCache, CredentialsUnavailable
from iamd.agent.http import HttpResponse, aws_timestamp
from iamd.core.http import HttpRequest

__all__ = ["DEFAULT_PATH", "ContainerCredentialsService"]

DEFAULT_PATH = "/v1/credentials"


def _json(status: int, document: dict[str, str]) -> HttpResponse:
    return HttpResponse(status, (("Content-Type", "application/json"),), json.dumps(document).encode())


def _error(status: int, code: str, message: str) -> HttpResponse:
    return _json(status, {"code": code, "message": message})


class ContainerCredentialsService:
    """``expected_token`` is called on every request, so a token file can be rotated underneath."""

    def __init__(self, cache: CredentialCache, expected_token: Callable[[], str], *, path: str = DEFAULT_PATH) -> None:
        self._cache = cache
        self._expected_token = expected_token
        self._path = path

    def handle(self, request: HttpRequest) -> HttpResponse:
        if request.path.split("?", 1)[0] != self._path:
            return _error(404, "NotFound", f"No credentials are served at {request.path}; use {self._path}.")
        if request.method not in ("GET", "HEAD"):
            return _error(405, "MethodNotAllowed", "Use GET.")
        provided = request.header("authorization")
        if provided is None:
            return _error(
                401,
                "Unauthorized",
                "The Authorization header is missing: set AWS_CONTAINER_AUTHORIZATION_TOKEN or "
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE.",
            )
        expected = self._expected_token()
        if not expected or not hmac.compare_digest(provided.encode("utf-8"), expected.encode("utf-8")):
            return _error(403, "Forbidden", "The authorization token is not this endpoint's.")
        try:
            cached = self._cache.get()
        except CredentialsUnavailable as unavailable:
            cause = unavailable.cause
            if cause.denied:
                return _error(403, cause.code, cause.message)
            return _error(503, "ServiceUnavailable", "Credentials are temporarily unavailable; retry shortly.")
        creds = cached.credentials
        document = {
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret_access_key,
            "Token": creds.session_token,
            "Expiration": aws_timestamp(creds.expiration),
        }
        if creds.account_id:
            document["AccountId"] = creds.account_id
        if creds.role_arn:
            document["RoleArn"] = creds.role_arn
        return _json(200, document)
