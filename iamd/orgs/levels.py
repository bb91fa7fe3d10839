"""What every decision needs from Organizations, read once per account per cache generation.

For an account: its organization, its path (``o-…/r-…/ou-…/``, the value of ``aws:PrincipalOrgPaths``
and ``aws:ResourceOrgPaths``: the path of the account's parent, as in AWS's examples), whether it
is the management account, and the SCP and RCP levels from the root through each OU down to the
account, each level the policies attached there compiled (policy ids name them in decisions).  A
type not enabled in the root gives no levels: nothing to enforce.

How the levels enter a request (``organization_inputs`` / ``with_organization``):

* SCP levels are the *principal's* account's; they limit IAM users, roles and the root user of
  member accounts, not the management account ("SCPs don't affect users or roles in the management
  account") nor service-linked roles (the engine applies both exemptions).
* RCP levels are the *resource owner's* account's ("an applicable RCP is an RCP that has been
  attached to an account, to an OU, or to the root of the organization that owns the resource");
  resources of the management account are exempt, and so are service-linked roles (the engine), as
  are actions of services RCPs do not support (the engine).
* Condition keys: ``aws:PrincipalOrgID``, ``aws:PrincipalOrgPaths``, ``aws:PrincipalAccount`` for a
  principal whose account is in an organization; ``aws:ResourceOrgID``, ``aws:ResourceOrgPaths``,
  ``aws:ResourceAccount`` for a resource whose account is.

``OrgStandingCache`` keeps one ``OrgStanding`` (or the fact that there is none) per account and is
cleared by the generation watcher like the principal-policy caches, so a decision reads nothing
from the database unless the account's standing is not cached yet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from types import MappingProxyType

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.core.errors import MalformedPolicyDocument
from iamd.orgs.policy_types import AWS_MANAGED, RCP, SCP, SPECS
from iamd.policy.compile import CompiledPolicy, compile_policy
from iamd.policy.grammar import PolicyKind
from iamd.policy.model import EvaluationRequest
from iamd.store import tables as t
from iamd.store.cache import LoadingCache
from iamd.store.db import Database

Levels = tuple[tuple[CompiledPolicy, ...], ...]
ContextValues = Mapping[str, str | Sequence[str]]

_UNREADABLE = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*", "Principal": "*"}]}
)
"""Stands in for a stored policy that no longer compiles: a guardrail that cannot be read denies."""


@dataclass(frozen=True)
class OrgStanding:
    account_id: str
    organization_id: str
    management_account_id: str
    path: str
    """``o-…/r-…/`` or ``o-…/r-…/ou-…/…/``: where the account sits (its parent's path)."""
    scp_levels: Levels = ()
    rcp_levels: Levels = ()

    @property
    def is_management(self) -> bool:
        return self.account_id == self.management_account_id

    @cached_property
    def principal_keys(self) -> Mapping[str, str | Sequence[str]]:
        """``aws:PrincipalOrgID``, ``aws:PrincipalOrgPaths``, ``aws:PrincipalAccount`` (read-only)."""
        return MappingProxyType(
            {
                "aws:PrincipalOrgID": self.organization_id,
                "aws:PrincipalOrgPaths": (self.path,),
                "aws:PrincipalAccount": self.account_id,
            }
        )

    @cached_property
    def resource_keys(self) -> Mapping[str, str | Sequence[str]]:
        """``aws:ResourceOrgID``, ``aws:ResourceOrgPaths``, ``aws:ResourceAccount`` (read-only)."""
        return MappingProxyType(
            {
                "aws:ResourceOrgID": self.organization_id,
                "aws:ResourceOrgPaths": (self.path,),
                "aws:ResourceAccount": self.account_id,
            }
        )

    @cached_property
    def own_inputs(self) -> OrgInputs:
        """What a request by a principal of this account on a resource of this account gets (the
        common case, built once per cached standing)."""
        return _inputs(self, self)


def _compile(policy_id: str, content: str, kind: PolicyKind) -> CompiledPolicy:
    try:
        return compile_policy(content, policy_id=policy_id, kind=kind)
    except MalformedPolicyDocument as exc:
        return compile_policy(_UNREADABLE, policy_id=f"{policy_id} (unreadable: {exc.message})", kind=PolicyKind.RCP)


def load_standing(conn: Connection, account_id: str) -> OrgStanding | None:
    """The account's standing, or None when it belongs to no organization (a few small queries)."""
    m, o, r, u = t.org_accounts, t.organizations, t.org_roots, t.org_units
    row = conn.execute(
        sa.select(m.c.parent_id, o.c.id, o.c.management_account_id, r.c.id.label("root_id"), u.c.path)
        .select_from(
            m.join(o, o.c.id == m.c.organization_id)
            .join(r, r.c.organization_id == o.c.id)
            .outerjoin(u, u.c.id == m.c.parent_id)
        )
        .where(m.c.account_id == account_id)
    ).first()
    if row is None:
        return None
    path = row.path or f"{row.id}/{row.root_id}/"
    pt = t.org_policy_types
    enabled = set(
        conn.execute(
            sa.select(pt.c.policy_type).where(
                pt.c.root_id == row.root_id, pt.c.status == "ENABLED", pt.c.policy_type.in_((SCP, RCP))
            )
        ).scalars()
    )
    if not enabled:
        return OrgStanding(account_id, row.id, row.management_account_id, path)
    nodes = [*path.strip("/").split("/")[1:], account_id]  # root, OUs from the top, the account
    pa, p = t.org_policy_attachments, t.org_policies
    attached = conn.execute(
        sa.select(pa.c.target_id, pa.c.policy_id, pa.c.policy_type, p.c.content)
        .select_from(pa.outerjoin(p, p.c.id == pa.c.policy_id))
        .where(pa.c.organization_id == row.id, pa.c.target_id.in_(nodes), pa.c.policy_type.in_(tuple(enabled)))
        .order_by(pa.c.policy_id)
    ).all()
    by_level: dict[tuple[str, str], list[CompiledPolicy]] = {}
    for item in attached:
        managed = AWS_MANAGED.get(item.policy_id)
        content = managed.content if managed is not None else item.content
        if content is None:
            continue
        kind = SPECS[item.policy_type].kind
        assert kind is not None
        by_level.setdefault((item.policy_type, item.target_id), []).append(_compile(item.policy_id, content, kind))

    def levels(policy_type: str) -> Levels:
        if policy_type not in enabled:
            return ()
        return tuple(tuple(by_level.get((policy_type, node), ())) for node in nodes)

    return OrgStanding(account_id, row.id, row.management_account_id, path, levels(SCP), levels(RCP))


_NONE = OrgStanding("", "", "", "")
"""Cached for accounts outside any organization."""


class OrgStandingCache:
    """Standings by account id, per cache generation (``GenerationWatcher.subscribe(cache.clear)``)."""

    def __init__(self, db: Database, max_entries: int = 50_000) -> None:
        self._db = db
        self._cache: LoadingCache[str, OrgStanding] = LoadingCache(max_entries)

    def clear(self) -> None:
        self._cache.clear()

    def standing(self, account_id: str) -> OrgStanding | None:
        hit = self._cache.get(account_id, lambda: self._load(account_id))
        return hit if hit is not _NONE else None

    def _load(self, account_id: str) -> OrgStanding:
        with self._db.read() as conn:
            return load_standing(conn, account_id) or _NONE


@dataclass(frozen=True, slots=True)
class OrgInputs:
    """What Organizations adds to one request."""

    context: Mapping[str, str | Sequence[str]]
    service_control_policies: Levels
    resource_control_policies: Levels
    in_management_account: bool
    resource_in_management_account: bool


NO_ORGANIZATION = OrgInputs({}, (), (), False, False)


def organization_inputs(principal: OrgStanding | None, resource: OrgStanding | None) -> OrgInputs:
    """The SCPs of the principal's account, the RCPs of the resource's account, and the condition
    keys of both.  ``principal`` is None for callers without an account of their own in an
    organization (service principals, anonymous callers, accounts outside any organization)."""
    if principal is None and resource is None:
        return NO_ORGANIZATION
    if principal is resource and principal is not None:
        return principal.own_inputs
    return _inputs(principal, resource)


def _inputs(principal: OrgStanding | None, resource: OrgStanding | None) -> OrgInputs:
    context: dict[str, str | Sequence[str]] = {}
    if principal is not None:
        context.update(principal.principal_keys)
    if resource is not None:
        context.update(resource.resource_keys)
    return OrgInputs(
        context,
        principal.scp_levels if principal is not None else (),
        resource.rcp_levels if resource is not None else (),
        principal.is_management if principal is not None else False,
        resource.is_management if resource is not None else False,
    )


def with_organization(request: EvaluationRequest, inputs: OrgInputs) -> EvaluationRequest:
    """``request`` with the organization's levels, exemptions and condition keys (the keys set by
    iamd win over any of the same name in the request).  The authorizer, which builds a request
    per call anyway, passes these fields when it builds it instead (``dataclasses.replace`` costs
    about as much as building the request again)."""
    if inputs is NO_ORGANIZATION:
        return request
    principal = request.principal
    if principal.in_management_account != inputs.in_management_account:
        principal = replace(principal, in_management_account=inputs.in_management_account)
    return replace(
        request,
        principal=principal,
        context={**request.context, **inputs.context},
        service_control_policies=inputs.service_control_policies,
        resource_control_policies=inputs.resource_control_policies,
        resource_in_management_account=inputs.resource_in_management_account,
    )
