"""Organizations on the store: SCPs, RCPs and stored policy types; attachments; enabling types."""

from __future__ import annotations

import json
from typing import Any

import pytest

from iamd.core.errors import (
    AccessDeniedException,
    ConstraintViolationException,
    DuplicatePolicyAttachmentException,
    DuplicatePolicyException,
    InvalidInputException,
    MalformedPolicyDocumentException,
    PolicyInUseException,
    PolicyNotAttachedException,
    PolicyNotFoundException,
    PolicyTypeAlreadyEnabledException,
    PolicyTypeNotAvailableForOrganizationException,
    PolicyTypeNotEnabledException,
    RootNotFoundException,
    TargetNotFoundException,
)
from iamd.orgs import ids, organization, policies, tags, units
from iamd.orgs.model import OrgPolicy
from iamd.orgs.quotas import OrgQuotas
from iamd.services.runtime import Runtime
from tests.storage.test_orgs_support import (
    MEMBER,
    MGMT,
    OUTSIDER,
    add_account,
    attached,
    join,
    new_organization,
    read,
    run,
)

SCP = "SERVICE_CONTROL_POLICY"
RCP = "RESOURCE_CONTROL_POLICY"


def _doc(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


DENY_S3 = _doc({"Effect": "Deny", "Action": "s3:*", "Resource": "*"})
ALLOW_EC2 = _doc({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"})
RCP_PERIMETER = _doc(
    {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": "*",
        "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-abcdefghij"}},
    }
)


def _create(rt: Runtime, name: str, content: str = DENY_S3, policy_type: str = SCP, **kw: Any) -> OrgPolicy:
    return run(
        rt,
        MGMT,
        policies.create_policy,
        content=content,
        description=f"{name}.",
        name=name,
        policy_type=policy_type,
        **kw,
    )


def test_create_describe_update_delete(runtime: Runtime) -> None:
    org = new_organization(runtime)
    policy = _create(runtime, "NoS3", tags=[{"Key": "owner", "Value": "sec"}])
    assert ids.POLICY_ID.match(policy.id) and not policy.aws_managed and policy.organization_id == org.id
    assert read(runtime, MGMT, policies.describe_policy, policy.id) == policy
    assert read(runtime, MGMT, tags.list_tags, policy.id) == [("owner", "sec")]
    updated = run(runtime, MGMT, policies.update_policy, policy.id, name="NoS3Ever", content=ALLOW_EC2)
    assert (updated.name, updated.description, updated.content) == ("NoS3Ever", "NoS3.", ALLOW_EC2)
    assert run(runtime, MGMT, policies.update_policy, policy.id) == updated  # nothing given: unchanged
    listed = read(runtime, MGMT, policies.list_policies, SCP).items
    assert sorted(p.id for p in listed) == sorted(["p-FullAWSAccess", policy.id])  # by id: random ids may sort first
    run(runtime, MGMT, policies.delete_policy, policy.id)
    with pytest.raises(PolicyNotFoundException):
        read(runtime, MGMT, policies.describe_policy, policy.id)
    with pytest.raises(PolicyNotFoundException):
        run(runtime, MGMT, policies.delete_policy, policy.id)


def test_aws_managed_policies_are_immutable(runtime: Runtime) -> None:
    new_organization(runtime)
    full = read(runtime, MGMT, policies.describe_policy, "p-FullAWSAccess")
    assert (full.name, full.type, full.aws_managed) == ("FullAWSAccess", SCP, True)
    assert json.loads(full.content)["Statement"] == [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    for change in (
        lambda: run(runtime, MGMT, policies.update_policy, "p-FullAWSAccess", name="Mine"),
        lambda: run(runtime, MGMT, policies.delete_policy, "p-FullAWSAccess"),
    ):
        with pytest.raises(InvalidInputException) as immutable:
            change()
        assert immutable.value.fields["Reason"] == "IMMUTABLE_POLICY"
    with pytest.raises(DuplicatePolicyException):
        _create(runtime, "FullAWSAccess")


def test_names_counts_and_who_may_write(runtime: Runtime) -> None:
    new_organization(runtime)
    first = _create(runtime, "One")
    with pytest.raises(DuplicatePolicyException):
        _create(runtime, "One")
    second = _create(runtime, "Two")
    with pytest.raises(DuplicatePolicyException):
        run(runtime, MGMT, policies.update_policy, second.id, name="One")
    with pytest.raises(ConstraintViolationException) as count:
        _create(runtime, "Three", quotas=OrgQuotas(service_control_policies=2))
    assert count.value.reason == "POLICY_NUMBER_LIMIT_EXCEEDED"
    join(runtime, MEMBER)
    with pytest.raises(AccessDeniedException):
        run(runtime, MEMBER, policies.detach_policy, "p-FullAWSAccess", MEMBER)  # a member cannot detach its own SCP
    with pytest.raises(AccessDeniedException):
        run(runtime, MEMBER, policies.update_policy, first.id, content=ALLOW_EC2)
    assert attached(runtime, MEMBER) == {"p-FullAWSAccess"}


@pytest.mark.parametrize(
    ("policy_type", "content", "detail"),
    [
        (SCP, "{not json", "Syntax errors in policy."),
        (SCP, _doc({"Effect": "Allow", "Action": "*"}), "Policy statement must contain resources."),
        (
            SCP,
            _doc({"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}),
            "should not specify a principal",
        ),
        (SCP, "[]", "JSON object"),
        (RCP, _doc({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}), "RCPFullAWSAccess"),
        (RCP, json.dumps({"Statement": [json.loads(RCP_PERIMETER)["Statement"][0]]}), "Version"),
        (RCP, _doc({"Effect": "Deny", "Principal": {"AWS": "111122223333"}, "Action": "*", "Resource": "*"}), "Syntax"),
        ("TAG_POLICY", '"a string"', "JSON object"),
    ],
)
def test_malformed_content(runtime: Runtime, policy_type: str, content: str, detail: str) -> None:
    new_organization(runtime)
    with pytest.raises(MalformedPolicyDocumentException) as bad:
        _create(runtime, "Bad", content, policy_type)
    assert detail in bad.value.message
    assert all(p.aws_managed for p in read(runtime, MGMT, policies.list_policies, policy_type).items)


def test_content_size_limits_count_whitespace(runtime: Runtime) -> None:
    new_organization(runtime)
    padded = DENY_S3[:-1] + " " * (5120 - len(DENY_S3)) + "}"
    assert len(padded) == 5120
    _create(runtime, "JustFits", padded)
    with pytest.raises(ConstraintViolationException) as big:
        _create(runtime, "TooBig", padded[:-1] + " }")
    assert big.value.reason == "POLICY_CONTENT_LIMIT_EXCEEDED"
    empty = _create(runtime, "AllowsNothing", _doc())  # an SCP that allows nothing
    assert json.loads(empty.content)["Statement"] == []
    _create(runtime, "Perimeter", RCP_PERIMETER, RCP)  # RCPs can be created before they are enabled


def test_stored_types_and_refused_types(runtime: Runtime) -> None:
    org = new_organization(runtime)
    tag_policy = _create(runtime, "Tags", '{"tags": {"env": {"tag_key": {"@@assign": "env"}}}}', "TAG_POLICY")
    with pytest.raises(PolicyTypeNotEnabledException):
        run(runtime, MGMT, policies.attach_policy, tag_policy.id, org.root_id)
    run(runtime, MGMT, policies.enable_policy_type, org.root_id, "TAG_POLICY")
    run(runtime, MGMT, policies.attach_policy, tag_policy.id, org.root_id)
    assert attached(runtime, org.root_id) == {"p-FullAWSAccess", tag_policy.id}
    for refused in ("DECLARATIVE_POLICY_EC2", "SECURITYHUB_POLICY"):
        with pytest.raises(PolicyTypeNotAvailableForOrganizationException):
            _create(runtime, "X", "{}", refused)
        with pytest.raises(PolicyTypeNotAvailableForOrganizationException):
            run(runtime, MGMT, policies.enable_policy_type, org.root_id, refused)


def test_consolidated_billing_has_no_policies(runtime: Runtime) -> None:
    org = new_organization(runtime, "CONSOLIDATED_BILLING")
    with pytest.raises(PolicyTypeNotAvailableForOrganizationException):
        _create(runtime, "NoS3")
    with pytest.raises(PolicyTypeNotAvailableForOrganizationException):
        run(runtime, MGMT, policies.enable_policy_type, org.root_id, SCP)


def test_attach_and_detach_rules(runtime: Runtime) -> None:
    org = new_organization(runtime)
    unit = run(runtime, MGMT, units.create_unit, org.root_id, "Prod")
    deny = _create(runtime, "NoS3")
    run(runtime, MGMT, policies.attach_policy, deny.id, unit.id)
    with pytest.raises(DuplicatePolicyAttachmentException):
        run(runtime, MGMT, policies.attach_policy, deny.id, unit.id)
    with pytest.raises(TargetNotFoundException):
        run(runtime, MGMT, policies.attach_policy, deny.id, "ou-abcd-abcdefgh")
    add_account(runtime, OUTSIDER)
    with pytest.raises(TargetNotFoundException):
        run(runtime, MGMT, policies.attach_policy, deny.id, OUTSIDER)
    with pytest.raises(PolicyNotFoundException):
        run(runtime, MGMT, policies.attach_policy, "p-abcdefghij", unit.id)
    with pytest.raises(PolicyNotAttachedException):
        run(runtime, MGMT, policies.detach_policy, deny.id, org.root_id)
    # the last SCP stays: replace FullAWSAccess by attaching first, then detaching
    with pytest.raises(ConstraintViolationException) as last:
        run(runtime, MGMT, policies.detach_policy, "p-FullAWSAccess", org.root_id)
    assert last.value.reason == "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED"
    allow = _create(runtime, "OnlyEC2", ALLOW_EC2)
    run(runtime, MGMT, policies.attach_policy, allow.id, org.root_id)
    run(runtime, MGMT, policies.detach_policy, "p-FullAWSAccess", org.root_id)
    assert attached(runtime, org.root_id) == {allow.id}
    with pytest.raises(PolicyInUseException):
        run(runtime, MGMT, policies.delete_policy, deny.id)
    targets = read(runtime, MGMT, policies.list_targets_for_policy, deny.id).items
    assert [(x.target_id, x.type, x.name) for x in targets] == [(unit.id, "ORGANIZATIONAL_UNIT", "Prod")]
    on_unit = read(runtime, MGMT, policies.list_policies_for_target, unit.id, SCP).items
    assert [p.id for p in on_unit] == sorted(["p-FullAWSAccess", deny.id])
    run(runtime, MGMT, policies.detach_policy, deny.id, unit.id)
    run(runtime, MGMT, policies.delete_policy, deny.id)


def test_at_most_five_scps_on_a_target(runtime: Runtime) -> None:
    org = new_organization(runtime)
    for n in range(4):
        run(runtime, MGMT, policies.attach_policy, _create(runtime, f"P{n}").id, org.root_id)
    sixth = _create(runtime, "P5")
    with pytest.raises(ConstraintViolationException) as many:
        run(runtime, MGMT, policies.attach_policy, sixth.id, org.root_id)
    assert many.value.reason == "MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED"
    assert len(attached(runtime, org.root_id)) == 5


def test_enabling_rcps_attaches_rcpfullawsaccess_everywhere(runtime: Runtime) -> None:
    org = new_organization(runtime)
    unit = run(runtime, MGMT, units.create_unit, org.root_id, "Prod")
    join(runtime, MEMBER)
    perimeter = _create(runtime, "Perimeter", RCP_PERIMETER, RCP)
    with pytest.raises(PolicyTypeNotEnabledException):
        run(runtime, MGMT, policies.attach_policy, perimeter.id, unit.id)
    root = run(runtime, MGMT, policies.enable_policy_type, org.root_id, RCP)
    assert root.policy_types == (RCP, SCP)
    for node in (org.root_id, unit.id, MGMT, MEMBER):
        assert attached(runtime, node) == {"p-FullAWSAccess", "p-RCPFullAWSAccess"}, node
    with pytest.raises(PolicyTypeAlreadyEnabledException):
        run(runtime, MGMT, policies.enable_policy_type, org.root_id, RCP)
    with pytest.raises(RootNotFoundException):
        run(runtime, MGMT, policies.enable_policy_type, "r-zzzz", RCP)
    run(runtime, MGMT, policies.attach_policy, perimeter.id, unit.id)
    with pytest.raises(InvalidInputException) as fixed:
        run(runtime, MGMT, policies.detach_policy, "p-RCPFullAWSAccess", unit.id)
    assert fixed.value.fields["Reason"] == "NON_DETACHABLE_POLICY"
    later = run(runtime, MGMT, units.create_unit, unit.id, "Web")  # new OUs get both defaults
    assert attached(runtime, later.id) == {"p-FullAWSAccess", "p-RCPFullAWSAccess"}
    root = run(runtime, MGMT, policies.disable_policy_type, org.root_id, RCP)
    assert root.policy_types == (SCP,)
    for node in (org.root_id, unit.id, later.id, MGMT, MEMBER):
        assert attached(runtime, node) == {"p-FullAWSAccess"}, node
    with pytest.raises(PolicyTypeNotEnabledException):
        run(runtime, MGMT, policies.disable_policy_type, org.root_id, RCP)


def test_disable_and_enable_scps_again(runtime: Runtime) -> None:
    org = new_organization(runtime)
    join(runtime, MEMBER)
    deny = _create(runtime, "NoS3")
    run(runtime, MGMT, policies.attach_policy, deny.id, MEMBER)
    run(runtime, MGMT, policies.disable_policy_type, org.root_id, SCP)
    assert attached(runtime, MEMBER) == set() and attached(runtime, org.root_id) == set()
    assert read(runtime, MGMT, organization.list_roots)[0].policy_types == ()
    run(runtime, MGMT, policies.enable_policy_type, org.root_id, SCP)
    assert attached(runtime, MEMBER) == {"p-FullAWSAccess"}  # the defaults, not what was attached before
