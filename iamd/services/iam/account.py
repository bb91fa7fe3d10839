"""Account-wide IAM operations: the account alias and the account summary."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from iamd.core.errors import EntityAlreadyExists, InvalidInput, NoSuchEntity
from iamd.policy.document import SIZE_LIMITS, PolicyKind
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.registry import operation
from iamd.services.targets import any_resource
from iamd.store import tables as t

# AWS's fixed (non-adjustable) account-summary quotas that iamd.core.quotas does not carry.
POLICY_VERSIONS_IN_USE_QUOTA = 10000
GLOBAL_ENDPOINT_TOKEN_VERSION = 1

_ACCOUNT_ID_LIKE = re.compile(r"^\d{12}$")


# --- account alias ---------------------------------------------------------------------------------


@operation("iam", "CreateAccountAlias", target=any_resource)
def create_account_alias(ctx: OperationContext, p: dict[str, Any]) -> None:
    """Give the account its alias (unique across every account of this server).

    As AWS documents, an account has at most one alias and creating a new one replaces the old.
    """
    alias: str = p["AccountAlias"]
    if _ACCOUNT_ID_LIKE.match(alias):
        # A 12-digit alias would be indistinguishable from an account id at sign-in.
        raise InvalidInput(f"The account alias {alias} cannot be a 12-digit number.")
    al = t.account_aliases
    owner = ctx.conn.execute(sa.select(al.c.account_id).where(al.c.alias == alias)).scalar()
    if owner is not None:
        raise EntityAlreadyExists(f"The account alias {alias} already exists.")
    current = ctx.conn.execute(sa.select(al.c.alias).where(al.c.account_id == ctx.account_id)).scalar()
    if current is None:
        ctx.conn.execute(al.insert().values(account_id=ctx.account_id, alias=alias))
    else:
        ctx.conn.execute(al.update().where(al.c.account_id == ctx.account_id).values(alias=alias))
    return None


@operation("iam", "DeleteAccountAlias", target=any_resource)
def delete_account_alias(ctx: OperationContext, p: dict[str, Any]) -> None:
    alias: str = p["AccountAlias"]
    al = t.account_aliases
    result = ctx.conn.execute(al.delete().where(al.c.account_id == ctx.account_id, al.c.alias == alias))
    if result.rowcount == 0:
        raise NoSuchEntity(f"The account alias {alias} cannot be found.")
    return None


@operation("iam", "ListAccountAliases", target=any_resource)
def list_account_aliases(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    al = t.account_aliases
    query = sa.select(al.c.alias).where(al.c.account_id == ctx.account_id)
    rows, extra = c.paginate(ctx, query, [al.c.alias], p)
    return {"AccountAliases": [r.alias for r in rows], **extra}


# --- account summary ---------------------------------------------------------------------------------


def _count_in_account(ctx: OperationContext, table: sa.Table) -> int:
    return c.count(ctx, sa.select(table.c.id).where(table.c.account_id == ctx.account_id))


def principal_ids_clause(
    ctx: OperationContext, type_column: sa.ColumnElement[Any], id_column: sa.ColumnElement[Any]
) -> sa.ColumnElement[bool]:
    """``(type, id)`` names a user, group or role of the caller's account."""
    return sa.or_(
        *(
            sa.and_(
                type_column == kind,
                id_column.in_(sa.select(table.c.id).where(table.c.account_id == ctx.account_id)),
            )
            for kind, table in (("user", t.users), ("group", t.groups), ("role", t.roles))
        )
    )


def mfa_counts(ctx: OperationContext) -> tuple[int, int, bool]:
    """(devices, devices in use, root has MFA) of this account."""
    d = t.mfa_devices
    base = sa.select(sa.literal(1)).select_from(d).where(d.c.account_id == ctx.account_id)
    enabled = base.where(d.c.enabled_at.is_not(None))
    in_use = c.count(ctx, enabled.where(sa.or_(d.c.user_id.is_not(None), d.c.is_root.is_(True))))
    root_enabled = c.has_rows(ctx, enabled.where(d.c.is_root.is_(True)))
    return c.count(ctx, base), in_use, root_enabled


def _providers(ctx: OperationContext) -> int:
    """Identity providers (SAML, OIDC) of the account: none exist until the federation issue."""
    return 0


@operation("iam", "GetAccountSummary", target=any_resource)
def get_account_summary(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    acct = ctx.account_id
    ak, sc, pa = t.access_keys, t.signing_certificates, t.policy_attachments
    mp = t.managed_policies
    root_keys = c.has_rows(ctx, sa.select(ak.c.id).where(ak.c.account_id == acct, ak.c.user_id.is_(None)))
    root_certs = c.has_rows(ctx, sa.select(sc.c.id).where(sc.c.account_id == acct, sc.c.user_id.is_(None)))
    root_password = ctx.conn.execute(sa.select(t.accounts.c.root_password_hash).where(t.accounts.c.id == acct)).scalar()
    attachments = c.count(
        ctx, sa.select(pa.c.policy_id).where(principal_ids_clause(ctx, pa.c.principal_type, pa.c.principal_id))
    )
    mfa_total, mfa_in_use, root_mfa = mfa_counts(ctx)
    quotas = ctx.quotas
    summary: dict[str, int] = {
        "Users": _count_in_account(ctx, t.users),
        "UsersQuota": quotas.users,
        "Groups": _count_in_account(ctx, t.groups),
        "GroupsQuota": quotas.groups,
        "Roles": _count_in_account(ctx, t.roles),
        "RolesQuota": quotas.roles,
        "Policies": c.count(ctx, sa.select(mp.c.id).where(mp.c.account_id == acct)),
        "PoliciesQuota": quotas.managed_policies,
        "InstanceProfiles": _count_in_account(ctx, t.instance_profiles),
        "InstanceProfilesQuota": quotas.instance_profiles,
        "ServerCertificates": _count_in_account(ctx, t.server_certificates),
        "ServerCertificatesQuota": quotas.server_certificates,
        "Providers": _providers(ctx),
        "MFADevices": mfa_total,
        "MFADevicesInUse": mfa_in_use,
        "AccountMFAEnabled": int(root_mfa),
        "AccountAccessKeysPresent": int(root_keys),
        "AccountPasswordPresent": int(bool(root_password)),
        "AccountSigningCertificatesPresent": int(root_certs),
        "AttachedPoliciesPerUserQuota": quotas.attached_policies,
        "AttachedPoliciesPerGroupQuota": quotas.attached_policies,
        "AttachedPoliciesPerRoleQuota": quotas.attached_policies,
        "GroupsPerUserQuota": quotas.groups_per_user,
        "SigningCertificatesPerUserQuota": quotas.signing_certificates_per_user,
        "AccessKeysPerUserQuota": quotas.access_keys_per_user,
        "UserPolicySizeQuota": SIZE_LIMITS[PolicyKind.USER_INLINE],
        "GroupPolicySizeQuota": SIZE_LIMITS[PolicyKind.GROUP_INLINE],
        "RolePolicySizeQuota": SIZE_LIMITS[PolicyKind.ROLE_INLINE],
        "PolicySizeQuota": SIZE_LIMITS[PolicyKind.MANAGED],
        "AssumeRolePolicySizeQuota": SIZE_LIMITS[PolicyKind.TRUST],
        "PolicyVersionsInUse": attachments,
        "PolicyVersionsInUseQuota": POLICY_VERSIONS_IN_USE_QUOTA,
        "VersionsPerPolicyQuota": quotas.policy_versions,
        "GlobalEndpointTokenVersion": GLOBAL_ENDPOINT_TOKEN_VERSION,
    }
    return {"SummaryMap": summary}
