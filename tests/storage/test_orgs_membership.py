"""Organizations on the store: invitations, CreateAccount, leaving and removal, delegated administrators."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from iamd.core.clock import FixedClock
from iamd.core.errors import (
    AccessDeniedException,
    AccountAlreadyRegisteredException,
    AccountNotFoundException,
    AccountNotRegisteredException,
    ConstraintViolationException,
    CreateAccountStatusNotFoundException,
    DuplicateHandshakeException,
    HandshakeAlreadyInStateException,
    HandshakeConstraintViolationException,
    HandshakeNotFoundException,
    InvalidHandshakeTransitionException,
    InvalidInputException,
    MasterCannotLeaveOrganizationException,
)
from iamd.orgs import create_account, delegation, handshakes, members, organization, tags, units
from iamd.orgs.quotas import DAY, OrgQuotas
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

# --- invitations -------------------------------------------------------------------------------------


def test_invite_by_account_and_accept(runtime: Runtime) -> None:
    org = new_organization(runtime)
    add_account(runtime, MEMBER)
    invitation = run(
        runtime, MGMT, handshakes.invite_account, "ACCOUNT", MEMBER, "welcome", [{"Key": "team", "Value": "a"}]
    )
    assert invitation.state == "OPEN" and invitation.expires_at == invitation.requested_at + 15 * DAY
    assert read(runtime, MEMBER, handshakes.list_handshakes_for_account).items == (invitation,)
    assert read(runtime, MGMT, handshakes.list_handshakes_for_organization).items == (invitation,)
    accepted = run(runtime, MEMBER, handshakes.accept_handshake, invitation.id)
    assert accepted.state == "ACCEPTED"
    member = read(runtime, MGMT, members.describe_account, MEMBER)
    assert (member.joined_method, member.parent_id, member.email) == (
        "INVITED",
        org.root_id,
        f"root+{MEMBER}@example.com",
    )
    assert attached(runtime, MEMBER) == {"p-FullAWSAccess"}
    assert read(runtime, MGMT, tags.list_tags, MEMBER) == [("team", "a")]
    with pytest.raises(HandshakeAlreadyInStateException):
        run(runtime, MEMBER, handshakes.accept_handshake, invitation.id)
    with pytest.raises(InvalidHandshakeTransitionException):
        run(runtime, MGMT, handshakes.cancel_handshake, invitation.id)


def test_invite_by_email_is_for_the_account_with_that_root_email(runtime: Runtime) -> None:
    new_organization(runtime)
    add_account(runtime, MEMBER, email="Owner@Example.com")
    add_account(runtime, OTHER)
    invitation = run(runtime, MGMT, handshakes.invite_account, "EMAIL", "owner@example.com")
    assert invitation.target_account_id == MEMBER
    assert read(runtime, OTHER, handshakes.list_handshakes_for_account).items == ()
    with pytest.raises(HandshakeNotFoundException):
        run(runtime, OTHER, handshakes.accept_handshake, invitation.id)
    run(runtime, MEMBER, handshakes.accept_handshake, invitation.id)
    with pytest.raises(InvalidInputException) as bad:
        run(runtime, MGMT, handshakes.invite_account, "EMAIL", "not-an-address")
    assert bad.value.fields["Reason"] == "INVALID_EMAIL_ADDRESS_TARGET"
    with pytest.raises(InvalidInputException) as party:
        run(runtime, MGMT, handshakes.invite_account, "ORGANIZATION", "o-abcdefghij")
    assert party.value.fields["Reason"] == "INVALID_PARTY_TYPE_TARGET"
    with pytest.raises(AccountNotFoundException):
        run(runtime, MGMT, handshakes.invite_account, "ACCOUNT", OUTSIDER)


def test_who_may_invite_and_whom(runtime: Runtime) -> None:
    new_organization(runtime)
    join(runtime, MEMBER)
    add_account(runtime, OUTSIDER)
    with pytest.raises(AccessDeniedException):
        run(runtime, MEMBER, handshakes.invite_account, "ACCOUNT", OUTSIDER)
    for already in (MEMBER, MGMT):
        with pytest.raises(HandshakeConstraintViolationException) as member:
            run(runtime, MGMT, handshakes.invite_account, "ACCOUNT", already)
        assert member.value.reason == "ALREADY_IN_AN_ORGANIZATION"
    run(runtime, MGMT, handshakes.invite_account, "ACCOUNT", OUTSIDER)
    with pytest.raises(DuplicateHandshakeException):
        run(runtime, MGMT, handshakes.invite_account, "ACCOUNT", OUTSIDER)


def test_an_account_in_another_organization_cannot_accept(runtime: Runtime) -> None:
    new_organization(runtime)
    add_account(runtime, OUTSIDER)
    invitation = run(runtime, MGMT, handshakes.invite_account, "ACCOUNT", OUTSIDER)
    run(runtime, OUTSIDER, organization.create_organization)
    with pytest.raises(HandshakeConstraintViolationException) as other:
        run(runtime, OUTSIDER, handshakes.accept_handshake, invitation.id)
    assert other.value.reason == "ALREADY_IN_AN_ORGANIZATION"
    assert read(runtime, OUTSIDER, handshakes.describe_handshake, invitation.id).state == "OPEN"


def test_decline_and_cancel(runtime: Runtime) -> None:
    new_organization(runtime)
    add_account(runtime, MEMBER)
    add_account(runtime, OTHER)
    first = run(runtime, MGMT, handshakes.invite_account, "ACCOUNT", MEMBER)
    with pytest.raises(AccessDeniedException):  # the sender cannot decline, the target cannot cancel
        run(runtime, MGMT, handshakes.decline_handshake, first.id)
    with pytest.raises(AccessDeniedException):
        run(runtime, MEMBER, handshakes.cancel_handshake, first.id)
    with pytest.raises(HandshakeNotFoundException):  # a third account does not see it
        read(runtime, OTHER, handshakes.describe_handshake, first.id)
    assert run(runtime, MEMBER, handshakes.decline_handshake, first.id).state == "DECLINED"
    with pytest.raises(HandshakeAlreadyInStateException):
        run(runtime, MEMBER, handshakes.decline_handshake, first.id)
    with pytest.raises(InvalidHandshakeTransitionException):
        run(runtime, MEMBER, handshakes.accept_handshake, first.id)
    second = run(runtime, MGMT, handshakes.invite_account, "ACCOUNT", MEMBER)  # declined: may invite again
    assert run(runtime, MGMT, handshakes.cancel_handshake, second.id).state == "CANCELED"
    with pytest.raises(InvalidHandshakeTransitionException):
        run(runtime, MEMBER, handshakes.accept_handshake, second.id)
    assert rows(runtime, t.org_accounts, t.org_accounts.c.account_id == MEMBER) == []


def test_invitations_expire_after_15_days_and_vanish_30_days_later(runtime: Runtime, clock: FixedClock) -> None:
    new_organization(runtime)
    add_account(runtime, MEMBER)
    invitation = run(runtime, MGMT, handshakes.invite_account, "ACCOUNT", MEMBER)
    clock.advance(15 * DAY)
    assert read(runtime, MEMBER, handshakes.describe_handshake, invitation.id).state == "EXPIRED"
    with pytest.raises(InvalidHandshakeTransitionException):
        run(runtime, MEMBER, handshakes.accept_handshake, invitation.id)
    assert rows(runtime, t.org_handshakes)[0].state == "OPEN"  # the failed accept wrote nothing
    again = run(runtime, MGMT, handshakes.invite_account, "ACCOUNT", MEMBER)  # an expired one is no duplicate
    assert rows(runtime, t.org_handshakes, t.org_handshakes.c.id == invitation.id)[0].state == "EXPIRED"
    clock.advance(30 * DAY + 1)
    assert [h.id for h in read(runtime, MEMBER, handshakes.list_handshakes_for_account).items] == [again.id]
    with pytest.raises(HandshakeNotFoundException):
        read(runtime, MEMBER, handshakes.describe_handshake, invitation.id)


def test_open_invitations_count_against_the_account_quota(runtime: Runtime) -> None:
    new_organization(runtime)
    quotas = OrgQuotas(accounts=3)
    for account in (MEMBER, OTHER, OUTSIDER):
        add_account(runtime, account)
    run(runtime, MGMT, handshakes.invite_account, "ACCOUNT", MEMBER, quotas=quotas)
    run(runtime, MGMT, handshakes.invite_account, "ACCOUNT", OTHER, quotas=quotas)
    with pytest.raises(HandshakeConstraintViolationException) as full:
        run(runtime, MGMT, handshakes.invite_account, "ACCOUNT", OUTSIDER, quotas=quotas)
    assert full.value.reason == "ACCOUNT_NUMBER_LIMIT_EXCEEDED"


def test_at_most_20_unanswered_invitations_a_day(runtime: Runtime, clock: FixedClock) -> None:
    new_organization(runtime)
    quotas = OrgQuotas(accounts=10)  # 20 a day: the greater of 20 and the account quota
    targets = [f"4000000000{n:02d}" for n in range(21)]
    for account in targets:
        add_account(runtime, account)
    for account in targets[:20]:
        invitation = run(runtime, MGMT, handshakes.invite_account, "ACCOUNT", account, quotas=quotas)
        run(runtime, MGMT, handshakes.cancel_handshake, invitation.id)  # canceled ones still count
    with pytest.raises(HandshakeConstraintViolationException) as rate:
        run(runtime, MGMT, handshakes.invite_account, "ACCOUNT", targets[20], quotas=quotas)
    assert rate.value.reason == "HANDSHAKE_RATE_LIMIT_EXCEEDED"
    clock.advance(DAY)
    run(runtime, MGMT, handshakes.invite_account, "ACCOUNT", targets[20], quotas=quotas)


# --- CreateAccount -----------------------------------------------------------------------------------


def test_create_account_runs_in_the_background_and_leaves_the_access_role(runtime: Runtime) -> None:
    org = new_organization(runtime)
    request = run(
        runtime, MGMT, create_account.request_account, "dev@example.com", "Dev", tags=[{"Key": "env", "Value": "dev"}]
    )
    assert request.state == "IN_PROGRESS" and request.id.startswith("car-") and request.account_id is None
    assert read(runtime, MGMT, create_account.describe_create_account_status, request.id).state == "IN_PROGRESS"
    assert read(runtime, MGMT, create_account.pending_requests) == [request.id]
    done = run(runtime, MGMT, create_account.complete_account_creation, request.id)
    assert done.state == "SUCCEEDED" and done.completed_at is not None and done.account_id
    new = done.account_id
    account = rows(runtime, t.accounts, t.accounts.c.id == new)[0]
    assert (account.name, account.root_email, account.root_password_hash) == ("Dev", "dev@example.com", None)
    assert rows(runtime, t.access_keys, t.access_keys.c.account_id == new) == []  # no root key: the role is the way in
    member = read(runtime, MGMT, members.describe_account, new)
    assert (member.joined_method, member.parent_id, member.email) == ("CREATED", org.root_id, "dev@example.com")
    assert attached(runtime, new) == {"p-FullAWSAccess"}
    assert read(runtime, MGMT, tags.list_tags, new) == [("env", "dev")]
    role = rows(runtime, t.roles, t.roles.c.account_id == new)[0]
    assert role.name == "OrganizationAccountAccessRole"
    assert json.loads(role.trust_policy)["Statement"] == [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MGMT}:root"}, "Action": "sts:AssumeRole"}
    ]
    pa, mp = t.policy_attachments, t.managed_policies
    with runtime.db.read() as conn:
        arns = conn.execute(
            sa.select(mp.c.arn).select_from(pa.join(mp, mp.c.id == pa.c.policy_id)).where(pa.c.principal_id == role.id)
        ).scalars()
        assert list(arns) == ["arn:aws:iam::aws:policy/AdministratorAccess"]
    again = run(runtime, MGMT, create_account.complete_account_creation, request.id)
    assert again == done  # finishing twice changes nothing


def test_create_account_failures(runtime: Runtime) -> None:
    new_organization(runtime)
    add_account(runtime, OUTSIDER, email="taken@example.com")
    taken = run(runtime, MGMT, create_account.request_account, "Taken@example.com", "T")
    assert (
        run(runtime, MGMT, create_account.complete_account_creation, taken.id).failure_reason == "EMAIL_ALREADY_EXISTS"
    )
    bad = run(runtime, MGMT, create_account.request_account, "a(b)@example.com", "B")
    failed = run(runtime, MGMT, create_account.complete_account_creation, bad.id)
    assert (failed.state, failed.failure_reason, failed.account_id) == ("FAILED", "INVALID_EMAIL", None)
    listed = read(runtime, MGMT, create_account.list_create_account_status, ["FAILED"])
    assert {r.id for r in listed.items} == {taken.id, bad.id}
    with pytest.raises(CreateAccountStatusNotFoundException):
        read(runtime, MGMT, create_account.describe_create_account_status, "car-" + "0" * 32)
    with pytest.raises(InvalidInputException) as role:
        run(runtime, MGMT, create_account.request_account, "x@example.com", "X", role_name="AWSServiceRoleForX")
    assert role.value.fields["Reason"] == "INVALID_ROLE_NAME"
    join(runtime, MEMBER)
    with pytest.raises(AccessDeniedException):
        run(runtime, MEMBER, create_account.request_account, "y@example.com", "Y")


def test_create_account_limits(runtime: Runtime) -> None:
    new_organization(runtime)
    quotas = OrgQuotas(accounts=10, concurrent_account_creations=2)
    for n in range(2):
        run(runtime, MGMT, create_account.request_account, f"n{n}@example.com", f"N{n}", quotas=quotas)
    with pytest.raises(ConstraintViolationException) as busy:
        run(runtime, MGMT, create_account.request_account, "n2@example.com", "N2", quotas=quotas)
    assert busy.value.reason == "ACCOUNT_CREATION_RATE_LIMIT_EXCEEDED"
    with pytest.raises(ConstraintViolationException) as full:  # the management account and two in progress
        run(runtime, MGMT, create_account.request_account, "n3@example.com", "N3", quotas=OrgQuotas(accounts=3))
    assert full.value.reason == "ACCOUNT_NUMBER_LIMIT_EXCEEDED"


# --- leaving -----------------------------------------------------------------------------------------


def test_remove_and_leave(runtime: Runtime) -> None:
    org = new_organization(runtime)
    join(runtime, MEMBER)
    join(runtime, OTHER)
    unit = run(runtime, MGMT, units.create_unit, org.root_id, "Prod")
    run(runtime, MGMT, members.move_account, MEMBER, org.root_id, unit.id)
    run(runtime, MGMT, tags.tag_resource, MEMBER, [{"Key": "k", "Value": "v"}])
    with pytest.raises(ConstraintViolationException) as mgmt:
        run(runtime, MGMT, members.remove_account, MGMT)
    assert mgmt.value.reason == "ACCOUNT_CANNOT_LEAVE_ORGANIZATION"
    with pytest.raises(MasterCannotLeaveOrganizationException):
        run(runtime, MGMT, members.leave_organization)
    with pytest.raises(AccessDeniedException):  # a member cannot remove another
        run(runtime, OTHER, members.remove_account, MEMBER)
    run(runtime, MGMT, members.remove_account, MEMBER)
    assert attached(runtime, MEMBER) == set() and rows(runtime, t.org_tags, t.org_tags.c.resource_id == MEMBER) == []
    with pytest.raises(AccountNotFoundException):
        run(runtime, MGMT, members.remove_account, MEMBER)
    run(runtime, OTHER, members.leave_organization)
    assert [m.account_id for m in read(runtime, MGMT, members.list_accounts).items] == [MGMT]
    assert rows(runtime, t.accounts, t.accounts.c.id == OTHER) != []  # the account itself stays


def test_a_created_account_waits_before_leaving(runtime: Runtime, clock: FixedClock) -> None:
    new_organization(runtime)
    request = run(runtime, MGMT, create_account.request_account, "new@example.com", "New")
    new = run(runtime, MGMT, create_account.complete_account_creation, request.id).account_id
    assert new is not None
    with pytest.raises(ConstraintViolationException) as early:
        run(runtime, new, members.leave_organization)
    assert early.value.reason == "WAIT_PERIOD_ACTIVE"
    with pytest.raises(ConstraintViolationException):
        run(runtime, MGMT, members.remove_account, new)
    clock.advance(4 * DAY)
    run(runtime, MGMT, members.remove_account, new)


# --- delegated administrators ------------------------------------------------------------------------


def test_delegated_administrators(runtime: Runtime) -> None:
    new_organization(runtime)
    join(runtime, MEMBER)
    service = "securityhub.amazonaws.com"
    with pytest.raises(ConstraintViolationException) as disabled:
        run(runtime, MGMT, delegation.register_delegated_administrator, MEMBER, service)
    assert disabled.value.reason == "SERVICE_ACCESS_NOT_ENABLED"
    run(runtime, MGMT, delegation.enable_service_access, service)
    run(runtime, MGMT, delegation.enable_service_access, service)  # idempotent
    with pytest.raises(ConstraintViolationException) as mgmt:
        run(runtime, MGMT, delegation.register_delegated_administrator, MGMT, service)
    assert mgmt.value.reason == "CANNOT_REGISTER_MASTER_AS_DELEGATED_ADMINISTRATOR"
    with pytest.raises(AccountNotFoundException):
        run(runtime, MGMT, delegation.register_delegated_administrator, OUTSIDER, service)
    with pytest.raises(AccessDeniedException):  # not yet a delegated administrator: no reading
        read(runtime, MEMBER, members.list_accounts)
    run(runtime, MGMT, delegation.register_delegated_administrator, MEMBER, service)
    with pytest.raises(AccountAlreadyRegisteredException):
        run(runtime, MGMT, delegation.register_delegated_administrator, MEMBER, service)
    assert [m.account_id for m in read(runtime, MEMBER, members.list_accounts).items] == [MGMT, MEMBER]
    admins = read(runtime, MGMT, delegation.list_delegated_administrators, service)
    assert [(a.member.account_id, a.service_principal) for a in admins] == [(MEMBER, service)]
    assert [s for s, _ in read(runtime, MGMT, delegation.list_delegated_services, MEMBER)] == [service]
    with pytest.raises(ConstraintViolationException) as stays:
        run(runtime, MEMBER, members.leave_organization)
    assert stays.value.reason == "CANNOT_REMOVE_DELEGATED_ADMINISTRATOR_FROM_ORG"
    run(runtime, MGMT, delegation.deregister_delegated_administrator, MEMBER, service)
    with pytest.raises(AccountNotRegisteredException):
        run(runtime, MGMT, delegation.deregister_delegated_administrator, MEMBER, service)
    with pytest.raises(AccountNotRegisteredException):
        read(runtime, MGMT, delegation.list_delegated_services, MEMBER)
    run(runtime, MGMT, delegation.disable_service_access, service)
    assert read(runtime, MGMT, delegation.list_service_access) == []
    run(runtime, MEMBER, members.leave_organization)
