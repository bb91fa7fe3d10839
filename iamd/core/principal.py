"""Who is calling: the resolved identity behind a set of credentials."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class PrincipalKind(enum.Enum):
    ROOT = "root"
    USER = "user"
    ASSUMED_ROLE = "assumed-role"
    FEDERATED_USER = "federated-user"
    SERVICE = "service"
    """A registered service acting for customers (``iamd services register``): no account; its ARN is
    its service principal name."""


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    account_id: str
    arn: str
    user_id: str
    """AWS's ``aws:userid``: the account id for root, AIDA… for users, AROA…:session for role sessions."""
    name: str
    """User name, role name, or federated user name; the account id for root."""
    access_key_id: str
    entity_id: str | None = None
    """Database id of the IAM user or role behind the principal (None for root)."""
    session_name: str | None = None
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    @property
    def is_root(self) -> bool:
        return self.kind is PrincipalKind.ROOT
