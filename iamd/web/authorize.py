"""HTTP for the authorization API (``POST /v1/authorize``, ``GET /v1/openapi.json``) and forward-auth.

The contract is docs/design/authorize-api.md and ``iamd/web/openapi/authorize.json``; the decisions
are :mod:`iamd.services.authorize_api`'s.  Every call is audited (``Authorize`` / ``ForwardAuth``
records) and counted (``iamd_authorization_decisions_total``, ``iamd_authorize_duration_seconds``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

from iamd import metrics
from iamd.audit import record as audit
from iamd.auth.sigv4 import EMPTY_SHA256, UNSIGNED_PAYLOAD
from iamd.core import ids
from iamd.core.errors import (
    AccessDenied,
    AwsError,
    InternalFailure,
    MissingAuthenticationToken,
    SerializationException,
    SignatureDoesNotMatch,
    ValidationException,
)
from iamd.core.http import HttpRequest
from iamd.core.principal import Principal
from iamd.forward_auth import headers as fa_headers
from iamd.forward_auth import rules as fa_rules
from iamd.services.authorize_api import (
    AuthorizeService,
    Outcome,
    Question,
    check_context_keys,
    resource_policy,
    unauthenticated,
)
from iamd.services.callers import Caller, resolve_caller
from iamd.services.runtime import Runtime
from iamd.web.json_schema import SchemaChecker

log = logging.getLogger("iamd.authorize")

AUTHORIZE_PATH = "/v1/authorize"
OPENAPI_PATH = "/v1/openapi.json"
FORWARD_AUTH_PATH = "/v1/forward-auth"
SIGNING_SERVICE = "iamd"
AUTHORIZE_ACTION = "iamd:Authorize"
MAX_BODY = 256 * 1024

Response = tuple[int, list[tuple[bytes, bytes]], bytes]


def _openapi() -> bytes:
    return resources.files("iamd.web").joinpath("openapi/authorize.json").read_bytes()


@dataclass(slots=True)
class _Call:
    """What one call gathered, for its audit record."""

    request_id: str
    started: float
    region: str = "us-east-1"
    service: Caller | None = None
    access_key_id: str | None = None
    action: str | None = None
    resource: str | None = None


class AuthorizeHandler:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.service = AuthorizeService(runtime)
        self.openapi = _openapi()
        self.schema = SchemaChecker(json.loads(self.openapi))
        s = runtime.settings.forward_auth
        self.rules = fa_rules.load(str(s.rules_file)) if s.rules_file is not None else None
        self.envoy_prefix = s.envoy_prefix

    # -- GET /v1/openapi.json ------------------------------------------------------------------

    def openapi_json(self) -> Response:
        return (
            200,
            [(b"content-type", b"application/json"), (b"content-length", str(len(self.openapi)).encode())],
            (self.openapi),
        )

    # -- POST /v1/authorize ----------------------------------------------------------------------

    def authorize(self, request: HttpRequest) -> Response:
        call = _Call(ids.request_id(), self.rt.clock.monotonic())
        try:
            answer = self._authorize(request, call)
        except AwsError as err:
            self._record_failure(request, call, err)
            return _json_error(err, call.request_id)
        except Exception:
            log.exception("unhandled error in authorization call %s", call.request_id)
            failure = InternalFailure()
            self._record_failure(request, call, failure)
            return _json_error(failure, call.request_id)
        return _json(200, answer, call.request_id)

    def _authorize(self, request: HttpRequest, call: _Call) -> dict[str, Any]:
        rt = self.rt
        if request.method != "POST":
            raise ValidationException(f"{AUTHORIZE_PATH} takes POST, not {request.method}")
        rt.watcher.refresh_if_due()
        info = rt.verifier.parse(request)
        if info is None:
            raise MissingAuthenticationToken()
        call.access_key_id = info.access_key_id
        call.region = info.region
        if info.service != SIGNING_SERVICE:
            raise SignatureDoesNotMatch(f"Credential should be scoped to correct service: '{SIGNING_SERVICE}'. ")
        if len(request.body) > MAX_BODY:
            raise _TooLarge()
        call.service = resolve_caller(rt, request, info)
        body = self._body(request.body)
        call.action, call.resource = body["action"], body["resource"]
        self._may_ask(call.service.principal, request, body["resource"])
        question = Question(
            action=body["action"],
            resource=body["resource"],
            resource_account=body.get("resourceAccount"),
            resource_policy=body.get("resourcePolicy"),
            resource_policy_required=bool(body.get("resourcePolicyRequired", False)),
            resource_tags=body.get("resourceTags") or {},
            context=body.get("context") or {},
        )
        forwarded = body.get("request")
        if forwarded is not None:
            question, outcome = self._forwarded(forwarded, question)
        else:
            try:
                principal = self.service.console_principal(body["consoleSession"])
            except AwsError as err:
                outcome = unauthenticated(err)
            else:
                outcome = self.service.decide(principal, question)
        seconds = self.rt.clock.monotonic() - call.started
        metrics.count_decision("authorize", outcome.metric_result)
        metrics.observe_authorize("authorize", seconds)
        self._record_decision(request, call, question, outcome, "Authorize")
        return self._answer(outcome, call.request_id)

    def _forwarded(self, forwarded: dict[str, Any], question: Question) -> tuple[Question, Outcome]:
        header_pairs: list[tuple[str, str]] = []
        for name, value in forwarded["headers"].items():
            for item in value if isinstance(value, list) else [value]:
                header_pairs.append((name.lower(), item))
        source_ip = forwarded.get("sourceIp") or ""
        secure = bool(forwarded.get("secureTransport", True))
        received = HttpRequest(
            method=forwarded["method"],
            path=forwarded["path"],
            query_string=forwarded.get("query", ""),
            headers=tuple(header_pairs),
            source_ip=source_ip,
            secure=secure,
        )
        question = replace(question, source_ip=source_ip or None, secure_transport=secure)
        try:
            signer = self.service.authenticate(received, forwarded.get("bodySha256") or EMPTY_SHA256)
        except AwsError as err:
            return question, unauthenticated(err)
        outcome = self.service.decide(signer.principal, question)
        secrets = (signer.secret_access_key, received.header("x-amz-security-token") or "")
        return question, replace(outcome, secrets=secrets)

    def _body(self, raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SerializationException("The request body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise SerializationException("The request body must be a JSON object")
        self.schema.check(body, "AuthorizeRequest")
        if ("request" in body) == ("consoleSession" in body):
            raise ValidationException("Give exactly one of request (a signed request) and consoleSession")
        check_context_keys(body.get("context") or {})
        resource_policy(body.get("resourcePolicy"))  # a policy that does not compile is the caller's mistake
        return body

    def _may_ask(self, service: Principal, request: HttpRequest, resource: str) -> None:
        """The calling service must be allowed ``iamd:Authorize`` on the resource it asks about."""
        outcome = self.service.decide(
            service,
            Question(
                AUTHORIZE_ACTION,
                resource,
                resource_account=service.account_id,
                source_ip=request.source_ip or None,
                secure_transport=request.secure,
            ),
        )
        if not outcome.allowed:
            raise AccessDenied(outcome.message or f"not authorized to perform: {AUTHORIZE_ACTION}")

    def _answer(self, outcome: Outcome, request_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "decision": outcome.decision,
            "allowed": outcome.allowed,
            "authenticated": outcome.authentication_error is None,
        }
        if outcome.principal is not None:
            out["principal"] = self.service.principal_json(outcome.principal)
        out["matchedStatements"] = list(outcome.statements)
        if outcome.message is not None:
            out["denial"] = {
                "deniedBy": outcome.denied_by,
                "message": outcome.message,
                "explanation": outcome.explanation,
            }
        if outcome.authentication_error is not None:
            err = outcome.authentication_error
            out["authenticationError"] = {"__type": err.code, "message": err.message}
        out["requestId"] = request_id
        return out

    # -- forward-auth ---------------------------------------------------------------------------------

    def forward_auth(self, request: HttpRequest) -> Response:
        """nginx ``auth_request``, Traefik ForwardAuth, Envoy ``ext_authz``: only 200, 401 or 403."""
        request_id = ids.request_id()
        started = self.rt.clock.monotonic()
        if self.rules is None:
            return _plain(404, b"forward-auth is off: set forward_auth.rules_file (IAMD_FORWARD_AUTH_RULES)\n")
        try:
            status, headers = self._forward_auth(request, request_id, started)
        except Exception:
            log.exception("unhandled error in forward-auth check %s", request_id)
            status, headers = 403, fa_headers.denied_headers(request_id, InternalFailure.code)
        encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        return status, [*encoded, (b"content-length", b"0")], b""

    def _forward_auth(self, request: HttpRequest, request_id: str, started: float) -> tuple[int, list[tuple[str, str]]]:
        assert self.rules is not None
        rt = self.rt
        rt.watcher.refresh_if_due()
        try:
            original = fa_headers.original_request(
                request.method,
                request.path,
                request.query_string,
                request.headers,
                envoy_prefix=self.envoy_prefix if request.path.startswith(self.envoy_prefix) else "",
            )
        except fa_headers.HeaderError as exc:
            log.warning("forward-auth: %s", exc)
            return 403, fa_headers.denied_headers(request_id, "ProxyConfiguration")
        match = self.rules.match(original.method, original.uri, original.host)
        if match is None:
            self._count("implicit_deny", started)
            return 403, fa_headers.denied_headers(request_id, "NoMatchingRule")
        if match.anonymous:
            return 200, []
        forwarded_for = request.header("x-forwarded-for")
        source_ip = forwarded_for.split(",", 1)[0].strip() if forwarded_for else request.source_ip
        proto = request.header("x-forwarded-proto")
        secure = proto == "https" if proto else request.secure
        received = HttpRequest(
            method=original.method,
            path=original.path,
            query_string=original.query,
            headers=original.headers,
            source_ip=source_ip,
            secure=secure,
        )
        question = Question(match.action, match.resource, source_ip=source_ip or None, secure_transport=secure)
        # The body never reaches iamd: a signed X-Amz-Content-SHA256 is taken as claimed (the upstream
        # checks the body against it); without one the body must be empty.
        claimed = received.header("x-amz-content-sha256")
        try:
            signer = self.service.authenticate(received, UNSIGNED_PAYLOAD if claimed else EMPTY_SHA256)
        except AwsError as err:
            outcome = unauthenticated(err)
        else:
            outcome = self.service.decide(signer.principal, question)
        self._count(outcome.metric_result, started)
        call = _Call(request_id, started)
        self._record_decision(
            received, call, question, outcome, "ForwardAuth", method=original.method, path=original.path
        )
        if outcome.authentication_error is not None:
            return 401, fa_headers.unauthenticated_headers(outcome.authentication_error.code, request_id)
        if not outcome.allowed or outcome.principal is None:
            return 403, fa_headers.denied_headers(request_id)
        principal = self.service.principal_json(outcome.principal)
        grant = fa_headers.Grant(
            principal_arn=principal["arn"],
            account_id=principal["accountId"],
            principal_type=principal["type"],
            user_id=principal["userId"],
            action=question.action,
            resource=question.resource,
            request_id=request_id,
            session_name=(principal.get("session") or {}).get("name"),
            tags=principal["tags"],
        )
        return 200, fa_headers.allow_headers(grant)

    def _count(self, result: str, started: float) -> None:
        metrics.count_decision("forward_auth", result)
        metrics.observe_authorize("forward_auth", self.rt.clock.monotonic() - started)

    # -- audit ------------------------------------------------------------------------------------------

    def _origin(self, request: HttpRequest, call: _Call) -> audit.RequestOrigin:
        return audit.RequestOrigin(
            time=self.rt.clock.time(),
            region=call.region,
            source_ip=request.source_ip,
            user_agent=request.header("user-agent") or "",
            request_id=call.request_id,
        )

    def _record_decision(
        self,
        request: HttpRequest,
        call: _Call,
        question: Question,
        outcome: Outcome,
        endpoint: str,
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        identity = audit.identity_of(outcome.principal) if outcome.principal is not None else audit.unknown()
        caller = audit.identity_of(call.service.principal) if call.service is not None else audit.unknown()
        summary = audit.DecisionSummary(
            decision=outcome.decision,
            action=question.action,
            resource=question.resource,
            matched_statements=outcome.statements,
            explanation=outcome.explanation,
            denial_message=outcome.message,
        )
        secrets = list(outcome.secrets)
        if call.service is not None:
            secrets.append(call.service.secret_access_key)
        secrets.append(request.header("x-amz-security-token") or "")
        event = audit.authorization(
            self._origin(request, call),
            identity=identity,
            decision=summary,
            caller=caller,
            endpoint=endpoint,
            resource_account_id=outcome.resource_account,
            request_method=method,
            request_path=path,
            secrets=secrets,
        )
        self.rt.audit.record(event)

    def _record_failure(self, request: HttpRequest, call: _Call, err: AwsError) -> None:
        caller = (
            audit.identity_of(call.service.principal) if call.service is not None else audit.unknown(call.access_key_id)
        )
        event = audit.authorization_failed(
            self._origin(request, call),
            caller=caller,
            error_code=err.code,
            error_message=err.message,
            action=call.action,
            resource=call.resource,
        )
        self.rt.audit.record(event)


class _TooLarge(AwsError):
    code = "RequestEntityTooLarge"
    status = 413


def _json(status: int, body: dict[str, Any], request_id: str, error_type: str | None = None) -> Response:
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"x-amzn-requestid", request_id.encode()),
        (b"content-length", str(len(data)).encode()),
    ]
    if error_type is not None:
        headers.append((b"x-amzn-errortype", error_type.encode()))
    return status, headers, data


def _json_error(err: AwsError, request_id: str) -> Response:
    return _json(err.status, {"__type": err.code, "message": err.message}, request_id, err.code)


def _plain(status: int, body: bytes) -> Response:
    return status, [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())], body
