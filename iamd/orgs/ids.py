"""Organizations' identifiers and ARNs, shaped as AWS shapes them (botocore's ``organizations`` model
patterns: ``OrganizationId``, ``RootId``, ``OrganizationalUnitId``, ``PolicyId``, ``HandshakeId``,
``CreateAccountRequestId`` and the ``*Arn`` shapes).

The generated ids use the shortest lengths AWS uses (``o-`` + 10, ``r-`` + 4, ``ou-<root>-`` + 8,
``h-`` + 10, ``car-`` + 32) except policies: ``p-`` + 10, the least that both ``PolicyId`` (8 to 128)
and the customer-policy ``PolicyArn`` pattern (10 to 32) accept.
"""

from __future__ import annotations

import re
import secrets

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"

ORGANIZATION_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
ROOT_ID = re.compile(r"^r-[0-9a-z]{4,32}$")
UNIT_ID = re.compile(r"^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
POLICY_ID = re.compile(r"^p-[0-9a-zA-Z_]{8,128}$")
HANDSHAKE_ID = re.compile(r"^h-[0-9a-z]{8,32}$")
CREATE_ACCOUNT_REQUEST_ID = re.compile(r"^car-[a-z0-9]{8,32}$")

ROOT = "ROOT"
ORGANIZATIONAL_UNIT = "ORGANIZATIONAL_UNIT"
ACCOUNT = "ACCOUNT"


def _random(count: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(count))


def new_organization_id() -> str:
    return "o-" + _random(10)


def new_root_id() -> str:
    return "r-" + _random(4)


def new_unit_id(root_id: str) -> str:
    """An OU id carries its root's id: ``ou-ab12-cd34ef56`` under ``r-ab12``."""
    return f"ou-{root_id[2:]}-{_random(8)}"


def new_policy_id() -> str:
    return "p-" + _random(10)


def new_handshake_id() -> str:
    return "h-" + _random(10)


def new_create_account_request_id() -> str:
    return "car-" + _random(32)


def node_kind(node_id: str) -> str | None:
    """``ROOT``, ``ORGANIZATIONAL_UNIT`` or ``ACCOUNT`` for a well-formed node id, else None."""
    if ROOT_ID.match(node_id):
        return ROOT
    if UNIT_ID.match(node_id):
        return ORGANIZATIONAL_UNIT
    if ACCOUNT_ID.match(node_id):
        return ACCOUNT
    return None


# --- ARNs -------------------------------------------------------------------------------------------


def _arn(partition: str, owner: str, resource: str) -> str:
    return f"arn:{partition}:organizations::{owner}:{resource}"


def organization_arn(partition: str, management_account: str, organization_id: str) -> str:
    return _arn(partition, management_account, f"organization/{organization_id}")


def root_arn(partition: str, management_account: str, organization_id: str, root_id: str) -> str:
    return _arn(partition, management_account, f"root/{organization_id}/{root_id}")


def unit_arn(partition: str, management_account: str, organization_id: str, unit_id: str) -> str:
    return _arn(partition, management_account, f"ou/{organization_id}/{unit_id}")


def account_arn(partition: str, management_account: str, organization_id: str, account_id: str) -> str:
    return _arn(partition, management_account, f"account/{organization_id}/{account_id}")


def policy_arn(partition: str, management_account: str, organization_id: str, policy_type: str, policy_id: str) -> str:
    """A customer policy: ``…::MGMT:policy/o-…/service_control_policy/p-…``."""
    return _arn(partition, management_account, f"policy/{organization_id}/{policy_type.lower()}/{policy_id}")


def aws_managed_policy_arn(partition: str, policy_type: str, policy_id: str) -> str:
    """An AWS managed policy: ``arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess``."""
    return _arn(partition, "aws", f"policy/{policy_type.lower()}/{policy_id}")


def handshake_arn(partition: str, management_account: str, organization_id: str, action: str, handshake_id: str) -> str:
    return _arn(partition, management_account, f"handshake/{organization_id}/{action.lower()}/{handshake_id}")


def node_arn(partition: str, management_account: str, organization_id: str, node_id: str) -> str:
    """The ARN of a root, an OU or a member account by its id."""
    kind = node_kind(node_id)
    if kind == ROOT:
        return root_arn(partition, management_account, organization_id, node_id)
    if kind == ORGANIZATIONAL_UNIT:
        return unit_arn(partition, management_account, organization_id, node_id)
    if kind == ACCOUNT:
        return account_arn(partition, management_account, organization_id, node_id)
    raise ValueError(f"not a root, OU or account id: {node_id!r}")
