"""The service layer's part of Organizations that needs no HTTP: CreateAccount requests a stopped
node left in progress are finished (once) at start-up, and the authorizer's organization inputs
follow the store, on both databases."""

from __future__ import annotations

from iamd.orgs import create_account, handshakes, members
from iamd.services.organizations import finish_account_creations
from iamd.services.runtime import Runtime
from tests.storage.test_orgs_support import MEMBER, MGMT, add_account, new_organization, read, run


def test_pending_creations_are_finished_once(runtime: Runtime) -> None:
    new_organization(runtime)
    first = run(runtime, MGMT, create_account.request_account, "a@example.com", "a")
    second = run(runtime, MGMT, create_account.request_account, "b@example.com", "b")
    assert finish_account_creations(runtime.services) == 2  # what a start-up does with a stopped node's requests
    done = read(runtime, MGMT, create_account.describe_create_account_status, first.id)
    other = read(runtime, MGMT, create_account.describe_create_account_status, second.id)
    assert done.state == "SUCCEEDED" and done.account_id is not None
    assert other.state == "SUCCEEDED" and other.account_id not in (None, done.account_id)
    assert finish_account_creations(runtime.services) == 0  # nothing left; finished ones are not redone
    assert read(runtime, MGMT, members.describe_account, done.account_id).joined_method == "CREATED"


def test_authorizer_inputs_follow_the_store(runtime: Runtime) -> None:
    org = new_organization(runtime)
    add_account(runtime, MEMBER)
    assert runtime.authorizer.organization_inputs(MEMBER, MEMBER).service_control_policies == ()
    invitation = run(runtime, MGMT, handshakes.invite_account, "ACCOUNT", MEMBER)
    run(runtime, MEMBER, handshakes.accept_handshake, invitation.id)
    runtime.watcher.invalidate()
    inputs = runtime.authorizer.organization_inputs(MEMBER, MGMT)
    assert inputs.context["aws:PrincipalOrgID"] == org.id and inputs.context["aws:ResourceAccount"] == MGMT
    assert len(inputs.service_control_policies) == 2  # root and account levels
    assert inputs.resource_in_management_account and not inputs.in_management_account
    assert runtime.authorizer.organization_inputs(MGMT, MGMT).in_management_account
