"""The operation registry: (service, action) -> handler."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from iamd.services.context import RequestContext

Handler = Callable[[RequestContext, dict[str, Any]], Mapping[str, Any] | None]

_READ_PREFIXES = ("Get", "List", "Simulate", "Decode")


@dataclass(frozen=True, slots=True)
class Operation:
    service: str
    name: str
    handler: Handler
    writes: bool
    """Runs in a write transaction (and bumps the cache generation)."""
    needs_auth: bool = True
    """False only for the STS federation actions that AWS accepts unsigned."""
    skip_authorization: bool = False
    """True for operations AWS never denies (sts:GetCallerIdentity)."""


OPERATIONS: dict[tuple[str, str], Operation] = {}


def operation(
    service: str,
    name: str,
    *,
    writes: bool | None = None,
    needs_auth: bool = True,
    skip_authorization: bool = False,
) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        key = (service, name)
        if key in OPERATIONS:
            raise RuntimeError(f"operation {service}:{name} registered twice")
        is_write = writes if writes is not None else not name.startswith(_READ_PREFIXES)
        OPERATIONS[key] = Operation(service, name, fn, is_write, needs_auth, skip_authorization)
        return fn

    return register


def load_all() -> Mapping[tuple[str, str], Operation]:
    """Import every handler module so that its operations register."""
    import importlib
    import pkgutil

    import iamd.services as pkg

    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        importlib.import_module(info.name)
    return OPERATIONS
