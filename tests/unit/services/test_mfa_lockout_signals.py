"""An MFA lockout answers like a wrong code but is logged, counted and recorded for operators."""

from __future__ import annotations

import base64
import logging

import pytest
import sqlalchemy as sa

from iamd.core import counters, totp
from iamd.core.config import MfaSettings
from iamd.services import mfa
from iamd.store import tables as t
from iamd.store.db import Database

SEED = b"12345678901234567890"
START = 1_800_000_000.0
POLICY = MfaSettings(window=1, resync_window=20, max_failures=3, lock_seconds=30, max_lock_seconds=100)
SERIAL = "arn:aws:iam::123456789012:mfa/alice-phone"
ALICE = mfa.Actor("123456789012", "arn:aws:iam::123456789012:user/alice", "203.0.113.7")


def attempt(db: Database, code: str, at: float, metrics: counters.Counters, actor: mfa.Actor = ALICE) -> mfa.Result:
    token = mfa.Token(SERIAL, SEED, "SHA1", 6, 30)
    with db.write() as conn:
        return mfa.verify(conn, token, [code], at, window=1, actor=actor, purpose="sts", pol=POLICY, metrics=metrics)


def good(at: float) -> str:
    return totp.hotp(SEED, totp.time_step(at))


def wrong(at: float) -> str:
    return f"{(int(good(at)) + 1) % 1_000_000:06d}"


def test_lockout_is_logged_counted_and_recorded(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    metrics = counters.Counters()
    caplog.set_level(logging.INFO, logger="iamd.mfa")
    for _ in range(POLICY.max_failures):
        assert attempt(db, wrong(START), START, metrics).outcome is mfa.Outcome.WRONG
    locked = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(locked) == 1
    assert locked[0].getMessage() == (
        f"MFA device {SERIAL} locked for 30 s after 3 wrong codes in a row "
        "(lock 1 in a row; sts by arn:aws:iam::123456789012:user/alice from 203.0.113.7)"
    )
    assert metrics.value(mfa.LOCKOUTS, purpose="sts") == 1
    assert metrics.value(mfa.VERIFICATIONS, purpose="sts", outcome="wrong") == 3

    # While locked even the right code is refused -- the same outcome the caller cannot tell apart.
    caplog.clear()
    assert attempt(db, good(START + 1), START + 1, metrics).outcome is mfa.Outcome.LOCKED
    assert metrics.value(mfa.VERIFICATIONS, purpose="sts", outcome="locked") == 1
    assert metrics.value(mfa.LOCKOUTS, purpose="sts") == 1  # a refusal while locked is not a new lock
    [refused] = caplog.records
    assert refused.levelno == logging.INFO
    assert refused.getMessage() == (
        f"MFA code for locked device {SERIAL} refused "
        "(sts by arn:aws:iam::123456789012:user/alice from 203.0.113.7; locked for 29 more s)"
    )

    with db.read() as conn:
        rows = conn.execute(
            sa.select(
                t.mfa_events.c.event, t.mfa_events.c.principal_arn, t.mfa_events.c.source_ip, t.mfa_events.c.detail
            )
            .where(t.mfa_events.c.serial == SERIAL)
            .order_by(t.mfa_events.c.id)
        ).all()
    assert [r.event for r in rows] == ["wrong-code"] * 3 + ["locked", "refused-locked"]
    lock_row = rows[3]
    assert (lock_row.principal_arn, lock_row.source_ip) == (ALICE.principal_arn, ALICE.source_ip)
    assert lock_row.detail == "3 wrong codes; lock 1 in a row for 30 s"


def test_no_code_or_seed_in_the_log(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="iamd.mfa")
    codes = [wrong(START), wrong(START), wrong(START), good(START + 1)]
    for i, code in enumerate(codes):
        attempt(db, code, START + i, counters.Counters())
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "locked for 30 s" in text
    for code in codes:
        assert code not in text
    assert SEED.decode() not in text and base64.b32encode(SEED).decode() not in text


def test_an_unknown_presenter_is_named_as_such(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="iamd.mfa")
    console = mfa.Actor("123456789012", None, None)
    for _ in range(POLICY.max_failures):
        attempt(db, wrong(START), START, counters.Counters(), console)
    [record] = caplog.records
    assert record.getMessage().endswith(
        "(lock 1 in a row; sts by a caller in account 123456789012 from an unknown address)"
    )


def test_outcomes_go_to_the_process_registry_by_default(db: Database) -> None:
    token = mfa.Token("S-default", SEED, "SHA1", 6, 30)
    before = counters.DEFAULT.value(mfa.VERIFICATIONS, purpose="unit", outcome="accepted")
    with db.write() as conn:
        result = mfa.verify(conn, token, [good(START)], START, window=1, actor=mfa.Actor(), purpose="unit", pol=POLICY)
    assert result.accepted
    assert counters.DEFAULT.value(mfa.VERIFICATIONS, purpose="unit", outcome="accepted") == before + 1
