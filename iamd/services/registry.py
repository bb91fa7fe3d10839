"""The operation registry: (service, action) -> handler and its declared authorization.

Every operation is declared once, where it is defined::

    @operation("iam", "CreateUser", target=created("user", "UserName"),
               request_keys=(request_tags, permissions_boundary))
    def create_user(ctx: OperationContext, p: dict[str, Any]) -> ...

and its module is listed in :data:`MODULES`.  The pipeline and the authorizer read nothing but
the declaration: which resource the action is checked against (``target``, see
``services/targets.py``), the condition keys taken from the request (``request_keys``), a
resource-based policy (``resource_policy``), further actions the same request needs
(``extra_actions``), when authorization happens (``authorization``) and whether the operation is
called without a signature (``unsigned``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from iamd.services.context import OperationContext
from iamd.services.targets import ExtraAction, RequestKeys, ResourcePolicySource, TargetBuilder

Handler = Callable[[OperationContext, dict[str, Any]], Mapping[str, Any] | None]

Authorization = Literal["before", "handler", "skip"]
"""``before``: the dispatcher authorizes before the handler runs (almost every operation).
``handler``: the handler validates its input first, then calls ``ctx.authorize()`` (AssumeRole:
AWS refuses an invalid role ARN or a missing role before looking at policies); the dispatcher
checks that it did.  ``skip``: AWS never denies the action (sts:GetCallerIdentity)."""

_READ_PREFIXES = ("Get", "List", "Simulate", "Decode")

#: Every module that defines operations, imported by :func:`load_all`.  A new module goes here.
MODULES: tuple[str, ...] = (
    "iamd.services.sts",
    "iamd.services.iam.access_keys",
    "iamd.services.iam.account",
    "iamd.services.iam.attachments",
    "iamd.services.iam.authorization_details",
    "iamd.services.iam.credential_report",
    "iamd.services.iam.groups",
    "iamd.services.iam.inline_policies",
    "iamd.services.iam.instance_profiles",
    "iamd.services.iam.login_profiles",
    "iamd.services.iam.mfa_devices",
    "iamd.services.iam.policies",
    "iamd.services.iam.roles",
    "iamd.services.iam.server_certificates",
    "iamd.services.iam.service_linked_roles",
    "iamd.services.iam.signing_certificates",
    "iamd.services.iam.simulate",
    "iamd.services.iam.ssh_keys",
    "iamd.services.iam.tagging",
    "iamd.services.iam.users",
)


@dataclass(frozen=True, slots=True)
class Operation:
    service: str
    name: str
    handler: Handler
    writes: bool
    """Runs in a write transaction (and bumps the cache generation)."""
    target: TargetBuilder | None = None
    """The resource the action is authorized against; required unless ``authorization="skip"``."""
    request_keys: tuple[RequestKeys, ...] = ()
    resource_policy: ResourcePolicySource | None = None
    extra_actions: tuple[ExtraAction, ...] = ()
    authorization: Authorization = "before"
    unsigned: bool = False
    """Called without a SigV4 signature (AssumeRoleWithWebIdentity, AssumeRoleWithSAML)."""

    @property
    def action(self) -> str:
        return f"{self.service}:{self.name}"


OPERATIONS: dict[tuple[str, str], Operation] = {}


def operation(
    service: str,
    name: str,
    *,
    target: TargetBuilder | None = None,
    request_keys: tuple[RequestKeys, ...] = (),
    resource_policy: ResourcePolicySource | None = None,
    extra_actions: tuple[ExtraAction, ...] = (),
    authorization: Authorization = "before",
    unsigned: bool = False,
    writes: bool | None = None,
) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        key = (service, name)
        if key in OPERATIONS:
            raise RuntimeError(f"operation {service}:{name} registered twice")
        if unsigned and authorization == "before":
            raise RuntimeError(f"{service}:{name} is unsigned: it has no caller to authorize before its handler")
        is_write = writes if writes is not None else not name.startswith(_READ_PREFIXES)
        OPERATIONS[key] = Operation(
            service,
            name,
            fn,
            is_write,
            target=target,
            request_keys=request_keys,
            resource_policy=resource_policy,
            extra_actions=extra_actions,
            authorization=authorization,
            unsigned=unsigned,
        )
        return fn

    return register


def load_all() -> Mapping[tuple[str, str], Operation]:
    """Import every module in :data:`MODULES` so that its operations register."""
    for module in MODULES:
        importlib.import_module(module)
    return OPERATIONS
