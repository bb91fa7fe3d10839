"""Authorization of API calls.

Until the policy engine is wired in (issue 3), the rule is the one the foundation issue sets:
the root principal may do everything in its own account, and every other principal is denied.
Nothing is ever allowed by default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iamd.core.arn import iam_arn
from iamd.core.errors import AccessDenied
from iamd.core.principal import Principal, PrincipalKind

_RESOURCE_KEYS = (
    ("UserName", "user"),
    ("RoleName", "role"),
    ("GroupName", "group"),
    ("InstanceProfileName", "instance-profile"),
    ("ServerCertificateName", "server-certificate"),
)


def resource_for(service: str, partition: str, caller: Principal, params: Mapping[str, Any]) -> str:
    """The resource ARN an access-denied message names (best effort, as AWS shows it)."""
    if service == "sts":
        return str(params.get("RoleArn") or "*")
    if isinstance(params.get("PolicyArn"), str):
        return str(params["PolicyArn"])
    for key, kind in _RESOURCE_KEYS:
        value = params.get(key)
        if isinstance(value, str):
            return iam_arn(partition, caller.account_id, kind, "/", value)
    if caller.kind is PrincipalKind.USER:
        return caller.arn
    return f"arn:{partition}:iam::{caller.account_id}:*"


def authorize(service: str, action: str, partition: str, caller: Principal, params: Mapping[str, Any]) -> None:
    if caller.kind is PrincipalKind.ROOT:
        return
    resource = resource_for(service, partition, caller, params)
    raise AccessDenied(
        f"User: {caller.arn} is not authorized to perform: {service}:{action} on resource: {resource} "
        f"because no identity-based policy allows the {service}:{action} action"
    )
