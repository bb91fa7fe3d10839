"""A Roles Anywhere CreateSession client: sign with the certificate's key, get temporary credentials.

The request is the one AWS's signing helper sends: ``POST /sessions?profileArn=...&roleArn=...
&trustAnchorArn=...`` with a JSON body (``durationSeconds``, ``roleSessionName``), signed with
``AWS4-X509-RSA-SHA256`` or ``AWS4-X509-ECDSA-SHA256`` (iamd.auth.x509.sign_request). The answer's first
``credentialSet`` entry becomes :class:`~iamd.agent.credentials.Credentials`.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from iamd.agent.client import check_endpoint, opener, post_json
from iamd.agent.credentials import Credentials, CredentialSourceError
from iamd.auth.x509 import sign_request
from iamd.helper.files import SigningMaterial

__all__ = [
    "MAX_DURATION",
    "MIN_DURATION",
    "RolesAnywhereClient",
    "SessionRequest",
    "parse_arn_region",
]

MIN_DURATION = 900
MAX_DURATION = 43200
USER_AGENT = "iamd-credential-helper/0.1"


def parse_arn_region(arn: str, kind: str) -> str:
    """The region of a ``arn:<partition>:rolesanywhere:<region>:<account>:<kind>/<id>`` ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "rolesanywhere" or not parts[5].startswith(kind + "/"):
        raise ValueError(
            f"'{arn}' is not a Roles Anywhere {kind} ARN (arn:aws:rolesanywhere:REGION:ACCOUNT:{kind}/ID)."
        )
    if not parts[3]:
        raise ValueError(f"The {kind} ARN '{arn}' names no region.")
    return parts[3]


@dataclass(frozen=True, slots=True)
class SessionRequest:
    trust_anchor_arn: str
    profile_arn: str
    role_arn: str
    duration_seconds: int = 3600
    role_session_name: str | None = None

    def region(self) -> str:
        """The trust anchor's region, which must be the profile's (as AWS's helper insists)."""
        anchor = parse_arn_region(self.trust_anchor_arn, "trust-anchor")
        profile = parse_arn_region(self.profile_arn, "profile")
        if anchor != profile:
            raise ValueError(f"The trust anchor is in {anchor} and the profile in {profile}: they must match.")
        return anchor


def _account_of(role_arn: str) -> str | None:
    parts = role_arn.split(":")
    return parts[4] if len(parts) >= 6 and parts[4] else None


def _parse_expiration(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


class RolesAnywhereClient:
    """Calls CreateSession at ``endpoint`` (a base URL); usable as the agent's CredentialSource."""

    def __init__(
        self,
        material: SigningMaterial,
        request: SessionRequest,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        ca_bundle: Path | None = None,
        verify_tls: bool = True,
        use_proxy: bool = False,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not MIN_DURATION <= request.duration_seconds <= MAX_DURATION:
            raise ValueError(
                f"The session duration must be {MIN_DURATION} to {MAX_DURATION} seconds, "
                f"not {request.duration_seconds}."
            )
        self._material = material
        self._request = request
        self._region = region or request.region()
        self._endpoint = check_endpoint(endpoint or f"https://rolesanywhere.{self._region}.amazonaws.com")
        self._now = now
        self._opener = opener(self._endpoint, ca_bundle=ca_bundle, verify_tls=verify_tls, use_proxy=use_proxy)

    def _http_request(self) -> urllib.request.Request:
        split = urlsplit(self._endpoint)
        base_path = split.path.rstrip("/")
        path = f"{base_path}/sessions"
        query = urlencode(
            sorted(
                {
                    "profileArn": self._request.profile_arn,
                    "roleArn": self._request.role_arn,
                    "trustAnchorArn": self._request.trust_anchor_arn,
                }.items()
            ),
            quote_via=quote,
            safe="",
        )
        document: dict[str, object] = {"durationSeconds": self._request.duration_seconds}
        if self._request.role_session_name:
            document["roleSessionName"] = self._request.role_session_name
        body = json.dumps(document).encode()
        headers = sign_request(
            method="POST",
            path=path,
            query_string=query,
            headers=[("Host", split.netloc), ("Content-Type", "application/json")],
            body=body,
            certificate=self._material.certificate,
            private_key=self._material.private_key,
            region=self._region,
            when=self._now(),
            intermediates=self._material.intermediates,
        )
        url = f"{split.scheme}://{split.netloc}{path}?{query}"  # the scheme was checked to be http(s)
        request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310
        for name, value in headers:
            request.add_header(name, value)
        request.add_header("User-Agent", USER_AGENT)
        return request

    def fetch(self) -> Credentials:
        """Call CreateSession; CredentialSourceError (``denied`` for a 4xx answer) when it gives nothing."""
        document = post_json(self._opener, self._http_request(), "CreateSession", self._endpoint)
        try:
            entry = document["credentialSet"][0]  # type: ignore[index]
            creds = entry["credentials"]
            role_arn = entry.get("roleArn") or self._request.role_arn
            return Credentials(
                access_key_id=creds["accessKeyId"],
                secret_access_key=creds["secretAccessKey"],
                session_token=creds["sessionToken"],
                expiration=_parse_expiration(creds["expiration"]),
                account_id=_account_of(role_arn),
                role_arn=role_arn,
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise CredentialSourceError(
                f"{self._endpoint} answered CreateSession without a usable credentialSet."
            ) from None
