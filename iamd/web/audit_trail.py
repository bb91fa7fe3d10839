"""The AWS API pipeline's audit records and request metrics: one record per API call, after its answer.

``iamd.web.api`` fills an :class:`ApiCall` as the request goes (the signature's key and region, the
caller, the parsed input, the handler's result or the error) and hands it to :func:`finish` once
the response is known.  Here the CloudTrail-shaped record is built (``iamd.audit.record.api_call``):
an unauthenticated caller is ``Unknown`` and its parameters are not recorded (they are not
trusted); an ``AccessDenied`` carries AWS's message, which says why; a cross-account ``AssumeRole``
is written twice, once for each account, with a shared event id.  Every record is scrubbed of the
caller's secret access key and session token besides what the model marks sensitive.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iamd import metrics
from iamd.audit import names
from iamd.audit import record as audit
from iamd.auth.session_tokens import session_of
from iamd.auth.sigv4 import SignatureInfo
from iamd.core.errors import AccessDenied, AwsError
from iamd.core.http import HttpRequest
from iamd.services.callers import Caller
from iamd.services.runtime import Runtime

log = logging.getLogger("iamd.audit")

_ASSUME = frozenset({"AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"})


@dataclass(slots=True)
class ApiCall:
    """What one API request gathered on its way, for its record."""

    request: HttpRequest
    request_id: str
    started: float
    service: str | None = None
    action: str | None = None
    info: SignatureInfo | None = None
    caller: Caller | None = None
    inputs: Mapping[str, Any] | None = None
    known_operation: bool = False
    unsigned: bool = False
    """An operation served without a signature (AssumeRoleWithWebIdentity...): its parameters are recorded."""
    result: Mapping[str, Any] | None = None
    error: AwsError | None = None


def begin(rt: Runtime, request: HttpRequest, request_id: str) -> ApiCall:
    return ApiCall(request, request_id, rt.clock.monotonic())


def finish(rt: Runtime, call: ApiCall, status: int) -> None:
    """Count the request and record it; never raises (a record that cannot be built is logged)."""
    try:
        metrics.observe_request(call.service or "-", call.action or "-", status, rt.clock.monotonic() - call.started)
        _count_decision(call)
        if rt.audit.enabled and call.action is not None:
            for event in _events(rt, call):
                rt.audit.record(event)
    except Exception:
        log.exception("could not record API request %s", call.request_id)


def _count_decision(call: ApiCall) -> None:
    if call.caller is None or not call.known_operation:
        return
    if isinstance(call.error, AccessDenied):
        explicit = "explicit deny" in call.error.message
        metrics.count_decision("api", "explicit_deny" if explicit else "implicit_deny")
    elif call.error is None:
        metrics.count_decision("api", "allow")


def _events(rt: Runtime, call: ApiCall) -> list[audit.AuditEvent]:
    request = call.request
    service = call.service if call.service is not None and call.service in names.EVENT_SOURCES else "iam"
    origin = audit.RequestOrigin(
        time=rt.clock.time(),
        region=call.info.region if call.info is not None else "us-east-1",
        source_ip=request.source_ip,
        user_agent=request.header("user-agent") or "",
        request_id=call.request_id,
        host=request.header("host"),
    )
    secrets = [request.header("x-amz-security-token") or ""]
    if call.info is not None and call.info.security_token:
        secrets.append(call.info.security_token)
    if call.caller is not None:
        principal = call.caller.principal
        identity = audit.identity_of(principal)
        secrets.append(call.caller.secret_access_key)
        claims = session_of(principal)
        from_console = bool(claims is not None and claims.console)
    else:
        identity = audit.unknown(call.info.access_key_id if call.info is not None else None)
        from_console = False
    trusted = call.known_operation and (call.caller is not None or call.unsigned)
    event = audit.api_call(
        service,
        call.action or "-",
        identity,
        origin,
        # parameters of a request refused before they were read or trusted are not recorded
        request=dict(call.inputs) if trusted and call.inputs is not None else None,
        response=dict(call.result) if trusted and call.result is not None else None,
        error_code=call.error.code if call.error is not None else None,
        error_message=call.error.message if call.error is not None else None,
        resources=None if trusted else (),
        from_console=from_console,
        secrets=secrets,
    )
    other = _other_account(call)
    if other is None:
        return [event]
    shared = str(uuid.uuid4())
    return [audit.with_shared_id(event, shared), audit.for_recipient(event, other, shared)]


def _other_account(call: ApiCall) -> str | None:
    """The role's account when a successful AssumeRole* crossed accounts."""
    if call.error is not None or call.caller is None or call.service != "sts" or call.action not in _ASSUME:
        return None
    role_arn = (call.inputs or {}).get("RoleArn")
    if not isinstance(role_arn, str):
        return None
    parts = role_arn.split(":")
    account = parts[4] if len(parts) > 5 else ""
    return account if account and account != call.caller.principal.account_id else None
