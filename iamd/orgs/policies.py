"""Organization policies: create, update, delete, describe, list; attach and detach; enable and
disable policy types in the root.

Rules (Organizations API reference and quotas):

* Policies need all features (``FeatureSet`` ``ALL``); otherwise, and for the types iamd does not
  know, ``PolicyTypeNotAvailableForOrganizationException``.
* Content: at most the type's size in characters, whitespace included
  (``ConstraintViolationException`` ``POLICY_CONTENT_LIMIT_EXCEEDED``); SCPs and RCPs follow the
  policy grammar in their mode (``"Statement": []`` is an SCP that allows nothing); customer RCPs may
  only deny ("The effect of Allow is only supported for the RCPFullAWSAccess policy") and need
  ``"Version": "2012-10-17"`` ("Every RCP must include a Version element"); anything else is
  ``MalformedPolicyDocumentException``.  Other types must be JSON objects.
* At most 10,000 SCPs and 1,000 policies of each other type (``POLICY_NUMBER_LIMIT_EXCEEDED``); names
  unique per type (``DuplicatePolicyException``).
* AWS managed policies cannot be changed or deleted (``InvalidInputException`` ``IMMUTABLE_POLICY``);
  a policy attached anywhere cannot be deleted (``PolicyInUseException``).
* Attach: the type must be enabled in the root (``PolicyTypeNotEnabledException``); at most five
  SCPs (RCPs) per root, OU or account (``MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED``); twice is
  ``DuplicatePolicyAttachmentException``.
* Detach: "Every root, OU, and account must have at least one SCP attached" while SCPs are enabled
  (``ConstraintViolationException`` ``MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED``);
  ``RCPFullAWSAccess`` cannot be detached (``InvalidInputException`` ``NON_DETACHABLE_POLICY``); a
  policy not attached there is ``PolicyNotAttachedException``.
* Enabling SCPs (RCPs) attaches ``FullAWSAccess`` (``RCPFullAWSAccess``) to the root, every OU and
  every account; disabling a type detaches every policy of that type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Row

from iamd.core.errors import (
    ConstraintViolationException,
    DuplicatePolicyAttachmentException,
    DuplicatePolicyException,
    InvalidInputException,
    MalformedPolicyDocument,
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
from iamd.orgs import ids
from iamd.orgs.core import (
    DEFAULT_PAGE,
    OrgCall,
    enabled_types,
    node_exists,
    require_management,
    require_reader,
)
from iamd.orgs.model import Organization, OrgPolicy, Page, PolicyTarget, Root
from iamd.orgs.organization import root_of
from iamd.orgs.policy_types import AWS_MANAGED, RCP, SPECS, PolicyTypeSpec
from iamd.orgs.tags import put_tags
from iamd.policy.grammar import VERSION_2012, load_json, parse_policy
from iamd.store import tables as t

T = TypeVar("T")


# --- content -----------------------------------------------------------------------------------------


def _available(org: Organization, policy_type: str) -> PolicyTypeSpec:
    spec = SPECS.get(policy_type)
    if spec is None:
        raise PolicyTypeNotAvailableForOrganizationException(
            f"iamd does not support the policy type {policy_type}: it supports {', '.join(sorted(SPECS))}."
        )
    if org.feature_set != "ALL":
        raise PolicyTypeNotAvailableForOrganizationException(
            "You can't use the specified policy type with the feature set currently enabled for this "
            "organization: policies need all features enabled."
        )
    return spec


def _malformed(detail: str) -> MalformedPolicyDocumentException:
    return MalformedPolicyDocumentException(
        f"The provided policy document doesn't meet the requirements of the specified policy type: {detail}"
    )


def check_content(spec: PolicyTypeSpec, content: str) -> None:
    """Raise AWS's error for content a policy of ``spec``'s type cannot hold."""
    if len(content) > spec.max_size:
        raise ConstraintViolationException(
            f"You attempted to create a policy that is larger than the maximum size ({spec.max_size} characters "
            f"for {spec.name}).",
            reason="POLICY_CONTENT_LIMIT_EXCEEDED",
        )
    try:
        document = load_json(content)
        if not isinstance(document, dict):
            raise _malformed("the document must be a JSON object.")
        if spec.kind is None:
            return
        policy = parse_policy(document, spec.kind)
    except MalformedPolicyDocument as exc:
        raise _malformed(exc.message) from exc
    if spec.name == RCP:
        if policy.version != VERSION_2012:
            raise _malformed(f'an RCP must have "Version": "{VERSION_2012}".')
        if any(statement.allow for statement in policy.statements):
            raise _malformed('the effect "Allow" is only supported in the RCPFullAWSAccess policy; RCPs deny.')


# --- reading -----------------------------------------------------------------------------------------


def _customer(row: Row[Any]) -> OrgPolicy:
    return OrgPolicy(row.id, row.type, row.name, row.description, row.content, False, row.organization_id)


def _managed(policy_id: str) -> OrgPolicy | None:
    managed = AWS_MANAGED.get(policy_id)
    if managed is None:
        return None
    return OrgPolicy(managed.id, managed.type, managed.name, managed.description, managed.content, True)


def find_policy(call: OrgCall, org: Organization, policy_id: str) -> OrgPolicy | None:
    managed = _managed(policy_id)
    if managed is not None:
        return managed
    p = t.org_policies
    row = call.conn.execute(sa.select(p).where(p.c.id == policy_id, p.c.organization_id == org.id)).first()
    return _customer(row) if row is not None else None


def _require_policy(call: OrgCall, org: Organization, policy_id: str) -> OrgPolicy:
    policy = find_policy(call, org, policy_id)
    if policy is None:
        raise PolicyNotFoundException()
    return policy


def _require_customer(call: OrgCall, org: Organization, policy_id: str) -> OrgPolicy:
    policy = _require_policy(call, org, policy_id)
    if policy.aws_managed:
        raise InvalidInputException(
            "You specified a policy that is managed by AWS and can't be modified.", Reason="IMMUTABLE_POLICY"
        )
    return policy


def _page_of(items: Sequence[T], key: Callable[[T], str], after: str | None, limit: int | None) -> Page[T]:
    ordered = sorted((item for item in items if after is None or key(item) > after), key=key)
    size = limit or DEFAULT_PAGE
    return Page(tuple(ordered[:size]), key(ordered[size - 1]) if len(ordered) > size else None)


def describe_policy(call: OrgCall, policy_id: str) -> OrgPolicy:
    org = require_reader(call)
    return _require_policy(call, org, policy_id)


def list_policies(
    call: OrgCall, policy_type: str, after: str | None = None, limit: int | None = None
) -> Page[OrgPolicy]:
    """ListPolicies (``Filter``): the AWS managed policies of the type and the organization's own."""
    org = require_reader(call)
    p = t.org_policies
    size = limit or DEFAULT_PAGE
    query = sa.select(p).where(p.c.organization_id == org.id, p.c.type == policy_type)
    if after is not None:
        query = query.where(p.c.id > after)
    customers = [_customer(row) for row in call.conn.execute(query.order_by(p.c.id).limit(size + 1))]
    managed = [policy for pid in AWS_MANAGED if (policy := _managed(pid)) is not None and policy.type == policy_type]
    return _page_of(managed + customers, lambda policy: policy.id, after, limit)


# --- writing -----------------------------------------------------------------------------------------


def _name_taken(call: OrgCall, org: Organization, policy_type: str, name: str, except_id: str | None = None) -> bool:
    p = t.org_policies
    query = sa.select(p.c.id).where(p.c.organization_id == org.id, p.c.type == policy_type, p.c.name == name)
    if except_id is not None:
        query = query.where(p.c.id != except_id)
    return call.conn.execute(query).first() is not None or any(
        m.type == policy_type and m.name == name for m in AWS_MANAGED.values()
    )


def create_policy(
    call: OrgCall,
    *,
    content: str,
    description: str,
    name: str,
    policy_type: str,
    tags: Sequence[Mapping[str, str]] = (),
) -> OrgPolicy:
    org = require_management(call)
    spec = _available(org, policy_type)
    check_content(spec, content)
    p = t.org_policies
    count = call.conn.execute(
        sa.select(sa.func.count()).select_from(p).where(p.c.organization_id == org.id, p.c.type == policy_type)
    ).scalar_one()
    if count >= call.quotas.policies_of(policy_type):
        raise ConstraintViolationException(
            "You attempted to exceed the number of policies that you can have in an organization.",
            reason="POLICY_NUMBER_LIMIT_EXCEEDED",
        )
    if _name_taken(call, org, policy_type, name):
        raise DuplicatePolicyException()
    policy_id = ids.new_policy_id()
    while call.conn.execute(sa.select(p.c.id).where(p.c.id == policy_id)).first():
        policy_id = ids.new_policy_id()
    call.conn.execute(
        p.insert().values(
            id=policy_id,
            organization_id=org.id,
            type=policy_type,
            name=name,
            description=description,
            content=content,
            created_at=call.now,
            updated_at=call.now,
        )
    )
    put_tags(call, org, policy_id, tags)
    return _require_policy(call, org, policy_id)


def update_policy(
    call: OrgCall,
    policy_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
    content: str | None = None,
) -> OrgPolicy:
    """UpdatePolicy: what is not given stays; the type never changes."""
    org = require_management(call)
    policy = _require_customer(call, org, policy_id)
    values: dict[str, str | float] = {}
    if content is not None:
        check_content(_available(org, policy.type), content)
        values["content"] = content
    if name is not None and name != policy.name:
        if _name_taken(call, org, policy.type, name, except_id=policy.id):
            raise DuplicatePolicyException()
        values["name"] = name
    if description is not None:
        values["description"] = description
    if values:
        values["updated_at"] = call.now
        call.conn.execute(t.org_policies.update().where(t.org_policies.c.id == policy.id).values(**values))
    return _require_policy(call, org, policy_id)


def delete_policy(call: OrgCall, policy_id: str) -> None:
    org = require_management(call)
    policy = _require_customer(call, org, policy_id)
    pa, tg = t.org_policy_attachments, t.org_tags
    if call.conn.execute(sa.select(pa.c.target_id).where(pa.c.policy_id == policy.id).limit(1)).first():
        raise PolicyInUseException()
    call.conn.execute(tg.delete().where(tg.c.resource_id == policy.id))
    call.conn.execute(t.org_policies.delete().where(t.org_policies.c.id == policy.id))


# --- attachments -------------------------------------------------------------------------------------


def _require_target(call: OrgCall, org: Organization, target_id: str) -> None:
    if not node_exists(call, org, target_id):
        raise TargetNotFoundException()


def _attached_count(call: OrgCall, org: Organization, target_id: str, policy_type: str) -> int:
    pa = t.org_policy_attachments
    count = call.conn.execute(
        sa.select(sa.func.count())
        .select_from(pa)
        .where(pa.c.organization_id == org.id, pa.c.target_id == target_id, pa.c.policy_type == policy_type)
    ).scalar_one()
    return int(count)


def _is_attached(call: OrgCall, org: Organization, policy_id: str, target_id: str) -> bool:
    pa = t.org_policy_attachments
    row = call.conn.execute(
        sa.select(pa.c.policy_id).where(
            pa.c.organization_id == org.id, pa.c.policy_id == policy_id, pa.c.target_id == target_id
        )
    ).first()
    return row is not None


def attach_policy(call: OrgCall, policy_id: str, target_id: str) -> None:
    org = require_management(call)
    policy = _require_policy(call, org, policy_id)
    _require_target(call, org, target_id)
    if policy.type not in enabled_types(call.conn, org.root_id):
        raise PolicyTypeNotEnabledException()
    if _is_attached(call, org, policy.id, target_id):
        raise DuplicatePolicyAttachmentException()
    if _attached_count(call, org, target_id, policy.type) >= SPECS[policy.type].max_attached:
        raise ConstraintViolationException(
            "You attempted to exceed the number of policies of a certain type that can be attached to an entity "
            f"at one time ({SPECS[policy.type].max_attached} of type {policy.type}).",
            reason="MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
        )
    call.conn.execute(
        t.org_policy_attachments.insert().values(
            policy_id=policy.id, target_id=target_id, organization_id=org.id, policy_type=policy.type
        )
    )


def detach_policy(call: OrgCall, policy_id: str, target_id: str) -> None:
    org = require_management(call)
    policy = _require_policy(call, org, policy_id)
    _require_target(call, org, target_id)
    if not _is_attached(call, org, policy.id, target_id):
        raise PolicyNotAttachedException()
    managed = AWS_MANAGED.get(policy.id)
    if managed is not None and not managed.detachable:
        raise InvalidInputException(
            f"You can't detach this AWS Managed Policy ({managed.name}).", Reason="NON_DETACHABLE_POLICY"
        )
    if _attached_count(call, org, target_id, policy.type) <= SPECS[policy.type].min_attached:
        raise ConstraintViolationException(
            "You attempted to detach a policy from an entity that would cause the entity to have fewer than the "
            f"minimum number of policies of type {policy.type}: every root, OU and account must keep at least "
            f"{SPECS[policy.type].min_attached}. Attach the replacement policy first.",
            reason="MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
        )
    pa = t.org_policy_attachments
    call.conn.execute(pa.delete().where(pa.c.policy_id == policy.id, pa.c.target_id == target_id))


def _target_names(call: OrgCall, org: Organization) -> dict[str, PolicyTarget]:
    """Every root, OU and account of ``org`` as a policy target."""
    root_name = call.conn.execute(sa.select(t.org_roots.c.name).where(t.org_roots.c.id == org.root_id)).scalar_one()
    targets = {org.root_id: PolicyTarget(org.root_id, ids.ROOT, root_name)}
    u, m, a = t.org_units, t.org_accounts, t.accounts
    for row in call.conn.execute(sa.select(u.c.id, u.c.name).where(u.c.organization_id == org.id)):
        targets[row.id] = PolicyTarget(row.id, ids.ORGANIZATIONAL_UNIT, row.name)
    members = call.conn.execute(
        sa.select(m.c.account_id, a.c.name)
        .select_from(m.join(a, a.c.id == m.c.account_id))
        .where(m.c.organization_id == org.id)
    )
    for row in members:
        targets[row.account_id] = PolicyTarget(row.account_id, ids.ACCOUNT, row.name)
    return targets


def list_targets_for_policy(
    call: OrgCall, policy_id: str, after: str | None = None, limit: int | None = None
) -> Page[PolicyTarget]:
    org = require_reader(call)
    policy = _require_policy(call, org, policy_id)
    pa = t.org_policy_attachments
    attached = call.conn.execute(
        sa.select(pa.c.target_id).where(pa.c.organization_id == org.id, pa.c.policy_id == policy.id)
    ).scalars()
    names = _target_names(call, org)
    targets = [names[target] for target in attached if target in names]
    return _page_of(targets, lambda target: target.target_id, after, limit)


def list_policies_for_target(
    call: OrgCall, target_id: str, policy_type: str, after: str | None = None, limit: int | None = None
) -> Page[OrgPolicy]:
    org = require_reader(call)
    _require_target(call, org, target_id)
    pa = t.org_policy_attachments
    attached = call.conn.execute(
        sa.select(pa.c.policy_id).where(
            pa.c.organization_id == org.id, pa.c.target_id == target_id, pa.c.policy_type == policy_type
        )
    ).scalars()
    policies = [policy for pid in attached if (policy := find_policy(call, org, pid)) is not None]
    return _page_of(policies, lambda policy: policy.id, after, limit)


# --- policy types ------------------------------------------------------------------------------------


def _require_root(org: Organization, root_id: str) -> None:
    if root_id != org.root_id:
        raise RootNotFoundException()


def enable_policy_type(call: OrgCall, root_id: str, policy_type: str) -> Root:
    org = require_management(call)
    _require_root(org, root_id)
    spec = _available(org, policy_type)
    if policy_type in enabled_types(call.conn, org.root_id):
        raise PolicyTypeAlreadyEnabledException()
    call.conn.execute(t.org_policy_types.insert().values(root_id=root_id, policy_type=policy_type, status="ENABLED"))
    if spec.default_policy is not None:
        for target in _target_names(call, org):
            call.conn.execute(
                t.org_policy_attachments.insert().values(
                    policy_id=spec.default_policy, target_id=target, organization_id=org.id, policy_type=policy_type
                )
            )
    return root_of(call, org)


def disable_policy_type(call: OrgCall, root_id: str, policy_type: str) -> Root:
    org = require_management(call)
    _require_root(org, root_id)
    if policy_type not in enabled_types(call.conn, org.root_id):
        raise PolicyTypeNotEnabledException()
    pt, pa = t.org_policy_types, t.org_policy_attachments
    call.conn.execute(pt.delete().where(pt.c.root_id == root_id, pt.c.policy_type == policy_type))
    call.conn.execute(pa.delete().where(pa.c.organization_id == org.id, pa.c.policy_type == policy_type))
    return root_of(call, org)
