"""STS operations available with the foundation: GetCallerIdentity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iamd.services.context import RequestContext
from iamd.services.registry import operation


@operation("sts", "GetCallerIdentity", skip_authorization=True)
def get_caller_identity(ctx: RequestContext, p: dict[str, Any]) -> Mapping[str, Any]:
    caller = ctx.caller
    return {"UserId": caller.user_id, "Account": caller.account_id, "Arn": caller.arn}
