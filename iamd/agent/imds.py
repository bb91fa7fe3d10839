"""An IMDSv2-compatible instance metadata endpoint, as EC2 answers it (the parts credentials need).

* ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds`` (1 to 21600; missing or
  invalid: 400) answers a session token and echoes the TTL header. A token request that carries
  ``X-Forwarded-For`` was relayed by a proxy and is refused (403), as EC2 does.
* Every GET needs ``X-aws-ec2-metadata-token``: none, an unknown or an expired token is 401. When
  IMDSv1 is allowed a GET *without* a token is served, but a bad token is still 401.
* ``/latest/meta-data/iam/security-credentials/`` lists the role name; ``.../ROLE`` answers ``Code``,
  ``LastUpdated``, ``Type`` (``AWS-HMAC``), ``AccessKeyId``, ``SecretAccessKey``, ``Token``,
  ``Expiration`` in IMDS's own JSON layout. When the source refuses credentials the same path answers
  ``Code``/``Message`` (200, as EC2 does for a role it cannot assume); when it is unreachable and nothing
  valid is cached, 503.
* ``/latest/meta-data/iam/info``, ``instance-id``, ``placement/region`` and
  ``/latest/dynamic/instance-identity/document``; the directories list their entries; anything else 404.

Tokens are stateless: the TTL's end and a random nonce, MACed with a key that lives as long as the
process, so any number of tokens costs no memory and a restart invalidates them all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from iamd.agent.credentials import CredentialCache, CredentialsUnavailable
from iamd.agent.http import HttpResponse, aws_timestamp, html_error, text
from iamd.core.clock import Clock, utc_from_timestamp
from iamd.core.http import HttpRequest

__all__ = ["MAX_TOKEN_TTL", "ImdsService", "InstanceIdentity", "MetadataTokens"]

TOKEN_PATH = "/latest/api/token"  # noqa: S105 - a path, not a secret
TOKEN_HEADER = "x-aws-ec2-metadata-token"  # noqa: S105 - a header name
TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"
MAX_TOKEN_TTL = 21600
_TTL_RE = re.compile(r"[0-9]{1,6}")
_TOKEN_BYTES = 8 + 16 + 32
_SERVER = ("Server", "EC2ws")


class MetadataTokens:
    """Issues and checks IMDSv2 session tokens against a clock."""

    def __init__(self, clock: Clock, key: bytes | None = None) -> None:
        self._clock = clock
        self._key = key or secrets.token_bytes(32)

    def issue(self, ttl_seconds: int) -> str:
        expires = int(self._clock.time()) + ttl_seconds
        payload = struct.pack(">Q", expires) + secrets.token_bytes(16)
        mac = hmac.digest(self._key, payload, hashlib.sha256)
        return base64.urlsafe_b64encode(payload + mac).decode("ascii")

    def is_valid(self, token: str) -> bool:
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            return False
        if len(raw) != _TOKEN_BYTES:
            return False
        payload, mac = raw[:24], raw[24:]
        if not hmac.compare_digest(mac, hmac.digest(self._key, payload, hashlib.sha256)):
            return False
        (expires,) = struct.unpack(">Q", payload[:8])
        return bool(self._clock.time() < expires)


@dataclass(frozen=True, slots=True)
class InstanceIdentity:
    """What the metadata endpoint says about the machine it runs on."""

    role_name: str
    region: str
    account_id: str
    instance_id: str | None = None
    """None: no ``instance-id`` and no identity document (the credential helper has no instance)."""
    started_at: datetime | None = None
    """The identity document's ``pendingTime``."""
    instance_profile_arn: str | None = None
    instance_profile_id: str | None = None


def _imds_json(fields: dict[str, str]) -> bytes:
    """IMDS's JSON layout: two-space indent and `` : `` between names and values."""
    return (json.dumps(fields, indent=2, separators=(",", " : ")) + "\n").encode()


class ImdsService:
    def __init__(
        self,
        identity: InstanceIdentity,
        cache: CredentialCache,
        clock: Clock,
        *,
        allow_v1: bool = False,
        tokens: MetadataTokens | None = None,
    ) -> None:
        self._identity = identity
        self._cache = cache
        self._clock = clock
        self._allow_v1 = allow_v1
        self._tokens = tokens or MetadataTokens(clock)
        prefix = "/latest/meta-data/"
        self._values: dict[str, Callable[[], HttpResponse]] = {
            prefix + "placement/region": lambda: text(identity.region, 200, _SERVER),
            prefix + "iam/security-credentials": lambda: text(identity.role_name, 200, _SERVER),
            prefix + "iam/security-credentials/" + identity.role_name: self._credentials,
        }
        self._directories = {
            "/latest": "api/\nmeta-data/",
            "/latest/meta-data": "iam/\nplacement/",
            "/latest/meta-data/iam": "security-credentials/",
            "/latest/meta-data/placement": "region",
        }
        if identity.instance_profile_arn:
            self._values[prefix + "iam/info"] = self._iam_info
            self._directories["/latest/meta-data/iam"] = "info\nsecurity-credentials/"
        if identity.instance_id is not None:
            instance_id = identity.instance_id
            self._values[prefix + "instance-id"] = lambda: text(instance_id, 200, _SERVER)
            self._values["/latest/dynamic/instance-identity/document"] = self._identity_document
            self._directories["/latest"] = "api/\ndynamic/\nmeta-data/"
            self._directories["/latest/meta-data"] = "iam/\ninstance-id\nplacement/"
            self._directories["/latest/dynamic"] = "instance-identity/"
            self._directories["/latest/dynamic/instance-identity"] = "document"

    def handle(self, request: HttpRequest) -> HttpResponse:
        path = request.path.split("?", 1)[0]
        if path.rstrip("/") == TOKEN_PATH:
            if request.method != "PUT":
                return html_error(405, ("Allow", "PUT"), _SERVER)
            return self._issue_token(request)
        if request.method not in ("GET", "HEAD"):
            return html_error(405, ("Allow", "GET"), _SERVER)
        token = request.header(TOKEN_HEADER)
        if token is None:
            if not self._allow_v1:
                return html_error(401, _SERVER)
        elif not self._tokens.is_valid(token.strip()):
            return html_error(401, _SERVER)
        key = path.rstrip("/") or "/"
        answer = self._values.get(key)
        if answer is not None:
            return answer()
        listing = self._directories.get(key)
        if listing is not None:
            return text(listing, 200, _SERVER)
        return html_error(404, _SERVER)

    def _issue_token(self, request: HttpRequest) -> HttpResponse:
        if request.header("x-forwarded-for") is not None:
            return html_error(403, _SERVER)
        raw = request.header(TTL_HEADER)
        if raw is None or not _TTL_RE.fullmatch(raw.strip()):
            return html_error(400, _SERVER)
        ttl = int(raw.strip())
        if not 1 <= ttl <= MAX_TOKEN_TTL:
            return html_error(400, _SERVER)
        response = text(self._tokens.issue(ttl), 200, ("X-aws-ec2-metadata-token-ttl-seconds", str(ttl)), _SERVER)
        return HttpResponse(response.status, response.headers, response.body, token_response=True)

    def _credentials(self) -> HttpResponse:
        try:
            cached = self._cache.get()
        except CredentialsUnavailable as unavailable:
            cause = unavailable.cause
            if not cause.denied:
                return html_error(503, _SERVER)
            body = _imds_json(
                {
                    "Code": cause.code,
                    "Message": cause.message,
                    "LastUpdated": aws_timestamp(utc_from_timestamp(int(self._clock.time()))),
                }
            )
            return HttpResponse(200, (("Content-Type", "text/plain"), _SERVER), body)
        creds = cached.credentials
        body = _imds_json(
            {
                "Code": "Success",
                "LastUpdated": aws_timestamp(cached.last_updated),
                "Type": "AWS-HMAC",
                "AccessKeyId": creds.access_key_id,
                "SecretAccessKey": creds.secret_access_key,
                "Token": creds.session_token,
                "Expiration": aws_timestamp(creds.expiration),
            }
        )
        return HttpResponse(200, (("Content-Type", "text/plain"), _SERVER), body)

    def _iam_info(self) -> HttpResponse:
        try:
            last_updated = self._cache.get().last_updated
        except CredentialsUnavailable:
            last_updated = utc_from_timestamp(int(self._clock.time()))
        body = _imds_json(
            {
                "Code": "Success",
                "LastUpdated": aws_timestamp(last_updated),
                "InstanceProfileArn": self._identity.instance_profile_arn or "",
                "InstanceProfileId": self._identity.instance_profile_id or "",
            }
        )
        return HttpResponse(200, (("Content-Type", "text/plain"), _SERVER), body)

    def _identity_document(self) -> HttpResponse:
        identity = self._identity
        document = {
            "accountId": identity.account_id,
            "instanceId": identity.instance_id or "",
            "pendingTime": aws_timestamp(identity.started_at or utc_from_timestamp(int(self._clock.time()))),
            "region": identity.region,
            "version": "2017-09-30",
        }
        return HttpResponse(200, (("Content-Type", "text/plain"), _SERVER), _imds_json(document))
