"""What a handler gets: the caller, its transaction, and the node's shared objects."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from iamd.core.clock import Clock
from iamd.core.config import Settings
from iamd.core.crypto import SecretBox
from iamd.core.principal import Principal

if TYPE_CHECKING:
    from iamd.services.runtime import Runtime


@dataclass(slots=True)
class RequestContext:
    caller: Principal
    conn: Connection
    runtime: Runtime
    request_id: str
    region: str
    source_ip: str = ""
    request_keys: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    """The condition keys of the HTTP request (``aws:SourceIp`` ..., a service's ``aws:SourceArn``)."""
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    """Work to start once the request's transaction has committed (CreateAccount's second half)."""

    @property
    def account_id(self) -> str:
        return self.caller.account_id

    @property
    def partition(self) -> str:
        return self.runtime.settings.identity.partition

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    @property
    def box(self) -> SecretBox:
        return self.runtime.box

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def now(self) -> float:
        return self.runtime.clock.time()
