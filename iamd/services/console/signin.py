"""Console sign-in: password (IAM user or root), then the second factor, then a due password change.

Every answer to a wrong account, user or password is the same message, and a password is
always checked against an argon2id hash (a dummy one when there is no such user or login
profile), so neither the text nor the time of the answer tells which users exist.  Failures
are throttled per user and per source address (iamd.services.console.throttle).
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from iamd.services import mfa
from iamd.services.console import sessions, throttle
from iamd.services.console.errors import (
    INCORRECT,
    PASSWORD_EXPIRED,
    STEP_EXPIRED,
    WRONG_CODE,
    ConsoleError,
    too_many,
)
from iamd.services.console.sessions import ACTIVE, CHANGE_DUE, MFA_DUE, ConsoleSession
from iamd.services.iam.login_profiles import DEFAULT_MINIMUM_LENGTH, hash_password, load_policy, verify_password
from iamd.services.iam.mfa_devices import owned_by
from iamd.services.runtime import Runtime
from iamd.store import tables as t

TOTP_KINDS = ("virtual", "hardware")
FIDO_KIND = "fido"


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(24))


def prepare() -> None:
    """Compute the dummy hash at start-up, so the first unknown user is not answered faster."""
    _dummy_hash()


@dataclass(frozen=True, slots=True)
class Started:
    """A sign-in step passed: the cookie token of the (re-issued) session and the session."""

    token: str
    session: ConsoleSession


def resolve_account(conn: Connection, reference: str) -> str | None:
    """An account id, or the account an alias names."""
    ref = reference.strip()
    if len(ref) == 12 and ref.isdigit():
        row = conn.execute(sa.select(t.accounts.c.id).where(t.accounts.c.id == ref)).first()
        return None if row is None else str(row.id)
    al = t.account_aliases
    row = conn.execute(sa.select(al.c.account_id).where(al.c.alias == ref.lower())).first()
    return None if row is None else str(row.account_id)


def check_throttle(rt: Runtime, keys: list[str], now: float) -> None:
    with rt.db.read() as conn:
        wait = throttle.locked_for(conn, keys, now)
    if wait > 0:
        raise too_many(wait)


def record_failure(rt: Runtime, user_key: str, source_ip: str, now: float, *, shared: bool = False) -> None:
    """Count a failure for ``user_key`` and the source; ``shared`` keys (one per address) get the source's allowance."""
    rules = rt.settings.console.throttle
    with rt.db.side_write() as conn:
        delay = throttle.record_failure(
            conn,
            {
                user_key: rules.source_free if shared else rules.user_free,
                throttle.source_key(source_ip): rules.source_free,
            },
            now,
            rules,
        )
    if delay > 0:
        raise too_many(delay)


def _reserve_attempt(rt: Runtime, user_key: str, source_ip: str, now: float) -> float:
    """Count a password attempt before checking it (refused unchecked while locked); the lock it started."""
    rules = rt.settings.console.throttle
    with rt.db.side_write() as conn:
        wait, delay = throttle.reserve(
            conn, {user_key: rules.user_free, throttle.source_key(source_ip): rules.source_free}, now, rules
        )
    if wait > 0:
        raise too_many(wait)
    return delay


def _refuse(delay: float) -> NoReturn:
    if delay > 0:
        raise too_many(delay)
    raise ConsoleError(INCORRECT, status=401)


def _attempt_succeeded(rt: Runtime, user_key: str, source_ip: str) -> None:
    rules = rt.settings.console.throttle
    with rt.db.side_write() as conn:
        throttle.record_success(conn, user_key)
        throttle.release(conn, throttle.source_key(source_ip), rules.source_free, rules)


def owner_devices(conn: Connection, account_id: str, user_id: str | None) -> list[Row[Any]]:
    """The enabled MFA devices (TOTP and FIDO) of a user, or of the account's root (``user_id`` None)."""
    d = t.mfa_devices
    query = sa.select(d).where(owned_by(account_id, user_id), d.c.enabled_at.is_not(None)).order_by(d.c.created_at)
    return list(conn.execute(query).all())


def _expiry(rt: Runtime, state: str, now: float) -> float:
    """A signed-in session lasts the console's session time; a half-finished sign-in, one step's."""
    return now + (rt.settings.console.session_seconds if state == ACTIVE else sessions.STEP_SECONDS)


def _open(
    conn: Connection, rt: Runtime, account_id: str, user_id: str | None, state: str, now: float, source_ip: str
) -> tuple[str, ConsoleSession]:
    """A new session after the first factor (password or passkey), and the user's PasswordLastUsed."""
    opened = sessions.start(
        conn,
        account_id=account_id,
        user_id=user_id,
        state=state,
        now=now,
        expires_at=_expiry(rt, state, now),
        source_ip=source_ip,
    )
    if user_id is not None:
        conn.execute(t.users.update().where(t.users.c.id == user_id).values(password_last_used=now))
    return opened


def _begin(rt: Runtime, *, account_id: str, user_id: str | None, reset_required: bool, source_ip: str) -> Started:
    now = rt.clock.time()
    with rt.db.side_write() as conn:
        has_mfa = bool(owner_devices(conn, account_id, user_id))
        state = MFA_DUE if has_mfa else CHANGE_DUE if reset_required else ACTIVE
        token, session = _open(conn, rt, account_id, user_id, state, now, source_ip)
    return Started(token, session)


def sign_in_user(rt: Runtime, account_ref: str, user_name: str, password: str, source_ip: str) -> Started:
    now = rt.clock.time()
    account_ref, user_name = account_ref.strip(), user_name.strip()
    if not account_ref or not user_name or not password or len(password) > 512 or len(user_name) > 128:
        raise ConsoleError(INCORRECT, status=401)
    with rt.db.read() as conn:
        account_id = resolve_account(conn, account_ref)
    user_key = throttle.user_key(account_id or account_ref.lower(), user_name)
    delay = _reserve_attempt(rt, user_key, source_ip, now)
    row = None
    if account_id is not None:
        u, lp = t.users, t.login_profiles
        with rt.db.read() as conn:
            row = conn.execute(
                sa.select(u.c.id, lp.c.password_hash, lp.c.reset_required, lp.c.password_changed_at)
                .select_from(u.join(lp, lp.c.user_id == u.c.id))
                .where(u.c.account_id == account_id, u.c.name_key == user_name.lower())
            ).first()
    ok = verify_password(row.password_hash if row is not None else _dummy_hash(), password)
    if row is None or not ok or account_id is None:
        _refuse(delay)
    _attempt_succeeded(rt, user_key, source_ip)
    with rt.db.read() as conn:
        expired, hard = password_expired(conn, account_id, float(row.password_changed_at), now)
    if expired and hard:
        raise ConsoleError(PASSWORD_EXPIRED, status=401)
    return _begin(
        rt,
        account_id=account_id,
        user_id=str(row.id),
        reset_required=bool(row.reset_required) or expired,
        source_ip=source_ip,
    )


def password_expired(conn: Connection, account_id: str, changed_at: float, now: float) -> tuple[bool, bool]:
    """(expired, hard expiry) under the account's MaxPasswordAge (days) and HardExpiry."""
    policy = load_policy(conn, account_id)
    if policy is None or not policy.max_age:
        return False, False
    expired = now - changed_at > policy.max_age * 86400
    return expired, expired and bool(policy.hard_expiry)


def sign_in_root(rt: Runtime, email: str, password: str, source_ip: str) -> Started:
    now = rt.clock.time()
    email = email.strip()
    if not email or not password or len(password) > 512 or len(email) > 256:
        raise ConsoleError(INCORRECT, status=401)
    key = throttle.root_key(email)
    delay = _reserve_attempt(rt, key, source_ip, now)
    a = t.accounts
    with rt.db.read() as conn:
        row = conn.execute(
            sa.select(a.c.id, a.c.root_password_hash).where(
                sa.func.lower(a.c.root_email) == email.lower(), a.c.root_password_hash.is_not(None)
            )
        ).first()
    ok = verify_password(row.root_password_hash if row is not None else _dummy_hash(), password)
    if row is None or not ok:
        _refuse(delay)
    _attempt_succeeded(rt, key, source_ip)
    return _begin(rt, account_id=str(row.id), user_id=None, reset_required=False, source_ip=source_ip)


def mfa_key(session: ConsoleSession) -> str:
    return f"mfa:{session.account_id}:{session.user_id or 'root'}"


def _password_due(conn: Connection, account_id: str, user_id: str | None, now: float) -> tuple[bool, bool]:
    """(a new password is due, the password has hard-expired) for a user's login profile."""
    if user_id is None:
        return False, False
    lp = t.login_profiles
    row = conn.execute(sa.select(lp.c.reset_required, lp.c.password_changed_at).where(lp.c.user_id == user_id)).first()
    if row is None:
        return False, False
    expired, hard = password_expired(conn, account_id, float(row.password_changed_at), now)
    return bool(row.reset_required) or expired, hard


def second_factor_passed(rt: Runtime, session: ConsoleSession, serial: str, *, multi_factor: bool) -> Started:
    """Re-issue a session whose second factor (or passkey) was accepted."""
    now = rt.clock.time()
    with rt.db.side_write() as conn:
        state = CHANGE_DUE if _password_due(conn, session.account_id, session.user_id, now)[0] else ACTIVE
        try:
            token, fresh = sessions.reissue(
                conn,
                session,
                state=state,
                expires_at=_expiry(rt, state, now),
                mfa_at=now if multi_factor else None,
                mfa_serial=serial,
                created_at=now,
            )
        except LookupError as exc:
            raise ConsoleError(STEP_EXPIRED, status=401) from exc
        throttle.record_success(conn, mfa_key(session))
    return Started(token, fresh)


def verify_totp(rt: Runtime, session: ConsoleSession, serial: str, code: str, source_ip: str) -> Started:
    if session.state != MFA_DUE:
        raise ConsoleError(STEP_EXPIRED, status=401)
    now = rt.clock.time()
    key = mfa_key(session)
    check_throttle(rt, [key, throttle.source_key(source_ip)], now)
    code = code.strip()
    accepted = False
    with rt.db.side_write() as conn:
        device = next(
            (d for d in owner_devices(conn, *session.owner) if d.serial == serial),
            None,
        )
        if device is not None and device.kind in TOTP_KINDS:
            actor = mfa.Actor(session.account_id, None, source_ip)
            token = mfa.token_of(rt.box, device)
            pol = rt.settings.mfa
            result = mfa.verify(conn, token, [code], now, window=pol.window, actor=actor, purpose="console", pol=pol)
            accepted = result.accepted
            if accepted and result.drift is not None and result.drift != token.drift:
                conn.execute(t.mfa_devices.update().where(t.mfa_devices.c.serial == serial).values(drift=result.drift))
    if not accepted:
        record_failure(rt, key, source_ip, now)
        raise ConsoleError(WRONG_CODE, status=401)
    return second_factor_passed(rt, session, serial, multi_factor=True)


def password_changed(rt: Runtime, session: ConsoleSession) -> Started:
    """After the due password change: the signed-in session, under a new token."""
    now = rt.clock.time()
    with rt.db.side_write() as conn:
        try:
            token, fresh = sessions.reissue(conn, session, state=ACTIVE, expires_at=_expiry(rt, ACTIVE, now))
        except LookupError as exc:
            raise ConsoleError(STEP_EXPIRED, status=401) from exc
    return Started(token, fresh)


def set_root_login(rt: Runtime, account_id: str, email: str, password: str) -> None:
    """``iamd accounts set-root-login``: the root's console email and password."""
    email = email.strip()
    if "@" not in email or len(email) > 256 or any(ch.isspace() for ch in email):
        raise ValueError("the root email must be an email address (at most 256 characters)")
    if len(password) < 8 or len(password) > 128:
        raise ValueError("the root password must be 8 to 128 characters")
    a = t.accounts
    with rt.db.write() as conn:
        if conn.execute(sa.select(a.c.id).where(a.c.id == account_id)).first() is None:
            raise ValueError(f"no account {account_id}")
        clash = conn.execute(
            sa.select(a.c.id).where(sa.func.lower(a.c.root_email) == email.lower(), a.c.id != account_id)
        ).first()
        if clash is not None:
            raise ValueError("that email is already the root email of another account")
        conn.execute(
            a.update().where(a.c.id == account_id).values(root_email=email, root_password_hash=hash_password(password))
        )
        conn.execute(
            t.console_sessions.delete().where(
                t.console_sessions.c.account_id == account_id, t.console_sessions.c.user_id.is_(None)
            )
        )


def has_console_access(conn: Connection, account_id: str, user_id: str | None) -> bool:
    """Console access: a login profile for a user, a root password for the root (``user_id`` None)."""
    if user_id is None:
        query = sa.select(t.accounts.c.id).where(
            t.accounts.c.id == account_id, t.accounts.c.root_password_hash.is_not(None)
        )
    else:
        query = sa.select(t.login_profiles.c.user_id).where(t.login_profiles.c.user_id == user_id)
    return conn.execute(query).first() is not None


def start_for_passkey(rt: Runtime, account_id: str, user_id: str | None, source_ip: str) -> ConsoleSession:
    """The half-made session a passkey-first sign-in finishes at once (console access still required)."""
    now = rt.clock.time()
    with rt.db.side_write() as conn:
        if not has_console_access(conn, account_id, user_id):
            raise ConsoleError(INCORRECT, status=401)
        if _password_due(conn, account_id, user_id, now)[1]:
            raise ConsoleError(PASSWORD_EXPIRED, status=401)  # HardExpiry: only an administrator resets
        _, session = _open(conn, rt, account_id, user_id, MFA_DUE, now, source_ip)
    return session


def password_rules(conn: Connection, account_id: str) -> list[str]:
    """The account's password policy, in words, for the page that asks for a new password."""
    policy = load_policy(conn, account_id)
    if policy is None:
        return [f"At least {DEFAULT_MINIMUM_LENGTH} characters."]
    rules = [f"At least {policy.minimum_length} characters."]
    for wanted, text in (
        (policy.require_uppercase, "At least one uppercase letter (A-Z)."),
        (policy.require_lowercase, "At least one lowercase letter (a-z)."),
        (policy.require_numbers, "At least one number (0-9)."),
        (policy.require_symbols, "At least one symbol, such as ! @ # $ % ^ & * ( ) _ + - = [ ] { } | '."),
    ):
        if wanted:
            rules.append(text)
    if policy.reuse_prevention:
        rules.append("Not your current password.")
    return rules
