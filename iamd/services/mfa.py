"""MFA verification with state: look-around window, drift, replay refusal across nodes, throttling.

Everything that must survive a refused request (wrong-code counters, locks, the event log) and
everything that must be seen by every node at once (the used (serial, time step) pairs) is
written through the connection given to :func:`verify`.  Callers use either

* ``runtime.db.side_write()`` -- a short write transaction of its own that does NOT bump the cache
  generation (STS: its requests run in read transactions and must stay cheap), or
* ``runtime.db.write()`` -- for EnableMFADevice / ResyncMFADevice, which change the device too.

Either way the transaction commits even when the code is refused, so failures are counted.

Operators see brute force three ways: every outcome is counted in the process's counters
(``iamd_mfa_verifications_total{purpose, outcome}``, ``iamd_mfa_lockouts_total{purpose}``), every
lock is logged as a WARNING naming the device, the presenter and the source address (never a
code or a seed), and every attempt is a row in ``mfa_events``.  The caller's answer stays the
same for a locked device as for a wrong code: it tells a guesser nothing.

Replay: a code is accepted once per (serial, step): the pair is inserted with ON CONFLICT DO
NOTHING and a zero row count means someone used it first.  On PostgreSQL the device's failure
row is locked (SELECT ... FOR UPDATE) for the check, so concurrent guesses on one device
are serialized and counted; SQLite serializes writers anyway.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from iamd.audit import hooks as audit_hooks
from iamd.core import counters, totp
from iamd.core.config import MfaSettings
from iamd.core.crypto import SecretBox
from iamd.core.errors import AccessDenied
from iamd.core.principal import PrincipalKind
from iamd.services.context import OperationContext
from iamd.store import tables as t
from iamd.store.db import insert_ignore

log = logging.getLogger("iamd.mfa")

VERIFICATIONS = "iamd_mfa_verifications_total"
"""Counter of verify() outcomes, labelled ``purpose`` and ``outcome`` (an :class:`Outcome` value)."""
LOCKOUTS = "iamd_mfa_lockouts_total"
"""Counter of devices locked after too many wrong codes, labelled ``purpose``."""

INVALID_CODE = "MultiFactorAuthentication failed with invalid MFA one time pass code. "
UNABLE_TO_VALIDATE = (
    "MultiFactorAuthentication failed, unable to validate MFA code. "
    "Please verify your MFA serial number is valid and associated with this user."
)


# --- seeds at rest -----------------------------------------------------------------------------


def _seed_aad(serial: str) -> bytes:
    return b"iamd-mfa-seed:" + serial.encode()


def seal_seed(box: SecretBox, serial: str, seed: bytes) -> bytes:
    return box.encrypt(seed, _seed_aad(serial))


def open_seed(box: SecretBox, serial: str, blob: bytes) -> bytes:
    return box.decrypt(bytes(blob), _seed_aad(serial))


@dataclass(frozen=True, slots=True)
class Token:
    serial: str
    seed: bytes
    algorithm: str
    digits: int
    period: int
    drift: int = 0


def token_of(box: SecretBox, row: Row[Any]) -> Token:
    return Token(
        serial=row.serial,
        seed=open_seed(box, row.serial, row.seed_enc),
        algorithm=row.algorithm,
        digits=row.digits,
        period=row.period,
        drift=row.drift,
    )


# --- verification --------------------------------------------------------------------------------


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    WRONG = "wrong"
    REPLAYED = "replayed"
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    step: int | None = None
    """The (last) accepted step."""
    drift: int | None = None
    """Steps between the accepted step and ours: the token's drift as last seen."""

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED


@dataclass(frozen=True, slots=True)
class Actor:
    """Who presented the code (for the event log)."""

    account_id: str | None = None
    principal_arn: str | None = None
    source_ip: str | None = None


def record_event(
    conn: Connection, serial: str, event: str, now: float, actor: Actor, detail: str | None = None
) -> None:
    conn.execute(
        t.mfa_events.insert().values(
            at=now,
            serial=serial,
            account_id=actor.account_id,
            principal_arn=actor.principal_arn,
            event=event,
            detail=detail,
            source_ip=actor.source_ip or None,
        )
    )


def _who(actor: Actor) -> str:
    if actor.principal_arn:
        return actor.principal_arn
    if actor.account_id:
        return f"a caller in account {actor.account_id}"
    return "an unknown caller"


def _failure_row(conn: Connection, serial: str) -> Row[Any]:
    f = t.mfa_failures
    insert_ignore(conn, f, {"serial": serial, "count": 0, "locks": 0, "locked_until": None, "last_failure_at": None})
    return conn.execute(sa.select(f).where(f.c.serial == serial).with_for_update()).one()


def _candidate_groups(token: Token, codes: Sequence[str], current: int, window: int) -> list[list[int]]:
    """Step groups matching the codes: [s] for one code, [s-1, s] for two consecutive codes.

    The (last) step lies within ``window`` steps of the expected step (ours plus the drift).
    """
    center = current + token.drift
    steps = range(center - window, center + window + 1)
    last = totp.matching_steps(token.seed, codes[-1], steps, token.digits, token.algorithm)
    if len(codes) == 1:
        return [[s] for s in last]
    groups: list[list[int]] = []
    for s in last:
        if s >= 1 and totp.codes_equal(totp.hotp(token.seed, s - 1, token.digits, token.algorithm), codes[0]):
            groups.append([s - 1, s])
    return groups


def verify(
    conn: Connection,
    token: Token,
    codes: Sequence[str],
    now: float,
    *,
    window: int,
    actor: Actor,
    purpose: str,
    pol: MfaSettings,
    metrics: counters.Counters | None = None,
) -> Result:
    """Check one code (sign-in) or two consecutive codes (enable, resync) and consume them.

    ``pol`` is the node's MFA settings (``settings.mfa``).  Writes the outcome through ``conn``
    (used steps, failure counters, event log): the caller must commit even when the result is
    not accepted.  Counts the outcome in ``metrics`` (the process's registry by default).
    """
    if metrics is None:
        metrics = counters.DEFAULT
    result = _verify(conn, token, codes, now, window=window, actor=actor, purpose=purpose, pol=pol, metrics=metrics)
    metrics.increment(VERIFICATIONS, purpose=purpose, outcome=result.outcome.value)
    return result


def _verify(
    conn: Connection,
    token: Token,
    codes: Sequence[str],
    now: float,
    *,
    window: int,
    actor: Actor,
    purpose: str,
    pol: MfaSettings,
    metrics: counters.Counters,
) -> Result:
    serial = token.serial
    f = t.mfa_failures
    state = _failure_row(conn, serial)
    if state.locked_until is not None and state.locked_until > now:
        record_event(conn, serial, "refused-locked", now, actor, f"{purpose}; locked until {state.locked_until:.0f}")
        log.info(
            "MFA code for locked device %s refused (%s by %s from %s; locked for %.0f more s)",
            serial,
            purpose,
            _who(actor),
            actor.source_ip or "an unknown address",
            state.locked_until - now,
        )
        return Result(Outcome.LOCKED)

    current = totp.time_step(now, token.period)
    well_formed = len(codes) in (1, 2) and all(len(c) == token.digits and c.isdigit() for c in codes)
    groups = _candidate_groups(token, codes, current, window) if well_formed else []
    outcome = Outcome.WRONG
    accepted: list[int] | None = None
    if groups:
        outcome = Outcome.REPLAYED
        u = t.mfa_used_codes
        wanted = sorted({s for g in groups for s in g})
        used = {r.step for r in conn.execute(sa.select(u.c.step).where(u.c.serial == serial, u.c.step.in_(wanted)))}
        for group in sorted(groups, key=lambda g: g[-1], reverse=True):
            if any(s in used for s in group):
                continue
            if all(insert_ignore(conn, u, {"serial": serial, "step": s, "used_at": now}) == 1 for s in group):
                accepted = group
                outcome = Outcome.ACCEPTED
            break

    if accepted is not None:
        conn.execute(f.update().where(f.c.serial == serial).values(count=0, locks=0, locked_until=None))
        # keep the used steps only as long as they could still be presented
        horizon = current - max(pol.window, pol.resync_window) - abs(token.drift) - 2
        conn.execute(
            t.mfa_used_codes.delete().where(t.mfa_used_codes.c.serial == serial, t.mfa_used_codes.c.step < horizon)
        )
        record_event(conn, serial, f"{purpose}-accepted", now, actor)
        return Result(Outcome.ACCEPTED, step=accepted[-1], drift=accepted[-1] - current)

    count = int(state._mapping["count"]) + 1
    values: dict[str, Any] = {"count": count, "last_failure_at": now}
    record_event(conn, serial, "replay" if outcome is Outcome.REPLAYED else "wrong-code", now, actor, purpose)
    if count >= pol.max_failures:
        locks = state.locks + 1
        seconds = pol.lock_for(locks)
        values.update(count=0, locks=locks, locked_until=now + seconds)
        record_event(conn, serial, "locked", now, actor, f"{count} wrong codes; lock {locks} in a row for {seconds} s")
        metrics.increment(LOCKOUTS, purpose=purpose)
        audit_hooks.mfa_device_locked(
            serial=serial,
            account_id=actor.account_id,
            locked_seconds=seconds,
            failures=count,
            source_ip=actor.source_ip,
            now=now,
        )
        log.warning(
            "MFA device %s locked for %d s after %d wrong codes in a row (lock %d in a row; %s by %s from %s)",
            serial,
            seconds,
            count,
            locks,
            purpose,
            _who(actor),
            actor.source_ip or "an unknown address",
        )
    conn.execute(f.update().where(f.c.serial == serial).values(**values))
    return Result(outcome)


# --- STS ----------------------------------------------------------------------------------------------


def _owned_by_caller(ctx: OperationContext, row: Row[Any]) -> bool:
    caller = ctx.caller
    if row.enabled_at is None or row.account_id != caller.account_id:
        return False
    if caller.kind is PrincipalKind.ROOT:
        return bool(row.is_root)
    if caller.kind is PrincipalKind.USER:
        return row.user_id is not None and row.user_id == caller.entity_id
    return False


def authenticate(ctx: OperationContext, serial: str | None, code: str | None) -> float | None:
    """STS: verify ``SerialNumber`` + ``TokenCode`` for the caller; the MFA time, or None without MFA.

    Raises AccessDenied with AWS's messages.  The device lookup uses the request's (read)
    transaction; the bookkeeping a side transaction that does not bump the generation.
    """
    if not serial and not code:
        return None
    if not serial or not code:
        raise AccessDenied(UNABLE_TO_VALIDATE)
    now = ctx.now()
    d = t.mfa_devices
    row = ctx.conn.execute(sa.select(d).where(d.c.serial == serial)).first()
    actor = Actor(ctx.caller.account_id, ctx.caller.arn, ctx.source_ip)
    if row is None or row.kind == "fido" or not _owned_by_caller(ctx, row):  # FIDO is console-only in AWS
        with ctx.side_transaction() as conn:
            record_event(conn, serial, "unknown-device", now, actor, "sts")
        raise AccessDenied(UNABLE_TO_VALIDATE)
    token = token_of(ctx.box, row)
    with ctx.side_transaction() as conn:
        pol = ctx.mfa_settings
        result = verify(conn, token, [code], now, window=pol.window, actor=actor, purpose="sts", pol=pol)
        if result.accepted and result.drift is not None and result.drift != token.drift:
            conn.execute(d.update().where(d.c.serial == serial).values(drift=result.drift))
    if not result.accepted:
        raise AccessDenied(INVALID_CODE)
    return now
