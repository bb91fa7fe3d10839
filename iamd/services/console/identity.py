"""Who a console session acts as: the signed-in user or root, or the role it switched into."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.auth.session_tokens import SessionClaims, principal_from_claims
from iamd.core.arn import iam_arn, root_arn
from iamd.core.crypto import MasterKeyError
from iamd.core.errors import AwsError
from iamd.core.principal import Principal
from iamd.services.console.sessions import ConsoleSession
from iamd.services.runtime import Runtime
from iamd.store import tables as t

ROLE_AAD = b"iamd-console-role-session"


@dataclass(frozen=True, slots=True)
class Identity:
    principal: Principal
    """What policies are evaluated for: the user/root (console claims) or the role session."""
    signed_in: Principal
    """The user or root who signed in (the way back from a role)."""
    role: SessionClaims | None
    role_token: str | None
    user_name: str | None
    """The IAM user's name; None for root."""


def signed_in_principal(conn: Connection, rt: Runtime, session: ConsoleSession) -> Principal | None:
    """The user or root behind a session, as console claims (None when the user is gone)."""
    partition = rt.settings.identity.partition
    if session.is_root:
        arn, user_id, name, entity_id = root_arn(partition, session.account_id), session.account_id, None, None
    else:
        u = t.users
        user = conn.execute(
            sa.select(u.c.id, u.c.name, u.c.path).where(u.c.id == session.user_id, u.c.account_id == session.account_id)
        ).first()
        if user is None:
            return None
        arn, user_id, name, entity_id = (
            iam_arn(partition, session.account_id, "user", user.path, user.name),
            user.id,
            user.name,
            user.id,
        )
    claims = SessionClaims(
        account_id=session.account_id,
        access_key_id="",
        secret_access_key="",
        principal_kind="root" if session.is_root else "user",
        arn=arn,
        user_id=user_id,
        name=name or session.account_id,
        issued_at=session.created_at,
        expires_at=session.expires_at,
        entity_id=entity_id,
        mfa_authenticated_at=session.mfa_at,
        source_arn=arn,
        console=True,
    )
    return principal_from_claims(claims)


def identity_of(conn: Connection, rt: Runtime, session: ConsoleSession) -> Identity | None:
    """None when the user behind the session is gone."""
    signed_in = signed_in_principal(conn, rt, session)
    if signed_in is None:
        return None
    user_name = None if session.is_root else signed_in.name
    role_token = open_role_token(rt, session)
    if role_token is not None:
        try:
            claims = rt.token_keys.ring().open(role_token)
        except AwsError:
            claims = None
        if claims is not None and claims.expires_at > rt.clock.time():
            return Identity(principal_from_claims(claims), signed_in, claims, role_token, user_name)
    return Identity(signed_in, signed_in, None, None, user_name)


def seal_role_token(rt: Runtime, token: str) -> bytes:
    return rt.box.encrypt(token.encode(), ROLE_AAD)


def open_role_token(rt: Runtime, session: ConsoleSession) -> str | None:
    if session.role_token_enc is None:
        return None
    try:
        return rt.box.decrypt(session.role_token_enc, ROLE_AAD).decode()
    except MasterKeyError:
        return None
