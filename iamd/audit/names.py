"""CloudTrail's vocabulary for iamd's services: event sources, read-only operations, resource types."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iamd.core.arn import try_parse

EVENT_VERSION = "1.11"
"""The CloudTrail record format version these records follow."""

SIGNIN_SOURCE = "signin.amazonaws.com"
IAMD_SOURCE = "iamd.internal"
"""Events of iamd's own endpoints (authorization API, forward-auth, audit upkeep): no AWS service has them."""

EVENT_SOURCES: Mapping[str, str] = {
    "iam": "iam.amazonaws.com",
    "sts": "sts.amazonaws.com",
    "organizations": "organizations.amazonaws.com",
    "rolesanywhere": "rolesanywhere.amazonaws.com",
    "sso": "sso.amazonaws.com",
    "sso-admin": "sso.amazonaws.com",
    "sso-oidc": "sso-oauth.amazonaws.com",
    "identitystore": "identitystore.amazonaws.com",
    "signin": SIGNIN_SOURCE,
    "iamd": IAMD_SOURCE,
}
"""botocore service name (or ``signin``/``iamd``) -> CloudTrail ``eventSource``."""


class EventType(enum.Enum):
    API_CALL = "AwsApiCall"
    CONSOLE_SIGN_IN = "AwsConsoleSignIn"
    SERVICE_EVENT = "AwsServiceEvent"
    CONSOLE_ACTION = "AwsConsoleAction"


def event_source(service: str) -> str:
    source = EVENT_SOURCES.get(service)
    if source is None:
        raise KeyError(f"no CloudTrail event source for service {service!r}")
    return source


_READ_PREFIXES = ("Get", "List", "Describe", "Simulate", "Lookup", "Search", "Decode", "Check", "Validate", "Preview")
_WRITE_EXCEPTIONS = frozenset({"GenerateCredentialReport"})
_READ_EXCEPTIONS = frozenset(
    {
        "GenerateServiceLastAccessedDetails",
        "GenerateOrganizationsAccessReport",
        "AssumeRole",
        "AssumeRoleWithSAML",
        "AssumeRoleWithWebIdentity",
        "AssumeRoot",
        "GetSessionToken",
        "GetFederationToken",
        "GetWebIdentityToken",
        "Authorize",
        "ForwardAuth",
    }
)

CREDENTIAL_ISSUING = frozenset(
    {
        ("sts", "AssumeRole"),
        ("sts", "AssumeRoleWithSAML"),
        ("sts", "AssumeRoleWithWebIdentity"),
        ("sts", "AssumeRoot"),
        ("sts", "GetSessionToken"),
        ("sts", "GetFederationToken"),
        ("sso", "GetRoleCredentials"),
        ("sso-oidc", "CreateToken"),
        ("sso-oidc", "CreateTokenWithIAM"),
        ("rolesanywhere", "CreateSession"),
    }
)
"""Read-only operations whose answer CloudTrail still records (with the secrets hidden)."""


def is_read_only(operation: str) -> bool:
    """CloudTrail's ``readOnly``: Get/List/Describe... and the STS credential calls are read-only."""
    if operation in _WRITE_EXCEPTIONS:
        return False
    if operation in _READ_EXCEPTIONS:
        return True
    return operation.startswith(_READ_PREFIXES)


def records_response(service: str, operation: str, read_only: bool) -> bool:
    """Whether ``responseElements`` is written (CloudTrail omits it for reads, except credential calls)."""
    return not read_only or (service, operation) in CREDENTIAL_ISSUING


@dataclass(frozen=True, slots=True)
class Resource:
    """A resource an event touched: the record's ``resources`` entry and LookupEvents' ResourceType/Name."""

    type: str
    """``AWS::IAM::User``..."""
    name: str
    """What LookupEvents' ResourceName matches (the entity's name, or the ARN when it has none)."""
    arn: str | None = None
    account_id: str | None = None

    def as_record(self) -> dict[str, Any]:
        return {"accountId": self.account_id, "type": self.type, "ARN": self.arn}


RESOURCE_TYPES: Mapping[str, str] = {
    "user": "AWS::IAM::User",
    "group": "AWS::IAM::Group",
    "role": "AWS::IAM::Role",
    "policy": "AWS::IAM::Policy",
    "instance-profile": "AWS::IAM::InstanceProfile",
    "server-certificate": "AWS::IAM::ServerCertificate",
    "mfa": "AWS::IAM::MFADevice",
    "saml-provider": "AWS::IAM::SAMLProvider",
    "oidc-provider": "AWS::IAM::OIDCProvider",
    "access-key": "AWS::IAM::AccessKey",
}

# Request parameters that name a resource, and the resource type each names.
_NAME_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("UserName", "user"),
    ("GroupName", "group"),
    ("RoleName", "role"),
    ("InstanceProfileName", "instance-profile"),
    ("ServerCertificateName", "server-certificate"),
    ("AccessKeyId", "access-key"),
)
_ARN_PARAMETERS = (
    "PolicyArn",
    "RoleArn",
    "SerialNumber",
    "SAMLProviderArn",
    "OpenIDConnectProviderArn",
    "PrincipalArn",
)


def resource_from_arn(arn: str) -> Resource | None:
    """The resource an ARN names (IAM resource types; other services as ``AWS::<service>::<type>``)."""
    parsed = try_parse(arn)
    if parsed is None:
        return None
    kind = parsed.resource_type
    if parsed.service == "iam":
        rtype = RESOURCE_TYPES.get(kind)
        if rtype is None:
            return None
        name = arn if kind == "policy" else parsed.resource.rsplit("/", 1)[-1]
    else:
        rtype = f"AWS::{parsed.service}::{kind}"
        name = arn
    return Resource(type=rtype, name=name, arn=arn, account_id=parsed.account or None)


def resources_from_parameters(params: Mapping[str, Any] | None, account_id: str | None) -> tuple[Resource, ...]:
    """The resources a request's parameters name, for LookupEvents' resource filters.

    Entities given by name carry no ARN (their path is not in the request); the caller that knows
    the target's ARN (the authorizer) should pass that instead.
    """
    if not params:
        return ()
    found: list[Resource] = []
    for param, kind in _NAME_PARAMETERS:
        value = params.get(param)
        if isinstance(value, str) and value:
            found.append(Resource(type=RESOURCE_TYPES[kind], name=value, account_id=account_id))
    for param in _ARN_PARAMETERS:
        value = params.get(param)
        if isinstance(value, str) and value:
            resource = resource_from_arn(value)
            if resource is not None:
                found.append(resource)
    return tuple(dict.fromkeys(found))
