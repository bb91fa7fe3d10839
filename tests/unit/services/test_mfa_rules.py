"""Window, drift, replay and throttling rules of iamd.services.mfa (SQLite store, fixed clock)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import sqlalchemy as sa

from iamd.core import totp
from iamd.core.clock import FixedClock
from iamd.core.config import MfaSettings
from iamd.services import mfa
from iamd.store import tables as t
from iamd.store.db import Database

SEED = b"12345678901234567890"
START = 1_800_000_000.0  # a step boundary (divisible by 30)
POLICY = MfaSettings(window=1, resync_window=20, max_failures=3, lock_seconds=30, max_lock_seconds=100)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def check(
    db: Database, clock: FixedClock, codes: Sequence[str], *, window: int = 1, drift: int = 0, serial: str = "S1"
) -> mfa.Result:
    token = mfa.Token(serial, SEED, "SHA1", 6, 30, drift)
    with db.write() as conn:
        return mfa.verify(
            conn, token, codes, clock.time(), window=window, actor=mfa.Actor(), purpose="test", pol=POLICY
        )


def code(step_offset: int, at: float = START) -> str:
    return totp.hotp(SEED, totp.time_step(at) + step_offset)


def test_window_accepts_neighbouring_steps_only(db: Database, clock: FixedClock) -> None:
    assert check(db, clock, [code(0)]).accepted
    assert check(db, clock, [code(-1)]).accepted
    assert check(db, clock, [code(1)]).accepted
    assert check(db, clock, [code(2)]).outcome is mfa.Outcome.WRONG
    assert check(db, clock, [code(-2)]).outcome is mfa.Outcome.WRONG


def test_step_boundary(db: Database, clock: FixedClock) -> None:
    clock.set(START + 29.9)
    assert check(db, clock, [code(-1)], window=0).outcome is mfa.Outcome.WRONG
    clock.set(START + 30)
    assert check(db, clock, [code(0)], window=0).outcome is mfa.Outcome.WRONG  # previous step
    assert check(db, clock, [code(1)], window=0).accepted


def test_drift_moves_the_window(db: Database, clock: FixedClock) -> None:
    # a token running 5 steps ahead: outside the window without drift, inside with it
    assert check(db, clock, [code(5)], serial="D").outcome is mfa.Outcome.WRONG
    result = check(db, clock, [code(5)], drift=5, serial="D2")
    assert result.accepted and result.drift == 5


def test_two_consecutive_codes_and_resync(db: Database, clock: FixedClock) -> None:
    assert check(db, clock, [code(-1), code(0)]).accepted
    assert check(db, clock, [code(0), code(2)], serial="S2").outcome is mfa.Outcome.WRONG  # not consecutive
    assert check(db, clock, [code(2), code(1)], serial="S3").outcome is mfa.Outcome.WRONG  # wrong order
    # drift of 12 steps: refused in the normal window, found by the resync window, then honoured
    assert check(db, clock, [code(11), code(12)], serial="S4").outcome is mfa.Outcome.WRONG
    resync = check(db, clock, [code(13), code(14)], window=POLICY.resync_window, serial="S5")
    assert resync.accepted and resync.drift == 14
    clock.advance(60)
    assert check(db, clock, [code(14 + 2)], drift=14, serial="S5").accepted
    # outside even the resync window
    assert check(db, clock, [code(40), code(41)], window=20, serial="S6").outcome is mfa.Outcome.WRONG


def test_replay_refused_and_enable_codes_consumed(db: Database, clock: FixedClock) -> None:
    assert check(db, clock, [code(-1), code(0)]).accepted
    assert check(db, clock, [code(0)]).outcome is mfa.Outcome.REPLAYED
    assert check(db, clock, [code(-1)]).outcome is mfa.Outcome.REPLAYED
    assert check(db, clock, [code(1)]).accepted
    assert check(db, clock, [code(1)]).outcome is mfa.Outcome.REPLAYED
    with db.read() as conn:
        events = [r.event for r in conn.execute(sa.select(t.mfa_events.c.event).order_by(t.mfa_events.c.id))]
    assert events == ["test-accepted", "replay", "replay", "test-accepted", "replay"]


def test_replay_is_refused_through_another_engine(db: Database, clock: FixedClock) -> None:
    """Two nodes share the database: a code accepted by one is refused by the other."""
    other = Database(str(db.url))
    try:
        assert check(db, clock, [code(0)]).accepted
        token = mfa.Token("S1", SEED, "SHA1", 6, 30)
        with other.side_write() as conn:
            result = mfa.verify(
                conn, token, [code(0)], clock.time(), window=1, actor=mfa.Actor(), purpose="x", pol=POLICY
            )
        assert result.outcome is mfa.Outcome.REPLAYED
    finally:
        other.dispose()


def test_throttle_locks_with_growing_delay(db: Database, clock: FixedClock) -> None:
    wrong = f"{(int(code(0)) + 1) % 1_000_000:06d}"
    for _ in range(POLICY.max_failures):
        assert check(db, clock, [wrong]).outcome is mfa.Outcome.WRONG
    assert check(db, clock, [code(0)]).outcome is mfa.Outcome.LOCKED  # right code refused while locked
    clock.advance(29)
    assert check(db, clock, [code(0, clock.time())]).outcome is mfa.Outcome.LOCKED
    clock.advance(2)  # first lock: 30 s
    for _ in range(POLICY.max_failures):
        assert check(db, clock, [wrong]).outcome is mfa.Outcome.WRONG
    with db.read() as conn:
        state = conn.execute(sa.select(t.mfa_failures).where(t.mfa_failures.c.serial == "S1")).one()
    assert state.locks == 2 and state.locked_until == pytest.approx(clock.time() + 60)  # doubled
    clock.advance(61)
    assert check(db, clock, [code(0, clock.time())]).accepted
    with db.read() as conn:
        state = conn.execute(sa.select(t.mfa_failures).where(t.mfa_failures.c.serial == "S1")).one()
        events = [r.event for r in conn.execute(sa.select(t.mfa_events.c.event))]
    assert state.locks == 0 and state._mapping["count"] == 0 and state.locked_until is None
    assert events.count("locked") == 2 and events.count("refused-locked") == 2


def test_lock_lengths_are_capped() -> None:
    assert [POLICY.lock_for(n) for n in (1, 2, 3, 4, 50)] == [30, 60, 100, 100, 100]
    default = MfaSettings()
    assert [default.lock_for(n) for n in (1, 2, 5, 6, 7)] == [30, 60, 480, 900, 900]


def test_malformed_codes_are_wrong(db: Database, clock: FixedClock) -> None:
    assert check(db, clock, ["12345"]).outcome is mfa.Outcome.WRONG
    assert check(db, clock, ["abcdef"]).outcome is mfa.Outcome.WRONG
