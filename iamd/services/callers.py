"""Who signed a request: the access key's principal, after its SigV4 signature checked.

The AWS API pipeline (iamd.web.api) and the authorization API (for the calling service and for
the request it forwards) resolve callers here, so the three agree on every rule: a session
token goes with an ``ASIA`` key only, a long-term key takes no session token, the signature is
checked with the key's secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from iamd.auth.sigv4 import SignatureInfo
from iamd.core.errors import InvalidClientTokenId
from iamd.core.http import HttpRequest
from iamd.core.principal import Principal
from iamd.services.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    secret_access_key: str
    """The key's secret (the audit trail scrubs it from any record)."""
    temporary: bool


def resolve_caller(
    rt: Runtime, request: HttpRequest, info: SignatureInfo, *, payload_hash: str | None = None
) -> Caller:
    """The principal behind ``info``'s key; raises the AWS error when the key, token or signature fails.

    ``payload_hash`` stands for the body of a request iamd did not receive (see ``SigV4Verifier.verify``).
    """
    if info.access_key_id.startswith("ASIA"):
        claims, principal = rt.token_cache.resolve(
            rt.token_keys.ring(), info.security_token, info.access_key_id, rt.clock
        )
        rt.verifier.verify(request, info, claims.secret_access_key, payload_hash=payload_hash)
        return Caller(principal, claims.secret_access_key, temporary=True)
    if info.security_token is not None:  # a long-term key takes no session token: AWS refuses the pair
        raise InvalidClientTokenId()
    resolved = rt.resolver.resolve(info.access_key_id)
    rt.verifier.verify(request, info, resolved.secret_access_key, payload_hash=payload_hash)
    return Caller(resolved.principal, resolved.secret_access_key, temporary=False)
