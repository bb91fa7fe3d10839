"""CloudTrail-shaped audit records.

Every builder returns an :class:`AuditEvent`: the record as CloudTrail writes it (field names,
field order, value formats of CloudTrail's record contents reference, ``eventVersion`` 1.11) plus
the event time.  Secrets never get in: request parameters and response elements go through the
model-driven renderer (:mod:`iamd.audit.redact`), free-form data through the deny-list, and every
string of the record is finally scrubbed of the secret values the caller names (the caller's
secret access key, session token, the password typed at sign-in...).

Builders:

* :func:`api_call` - an API call to IAM, STS, Organizations... (``AwsApiCall``), allowed or not;
* :func:`console_login` - a console sign-in, success or failure (``ConsoleLogin``, ``AwsConsoleSignIn``);
* :func:`check_mfa` - the second factor of a console sign-in (``CheckMfa``);
* :func:`authorization` - a decision of iamd's authorization API or forward-auth endpoint;
* :func:`service_event` - something iamd did by itself (MFA device locked, audit records pruned).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from iamd.audit import names
from iamd.audit.names import EventType, Resource
from iamd.audit.redact import DEFAULT_RENDERER, HIDDEN, ModelRenderer, redact_free, scrub_values
from iamd.auth.session_tokens import SessionClaims, session_of
from iamd.core.principal import Principal, PrincipalKind


class IdentityType(enum.Enum):
    ROOT = "Root"
    IAM_USER = "IAMUser"
    ASSUMED_ROLE = "AssumedRole"
    FEDERATED_USER = "FederatedUser"
    AWS_ACCOUNT = "AWSAccount"
    AWS_SERVICE = "AWSService"
    SAML_USER = "SAMLUser"
    WEB_IDENTITY_USER = "WebIdentityUser"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True)
class SessionIssuer:
    type: str
    """``Role``, ``IAMUser`` or ``Root``."""
    principal_id: str
    arn: str
    account_id: str
    user_name: str

    def as_record(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "principalId": self.principal_id,
            "arn": self.arn,
            "accountId": self.account_id,
            "userName": self.user_name,
        }


@dataclass(frozen=True, slots=True)
class SessionContext:
    creation_date: float
    mfa_authenticated: bool
    issuer: SessionIssuer | None = None
    source_identity: str | None = None
    web_identity: bool = False
    """Write ``webIdFederationData`` (role sessions carry it, empty unless web identity federation)."""

    def as_record(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.issuer is not None:
            out["sessionIssuer"] = self.issuer.as_record()
        if self.web_identity:
            out["webIdFederationData"] = {}
        out["attributes"] = {
            "creationDate": iso_time(self.creation_date),
            "mfaAuthenticated": "true" if self.mfa_authenticated else "false",
        }
        if self.source_identity:
            out["sourceIdentity"] = self.source_identity
        return out


@dataclass(frozen=True, slots=True)
class Identity:
    """CloudTrail's ``userIdentity``."""

    type: IdentityType
    principal_id: str | None = None
    arn: str | None = None
    account_id: str | None = None
    access_key_id: str | None = None
    user_name: str | None = None
    session: SessionContext | None = None
    invoked_by: str | None = None
    identity_provider: str | None = None

    def as_record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type.value}
        for key, value in (
            ("principalId", self.principal_id),
            ("arn", self.arn),
            ("accountId", self.account_id),
            ("accessKeyId", self.access_key_id),
            ("userName", self.user_name),
        ):
            if value is not None:
                out[key] = value
        if self.session is not None:
            out["sessionContext"] = self.session.as_record()
        if self.invoked_by is not None:
            out["invokedBy"] = self.invoked_by
        if self.identity_provider is not None:
            out["identityProvider"] = self.identity_provider
        return out

    @property
    def lookup_username(self) -> str | None:
        """LookupEvents' ``Username``: the user, the role session or federated user name, ``root``."""
        if self.type is IdentityType.ROOT:
            return "root"
        if self.type in (IdentityType.ASSUMED_ROLE, IdentityType.FEDERATED_USER) and self.arn:
            return self.arn.rsplit("/", 1)[-1]
        if self.type is IdentityType.AWS_SERVICE:
            return self.invoked_by
        return self.user_name


def iso_time(ts: float) -> str:
    """``2024-05-01T12:00:00Z`` (CloudTrail's ``eventTime`` and ``creationDate``)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def identity_of(principal: Principal, *, console: bool | None = None) -> Identity:
    """The ``userIdentity`` of an authenticated caller (long-term keys, a session, a console sign-in)."""
    if principal.kind is PrincipalKind.SERVICE:  # a registered service acting by itself
        return aws_service(principal.arn)
    claims = session_of(principal)
    session = _session_context(principal, claims) if claims is not None else None
    if principal.kind is PrincipalKind.ROOT:
        return Identity(
            IdentityType.ROOT,
            principal_id=principal.account_id,
            arn=principal.arn,
            account_id=principal.account_id,
            access_key_id=_key(principal, claims, console),
            session=session,
        )
    if principal.kind is PrincipalKind.USER:
        return Identity(
            IdentityType.IAM_USER,
            principal_id=principal.user_id,
            arn=principal.arn,
            account_id=principal.account_id,
            access_key_id=_key(principal, claims, console),
            user_name=principal.name,
            session=session,
        )
    kind = IdentityType.ASSUMED_ROLE if principal.kind is PrincipalKind.ASSUMED_ROLE else IdentityType.FEDERATED_USER
    return Identity(
        kind,
        principal_id=principal.user_id,
        arn=principal.arn,
        account_id=principal.account_id,
        access_key_id=_key(principal, claims, console),
        session=session,
    )


def _key(principal: Principal, claims: SessionClaims | None, console: bool | None) -> str:
    from_console = claims.console if (console is None and claims is not None) else bool(console)
    return "" if from_console else principal.access_key_id


def _session_context(principal: Principal, claims: SessionClaims) -> SessionContext:
    mfa = claims.mfa_authenticated_at is not None
    issuer: SessionIssuer | None = None
    if principal.kind is PrincipalKind.ASSUMED_ROLE:
        role_id = principal.user_id.split(":", 1)[0]
        role_arn = claims.role_arn or ""
        issuer = SessionIssuer("Role", role_id, role_arn, principal.account_id, role_arn.rsplit("/", 1)[-1])
    elif principal.kind is PrincipalKind.FEDERATED_USER and claims.source_arn:
        source_is_root = claims.source_arn.endswith(":root")
        issuer = SessionIssuer(
            "Root" if source_is_root else "IAMUser",
            principal.account_id if source_is_root else (claims.entity_id or ""),
            claims.source_arn,
            principal.account_id,
            principal.account_id if source_is_root else claims.source_arn.rsplit("/", 1)[-1],
        )
    return SessionContext(
        creation_date=claims.issued_at,
        mfa_authenticated=mfa,
        issuer=issuer,
        source_identity=claims.source_identity,
        web_identity=principal.kind is PrincipalKind.ASSUMED_ROLE,
    )


def other_account(identity: Identity) -> Identity:
    """How a caller from another account appears in the record the resource's account receives."""
    principal_id = identity.principal_id.split(":", 1)[0] if identity.principal_id else None
    return Identity(IdentityType.AWS_ACCOUNT, principal_id=principal_id, account_id=identity.account_id)


def aws_service(service_principal: str) -> Identity:
    """A service principal (``ec2.amazonaws.com``) acting by itself."""
    return Identity(IdentityType.AWS_SERVICE, invoked_by=service_principal)


def unknown(access_key_id: str | None = None, account_id: str | None = None) -> Identity:
    """A caller iamd could not authenticate."""
    return Identity(IdentityType.UNKNOWN, principal_id="", account_id=account_id, access_key_id=access_key_id or "")


@dataclass(frozen=True, slots=True)
class RequestOrigin:
    """Where a request came from and how: the same for every record of one request."""

    time: float
    region: str
    source_ip: str
    user_agent: str
    request_id: str | None = None
    tls_version: str | None = None
    cipher_suite: str | None = None
    host: str | None = None

    def tls_details(self) -> dict[str, Any] | None:
        if self.tls_version is None:
            return None
        return {"tlsVersion": self.tls_version, "cipherSuite": self.cipher_suite, "clientProvidedHostHeader": self.host}


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One record, ready to store: the CloudTrail JSON and what the lookup indexes need."""

    record: Mapping[str, Any]
    time: float
    username: str | None
    resources: tuple[Resource, ...] = ()

    @property
    def event_id(self) -> str:
        return str(self.record["eventID"])

    @property
    def event_name(self) -> str:
        return str(self.record["eventName"])

    @property
    def event_source(self) -> str:
        return str(self.record["eventSource"])

    @property
    def read_only(self) -> bool:
        return bool(self.record.get("readOnly", False))

    @property
    def error_code(self) -> str | None:
        code = self.record.get("errorCode")
        return str(code) if code is not None else None

    @property
    def access_key_id(self) -> str | None:
        identity = self.record.get("userIdentity") or {}
        key = identity.get("accessKeyId")
        return str(key) if key else None

    @property
    def account_id(self) -> str | None:
        account = self.record.get("recipientAccountId")
        return str(account) if account else None


def _finish(
    *,
    identity: Identity,
    origin: RequestOrigin,
    source: str,
    name: str,
    event_type: EventType,
    read_only: bool,
    recipient: str | None,
    request: Any = None,
    response: Any = None,
    error_code: str | None = None,
    error_message: str | None = None,
    additional: Mapping[str, Any] | None = None,
    resources: Sequence[Resource] = (),
    service_event_details: Mapping[str, Any] | None = None,
    from_console: bool = False,
    shared_event_id: str | None = None,
    secrets: Iterable[str] = (),
    event_id: str | None = None,
) -> AuditEvent:
    record: dict[str, Any] = {
        "eventVersion": names.EVENT_VERSION,
        "userIdentity": identity.as_record(),
        "eventTime": iso_time(origin.time),
        "eventSource": source,
        "eventName": name,
        "awsRegion": origin.region,
        "sourceIPAddress": origin.source_ip,
        "userAgent": origin.user_agent,
    }
    if error_code is not None:
        record["errorCode"] = error_code
    if error_message is not None:
        record["errorMessage"] = error_message
    record["requestParameters"] = request
    record["responseElements"] = response
    if additional:
        record["additionalEventData"] = redact_free(additional)
    if origin.request_id is not None:
        record["requestID"] = origin.request_id
    record["eventID"] = event_id or str(uuid.uuid4())
    record["readOnly"] = read_only
    with_arn = [r.as_record() for r in resources if r.arn]
    if with_arn:
        record["resources"] = with_arn
    record["eventType"] = event_type.value
    if service_event_details:
        record["serviceEventDetails"] = redact_free(service_event_details)
    record["managementEvent"] = True
    record["recipientAccountId"] = recipient
    if shared_event_id is not None:
        record["sharedEventID"] = shared_event_id
    record["eventCategory"] = "Management"
    tls = origin.tls_details()
    if tls is not None:
        record["tlsDetails"] = tls
    if from_console:
        record["sessionCredentialFromConsole"] = "true"
    secret_values = tuple(s for s in secrets if s)
    if secret_values:
        record = scrub_values(record, secret_values)
    return AuditEvent(record=record, time=origin.time, username=identity.lookup_username, resources=tuple(resources))


def api_call(
    service: str,
    operation: str,
    identity: Identity,
    origin: RequestOrigin,
    *,
    request: Mapping[str, Any] | None,
    response: Mapping[str, Any] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    recipient_account_id: str | None = None,
    resources: Sequence[Resource] | None = None,
    additional: Mapping[str, Any] | None = None,
    from_console: bool = False,
    secrets: Iterable[str] = (),
    renderer: ModelRenderer = DEFAULT_RENDERER,
) -> AuditEvent:
    """An API call (``AwsApiCall``).  ``request``/``response`` are model-shaped (the parsed input, the
    handler's result); ``resources`` default to those the parameters name."""
    secret_values = tuple(secrets)
    read_only = names.is_read_only(operation)
    recipient = recipient_account_id or identity.account_id
    params = renderer.request_parameters(service, operation, request, secret_values)
    answer = None
    if error_code is None and names.records_response(service, operation, read_only):
        answer = renderer.response_elements(service, operation, response, secret_values)
    if resources is None:
        resources = names.resources_from_parameters(request, recipient)
    return _finish(
        identity=identity,
        origin=origin,
        source=names.event_source(service),
        name=operation,
        event_type=EventType.API_CALL,
        read_only=read_only,
        recipient=recipient,
        request=params,
        response=answer,
        error_code=error_code,
        error_message=error_message,
        additional=additional,
        resources=resources,
        from_console=from_console,
        secrets=secret_values,
    )


def for_recipient(event: AuditEvent, recipient_account_id: str, shared_event_id: str) -> AuditEvent:
    """The copy of a cross-account event that the other account receives.

    CloudTrail delivers one record to each account, with its own ``eventID`` and the same
    ``sharedEventID``; the caller appears as ``AWSAccount`` to the account it does not belong to.
    Give the original record the same ``shared_event_id`` (see :func:`with_shared_id`).
    """
    record = dict(event.record)
    identity = record["userIdentity"]
    if identity.get("accountId") != recipient_account_id:
        principal_id = str(identity.get("principalId") or "").split(":", 1)[0] or None
        record["userIdentity"] = other_account(
            Identity(IdentityType.UNKNOWN, principal_id=principal_id, account_id=identity.get("accountId"))
        ).as_record()
    record["eventID"] = str(uuid.uuid4())
    record["recipientAccountId"] = recipient_account_id
    return with_shared_id(AuditEvent(record, event.time, event.username, event.resources), shared_event_id)


def with_shared_id(event: AuditEvent, shared_event_id: str) -> AuditEvent:
    """``event`` with ``sharedEventID`` set, in CloudTrail's field order (after ``recipientAccountId``)."""
    record: dict[str, Any] = {}
    for key, value in event.record.items():
        if key == "sharedEventID":
            continue
        record[key] = value
        if key == "recipientAccountId":
            record["sharedEventID"] = shared_event_id
    return AuditEvent(record, event.time, event.username, event.resources)


class LoginOutcome(enum.Enum):
    SUCCESS = "Success"
    FAILURE = "Failure"


FAILED_AUTHENTICATION = "Failed authentication"
NO_SUCH_USER = "No username found in supplied account"


def console_login(
    origin: RequestOrigin,
    *,
    account_id: str,
    outcome: LoginOutcome,
    principal: Principal | None = None,
    user_known: bool = True,
    root: bool = False,
    mfa_used: bool = False,
    mfa_identifier: str | None = None,
    login_to: str | None = None,
    error_message: str | None = None,
    secrets: Iterable[str] = (),
) -> AuditEvent:
    """A console sign-in (``ConsoleLogin``), as AWS writes it.

    Failures for a name that is not a user of the account carry ``userName``
    ``HIDDEN_DUE_TO_SECURITY_REASONS`` (people type passwords into the name box) and AWS's
    ``No username found in supplied account``; other failures ``Failed authentication``.
    ``secrets`` should hold the typed password (and the typed name when it is unknown).
    """
    if principal is not None:
        identity = identity_of(principal, console=True)
        identity = Identity(
            identity.type,
            principal_id=identity.principal_id,
            arn=identity.arn,
            account_id=identity.account_id,
            access_key_id="",
            user_name=identity.user_name,
        )
    elif root:
        identity = Identity(IdentityType.ROOT, principal_id=account_id, account_id=account_id, access_key_id="")
    else:
        identity = Identity(IdentityType.IAM_USER, account_id=account_id, access_key_id="", user_name=HIDDEN)
    if outcome is LoginOutcome.FAILURE and error_message is None:
        error_message = NO_SUCH_USER if (principal is None and not root and not user_known) else FAILED_AUTHENTICATION
    additional: dict[str, Any] = {}
    if login_to is not None:
        additional["LoginTo"] = login_to
    additional["MobileVersion"] = "No"
    if mfa_identifier is not None:
        additional["MFAIdentifier"] = mfa_identifier
    additional["MFAUsed"] = "Yes" if mfa_used else "No"
    return _finish(
        identity=identity,
        origin=origin,
        source=names.SIGNIN_SOURCE,
        name="ConsoleLogin",
        event_type=EventType.CONSOLE_SIGN_IN,
        read_only=False,
        recipient=account_id,
        response={"ConsoleLogin": outcome.value},
        error_message=error_message if outcome is LoginOutcome.FAILURE else None,
        additional=additional,
        secrets=secrets,
    )


def check_mfa(
    origin: RequestOrigin,
    *,
    account_id: str,
    principal: Principal | None,
    success: bool,
    mfa_type: str,
    secrets: Iterable[str] = (),
) -> AuditEvent:
    """The second step of a console sign-in (``CheckMfa``); ``mfa_type``: ``Virtual MFA``,
    ``Hardware MFA``, ``U2F MFA`` (security keys and passkeys)."""
    if principal is not None:
        identity = identity_of(principal, console=True)
        identity = Identity(
            identity.type,
            principal_id=identity.principal_id,
            account_id=identity.account_id,
            access_key_id="",
            user_name=identity.user_name,
        )
    else:
        identity = Identity(IdentityType.IAM_USER, account_id=account_id, access_key_id="", user_name=HIDDEN)
    return _finish(
        identity=identity,
        origin=origin,
        source=names.SIGNIN_SOURCE,
        name="CheckMfa",
        event_type=EventType.CONSOLE_SIGN_IN,
        read_only=False,
        recipient=account_id,
        response={"CheckMfa": "Success" if success else "Failure"},
        error_message=None if success else FAILED_AUTHENTICATION,
        additional={"MfaType": mfa_type},
        secrets=secrets,
    )


@dataclass(frozen=True, slots=True)
class DecisionSummary:
    """What the authorization API decided, for its record."""

    decision: str
    """``Allow``, ``ExplicitDeny``, ``ImplicitDeny`` or ``Unauthenticated``."""
    action: str
    resource: str
    matched_statements: Sequence[Mapping[str, Any]] = ()
    explanation: str = ""
    denial_message: str | None = None
    """AWS's AccessDenied wording (``User: ... is not authorized to perform: ...``)."""


def authorization(
    origin: RequestOrigin,
    *,
    identity: Identity,
    decision: DecisionSummary,
    caller: Identity,
    endpoint: str = "Authorize",
    resource_account_id: str | None = None,
    request_method: str | None = None,
    request_path: str | None = None,
    secrets: Iterable[str] = (),
) -> AuditEvent:
    """A decision of iamd's authorization API (``Authorize``) or forward-auth endpoint (``ForwardAuth``).

    ``identity`` is the principal whose request was decided on (the resource server's caller);
    ``caller`` is the service that asked (``additionalEventData.requestedBy``).  A denial carries
    ``errorCode`` ``AccessDenied`` (``Unauthenticated`` when the request's signature did not check)
    and AWS's message.
    """
    denied = decision.decision != "Allow"
    error_code = None
    if denied:
        error_code = "Unauthenticated" if decision.decision == "Unauthenticated" else "AccessDenied"
    request: dict[str, Any] = {"action": decision.action, "resource": decision.resource}
    if request_method is not None:
        request["httpMethod"] = request_method
    if request_path is not None:
        request["httpPath"] = request_path
    response = {"decision": decision.decision}
    additional: dict[str, Any] = {
        "decision": decision.decision,
        "matchedStatements": [dict(s) for s in decision.matched_statements],
        "explanation": decision.explanation,
        "requestedBy": caller.arn or caller.account_id,
    }
    resources = _resources_of(decision.resource)
    return _finish(
        identity=identity,
        origin=origin,
        source=names.IAMD_SOURCE,
        name=endpoint,
        event_type=EventType.API_CALL,
        read_only=True,
        recipient=resource_account_id or identity.account_id or caller.account_id,
        request=redact_free(request),
        response=response,
        error_code=error_code,
        error_message=(decision.denial_message or decision.explanation) if denied else None,
        additional=additional,
        resources=resources,
        secrets=secrets,
    )


def service_event(
    origin: RequestOrigin,
    *,
    name: str,
    account_id: str | None,
    details: Mapping[str, Any],
    source: str = names.IAMD_SOURCE,
    invoked_by: str = "iamd.internal",
    resources: Sequence[Resource] = (),
    additional: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Something iamd did by itself (``AwsServiceEvent``): a device locked, records pruned."""
    return _finish(
        identity=aws_service(invoked_by),
        origin=origin,
        source=source,
        name=name,
        event_type=EventType.SERVICE_EVENT,
        read_only=False,
        recipient=account_id,
        service_event_details=details,
        additional=additional,
        resources=resources,
    )


def authorization_failed(
    origin: RequestOrigin,
    *,
    caller: Identity,
    error_code: str,
    error_message: str,
    endpoint: str = "Authorize",
    action: str | None = None,
    resource: str | None = None,
) -> AuditEvent:
    """A call to the authorization API that was refused before any decision: the calling service
    could not be authenticated, may not call ``iamd:Authorize``, or sent a malformed body."""
    request: dict[str, Any] | None = None
    if action is not None or resource is not None:
        request = redact_free({"action": action, "resource": resource})
    resources = _resources_of(resource)
    return _finish(
        identity=caller,
        origin=origin,
        source=names.IAMD_SOURCE,
        name=endpoint,
        event_type=EventType.API_CALL,
        read_only=True,
        recipient=caller.account_id,
        request=request,
        error_code=error_code,
        error_message=error_message,
        resources=resources,
    )


def _resources_of(arn: str | None) -> list[Resource]:
    found = names.resource_from_arn(arn) if arn else None
    return [found] if found is not None else []
