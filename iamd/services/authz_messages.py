"""Encoded authorization messages: the detail of a denial, readable only through STS.

With ``IAMD_ENCODED_AUTHORIZATION_MESSAGES=1`` an AccessDenied answer ends with
``Encoded authorization failure message: <blob>``; ``sts:DecodeAuthorizationMessage`` turns the
blob back into the JSON AWS documents (allowed, explicitDeny, matchedStatements, failures,
context).  The blob is encrypted and authenticated with the master key, so it reveals nothing to
whoever only sees the error.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from iamd.core.crypto import MasterKeyError, SecretBox
from iamd.core.errors import AwsError
from iamd.core.principal import Principal
from iamd.policy import Decision, Effect

_AAD = b"iamd-authorization-message-v1"


class InvalidAuthorizationMessage(AwsError):
    code = "InvalidAuthorizationMessageException"
    status = 400
    sender_fault = True


def encode(
    box: SecretBox,
    caller: Principal,
    action: str,
    resource: str,
    decision: Decision,
    context: Mapping[str, str | Sequence[str]],
) -> str:
    document = {
        "allowed": decision.effect is Effect.ALLOW,
        "explicitDeny": decision.effect is Effect.EXPLICIT_DENY,
        "matchedStatements": {
            "items": [
                {
                    "statementId": s.sid or "",
                    "effect": "DENY" if s.effect == "Deny" else "ALLOW",
                    "principals": {"items": [{"value": caller.user_id}]},
                    "policyId": s.policy_id,
                    "policyType": s.policy_type.key,
                }
                for s in decision.statements
            ]
        },
        "failures": {"items": []},
        "context": {
            "principal": {"id": caller.user_id, "name": caller.name, "arn": caller.arn},
            "action": action,
            "resource": resource,
            "conditions": {
                "items": [
                    {
                        "key": key,
                        "values": {"items": [{"value": v} for v in ([value] if isinstance(value, str) else value)]},
                    }
                    for key, value in sorted(context.items())
                ]
            },
        },
    }
    raw = box.encrypt(json.dumps(document, separators=(",", ":")).encode(), _AAD)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(box: SecretBox, message: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(message.strip() + "=" * (-len(message.strip()) % 4))
        data = json.loads(box.decrypt(raw, _AAD))
    except (ValueError, MasterKeyError) as exc:
        raise InvalidAuthorizationMessage("The encoded authorization message is invalid.") from exc
    if not isinstance(data, dict):
        raise InvalidAuthorizationMessage("The encoded authorization message is invalid.")
    return data
