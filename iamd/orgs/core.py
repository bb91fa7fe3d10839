"""What every organizations operation shares: the call, reading records, the caller's standing.

Every function of ``iamd.orgs`` takes an ``OrgCall``: the connection of the request's one
transaction, the calling account, the time, the partition and the quotas.  Lookups are scoped to
the caller's organization, so an id of another organization is "not found", as in AWS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from iamd.core.errors import AccessDeniedException, AWSOrganizationsNotInUseException
from iamd.orgs import ids
from iamd.orgs.model import Member, Organization, Page, Unit
from iamd.orgs.policy_types import SPECS
from iamd.orgs.quotas import DEFAULT_QUOTAS, OrgQuotas
from iamd.store import tables as t

T = TypeVar("T")

DEFAULT_PAGE = 20
"""Organizations' List operations answer up to 20 items a page unless MaxResults says otherwise."""


@dataclass(frozen=True, slots=True)
class OrgCall:
    conn: Connection
    account_id: str
    """The calling account (the caller's own account, whatever principal in it calls)."""
    now: float
    partition: str = "aws"
    quotas: OrgQuotas = DEFAULT_QUOTAS


# --- organizations -----------------------------------------------------------------------------------


def _organization(conn: Connection, where: sa.ColumnElement[bool]) -> Organization | None:
    o, r, m, a = t.organizations, t.org_roots, t.org_accounts, t.accounts
    row = conn.execute(
        sa.select(o, r.c.id.label("root_id"), m.c.email, a.c.name.label("management_name"))
        .select_from(
            o.join(r, r.c.organization_id == o.c.id)
            .outerjoin(m, m.c.account_id == o.c.management_account_id)
            .join(a, a.c.id == o.c.management_account_id)
        )
        .where(where)
    ).first()
    if row is None:
        return None
    return Organization(
        row.id, row.management_account_id, row.feature_set, row.root_id, row.email, row.management_name, row.created_at
    )


def organization_by_id(conn: Connection, organization_id: str) -> Organization | None:
    return _organization(conn, t.organizations.c.id == organization_id)


def organization_of(conn: Connection, account_id: str) -> Organization | None:
    """The organization ``account_id`` belongs to, or None."""
    m = t.org_accounts
    org_id = conn.execute(sa.select(m.c.organization_id).where(m.c.account_id == account_id)).scalar()
    return organization_by_id(conn, org_id) if org_id is not None else None


def require_organization(call: OrgCall) -> Organization:
    """The caller's organization; ``AWSOrganizationsNotInUseException`` when it has none."""
    org = organization_of(call.conn, call.account_id)
    if org is None:
        raise AWSOrganizationsNotInUseException()
    return org


def require_management(call: OrgCall) -> Organization:
    """The caller's organization, when the caller is its management account (else AccessDenied)."""
    org = require_organization(call)
    if org.management_account_id != call.account_id:
        raise AccessDeniedException(
            "You don't have permissions to access this resource. "
            "This operation can be called only from the organization's management account."
        )
    return org


def require_reader(call: OrgCall) -> Organization:
    """The caller's organization, when the caller may read its structure: the management account or a
    delegated administrator ("It grants read-only access to Organizations service data",
    RegisterDelegatedAdministrator)."""
    org = require_organization(call)
    if org.management_account_id == call.account_id:
        return org
    d = t.org_delegated_admins
    delegated = call.conn.execute(
        sa.select(d.c.account_id).where(d.c.account_id == call.account_id, d.c.organization_id == org.id).limit(1)
    ).first()
    if delegated is None:
        raise AccessDeniedException(
            "You don't have permissions to access this resource. This operation can be called only from the "
            "organization's management account or by a member account that is a delegated administrator."
        )
    return org


# --- members and OUs ---------------------------------------------------------------------------------


def _root_path(org: Organization) -> str:
    return f"{org.id}/{org.root_id}/"


def member_from_row(org: Organization, row: Row[Any], parent_path: str) -> Member:
    return Member(
        row.account_id,
        row.organization_id,
        row.parent_id,
        row.name,
        row.email,
        row.joined_method,
        row.joined_at,
        row.state,
        f"{parent_path}{row.account_id}/",
    )


def member_query() -> sa.Select[Any]:
    m, a, u = t.org_accounts, t.accounts, t.org_units
    return sa.select(m, a.c.name, u.c.path.label("unit_path")).select_from(
        m.join(a, a.c.id == m.c.account_id).outerjoin(u, u.c.id == m.c.parent_id)
    )


def member_of_row(org: Organization, row: Row[Any]) -> Member:
    return member_from_row(org, row, row.unit_path or _root_path(org))


def find_member(call: OrgCall, org: Organization, account_id: str) -> Member | None:
    m = t.org_accounts
    row = call.conn.execute(member_query().where(m.c.account_id == account_id, m.c.organization_id == org.id)).first()
    return member_of_row(org, row) if row is not None else None


def unit_from_row(row: Row[Any]) -> Unit:
    return Unit(row.id, row.organization_id, row.parent_id, row.name, row.path, row.depth)


def find_unit(call: OrgCall, org: Organization, unit_id: str) -> Unit | None:
    u = t.org_units
    row = call.conn.execute(sa.select(u).where(u.c.id == unit_id, u.c.organization_id == org.id)).first()
    return unit_from_row(row) if row is not None else None


def parent_path(call: OrgCall, org: Organization, parent_id: str) -> str | None:
    """The path of a root or OU of ``org`` (``o-…/r-…/`` or the OU's), or None when there is none."""
    if parent_id == org.root_id:
        return _root_path(org)
    unit = find_unit(call, org, parent_id) if ids.node_kind(parent_id) == ids.ORGANIZATIONAL_UNIT else None
    return unit.path if unit is not None else None


def node_exists(call: OrgCall, org: Organization, node_id: str) -> bool:
    """Whether ``node_id`` is the root, an OU or a member account of ``org``."""
    kind = ids.node_kind(node_id)
    if kind == ids.ROOT:
        return node_id == org.root_id
    if kind == ids.ORGANIZATIONAL_UNIT:
        return find_unit(call, org, node_id) is not None
    if kind == ids.ACCOUNT:
        m = t.org_accounts
        found = call.conn.execute(
            sa.select(m.c.account_id).where(m.c.account_id == node_id, m.c.organization_id == org.id)
        ).first()
        return found is not None
    return False


# --- policy types and defaults -----------------------------------------------------------------------


def enabled_types(conn: Connection, root_id: str) -> tuple[str, ...]:
    pt = t.org_policy_types
    rows = conn.execute(
        sa.select(pt.c.policy_type).where(pt.c.root_id == root_id, pt.c.status == "ENABLED").order_by(pt.c.policy_type)
    )
    return tuple(rows.scalars())


def attach_defaults(call: OrgCall, org: Organization, target_id: str) -> None:
    """A new OU or member account gets the AWS managed policy of each enabled type that has one
    (``FullAWSAccess`` for SCPs, ``RCPFullAWSAccess`` for RCPs), as AWS attaches them."""
    for policy_type in enabled_types(call.conn, org.root_id):
        default = SPECS[policy_type].default_policy if policy_type in SPECS else None
        if default is not None:
            call.conn.execute(
                t.org_policy_attachments.insert().values(
                    policy_id=default, target_id=target_id, organization_id=org.id, policy_type=policy_type
                )
            )


def forget_node(call: OrgCall, org: Organization, node_id: str) -> None:
    """Drop what hangs off a root, OU or account leaving ``org``: its attachments and tags."""
    pa, tg = t.org_policy_attachments, t.org_tags
    call.conn.execute(pa.delete().where(pa.c.target_id == node_id, pa.c.organization_id == org.id))
    call.conn.execute(tg.delete().where(tg.c.resource_id == node_id, tg.c.organization_id == org.id))


def member_count(call: OrgCall, org: Organization) -> int:
    """Accounts counted against the account quota: members, open invitations, creations in progress."""
    m, h, c = t.org_accounts, t.org_handshakes, t.org_create_account_requests
    members = call.conn.execute(
        sa.select(sa.func.count()).select_from(m).where(m.c.organization_id == org.id)
    ).scalar_one()
    invited = call.conn.execute(
        sa.select(sa.func.count())
        .select_from(h)
        .where(h.c.organization_id == org.id, h.c.state.in_(("OPEN", "REQUESTED")), h.c.expires_at > call.now)
    ).scalar_one()
    creating = call.conn.execute(
        sa.select(sa.func.count()).select_from(c).where(c.c.organization_id == org.id, c.c.state == "IN_PROGRESS")
    ).scalar_one()
    return int(members) + int(invited) + int(creating)


# --- pages -------------------------------------------------------------------------------------------


def page(
    call: OrgCall,
    query: sa.Select[Any],
    key: sa.ColumnElement[str],
    convert: Callable[[Row[Any]], T],
    after: str | None,
    limit: int | None,
) -> Page[T]:
    """Keyset pagination on ``key``: rows after ``after``, at most ``limit`` (default 20)."""
    size = limit or DEFAULT_PAGE
    if after is not None:
        query = query.where(key > after)
    rows: Sequence[Row[Any]] = call.conn.execute(query.order_by(key).limit(size + 1)).all()
    items = [convert(row) for row in rows[:size]]
    last = rows[size - 1] if len(rows) > size else None
    return Page(tuple(items), str(last._mapping[key]) if last is not None else None)
