"""What the organizations domain returns: plain frozen records read from the store.

``iamd.orgs.views`` turns them into the dictionaries botocore's ``organizations`` model describes
(ARNs built for the deployment's partition).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    management_account_id: str
    feature_set: str
    """``ALL`` or ``CONSOLIDATED_BILLING``."""
    root_id: str
    management_email: str | None
    management_name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Root:
    id: str
    organization_id: str
    name: str
    policy_types: tuple[str, ...]
    """The policy types enabled in the root, sorted."""


@dataclass(frozen=True, slots=True)
class Unit:
    id: str
    organization_id: str
    parent_id: str
    name: str
    path: str
    """``o-…/r-…/ou-…/`` down to and including this OU (the model's ``OrganizationalUnit.Path``)."""
    depth: int


@dataclass(frozen=True, slots=True)
class Member:
    account_id: str
    organization_id: str
    parent_id: str
    name: str
    email: str | None
    joined_method: str
    """``INVITED`` or ``CREATED``."""
    joined_at: float
    state: str
    path: str
    """The parent's path followed by the account id (the model's ``Account.Paths`` entry)."""


@dataclass(frozen=True, slots=True)
class Handshake:
    id: str
    organization_id: str
    action: str
    state: str
    target_type: str
    """``ACCOUNT`` or ``EMAIL``."""
    target_id: str
    target_account_id: str | None
    notes: str | None
    requested_at: float
    expires_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class CreateAccountRequest:
    id: str
    organization_id: str
    account_name: str
    email: str
    state: str
    """``IN_PROGRESS``, ``SUCCEEDED`` or ``FAILED``."""
    requested_at: float
    completed_at: float | None
    account_id: str | None
    failure_reason: str | None


@dataclass(frozen=True, slots=True)
class OrgPolicy:
    id: str
    type: str
    name: str
    description: str
    content: str
    aws_managed: bool
    organization_id: str | None = None
    """None for AWS managed policies (they belong to every organization)."""


@dataclass(frozen=True, slots=True)
class PolicyTarget:
    target_id: str
    type: str
    """``ROOT``, ``ORGANIZATIONAL_UNIT`` or ``ACCOUNT``."""
    name: str


@dataclass(frozen=True, slots=True)
class DelegatedAdministrator:
    member: Member
    service_principal: str
    enabled_at: float


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; ``after`` is the key to pass for the next page (None: this was the last)."""

    items: Sequence[T] = field(default_factory=tuple)
    after: str | None = None
