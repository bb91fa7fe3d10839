"""Operator actions behind the admin CLI: token key rotation, revoking a role's sessions."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.core.clock import Clock, iso8601
from iamd.core.crypto import SecretBox
from iamd.services import token_keys
from iamd.store import tables as t

REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"


class AdminError(ValueError):
    """Bad operator input; the message says what."""


def rotate_token_keys(conn: Connection, box: SecretBox, clock: Clock) -> str:
    return token_keys.rotate(conn, box, clock)


def revoke_role_sessions(conn: Connection, clock: Clock, account_id: str | None, role_name: str) -> dict[str, str]:
    """Deny everything to sessions of the role issued before now, as the console's "Revoke sessions"."""
    r = t.roles
    query = sa.select(r).where(r.c.name_key == role_name.lower())
    if account_id:
        query = query.where(r.c.account_id == account_id)
    else:
        default = conn.execute(sa.select(t.accounts.c.id).where(t.accounts.c.is_default.is_(True))).scalar()
        query = query.where(r.c.account_id == default)
    role = conn.execute(query).first()
    if role is None:
        raise AdminError(f"role {role_name} not found")
    cutoff = iso8601(clock.time())
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": ["*"],
                    "Resource": ["*"],
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}},
                }
            ],
        }
    )
    ip = t.inline_policies
    key = (ip.c.principal_type == "role", ip.c.principal_id == role.id, ip.c.name_key == REVOKE_POLICY_NAME.lower())
    if conn.execute(sa.select(ip.c.name).where(*key)).first():
        conn.execute(ip.update().where(*key).values(document=document))
    else:
        conn.execute(
            ip.insert().values(
                principal_type="role",
                principal_id=role.id,
                name=REVOKE_POLICY_NAME,
                name_key=REVOKE_POLICY_NAME.lower(),
                document=document,
            )
        )
    return {"RoleName": role.name, "AccountId": role.account_id, "RevokedBefore": cutoff}
