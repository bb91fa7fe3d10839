"""CreateOrganization, DescribeOrganization, DeleteOrganization, ListRoots.

CreateOrganization: "The account whose user is calling the CreateOrganization operation
automatically becomes the management account of the new organization ... By default (or if you set
the FeatureSet parameter to ALL), the new organization is created with all features enabled and
service control policies automatically enabled in the root" (Organizations API reference); the
root and the management account then carry ``FullAWSAccess``.  The management account joins with
``JoinedMethod`` ``INVITED``, as AWS reports it.
"""

from __future__ import annotations

import sqlalchemy as sa

from iamd.core.errors import AlreadyInOrganizationException, InvalidInputException, OrganizationNotEmptyException
from iamd.orgs import ids
from iamd.orgs.core import (
    OrgCall,
    enabled_types,
    organization_by_id,
    organization_of,
    require_management,
    require_organization,
    require_reader,
)
from iamd.orgs.model import Organization, Root
from iamd.orgs.policy_types import SCP, SPECS
from iamd.store import tables as t

FEATURE_SETS = ("ALL", "CONSOLIDATED_BILLING")
ROOT_NAME = "Root"


def create_organization(call: OrgCall, feature_set: str = "ALL") -> Organization:
    if feature_set not in FEATURE_SETS:
        raise InvalidInputException("You specified an invalid value.", Reason="INVALID_ENUM")
    if organization_of(call.conn, call.account_id) is not None:
        raise AlreadyInOrganizationException()
    conn = call.conn
    email = conn.execute(sa.select(t.accounts.c.root_email).where(t.accounts.c.id == call.account_id)).scalar()
    org_id = ids.new_organization_id()
    while conn.execute(sa.select(t.organizations.c.id).where(t.organizations.c.id == org_id)).first():
        org_id = ids.new_organization_id()
    root_id = ids.new_root_id()
    while conn.execute(sa.select(t.org_roots.c.id).where(t.org_roots.c.id == root_id)).first():
        root_id = ids.new_root_id()
    conn.execute(
        t.organizations.insert().values(
            id=org_id, management_account_id=call.account_id, feature_set=feature_set, created_at=call.now
        )
    )
    conn.execute(t.org_roots.insert().values(id=root_id, organization_id=org_id, name=ROOT_NAME))
    conn.execute(
        t.org_accounts.insert().values(
            account_id=call.account_id,
            organization_id=org_id,
            parent_id=root_id,
            email=email,
            joined_method="INVITED",
            joined_at=call.now,
            state="ACTIVE",
        )
    )
    if feature_set == "ALL":
        conn.execute(t.org_policy_types.insert().values(root_id=root_id, policy_type=SCP, status="ENABLED"))
        default = SPECS[SCP].default_policy
        for target in (root_id, call.account_id):
            conn.execute(
                t.org_policy_attachments.insert().values(
                    policy_id=default, target_id=target, organization_id=org_id, policy_type=SCP
                )
            )
    org = organization_by_id(conn, org_id)
    assert org is not None
    return org


def describe_organization(call: OrgCall) -> Organization:
    """Any member account may describe its organization."""
    return require_organization(call)


def delete_organization(call: OrgCall) -> None:
    """Only the management account, and only when no other account is a member."""
    org = require_management(call)
    m = t.org_accounts
    others = call.conn.execute(
        sa.select(sa.func.count())
        .select_from(m)
        .where(m.c.organization_id == org.id, m.c.account_id != org.management_account_id)
    ).scalar_one()
    if others:
        raise OrganizationNotEmptyException()
    call.conn.execute(t.organizations.delete().where(t.organizations.c.id == org.id))


def root_of(call: OrgCall, org: Organization) -> Root:
    name = call.conn.execute(sa.select(t.org_roots.c.name).where(t.org_roots.c.id == org.root_id)).scalar_one()
    return Root(org.root_id, org.id, name, enabled_types(call.conn, org.root_id))


def list_roots(call: OrgCall) -> list[Root]:
    """The management account (or a delegated administrator) lists the one root."""
    org = require_reader(call)
    return [root_of(call, org)]
