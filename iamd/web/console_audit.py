"""Console sign-in records (``ConsoleLogin``, ``CheckMfa``) and sign-in metrics, as AWS writes them.

One ``ConsoleLogin`` per attempt: a failure at once (a name that is no user of the account is
``HIDDEN_DUE_TO_SECURITY_REASONS`` with AWS's ``No username found in supplied account``; any other
failure, throttled ones too, ``Failed authentication``); a success once the second factor passed
when one is due (``MFAUsed`` ``Yes``, ``MFAIdentifier`` the device), else at the password.  The
second factor itself is a ``CheckMfa`` record.  The typed password, code and (unknown) name are
scrubbed from every record.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from iamd import metrics
from iamd.audit import record as audit
from iamd.core.http import HttpRequest
from iamd.core.principal import Principal
from iamd.services.console import identity as console_identity
from iamd.services.console import signin
from iamd.services.console.sessions import MFA_DUE, ConsoleSession
from iamd.services.runtime import Runtime
from iamd.store import tables as t

log = logging.getLogger("iamd.audit")

_MFA_TYPES = {"virtual": "Virtual MFA", "hardware": "Hardware MFA", "fido": "U2F MFA"}


def _origin(rt: Runtime, request: HttpRequest) -> audit.RequestOrigin:
    return audit.RequestOrigin(
        time=rt.clock.time(),
        region="us-east-1",
        source_ip=request.source_ip,
        user_agent=request.header("user-agent") or "",
        host=request.header("host"),
    )


def _login_to(request: HttpRequest) -> str:
    host = request.header("host") or "localhost"
    scheme = "https" if request.secure else "http"
    return f"{scheme}://{host}/console/home"


def _principal(rt: Runtime, session: ConsoleSession) -> Principal | None:
    with rt.db.read() as conn:
        return console_identity.signed_in_principal(conn, rt, session)


def password_step(
    rt: Runtime,
    request: HttpRequest,
    *,
    root: bool,
    account_ref: str,
    user_name: str,
    email: str,
    password: str,
    session: ConsoleSession | None,
) -> None:
    """After the password step: ``session`` is the new session, None when the attempt failed."""
    try:
        if session is not None:
            if session.state == MFA_DUE:
                return  # the ConsoleLogin waits for the second factor
            _login(rt, request, session, mfa_serial=None, password=password)
            metrics.count_signin(True, False)
            return
        metrics.count_signin(False, False)
        secrets = [password]
        principal = None
        account_id = ""
        user_known = True
        with rt.db.read() as conn:
            if root:
                a = t.accounts
                found = conn.execute(
                    sa.select(a.c.id).where(sa.func.lower(a.c.root_email) == email.strip().lower())
                ).scalar()
                account_id = str(found or "")
                secrets.append(email)
            else:
                account_id = signin.resolve_account(conn, account_ref) or ""
                u = t.users
                row = (
                    conn.execute(
                        sa.select(u.c.id).where(u.c.account_id == account_id, u.c.name_key == user_name.strip().lower())
                    ).first()
                    if account_id
                    else None
                )
                user_known = row is not None
                if not user_known:
                    secrets.append(user_name)
        if user_known and not root and account_id:
            principal = _user_principal(rt, account_id, user_name)
        event = audit.console_login(
            _origin(rt, request),
            account_id=account_id,
            outcome=audit.LoginOutcome.FAILURE,
            principal=principal,
            user_known=user_known,
            root=root and bool(account_id),
            login_to=_login_to(request),
            secrets=secrets,
        )
        rt.audit.record(event)
    except Exception:
        log.exception("could not record a console sign-in")


def _user_principal(rt: Runtime, account_id: str, user_name: str) -> Principal | None:
    u = t.users
    with rt.db.read() as conn:
        row = conn.execute(
            sa.select(u.c.id).where(u.c.account_id == account_id, u.c.name_key == user_name.strip().lower())
        ).first()
    if row is None:
        return None
    stand_in = ConsoleSession(str(row.id), account_id, str(row.id), "", "", 0.0, 0.0)
    return _principal(rt, stand_in)


def _login(
    rt: Runtime, request: HttpRequest, session: ConsoleSession, *, mfa_serial: str | None, password: str
) -> None:
    principal = _principal(rt, session)
    event = audit.console_login(
        _origin(rt, request),
        account_id=session.account_id,
        outcome=audit.LoginOutcome.SUCCESS,
        principal=principal,
        root=session.is_root,
        mfa_used=mfa_serial is not None,
        mfa_identifier=mfa_serial,
        login_to=_login_to(request),
        secrets=[password] if password else [],
    )
    rt.audit.record(event)


def second_factor(
    rt: Runtime,
    request: HttpRequest,
    *,
    session: ConsoleSession | None,
    passed: ConsoleSession | None,
    serial: str,
    kind: str | None = None,
    code: str = "",
) -> None:
    """After a second factor (a TOTP code, a security key or passkey): ``passed`` is the re-issued
    session when it was accepted, None when not."""
    try:
        owner = passed or session
        metrics.count_signin(passed is not None, True)
        if owner is None:
            return
        principal = _principal(rt, owner)
        if kind is None:
            with rt.db.read() as conn:
                kind = conn.execute(sa.select(t.mfa_devices.c.kind).where(t.mfa_devices.c.serial == serial)).scalar()
        event = audit.check_mfa(
            _origin(rt, request),
            account_id=owner.account_id,
            principal=principal,
            success=passed is not None,
            mfa_type=_MFA_TYPES.get(kind or "", "Virtual MFA"),
            secrets=[code] if code else [],
        )
        rt.audit.record(event)
        if passed is not None:
            _login(rt, request, passed, mfa_serial=serial or None, password="")
    except Exception:
        log.exception("could not record a console second factor")
