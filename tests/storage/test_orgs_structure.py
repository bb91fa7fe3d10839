"""Organizations on the store: the organization, its root, OUs, moving accounts, tags (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from iamd.core.errors import (
    AccessDeniedException,
    AccountNotFoundException,
    AlreadyInOrganizationException,
    AWSOrganizationsNotInUseException,
    ChildNotFoundException,
    ConstraintViolationException,
    DestinationParentNotFoundException,
    DuplicateAccountException,
    DuplicateOrganizationalUnitException,
    InvalidInputException,
    OrganizationalUnitNotEmptyException,
    OrganizationalUnitNotFoundException,
    OrganizationNotEmptyException,
    ParentNotFoundException,
    SourceParentNotFoundException,
    TargetNotFoundException,
)
from iamd.orgs import ids, members, organization, tags, units
from iamd.orgs.quotas import OrgQuotas
from iamd.services.runtime import Runtime
from iamd.store import tables as t
from tests.storage.test_orgs_support import (
    MEMBER,
    MGMT,
    OTHER,
    OUTSIDER,
    add_account,
    attached,
    join,
    new_organization,
    read,
    rows,
    run,
)


def test_the_caller_becomes_the_management_account_with_scps_enabled(runtime: Runtime) -> None:
    org = new_organization(runtime)
    assert ids.ORGANIZATION_ID.match(org.id) and ids.ROOT_ID.match(org.root_id)
    assert org.management_account_id == MGMT and org.feature_set == "ALL"
    root = read(runtime, MGMT, organization.list_roots)[0]
    assert root.id == org.root_id and root.name == "Root" and root.policy_types == ("SERVICE_CONTROL_POLICY",)
    member = read(runtime, MGMT, members.describe_account, MGMT)
    assert (member.joined_method, member.parent_id, member.path) == (
        "INVITED",
        org.root_id,
        f"{org.id}/{org.root_id}/{MGMT}/",
    )
    assert attached(runtime, org.root_id) == attached(runtime, MGMT) == {"p-FullAWSAccess"}


def test_consolidated_billing_enables_no_policy_type(runtime: Runtime) -> None:
    org = new_organization(runtime, "CONSOLIDATED_BILLING")
    assert read(runtime, MGMT, organization.list_roots)[0].policy_types == ()
    assert attached(runtime, org.root_id) == set()


def test_an_account_belongs_to_one_organization(runtime: Runtime) -> None:
    new_organization(runtime)
    with pytest.raises(AlreadyInOrganizationException):
        new_organization(runtime)
    with pytest.raises(InvalidInputException) as bad:
        run(runtime, OUTSIDER, organization.create_organization, "HALF")
    assert bad.value.fields == {"Reason": "INVALID_ENUM"}


def test_outside_an_organization_and_as_a_member(runtime: Runtime) -> None:
    org = new_organization(runtime)
    add_account(runtime, OUTSIDER)
    with pytest.raises(AWSOrganizationsNotInUseException):
        read(runtime, OUTSIDER, organization.describe_organization)
    join(runtime, MEMBER)
    assert read(runtime, MEMBER, organization.describe_organization) == org  # members may describe it
    for call in (
        lambda: read(runtime, MEMBER, organization.list_roots),
        lambda: read(runtime, MEMBER, members.list_accounts),
        lambda: run(runtime, MEMBER, units.create_unit, org.root_id, "Mine"),
        lambda: run(runtime, MEMBER, organization.delete_organization),
    ):
        with pytest.raises(AccessDeniedException):
            call()


def test_delete_only_an_organization_without_members(runtime: Runtime) -> None:
    org = new_organization(runtime)
    run(runtime, MGMT, units.create_unit, org.root_id, "Prod")
    join(runtime, MEMBER)
    with pytest.raises(OrganizationNotEmptyException):
        run(runtime, MGMT, organization.delete_organization)
    run(runtime, MGMT, members.remove_account, MEMBER)
    run(runtime, MGMT, organization.delete_organization)
    for table in (
        t.organizations,
        t.org_roots,
        t.org_units,
        t.org_accounts,
        t.org_policy_attachments,
        t.org_handshakes,
    ):
        assert rows(runtime, table) == [], table.name
    new_organization(runtime)  # the account is free to start again


def test_units_nest_five_deep_with_paths_and_default_policies(runtime: Runtime) -> None:
    org = new_organization(runtime)
    parent, path = org.root_id, f"{org.id}/{org.root_id}/"
    for depth in range(1, 6):
        unit = run(runtime, MGMT, units.create_unit, parent, f"level{depth}")
        path += f"{unit.id}/"
        assert ids.UNIT_ID.match(unit.id) and unit.id.startswith(f"ou-{org.root_id[2:]}-")
        assert (unit.depth, unit.path, unit.parent_id) == (depth, path, parent)
        assert attached(runtime, unit.id) == {"p-FullAWSAccess"}
        parent = unit.id
    with pytest.raises(ConstraintViolationException) as deep:
        run(runtime, MGMT, units.create_unit, parent, "level6")
    assert deep.value.reason == "OU_DEPTH_LIMIT_EXCEEDED"
    assert len(rows(runtime, t.org_units)) == 5


def test_unit_names_and_counts(runtime: Runtime) -> None:
    org = new_organization(runtime)
    prod = run(runtime, MGMT, units.create_unit, org.root_id, "Prod")
    with pytest.raises(DuplicateOrganizationalUnitException):
        run(runtime, MGMT, units.create_unit, org.root_id, "Prod")
    run(runtime, MGMT, units.create_unit, prod.id, "Prod")  # the same name under another parent
    with pytest.raises(ParentNotFoundException):
        run(runtime, MGMT, units.create_unit, "ou-zzzz-zzzzzzzz", "X")
    with pytest.raises(ConstraintViolationException) as many:
        run(runtime, MGMT, units.create_unit, org.root_id, "Third", quotas=OrgQuotas(units=2))
    assert many.value.reason == "OU_NUMBER_LIMIT_EXCEEDED"


def test_rename_describe_and_delete_units(runtime: Runtime) -> None:
    org = new_organization(runtime)
    prod = run(runtime, MGMT, units.create_unit, org.root_id, "Prod")
    dev = run(runtime, MGMT, units.create_unit, org.root_id, "Dev")
    with pytest.raises(DuplicateOrganizationalUnitException):
        run(runtime, MGMT, units.rename_unit, dev.id, "Prod")
    assert run(runtime, MGMT, units.rename_unit, dev.id, "Development").name == "Development"
    assert read(runtime, MGMT, units.describe_unit, dev.id).name == "Development"
    assert run(runtime, MGMT, units.rename_unit, dev.id, None).name == "Development"
    child = run(runtime, MGMT, units.create_unit, prod.id, "Web")
    join(runtime, MEMBER)
    run(runtime, MGMT, members.move_account, MEMBER, org.root_id, dev.id)
    with pytest.raises(OrganizationalUnitNotEmptyException):  # a child OU
        run(runtime, MGMT, units.delete_unit, prod.id)
    with pytest.raises(OrganizationalUnitNotEmptyException):  # an account
        run(runtime, MGMT, units.delete_unit, dev.id)
    run(runtime, MGMT, units.delete_unit, child.id)
    run(runtime, MGMT, units.delete_unit, prod.id)
    assert attached(runtime, prod.id) == set()
    with pytest.raises(OrganizationalUnitNotFoundException):
        read(runtime, MGMT, units.describe_unit, prod.id)
    with pytest.raises(OrganizationalUnitNotFoundException):
        run(runtime, MGMT, units.delete_unit, prod.id)


def test_parents_and_children(runtime: Runtime) -> None:
    org = new_organization(runtime)
    prod = run(runtime, MGMT, units.create_unit, org.root_id, "Prod")
    web = run(runtime, MGMT, units.create_unit, prod.id, "Web")
    join(runtime, MEMBER)
    join(runtime, OTHER)
    run(runtime, MGMT, members.move_account, MEMBER, org.root_id, web.id)
    assert read(runtime, MGMT, units.list_parents, MEMBER) == [(web.id, "ORGANIZATIONAL_UNIT")]
    assert read(runtime, MGMT, units.list_parents, prod.id) == [(org.root_id, "ROOT")]
    assert read(runtime, MGMT, units.list_parents, OTHER) == [(org.root_id, "ROOT")]
    with pytest.raises(ChildNotFoundException):
        read(runtime, MGMT, units.list_parents, OUTSIDER)
    assert read(runtime, MGMT, units.list_children, org.root_id, "ACCOUNT").items == (MGMT, OTHER)
    assert read(runtime, MGMT, units.list_children, org.root_id, "ORGANIZATIONAL_UNIT").items == (prod.id,)
    assert read(runtime, MGMT, units.list_children, web.id, "ACCOUNT").items == (MEMBER,)
    assert [u.id for u in read(runtime, MGMT, units.list_units, prod.id).items] == [web.id]
    with pytest.raises(ParentNotFoundException):
        read(runtime, MGMT, units.list_children, "ou-abcd-abcdefgh", "ACCOUNT")
    member = read(runtime, MGMT, members.describe_account, MEMBER)
    assert member.path == f"{web.path}{MEMBER}/"


def test_lists_come_in_pages(runtime: Runtime) -> None:
    new_organization(runtime)
    for n in range(5):
        join(runtime, f"3000000000{n:02d}")
    first = read(runtime, MGMT, members.list_accounts, limit=4)
    assert len(first.items) == 4 and first.after == first.items[-1].account_id
    second = read(runtime, MGMT, members.list_accounts, after=first.after, limit=4)
    assert len(second.items) == 2 and second.after is None
    every = [m.account_id for m in [*first.items, *second.items]]
    assert every == sorted(every) and MGMT in every


def test_move_account_rules(runtime: Runtime) -> None:
    org = new_organization(runtime)
    prod = run(runtime, MGMT, units.create_unit, org.root_id, "Prod")
    join(runtime, MEMBER)
    with pytest.raises(SourceParentNotFoundException):
        run(runtime, MGMT, members.move_account, MEMBER, "ou-abcd-abcdefgh", prod.id)
    with pytest.raises(DestinationParentNotFoundException):
        run(runtime, MGMT, members.move_account, MEMBER, org.root_id, "ou-abcd-abcdefgh")
    with pytest.raises(DuplicateAccountException):
        run(runtime, MGMT, members.move_account, MEMBER, org.root_id, org.root_id)
    with pytest.raises(AccountNotFoundException):
        run(runtime, MGMT, members.move_account, MEMBER, prod.id, org.root_id)  # not in that source
    with pytest.raises(AccountNotFoundException):
        run(runtime, MGMT, members.move_account, OUTSIDER, org.root_id, prod.id)
    run(runtime, MGMT, members.move_account, MEMBER, org.root_id, prod.id)
    assert read(runtime, MGMT, members.describe_account, MEMBER).parent_id == prod.id


def test_an_ou_of_another_organization_is_not_found(runtime: Runtime) -> None:
    org = new_organization(runtime)
    join(runtime, MEMBER)
    add_account(runtime, OUTSIDER)
    theirs = run(runtime, OUTSIDER, organization.create_organization)
    their_unit = run(runtime, OUTSIDER, units.create_unit, theirs.root_id, "Theirs")
    with pytest.raises(DestinationParentNotFoundException):
        run(runtime, MGMT, members.move_account, MEMBER, org.root_id, their_unit.id)
    with pytest.raises(OrganizationalUnitNotFoundException):
        read(runtime, MGMT, units.describe_unit, their_unit.id)
    with pytest.raises(AccountNotFoundException):
        read(runtime, MGMT, members.describe_account, OUTSIDER)
    assert read(runtime, MGMT, members.describe_account, MEMBER).parent_id == org.root_id


def test_tags_on_roots_units_accounts_and_policies(runtime: Runtime) -> None:
    org = new_organization(runtime)
    unit = run(runtime, MGMT, units.create_unit, org.root_id, "Prod", tags=[{"Key": "env", "Value": "prod"}])
    assert read(runtime, MGMT, tags.list_tags, unit.id) == [("env", "prod")]
    run(runtime, MGMT, tags.tag_resource, unit.id, [{"Key": "Env", "Value": "x"}, {"Key": "env", "Value": "p2"}])
    assert read(runtime, MGMT, tags.list_tags, unit.id) == [("Env", "x"), ("env", "p2")]  # keys are case-sensitive
    run(runtime, MGMT, tags.untag_resource, unit.id, ["Env"])
    assert read(runtime, MGMT, tags.list_tags, unit.id) == [("env", "p2")]
    run(runtime, MGMT, tags.tag_resource, org.root_id, [{"Key": "k", "Value": ""}])
    with pytest.raises(TargetNotFoundException):
        run(runtime, MGMT, tags.tag_resource, OUTSIDER, [{"Key": "k", "Value": "v"}])
    with pytest.raises(TargetNotFoundException):
        run(runtime, MGMT, tags.tag_resource, "p-FullAWSAccess", [{"Key": "k", "Value": "v"}])
    with pytest.raises(InvalidInputException) as dup:
        run(runtime, MGMT, tags.tag_resource, unit.id, [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}])
    assert dup.value.fields["Reason"] == "DUPLICATE_TAG_KEY"
    with pytest.raises(InvalidInputException) as system:
        run(runtime, MGMT, tags.tag_resource, unit.id, [{"Key": "aws:owner", "Value": "x"}])
    assert system.value.fields["Reason"] == "INVALID_SYSTEM_TAGS_PARAMETER"
    with pytest.raises(ConstraintViolationException) as full:
        many = [{"Key": f"k{n}", "Value": "v"} for n in range(3)]
        run(runtime, MGMT, tags.tag_resource, unit.id, many, quotas=OrgQuotas(tags_per_resource=3))
    assert full.value.reason == "MAX_TAG_LIMIT_EXCEEDED"
    assert read(runtime, MGMT, tags.list_tags, unit.id) == [("env", "p2")]  # nothing half-written
