"""Run one registered operation as a caller: authorize, then the handler, in one transaction.

The AWS API pipeline (iamd.web.api) and the web console both come through here, so a console
action is decided by exactly the same policies as the API call it stands for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from iamd.core import ids
from iamd.core.errors import NotImplementedOperation
from iamd.core.http import HttpRequest
from iamd.core.principal import Principal, PrincipalKind
from iamd.services.context import OperationContext
from iamd.services.runtime import Runtime

UNSIGNED_CALLER = Principal(
    kind=PrincipalKind.FEDERATED_USER, account_id="", arn="", user_id="", name="", access_key_id=""
)
"""The caller of an operation declared ``unsigned``: nobody (it has no policies; such operations
authorize in their handler or not at all, which the registry enforces)."""


def dispatch(
    rt: Runtime,
    service: str,
    action: str,
    caller: Principal,
    inputs: dict[str, Any],
    request_context: Mapping[str, str | Sequence[str]],
    *,
    region: str,
    source_ip: str = "",
    request_id: str | None = None,
) -> Mapping[str, Any] | None:
    operation = rt.operations.get((service, action))
    if operation is None:
        raise NotImplementedOperation(f"iamd does not implement {service}:{action} yet")
    db = rt.db
    with db.write() if operation.writes else db.read() as conn:
        ctx = OperationContext(
            caller=caller,
            conn=conn,
            services=rt.services,
            request_id=request_id or ids.request_id(),
            region=region,
            source_ip=source_ip,
            operation=operation,
            params=inputs,
            request_context=request_context,
        )
        if operation.authorization == "before":
            ctx.authorize()
        result = operation.handler(ctx, inputs)
        if operation.authorization == "handler" and not ctx.authorized:
            raise RuntimeError(f"{operation.action} returned without running its declared authorization")
    if operation.writes:
        rt.watcher.invalidate()
    return result


def request_context(request: HttpRequest, region: str) -> dict[str, str]:
    """Global condition keys that come from the HTTP request itself."""
    context = {
        "aws:SecureTransport": "true" if request.secure else "false",
        "aws:RequestedRegion": region,
    }
    if request.source_ip:
        context["aws:SourceIp"] = request.source_ip
    agent = request.header("user-agent")
    if agent:
        context["aws:UserAgent"] = agent
    referer = request.header("referer")
    if referer:
        context["aws:Referer"] = referer
    return context
