"""Resource-side guards AWS enforces whatever the caller's policies say (the root included).

* Roles that only AWS may change: service-linked roles (created by CreateServiceLinkedRole,
  under ``/aws-service-role/``) and the roles IAM Identity Center keeps under
  ``/aws-reserved/``.  The operations whose model lists ``UnmodifiableEntity`` refuse them with
  "Cannot perform the operation on the protected role '<name>' - this role is only modifiable
  by AWS".  AWS documents one exception: the description of a service-linked role may be
  edited (UpdateRole's Description, UpdateRoleDescription); tags are not guarded.
* AWS managed policies (``arn:<partition>:iam::aws:policy/...``) cannot be changed: their
  versions, default version, tags and the policy itself are refused with AccessDenied, the
  answer AWS gives for a policy outside the caller's account.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Row

from iamd.core.errors import AccessDenied, UnmodifiableEntity
from iamd.services.context import OperationContext

SERVICE_ROLE_PATH = "/aws-service-role/"
RESERVED_PATH = "/aws-reserved/"
AWS_ACCOUNT = "aws"
"""The pseudo-account of AWS managed policies in the ``managed_policies`` table."""

__all__ = [
    "AWS_ACCOUNT",
    "RESERVED_PATH",
    "SERVICE_ROLE_PATH",
    "is_aws_managed",
    "is_protected_role",
    "is_service_linked",
    "protected_role_error",
    "refuse_aws_managed_policy",
    "refuse_protected_role",
]


# --- roles ---------------------------------------------------------------------------------------


def is_service_linked(row: Row[Any]) -> bool:
    """A role created by CreateServiceLinkedRole (only its service may change it)."""
    return bool(row.service_linked)


def is_protected_role(row: Row[Any]) -> bool:
    """A role only AWS may change: service-linked, or under a path AWS reserves for itself."""
    path: str = row.path
    return is_service_linked(row) or path.startswith((SERVICE_ROLE_PATH, RESERVED_PATH))


def protected_role_error(row: Row[Any]) -> UnmodifiableEntity:
    return UnmodifiableEntity(
        f"Cannot perform the operation on the protected role '{row.name}' - this role is only modifiable by AWS"
    )


def refuse_protected_role(row: Row[Any], *, description_only: bool = False) -> None:
    """Raise ``UnmodifiableEntity`` when ``row`` is a protected role.

    ``description_only``: the change touches nothing but the description, which AWS lets anyone
    edit on a service-linked role (not on the roles under ``/aws-reserved/``).
    """
    if not is_protected_role(row):
        return
    if description_only and is_service_linked(row) and not row.path.startswith(RESERVED_PATH):
        return
    raise protected_role_error(row)


# --- AWS managed policies ----------------------------------------------------------------------------


def is_aws_managed(row: Row[Any]) -> bool:
    return bool(row.account_id == AWS_ACCOUNT)


def refuse_aws_managed_policy(ctx: OperationContext, row: Row[Any], action: str) -> None:
    """Raise AWS's AccessDenied for a change to an AWS managed policy."""
    if is_aws_managed(row):
        raise AccessDenied(
            f"User: {ctx.caller.arn} is not authorized to perform: iam:{action} on resource: policy {row.arn}"
        )
