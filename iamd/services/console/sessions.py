"""Server-side console sessions.

The browser holds a random 256-bit token; the database holds its SHA-256, so a copy of the
table signs no one in.  A session is created when the password is accepted (state ``mfa`` or
``password`` while a step is due, ``active`` once signed in) and re-issued under a fresh token
at every step, so a token seen before sign-in is worth nothing after it.  Sign-out deletes the
row: the old cookie then opens nothing, on any node.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from iamd.store import tables as t

ACTIVE = "active"
MFA_DUE = "mfa"
CHANGE_DUE = "password"

STEP_SECONDS = 300.0
"""How long a half-finished sign-in (second factor or new password due) may take."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    id: str
    account_id: str
    user_id: str | None
    """The IAM user; None for the account's root."""
    state: str
    csrf: str
    created_at: float
    expires_at: float
    mfa_at: float | None = None
    mfa_serial: str | None = None
    role_token_enc: bytes | None = None
    source_ip: str | None = None

    @classmethod
    def from_row(cls, row: Row[Any]) -> ConsoleSession:
        return cls(
            id=row.id,
            account_id=row.account_id,
            user_id=row.user_id,
            state=row.state,
            csrf=row.csrf,
            created_at=float(row.created_at),
            expires_at=float(row.expires_at),
            mfa_at=None if row.mfa_at is None else float(row.mfa_at),
            mfa_serial=row.mfa_serial,
            role_token_enc=None if row.role_token_enc is None else bytes(row.role_token_enc),
            source_ip=row.source_ip,
        )

    @property
    def is_root(self) -> bool:
        return self.user_id is None

    @property
    def owner(self) -> tuple[str, str | None]:
        """(account id, user id or None for the root): whose devices this session signs in with."""
        return self.account_id, self.user_id

    def values(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "user_id": self.user_id,
            "state": self.state,
            "csrf": self.csrf,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "mfa_at": self.mfa_at,
            "mfa_serial": self.mfa_serial,
            "role_token_enc": self.role_token_enc,
            "source_ip": self.source_ip,
        }


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def start(
    conn: Connection,
    *,
    account_id: str,
    user_id: str | None,
    state: str,
    now: float,
    expires_at: float,
    source_ip: str,
) -> tuple[str, ConsoleSession]:
    """A new session; returns the cookie token (shown once) and the record."""
    token = _new_token()
    session = ConsoleSession(
        id=token_hash(token),
        account_id=account_id,
        user_id=user_id,
        state=state,
        csrf=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=expires_at,
        source_ip=source_ip[:64] or None,
    )
    conn.execute(t.console_sessions.insert().values(**session.values()))
    return token, session


def load(conn: Connection, token: str | None, now: float) -> ConsoleSession | None:
    """The live session behind a cookie token, or None (unknown, signed out or expired)."""
    if not token or len(token) > 128:
        return None
    s = t.console_sessions
    row = conn.execute(sa.select(s).where(s.c.id == token_hash(token))).first()
    if row is None or float(row.expires_at) <= now:
        return None
    return ConsoleSession.from_row(row)


def reissue(conn: Connection, session: ConsoleSession, **changes: Any) -> tuple[str, ConsoleSession]:
    """Replace the session by one under a new token (and a new CSRF token), with ``changes``.

    Returns the new token; raises LookupError when the old session is already gone (used twice).
    """
    s = t.console_sessions
    if conn.execute(s.delete().where(s.c.id == session.id)).rowcount != 1:
        raise LookupError("session already replaced or ended")
    token = _new_token()
    fresh = replace(session, id=token_hash(token), csrf=secrets.token_urlsafe(32), **changes)
    conn.execute(s.insert().values(**fresh.values()))
    return token, fresh


def update(conn: Connection, session: ConsoleSession, **changes: Any) -> ConsoleSession:
    """Change a session in place (same token): the role it is switched into."""
    conn.execute(t.console_sessions.update().where(t.console_sessions.c.id == session.id).values(**changes))
    return replace(session, **changes)


def end(conn: Connection, session_id: str) -> None:
    conn.execute(t.console_sessions.delete().where(t.console_sessions.c.id == session_id))


def prune(conn: Connection, now: float) -> int:
    """Delete expired sessions, throttle rows that have gone quiet, and stale WebAuthn challenges."""
    removed = conn.execute(t.console_sessions.delete().where(t.console_sessions.c.expires_at <= now)).rowcount
    conn.execute(t.webauthn_challenges.delete().where(t.webauthn_challenges.c.expires_at <= now))
    quiet = t.console_throttle
    conn.execute(
        quiet.delete().where(
            quiet.c.last_failure_at < now - 86400, sa.or_(quiet.c.locked_until.is_(None), quiet.c.locked_until < now)
        )
    )
    return int(removed or 0)
