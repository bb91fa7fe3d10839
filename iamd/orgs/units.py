"""Organizational units: create, rename, delete (empty only), describe; parents and children.

OUs nest at most five levels under the root and number at most 2,000 per organization (quotas);
OU names are unique under one parent (``DuplicateOrganizationalUnitException``).  OUs never move:
Organizations has no operation for it, only accounts move (``members.move_account``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa

from iamd.core.errors import (
    ChildNotFoundException,
    ConstraintViolationException,
    DuplicateOrganizationalUnitException,
    InvalidInputException,
    OrganizationalUnitNotEmptyException,
    OrganizationalUnitNotFoundException,
    ParentNotFoundException,
)
from iamd.orgs import ids
from iamd.orgs.core import (
    OrgCall,
    attach_defaults,
    find_member,
    find_unit,
    forget_node,
    member_of_row,
    member_query,
    page,
    parent_path,
    require_management,
    require_reader,
    unit_from_row,
)
from iamd.orgs.model import Member, Organization, Page, Unit
from iamd.orgs.tags import put_tags
from iamd.store import tables as t


def _require_unit(call: OrgCall, org: Organization, unit_id: str) -> Unit:
    unit = find_unit(call, org, unit_id)
    if unit is None:
        raise OrganizationalUnitNotFoundException()
    return unit


def _name_taken(call: OrgCall, parent_id: str, name: str, except_id: str | None = None) -> bool:
    u = t.org_units
    query = sa.select(u.c.id).where(u.c.parent_id == parent_id, u.c.name == name)
    if except_id is not None:
        query = query.where(u.c.id != except_id)
    return call.conn.execute(query).first() is not None


def create_unit(call: OrgCall, parent_id: str, name: str, tags: Sequence[Mapping[str, str]] = ()) -> Unit:
    org = require_management(call)
    path = parent_path(call, org, parent_id)
    if path is None:
        raise ParentNotFoundException()
    depth = path.count("/") - 2  # o-…/r-…/ is the root (depth 0); each OU adds one
    if depth >= call.quotas.unit_depth:
        raise ConstraintViolationException(
            "You attempted to create an OU tree that is too many levels deep.", reason="OU_DEPTH_LIMIT_EXCEEDED"
        )
    u = t.org_units
    count = call.conn.execute(sa.select(sa.func.count()).select_from(u).where(u.c.organization_id == org.id))
    if count.scalar_one() >= call.quotas.units:
        raise ConstraintViolationException(
            "You attempted to exceed the number of OUs that you can have in an organization.",
            reason="OU_NUMBER_LIMIT_EXCEEDED",
        )
    if _name_taken(call, parent_id, name):
        raise DuplicateOrganizationalUnitException()
    unit_id = ids.new_unit_id(org.root_id)
    while call.conn.execute(sa.select(u.c.id).where(u.c.id == unit_id)).first():
        unit_id = ids.new_unit_id(org.root_id)
    call.conn.execute(
        u.insert().values(
            id=unit_id,
            organization_id=org.id,
            parent_id=parent_id,
            name=name,
            path=f"{path}{unit_id}/",
            depth=depth + 1,
            created_at=call.now,
        )
    )
    attach_defaults(call, org, unit_id)
    put_tags(call, org, unit_id, tags)
    return _require_unit(call, org, unit_id)


def describe_unit(call: OrgCall, unit_id: str) -> Unit:
    org = require_reader(call)
    return _require_unit(call, org, unit_id)


def rename_unit(call: OrgCall, unit_id: str, name: str | None) -> Unit:
    """UpdateOrganizationalUnit: without a name the OU is returned unchanged."""
    org = require_management(call)
    unit = _require_unit(call, org, unit_id)
    if name is None or name == unit.name:
        return unit
    if _name_taken(call, unit.parent_id, name, except_id=unit.id):
        raise DuplicateOrganizationalUnitException()
    call.conn.execute(t.org_units.update().where(t.org_units.c.id == unit.id).values(name=name))
    return _require_unit(call, org, unit_id)


def delete_unit(call: OrgCall, unit_id: str) -> None:
    org = require_management(call)
    unit = _require_unit(call, org, unit_id)
    u, m = t.org_units, t.org_accounts
    has_child = call.conn.execute(sa.select(u.c.id).where(u.c.parent_id == unit.id).limit(1)).first()
    has_account = call.conn.execute(sa.select(m.c.account_id).where(m.c.parent_id == unit.id).limit(1)).first()
    if has_child is not None or has_account is not None:
        raise OrganizationalUnitNotEmptyException()
    forget_node(call, org, unit.id)
    call.conn.execute(u.delete().where(u.c.id == unit.id))


# --- the tree ----------------------------------------------------------------------------------------


def list_parents(call: OrgCall, child_id: str) -> list[tuple[str, str]]:
    """ListParents: ``[(parent id, ROOT | ORGANIZATIONAL_UNIT)]`` of an OU or a member account."""
    org = require_reader(call)
    kind = ids.node_kind(child_id)
    parent: str | None = None
    if kind == ids.ORGANIZATIONAL_UNIT:
        unit = find_unit(call, org, child_id)
        parent = unit.parent_id if unit is not None else None
    elif kind == ids.ACCOUNT:
        member = find_member(call, org, child_id)
        parent = member.parent_id if member is not None else None
    if parent is None:
        raise ChildNotFoundException()
    return [(parent, ids.ROOT if parent == org.root_id else ids.ORGANIZATIONAL_UNIT)]


def _require_parent(call: OrgCall, org: Organization, parent_id: str) -> None:
    if parent_path(call, org, parent_id) is None:
        raise ParentNotFoundException()


def list_units(call: OrgCall, parent_id: str, after: str | None = None, limit: int | None = None) -> Page[Unit]:
    """ListOrganizationalUnitsForParent."""
    org = require_reader(call)
    _require_parent(call, org, parent_id)
    u = t.org_units
    return page(call, sa.select(u).where(u.c.parent_id == parent_id), u.c.id, unit_from_row, after, limit)


def list_accounts_for_parent(
    call: OrgCall, parent_id: str, after: str | None = None, limit: int | None = None
) -> Page[Member]:
    org = require_reader(call)
    _require_parent(call, org, parent_id)
    m = t.org_accounts
    query = member_query().where(m.c.parent_id == parent_id, m.c.organization_id == org.id)
    return page(call, query, m.c.account_id, lambda row: member_of_row(org, row), after, limit)


def list_children(
    call: OrgCall, parent_id: str, child_type: str, after: str | None = None, limit: int | None = None
) -> Page[str]:
    """ListChildren: the ids of the parent's OUs or accounts."""
    if child_type == ids.ACCOUNT:
        accounts = list_accounts_for_parent(call, parent_id, after, limit)
        return Page(tuple(member.account_id for member in accounts.items), accounts.after)
    if child_type == ids.ORGANIZATIONAL_UNIT:
        units = list_units(call, parent_id, after, limit)
        return Page(tuple(unit.id for unit in units.items), units.after)
    raise InvalidInputException("You specified an invalid value.", Reason="INVALID_ENUM")
