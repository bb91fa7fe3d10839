"""A small client for iamd's authorization API (``POST /v1/authorize``), for services that sit behind iamd.

::

    from iamd.client import AuthorizeClient, RequestParts

    iamd = AuthorizeClient("https://iamd.internal:8443", access_key_id=KEY, secret_access_key=SECRET)

    def get_document(environ, body):
        result = iamd.authorize(
            RequestParts.from_wsgi(environ, body),
            "myapp:GetDocument",
            f"arn:aws:myapp:eu-west-1:123456789012:document/{doc_id}",
            resource_tags={"classification": "internal"},
        )
        if not result.authenticated:
            return 401
        if not result.allowed:
            return 403, result.explanation
        ...  # result.principal.arn is who asked

The client signs its own calls with SigV4 (botocore's signer, credential scope service ``iamd``) using
the service's own iamd credentials; the API authorizes them as ``iamd:Authorize``.  A decision
(allow or deny) is an :class:`AuthorizeResult`; a failure of the call itself raises
:class:`IamdError` (its ``code`` is AWS's error code: ``AccessDenied`` when the service may not
call ``iamd:Authorize``, ``ValidationException`` for a bad request...).  Thread-safe: each thread
keeps its own keep-alive connection.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import ssl
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AUTHORIZE_PATH = "/v1/authorize"
SIGNING_SERVICE = "iamd"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True, slots=True)
class RequestParts:
    """The request a service received, as its signature covers it."""

    method: str
    path: str
    """Raw path, still percent-encoded."""
    query: str = ""
    """Raw query string without ``?``."""
    headers: Sequence[tuple[str, str]] = ()
    body_sha256: str | None = None
    """Hex SHA-256 of the body (None: the empty body)."""
    source_ip: str | None = None
    secure_transport: bool = True

    @classmethod
    def from_body(
        cls,
        method: str,
        path: str,
        query: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        source_ip: str | None = None,
        secure_transport: bool = True,
    ) -> RequestParts:
        return cls(method, path, query, tuple(headers), hashlib.sha256(body).hexdigest(), source_ip, secure_transport)

    @classmethod
    def from_wsgi(cls, environ: Mapping[str, Any], body: bytes = b"") -> RequestParts:
        """From a WSGI environ (``RAW_URI``/``REQUEST_URI`` when the server gives them: the path as sent)."""
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if raw:
            path, _, query = str(raw).partition("?")
        else:
            from urllib.parse import quote

            path = quote(str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", "")) or "/", safe="/~")
            query = str(environ.get("QUERY_STRING", ""))
        headers: list[tuple[str, str]] = []
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers.append((key[5:].replace("_", "-").lower(), str(value)))
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers.append((key.replace("_", "-").lower(), str(environ[key])))
        return cls.from_body(
            str(environ.get("REQUEST_METHOD", "GET")),
            path or "/",
            query,
            headers,
            body,
            source_ip=environ.get("REMOTE_ADDR"),
            secure_transport=environ.get("wsgi.url_scheme") == "https",
        )

    @classmethod
    def from_asgi(cls, scope: Mapping[str, Any], body: bytes = b"") -> RequestParts:
        """From an ASGI HTTP scope (``raw_path`` when the server gives it)."""
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else str(scope.get("path", "/"))
        query = scope.get("query_string", b"")
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope.get("headers", [])]
        client = scope.get("client")
        return cls.from_body(
            str(scope.get("method", "GET")),
            path,
            query.decode("latin-1") if isinstance(query, bytes) else str(query),
            headers,
            body,
            source_ip=client[0] if client else None,
            secure_transport=scope.get("scheme") == "https",
        )

    def as_json(self) -> dict[str, Any]:
        headers: dict[str, Any] = {}
        for name, value in self.headers:
            key = name.lower()
            if key in headers:
                previous = headers[key]
                headers[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                headers[key] = value
        out: dict[str, Any] = {
            "method": self.method.upper(),
            "path": self.path,
            "query": self.query,
            "headers": headers,
        }
        out["bodySha256"] = self.body_sha256 or EMPTY_SHA256
        if self.source_ip:
            out["sourceIp"] = self.source_ip
        out["secureTransport"] = self.secure_transport
        return out


@dataclass(frozen=True, slots=True)
class Session:
    name: str | None = None
    issuer: str | None = None
    issued_at: str | None = None
    expires_at: str | None = None
    mfa_authenticated: bool = False
    source_identity: str | None = None
    console: bool = False


@dataclass(frozen=True, slots=True)
class Principal:
    arn: str
    account_id: str
    type: str
    user_id: str | None = None
    name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    session: Session | None = None


@dataclass(frozen=True, slots=True)
class MatchedStatement:
    policy_type: str
    policy_id: str
    statement_index: int
    effect: str
    sid: str | None = None
    policy_name: str | None = None
    level: int | None = None
    attached_to: str | None = None


@dataclass(frozen=True, slots=True)
class AuthorizeResult:
    decision: str
    """``Allow``, ``ExplicitDeny``, ``ImplicitDeny`` or ``Unauthenticated``."""
    request_id: str
    principal: Principal | None = None
    matched_statements: tuple[MatchedStatement, ...] = ()
    denied_by: str | None = None
    message: str | None = None
    """AWS's AccessDenied message, on a denial."""
    explanation: str | None = None
    """The denial in plain words."""
    authentication_error: str | None = None
    """AWS's error code when the request's signature did not check."""

    @property
    def allowed(self) -> bool:
        return self.decision == "Allow"

    @property
    def authenticated(self) -> bool:
        return self.decision != "Unauthenticated"


class IamdError(Exception):
    """The authorization call itself failed (not a denial): ``code`` is AWS's error code."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id


class AuthorizeClient:
    def __init__(
        self,
        endpoint: str,
        *,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        credentials: Credentials | None = None,
        region: str = "us-east-1",
        timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the iamd endpoint must be an http(s) URL, not {endpoint!r}")
        if credentials is None:
            if not access_key_id or not secret_access_key:
                raise ValueError("give the service's iamd credentials (access_key_id and secret_access_key)")
            credentials = Credentials(access_key_id, secret_access_key, session_token)
        self._credentials = credentials
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._netloc = parts.netloc
        self._base = parts.path.rstrip("/")
        self._region = region
        self._timeout = timeout
        self._ssl = ssl_context
        self._local = threading.local()

    def authorize(
        self,
        request: RequestParts | None,
        action: str,
        resource: str,
        *,
        console_session: str | None = None,
        resource_policy: str | None = None,
        resource_policy_required: bool = False,
        resource_account: str | None = None,
        resource_tags: Mapping[str, str] | None = None,
        context: Mapping[str, str | Sequence[str]] | None = None,
    ) -> AuthorizeResult:
        """May the signer of ``request`` (or the console session) do ``action`` on ``resource``?"""
        if (request is None) == (console_session is None):
            raise ValueError("give either the received request or the console session cookie")
        body: dict[str, Any] = {"action": action, "resource": resource}
        if request is not None:
            body["request"] = request.as_json()
        else:
            body["consoleSession"] = console_session
        if resource_account is not None:
            body["resourceAccount"] = resource_account
        if resource_policy is not None:
            body["resourcePolicy"] = resource_policy
        if resource_policy_required:
            body["resourcePolicyRequired"] = True
        if resource_tags:
            body["resourceTags"] = dict(resource_tags)
        if context:
            body["context"] = {k: v if isinstance(v, str) else list(v) for k, v in context.items()}
        status, headers, data = self._post(AUTHORIZE_PATH, json.dumps(body, separators=(",", ":")).encode())
        request_id = headers.get("x-amzn-requestid")
        try:
            answer = json.loads(data) if data else {}
        except ValueError as exc:
            raise IamdError(status, "InvalidResponse", "iamd's answer is not JSON", request_id) from exc
        if status != 200:
            code = str(answer.get("__type") or headers.get("x-amzn-errortype") or f"HTTP{status}").split("#")[-1]
            message = str(answer.get("message") or answer.get("Message") or "")
            raise IamdError(status, code, message, request_id)
        return _result(answer, request_id)

    # -- transport -----------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._scheme == "https":
                conn = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout, context=self._ssl)
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._local.conn = conn
        return conn

    def _post(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        url = f"{self._scheme}://{self._netloc}{self._base}{path}"
        signed = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
        signed.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
        SigV4Auth(self._credentials.get_frozen_credentials(), SIGNING_SERVICE, self._region).add_auth(signed)
        headers = {k: v for k, v in signed.headers.items()}
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST", f"{self._base}{path}", body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _result(answer: Mapping[str, Any], request_id: str | None) -> AuthorizeResult:
    principal = None
    raw = answer.get("principal")
    if isinstance(raw, Mapping):
        session = None
        raw_session = raw.get("session")
        if isinstance(raw_session, Mapping):
            session = Session(
                name=raw_session.get("name"),
                issuer=raw_session.get("issuer"),
                issued_at=raw_session.get("issuedAt"),
                expires_at=raw_session.get("expiresAt"),
                mfa_authenticated=bool(raw_session.get("mfaAuthenticated", False)),
                source_identity=raw_session.get("sourceIdentity"),
                console=bool(raw_session.get("console", False)),
            )
        principal = Principal(
            arn=str(raw["arn"]),
            account_id=str(raw["accountId"]),
            type=str(raw["type"]),
            user_id=raw.get("userId"),
            name=raw.get("name"),
            tags=dict(raw.get("tags") or {}),
            session=session,
        )
    statements = tuple(
        MatchedStatement(
            policy_type=str(s["policyType"]),
            policy_id=str(s["policyId"]),
            statement_index=int(s["statementIndex"]),
            effect=str(s["effect"]),
            sid=s.get("sid"),
            policy_name=s.get("policyName"),
            level=s.get("level"),
            attached_to=s.get("attachedTo"),
        )
        for s in answer.get("matchedStatements") or []
    )
    denial = answer.get("denial") or {}
    auth_error = answer.get("authenticationError") or {}
    return AuthorizeResult(
        decision=str(answer["decision"]),
        request_id=str(answer.get("requestId") or request_id or ""),
        principal=principal,
        matched_statements=statements,
        denied_by=denial.get("deniedBy"),
        message=denial.get("message"),
        explanation=denial.get("explanation"),
        authentication_error=auth_error.get("__type"),
    )
