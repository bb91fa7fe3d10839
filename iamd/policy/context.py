"""The request context: condition keys, and the global keys derived from the principal and time.

``principal_context`` gives the keys AWS fills from the caller (``aws:PrincipalArn``,
``aws:PrincipalAccount``, ``aws:PrincipalType``, ``aws:PrincipalIsAWSService``, ``aws:username``,
``aws:userid``, ``aws:PrincipalTag/*``...) and from an injected time (``aws:CurrentTime``,
``aws:EpochTime``).  ``describe_principal`` builds a ``PrincipalDescriptor`` from an ARN (or a
service name, or ``anonymous``); ``from_core_principal`` from the server's resolved principal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from iamd.core.clock import iso8601
from iamd.core.principal import Principal, PrincipalKind
from iamd.policy.model import PrincipalDescriptor, PrincipalType

_ACCOUNT = re.compile(r"^\d{12}$")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
DEFAULT_SESSION_NAME = "iamd-policy-evaluation"
"""The session name given to a role ARN described as a caller when none is named."""


def valid_session_name(name: str) -> bool:
    """A RoleSessionName STS accepts: 2 to 64 of letters, digits and ``_+=,.@-``."""
    return _SESSION_NAME.match(name) is not None


def _principal_arn(p: PrincipalDescriptor) -> str | None:
    if not (p.type.is_iam_identity or p.type is PrincipalType.ROOT):
        return None
    arn = p.role_arn if p.type is PrincipalType.ROLE_SESSION and p.role_arn else p.arn
    return arn or None


def _principal_account(p: PrincipalDescriptor) -> str | None:
    return p.account if p.type.is_iam_identity or p.type is PrincipalType.ROOT else None


def _user_id(p: PrincipalDescriptor) -> str | None:
    if p.user_id is not None:
        return p.user_id
    t = p.type
    if t is PrincipalType.ROOT:
        return p.account
    if t is PrincipalType.FEDERATED_USER and p.account and p.name:
        return f"{p.account}:{p.name}"
    if t is PrincipalType.ROLE_SESSION and p.unique_id and p.session_name:
        return f"{p.unique_id}:{p.session_name}"
    if t is PrincipalType.USER:
        return p.unique_id
    if t is PrincipalType.ANONYMOUS:
        return "anonymous"
    return None


_Derive = Callable[[PrincipalDescriptor, "float | None", "str | None"], "str | None"]

_DERIVED: dict[str, tuple[str, _Derive]] = {
    key.lower(): (key, fn)
    for key, fn in (
        ("aws:PrincipalIsAWSService", lambda p, n, r: "true" if p.type is PrincipalType.SERVICE else "false"),
        ("aws:PrincipalServiceName", lambda p, n, r: p.arn if p.type is PrincipalType.SERVICE else None),
        ("aws:PrincipalType", lambda p, n, r: None if p.type is PrincipalType.SERVICE else p.type.value),
        ("aws:PrincipalArn", lambda p, n, r: _principal_arn(p)),
        ("aws:PrincipalAccount", lambda p, n, r: _principal_account(p)),
        ("aws:username", lambda p, n, r: p.name if p.type is PrincipalType.USER else None),
        ("aws:userid", lambda p, n, r: _user_id(p)),
        ("aws:SourceIdentity", lambda p, n, r: p.source_identity),
        ("aws:FederatedProvider", lambda p, n, r: p.federated_provider),
        ("aws:CurrentTime", lambda p, n, r: iso8601(n) if n is not None else None),
        ("aws:EpochTime", lambda p, n, r: str(int(n)) if n is not None else None),
        ("aws:ResourceAccount", lambda p, n, r: r),
    )
}
_TAG_PREFIX = "aws:principaltag/"


def derive_key(
    principal: PrincipalDescriptor, key: str, now: float | None = None, resource_account: str | None = None
) -> str | None:
    """One derived global key (``key`` lower-cased), or None when AWS would not have it."""
    if key.startswith(_TAG_PREFIX):
        tag = key[len(_TAG_PREFIX) :]
        for name, value in principal.tags.items():
            if name.lower() == tag:
                return value
        return None
    entry = _DERIVED.get(key)
    return entry[1](principal, now, resource_account) if entry is not None else None


def principal_context(
    principal: PrincipalDescriptor, now: float | None = None, resource_account: str | None = None
) -> dict[str, str]:
    """The global condition keys AWS derives from the caller and the time, with AWS's spelling."""
    out: dict[str, str] = {}
    for name, fn in _DERIVED.values():
        value = fn(principal, now, resource_account)
        if value is not None:
            out[name] = value
    for tag, value in principal.tags.items():
        out[f"aws:PrincipalTag/{tag}"] = value
    return out


def normalize(context: Mapping[str, str | Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Keys lower-cased (keys are case-insensitive), values as tuples of strings."""
    out: dict[str, tuple[str, ...]] = {}
    for key, value in context.items():
        out[key.lower()] = (value,) if isinstance(value, str) else tuple(value)
    return out


_MISSING: tuple[str, ...] = ()


class EvalContext:
    """What conditions and variables read: explicit keys first, derived keys when absent."""

    __slots__ = ("_derived", "_explicit", "_now", "_principal", "_resource_account", "action", "resource")

    def __init__(
        self,
        context: Mapping[str, str | Sequence[str]],
        principal: PrincipalDescriptor | None,
        now: float | None,
        resource_account: str | None,
        action: str = "",
        resource: str = "",
    ) -> None:
        explicit: dict[str, tuple[str, ...]] = {}
        for key, value in context.items():
            explicit[key.lower()] = (value,) if isinstance(value, str) else tuple(value)
        self._explicit = explicit
        self._principal = principal
        self._now = now
        self._resource_account = resource_account
        self._derived: dict[str, tuple[str, ...]] = {}
        self.action = action
        self.resource = resource

    def get(self, key: str) -> tuple[str, ...] | None:
        """The values of a lower-cased key, or None when the request does not have it."""
        got = self._explicit.get(key)
        if got is not None:
            return got
        if self._principal is None:
            return None
        got = self._derived.get(key)
        if got is None:
            value = derive_key(self._principal, key, self._now, self._resource_account)
            got = (value,) if value is not None else _MISSING
            self._derived[key] = got
        return got if got is not _MISSING else None

    def variable(self, key: str) -> str | None:
        """A policy variable's value: the key's single value (multivalued keys do not resolve)."""
        got = self.get(key)
        if got is None or len(got) != 1:
            return None
        return got[0]


# --- describing principals --------------------------------------------------------------------


def describe_principal(
    arn: str,
    *,
    account: str | None = None,
    tags: Mapping[str, str] | None = None,
    user_id: str | None = None,
    unique_id: str | None = None,
    role_arn: str | None = None,
    source_user_arn: str | None = None,
    source_identity: str | None = None,
    federated_provider: str | None = None,
    service_linked_role: bool = False,
    in_management_account: bool = False,
    session_name: str | None = None,
) -> PrincipalDescriptor:
    """A descriptor from what identifies the caller.

    ``arn`` is the root ARN (or a bare 12-digit account id), an IAM user ARN, an assumed-role
    session ARN, a federated user ARN, a role ARN, a service principal (``lambda.amazonaws.com``),
    or ``anonymous``.  For a role session the role ARN is ``arn:...:iam::ACCOUNT:role/NAME`` unless
    ``role_arn`` gives it with its path.  A role ARN stands for a session of that role, as AWS's
    policy simulator takes a role as the policy source: the caller is
    ``arn:...:sts::ACCOUNT:assumed-role/NAME/SESSION`` (``session_name``, default
    ``DEFAULT_SESSION_NAME``) and ``aws:PrincipalArn`` is the role ARN with its path.  Raises
    ValueError for anything else.
    """
    ptype, name, role, session, partition, acct = _parse_caller(arn, role_arn)
    if ptype is PrincipalType.ROOT:
        arn = f"arn:{partition}:iam::{acct}:root"
    if ptype is PrincipalType.ROLE_SESSION and session is None:
        if session_name is not None and not valid_session_name(session_name):
            raise ValueError(f"not a role session name (2-64 of [\\w+=,.@-]): {session_name!r}")
        session = session_name or DEFAULT_SESSION_NAME
        arn = f"arn:{partition}:sts::{acct}:assumed-role/{name}/{session}"
    if account is not None and acct is not None and account != acct:
        raise ValueError(f"account {account!r} does not match the ARN's account {acct!r}")
    return PrincipalDescriptor(
        type=ptype,
        arn=arn if ptype is not PrincipalType.ANONYMOUS else "",
        account=acct,
        partition=partition,
        name=name,
        user_id=user_id,
        unique_id=unique_id,
        role_arn=role,
        session_name=session,
        source_user_arn=source_user_arn if ptype is PrincipalType.FEDERATED_USER else None,
        tags=dict(tags or {}),
        federated_provider=federated_provider,
        source_identity=source_identity,
        service_linked_role=service_linked_role,
        in_management_account=in_management_account,
    )


_Caller = tuple[PrincipalType, str | None, str | None, str | None, str, str | None]


def _parse_caller(arn: str, role_arn: str | None) -> _Caller:
    """(type, name, role ARN, session name, partition, account) of a caller string."""
    if arn in ("", "anonymous", "*"):
        return PrincipalType.ANONYMOUS, None, None, None, "aws", None
    if _ACCOUNT.match(arn):
        return PrincipalType.ROOT, arn, None, None, "aws", arn
    if not arn.startswith("arn:"):
        if "." in arn and ":" not in arn and "/" not in arn and " " not in arn:
            return PrincipalType.SERVICE, None, None, None, "aws", None
        raise ValueError(f"not a principal ARN, service principal or 'anonymous': {arn!r}")
    parts = arn.split(":", 5)
    if len(parts) != 6 or not parts[1] or not _ACCOUNT.match(parts[4]) or parts[3]:
        raise ValueError(f"not a principal ARN: {arn!r}")
    partition, service, acct, resource = parts[1], parts[2], parts[4], parts[5]
    if service == "iam" and resource == "root":
        return PrincipalType.ROOT, acct, None, None, partition, acct
    if service == "iam" and resource.startswith("user/") and not resource.endswith("/"):
        return PrincipalType.USER, resource.rsplit("/", 1)[1], None, None, partition, acct
    if service == "sts" and resource.startswith("assumed-role/"):
        pieces = resource.split("/")
        if len(pieces) < 3 or not pieces[1] or not pieces[-1]:
            raise ValueError(f"not an assumed-role session ARN: {arn!r}")
        role = role_arn or f"arn:{partition}:iam::{acct}:role/{pieces[1]}"
        return PrincipalType.ROLE_SESSION, pieces[1], role, "/".join(pieces[2:]), partition, acct
    if service == "sts" and resource.startswith("federated-user/") and len(resource) > len("federated-user/"):
        return PrincipalType.FEDERATED_USER, resource[len("federated-user/") :], None, None, partition, acct
    if service == "iam" and resource.startswith("role/") and not resource.endswith("/"):
        if role_arn is not None and role_arn != arn:
            raise ValueError(f"role_arn {role_arn!r} does not match the role ARN {arn!r}")
        return PrincipalType.ROLE_SESSION, resource.rsplit("/", 1)[1], arn, None, partition, acct
    raise ValueError(f"not a principal ARN: {arn!r}")


def from_core_principal(
    principal: Principal,
    *,
    tags: Mapping[str, str] | None = None,
    unique_id: str | None = None,
    role_arn: str | None = None,
    source_user_arn: str | None = None,
    source_identity: str | None = None,
    federated_provider: str | None = None,
    service_linked_role: bool = False,
    in_management_account: bool = False,
) -> PrincipalDescriptor:
    """A descriptor from the server's resolved ``iamd.core.principal.Principal``."""
    types = {
        PrincipalKind.ROOT: PrincipalType.ROOT,
        PrincipalKind.USER: PrincipalType.USER,
        PrincipalKind.ASSUMED_ROLE: PrincipalType.ROLE_SESSION,
        PrincipalKind.FEDERATED_USER: PrincipalType.FEDERATED_USER,
        PrincipalKind.SERVICE: PrincipalType.SERVICE,
    }
    ptype = types[principal.kind]
    partition = principal.arn.split(":", 2)[1] if principal.arn.startswith("arn:") else "aws"
    role = role_arn
    if ptype is PrincipalType.ROLE_SESSION and role is None:
        role = f"arn:{partition}:iam::{principal.account_id}:role/{principal.name}"
    return PrincipalDescriptor(
        type=ptype,
        arn=principal.arn,
        account=principal.account_id or None,
        partition=partition,
        name=principal.name,
        user_id=principal.user_id,
        unique_id=unique_id,
        role_arn=role,
        session_name=principal.session_name,
        source_user_arn=source_user_arn,
        tags=dict(tags or {}),
        federated_provider=federated_provider,
        source_identity=source_identity,
        service_linked_role=service_linked_role,
        in_management_account=in_management_account,
    )
