"""Trusted access for services (Enable/DisableAWSServiceAccess, ListAWSServiceAccessForOrganization)
and delegated administrators (Register/DeregisterDelegatedAdministrator, ListDelegatedAdministrators,
ListDelegatedServicesForAccount).

As the Organizations API reference describes them: only the management account manages them; a
delegated administrator must be a member account other than the management account
(``CANNOT_REGISTER_MASTER_AS_DELEGATED_ADMINISTRATOR``) for a service whose access is enabled
(``SERVICE_ACCESS_NOT_ENABLED``), registered once (``AccountAlreadyRegisteredException``).  A delegated
administrator may read the organization's structure (``core.require_reader``), and cannot leave the
organization until deregistered (``members``).  Disabling a service's access leaves its delegated
administrators registered (the API reference lists no such effect).
"""

from __future__ import annotations

import sqlalchemy as sa

from iamd.core.errors import (
    AccountAlreadyRegisteredException,
    AccountNotRegisteredException,
    ConstraintViolationException,
)
from iamd.orgs.core import OrgCall, member_of_row, member_query, require_management, require_reader
from iamd.orgs.members import require_member
from iamd.orgs.model import DelegatedAdministrator
from iamd.store import tables as t


def enable_service_access(call: OrgCall, service_principal: str) -> None:
    """Idempotent, as AWS's EnableAWSServiceAccess."""
    org = require_management(call)
    sa_ = t.org_service_access
    exists = call.conn.execute(
        sa.select(sa_.c.service_principal).where(
            sa_.c.organization_id == org.id, sa_.c.service_principal == service_principal
        )
    ).first()
    if exists is None:
        call.conn.execute(
            sa_.insert().values(organization_id=org.id, service_principal=service_principal, enabled_at=call.now)
        )


def disable_service_access(call: OrgCall, service_principal: str) -> None:
    org = require_management(call)
    sa_ = t.org_service_access
    call.conn.execute(sa_.delete().where(sa_.c.organization_id == org.id, sa_.c.service_principal == service_principal))


def list_service_access(call: OrgCall) -> list[tuple[str, float]]:
    """``[(service principal, enabled at)]`` sorted by principal."""
    org = require_reader(call)
    sa_ = t.org_service_access
    rows = call.conn.execute(
        sa.select(sa_.c.service_principal, sa_.c.enabled_at)
        .where(sa_.c.organization_id == org.id)
        .order_by(sa_.c.service_principal)
    )
    return [(row.service_principal, row.enabled_at) for row in rows]


def register_delegated_administrator(call: OrgCall, account_id: str, service_principal: str) -> None:
    org = require_management(call)
    require_member(call, org, account_id)
    if account_id == org.management_account_id:
        raise ConstraintViolationException(
            "You can designate only a member account as a delegated administrator, not the management account.",
            reason="CANNOT_REGISTER_MASTER_AS_DELEGATED_ADMINISTRATOR",
        )
    enabled = {principal for principal, _ in list_service_access(call)}
    if service_principal not in enabled:
        raise ConstraintViolationException(
            f"You attempted to register a delegated administrator before you enabled service access for "
            f"{service_principal}. Call EnableAWSServiceAccess first.",
            reason="SERVICE_ACCESS_NOT_ENABLED",
        )
    d = t.org_delegated_admins
    exists = call.conn.execute(
        sa.select(d.c.account_id).where(d.c.account_id == account_id, d.c.service_principal == service_principal)
    ).first()
    if exists is not None:
        raise AccountAlreadyRegisteredException()
    call.conn.execute(
        d.insert().values(
            account_id=account_id, service_principal=service_principal, organization_id=org.id, enabled_at=call.now
        )
    )


def deregister_delegated_administrator(call: OrgCall, account_id: str, service_principal: str) -> None:
    org = require_management(call)
    require_member(call, org, account_id)
    d = t.org_delegated_admins
    gone = call.conn.execute(
        d.delete().where(
            d.c.organization_id == org.id, d.c.account_id == account_id, d.c.service_principal == service_principal
        )
    )
    if gone.rowcount == 0:
        raise AccountNotRegisteredException()


def list_delegated_administrators(call: OrgCall, service_principal: str | None = None) -> list[DelegatedAdministrator]:
    org = require_reader(call)
    d, m = t.org_delegated_admins, t.org_accounts
    query = member_query().add_columns(d.c.service_principal, d.c.enabled_at).join(d, d.c.account_id == m.c.account_id)
    query = query.where(d.c.organization_id == org.id)
    if service_principal is not None:
        query = query.where(d.c.service_principal == service_principal)
    rows = call.conn.execute(query.order_by(m.c.account_id, d.c.service_principal))
    return [DelegatedAdministrator(member_of_row(org, row), row.service_principal, row.enabled_at) for row in rows]


def list_delegated_services(call: OrgCall, account_id: str) -> list[tuple[str, float]]:
    """ListDelegatedServicesForAccount: ``[(service principal, delegation enabled at)]``."""
    org = require_reader(call)
    require_member(call, org, account_id)
    d = t.org_delegated_admins
    rows = call.conn.execute(
        sa.select(d.c.service_principal, d.c.enabled_at)
        .where(d.c.account_id == account_id)
        .order_by(d.c.service_principal)
    )
    registered = [(row.service_principal, row.enabled_at) for row in rows]
    if not registered:
        raise AccountNotRegisteredException()
    return registered
