"""Services that act for customers: a service principal name with credentials of its own.

``iamd services register backup.example.internal`` records the service and prints its access key.
Requests signed with it resolve to a ``PrincipalKind.SERVICE`` caller whose ARN is the service
principal name: it has no account and no identity policies, so the only things it can do are what
a resource policy grants to its name, above all ``sts:AssumeRole`` of a customer's role whose trust
policy names ``{"Service": "backup.example.internal"}``.

Confused-deputy protection, as AWS documents it ("The confused deputy problem"): a service says for
whom it acts with the signed headers ``X-Amz-Source-Arn`` and ``X-Amz-Source-Account`` (the
resource of the customer that made the service act, and its account).  They become ``aws:SourceArn``
and ``aws:SourceAccount``, and the source account's organization gives ``aws:SourceOrgID`` and
``aws:SourceOrgPaths``; a trust policy (or an RCP) can require them.  The headers count only when
they are signed and only from a registered service: a user cannot set them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.auth.session_tokens import principal_from_claims
from iamd.core import ids
from iamd.core.clock import Clock
from iamd.core.crypto import SecretBox
from iamd.core.errors import ExpiredToken
from iamd.core.http import HttpRequest
from iamd.core.principal import Principal
from iamd.store import tables as t

if TYPE_CHECKING:
    from iamd.services.runtime import Runtime

SOURCE_HEADERS = {"x-amz-source-arn": "aws:SourceArn", "x-amz-source-account": "aws:SourceAccount"}
"""Signed request headers a service uses to say on whose behalf it acts, and the keys they fill."""

_NAME = re.compile(r"^(?=.{4,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")
_ACCOUNT = re.compile(r"^\d{12}$")


class ServiceError(Exception):
    """The operator's request cannot be done; the message says why."""


def check_name(name: str) -> str:
    """A service principal name as AWS spells them: a lower-case DNS name (``backup.example.internal``)."""
    if not _NAME.match(name):
        raise ServiceError(
            f"{name!r} is not a service principal name: use a lower-case DNS name such as backup.example.internal"
        )
    if name.endswith(".amazonaws.com"):
        raise ServiceError(f"{name} is an AWS service principal: register your own services' names only")
    return name


def register(conn: Connection, box: SecretBox, clock: Clock, name: str) -> dict[str, str]:
    """Record a service and make its access key: ``ServicePrincipal``, ``AccessKeyId`` and
    ``SecretAccessKey`` (printed once; only the encrypted secret is kept)."""
    sp = t.service_principals
    name = check_name(name)
    if conn.execute(sa.select(sp.c.name).where(sp.c.name == name)).first() is not None:
        raise ServiceError(f"the service {name} is registered already")
    key_id, secret = ids.access_key_id(), ids.secret_access_key()
    conn.execute(
        sp.insert().values(
            name=name,
            access_key_id=key_id,
            secret_enc=box.encrypt_text(secret, aad=key_id),
            status="Active",
            created_at=clock.time(),
        )
    )
    return {"ServicePrincipal": name, "AccessKeyId": key_id, "SecretAccessKey": secret}


def deregister(conn: Connection, name: str) -> None:
    sp = t.service_principals
    if conn.execute(sp.delete().where(sp.c.name == name)).rowcount == 0:
        raise ServiceError(f"no service called {name} is registered")


def list_services(conn: Connection) -> list[dict[str, Any]]:
    sp = t.service_principals
    rows = conn.execute(sa.select(sp.c.name, sp.c.access_key_id, sp.c.created_at).order_by(sp.c.name))
    return [{"ServicePrincipal": r.name, "AccessKeyId": r.access_key_id, "CreatedAt": r.created_at} for r in rows]


def source_keys(request: HttpRequest, signed_headers: tuple[str, ...]) -> dict[str, str]:
    """``aws:SourceArn`` / ``aws:SourceAccount`` from the signed source headers of a service's request."""
    out: dict[str, str] = {}
    for header, key in SOURCE_HEADERS.items():
        value = request.header(header)
        if value and header in signed_headers:
            out[key] = value.strip()
    return out


FORWARD_HEADER = "x-amz-forward-session-token"
"""Signed header with which a service acts for a user: the user's session token (not its secret)."""
CALLED_VIA = "called_via"
"""``Principal.extra`` entry: the service that made the call for the principal."""


def forwarded_caller(
    rt: Runtime, request: HttpRequest, signed_headers: tuple[str, ...], service: Principal
) -> Principal | None:
    """The user a service acts for (a forward access session), or None when it acts for itself.

    The service signs the request with its own key and sends the user's session token in the signed
    ``X-Amz-Forward-Session-Token`` header; the call is then the user's, decided by the user's
    policies, with ``aws:CalledVia`` naming the service.  The token alone cannot sign a request: only
    a registered service can present it, and only while it is valid."""
    token = request.header(FORWARD_HEADER)
    if not token or FORWARD_HEADER not in signed_headers:
        return None
    claims = rt.token_keys.ring().open(token.strip())
    if rt.clock.time() >= claims.expires_at:
        raise ExpiredToken()
    user = principal_from_claims(claims)
    return replace(user, extra={**user.extra, CALLED_VIA: service.arn})


def called_via_keys(caller: Principal) -> dict[str, str | list[str]]:
    """``aws:CalledVia``, ``aws:CalledViaFirst``, ``aws:CalledViaLast``, ``aws:ViaAWSService`` of a call."""
    service = caller.extra.get(CALLED_VIA)
    if not isinstance(service, str):
        return {}
    return {
        "aws:CalledVia": [service],
        "aws:CalledViaFirst": service,
        "aws:CalledViaLast": service,
        "aws:ViaAWSService": "true",
    }


def source_account(context: Mapping[str, Any]) -> str | None:
    """The 12-digit ``aws:SourceAccount`` of a request, if it has one."""
    value = context.get("aws:SourceAccount")
    return value if isinstance(value, str) and _ACCOUNT.match(value) else None
