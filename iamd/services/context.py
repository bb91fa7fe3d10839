"""What a handler gets: the caller, its transaction, and the few node capabilities it may use.

Handlers never see the Runtime: an :class:`OperationContext` carries the request (caller,
transaction, region, request id, source IP) and :class:`NodeServices`, the narrow set of the
node's long-lived objects an operation may use (clock, secret box, token issuer, usage recorder,
the identity, quota and MFA settings, and transactions of its own).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import Connection

from iamd.auth.session_tokens import SessionClaims
from iamd.core.clock import Clock
from iamd.core.config import IdentitySettings, MfaSettings
from iamd.core.crypto import SecretBox
from iamd.core.principal import Principal
from iamd.core.quotas import QuotaSettings

if TYPE_CHECKING:
    from iamd.services.authz import Authorizer
    from iamd.services.registry import Operation

ContextValues = Mapping[str, str | Sequence[str]]


class UsageRecorder(Protocol):
    def record_role(self, role_id: str, when: float, region: str) -> None: ...


@dataclass(frozen=True, slots=True)
class NodeServices:
    """The node capabilities handlers may use (built once by the Runtime)."""

    clock: Clock
    box: SecretBox
    identity: IdentitySettings
    quotas: QuotaSettings
    mfa: MfaSettings
    seal_token: Callable[[SessionClaims], str]
    """Seals session claims into a session token with the primary token key."""
    usage: UsageRecorder
    side_transaction: Callable[[], AbstractContextManager[Connection]]
    """A write transaction of its own that does not bump the cache generation (bookkeeping that
    must survive the request's rollback: MFA code use, sign-in throttling)."""
    write_transaction: Callable[[], AbstractContextManager[Connection]]
    """A write transaction of its own that bumps the generation and clears this node's caches
    when it commits (operations that must commit part of their work even when they then fail)."""
    authorizer: Authorizer


@dataclass(slots=True)
class OperationContext:
    caller: Principal
    conn: Connection
    services: NodeServices
    request_id: str
    region: str
    source_ip: str = ""
    operation: Operation | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    """The operation's parsed input (what the declared authorization reads)."""
    request_context: ContextValues = field(default_factory=dict)
    """Global condition keys from the HTTP request (aws:SourceIp, aws:SecureTransport, ...)."""
    authorized: bool = False
    """Set once the declared authorization has run (``authorization="handler"`` operations)."""

    @property
    def account_id(self) -> str:
        return self.caller.account_id

    @property
    def partition(self) -> str:
        return self.services.identity.partition

    @property
    def clock(self) -> Clock:
        return self.services.clock

    @property
    def box(self) -> SecretBox:
        return self.services.box

    @property
    def identity(self) -> IdentitySettings:
        return self.services.identity

    @property
    def quotas(self) -> QuotaSettings:
        return self.services.quotas

    @property
    def mfa_settings(self) -> MfaSettings:
        return self.services.mfa

    def now(self) -> float:
        return self.services.clock.time()

    def seal_token(self, claims: SessionClaims) -> str:
        return self.services.seal_token(claims)

    def record_role_used(self, role_id: str, when: float) -> None:
        self.services.usage.record_role(role_id, when, self.region)

    def side_transaction(self) -> AbstractContextManager[Connection]:
        return self.services.side_transaction()

    def write_transaction(self) -> AbstractContextManager[Connection]:
        return self.services.write_transaction()

    def authorize(self, established: ContextValues | None = None) -> None:
        """Run this operation's declared authorization now (``authorization="handler"``).

        ``established`` holds condition keys the handler established from the request (the MFA
        code it verified); they join the declared request keys.
        """
        if self.operation is None:
            raise RuntimeError("authorize() outside a dispatched operation")
        self.services.authorizer.authorize_operation(
            self.conn, self.operation, self.caller, self.params, self.request_context, established
        )
        self.authorized = True


RequestContext = OperationContext
"""Deprecated name, kept while branches written against it are merged."""
