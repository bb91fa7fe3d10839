"""Console sessions, throttling and root sign-in against the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from iamd.core.clock import FixedClock
from iamd.core.config import ThrottleSettings
from iamd.services.console import sessions, signin, throttle
from iamd.services.console.errors import INCORRECT, ConsoleError
from iamd.services.runtime import Runtime
from iamd.store import tables as t
from tests.storage.conftest import ACCOUNT


def _start(rt: Runtime, state: str = sessions.ACTIVE, lifetime: float = 3600.0) -> tuple[str, sessions.ConsoleSession]:
    now = rt.clock.time()
    with rt.db.side_write() as conn:
        return sessions.start(
            conn,
            account_id=ACCOUNT,
            user_id=None,
            state=state,
            now=now,
            expires_at=now + lifetime,
            source_ip="192.0.2.1",
        )


def test_the_table_holds_a_hash_not_the_cookie_token(runtime: Runtime) -> None:
    token, session = _start(runtime)
    with runtime.db.read() as conn:
        ids = [r.id for r in conn.execute(sa.select(t.console_sessions.c.id))]
        assert ids == [sessions.token_hash(token)] and token not in ids
        assert sessions.load(conn, token, runtime.clock.time()) == session
        assert sessions.load(conn, token + "x", runtime.clock.time()) is None
        assert sessions.load(conn, "x" * 200, runtime.clock.time()) is None


def test_a_session_expires_and_reissuing_replaces_the_token(runtime: Runtime, clock: FixedClock) -> None:
    token, session = _start(runtime, state=sessions.MFA_DUE, lifetime=300)
    with runtime.db.side_write() as conn:
        fresh_token, fresh = sessions.reissue(conn, session, state=sessions.ACTIVE, expires_at=clock.time() + 3600)
        with pytest.raises(LookupError):  # the old session cannot be re-issued twice
            sessions.reissue(conn, session, state=sessions.ACTIVE)
    assert fresh_token != token and fresh.csrf != session.csrf
    with runtime.db.read() as conn:
        assert sessions.load(conn, token, clock.time()) is None
        assert sessions.load(conn, fresh_token, clock.time()) == fresh
    clock.advance(3600)
    with runtime.db.read() as conn:
        assert sessions.load(conn, fresh_token, clock.time()) is None


def test_prune_removes_what_has_expired_and_keeps_the_rest(runtime: Runtime, clock: FixedClock) -> None:
    _start(runtime, lifetime=60)
    live_token, _ = _start(runtime, lifetime=7200)
    now = clock.time()
    with runtime.db.side_write() as conn:
        throttle.record_failure(conn, {"user:old": 5}, now - 2 * 86400, ThrottleSettings())
        throttle.record_failure(conn, {"user:recent": 5}, now, ThrottleSettings())
        conn.execute(
            t.webauthn_challenges.insert().values(binding="b", purpose="p", challenge=b"c", expires_at=now + 30)
        )
    clock.advance(120)
    with runtime.db.side_write() as conn:
        assert sessions.prune(conn, clock.time()) == 1
    with runtime.db.read() as conn:
        assert sessions.load(conn, live_token, clock.time()) is not None
        keys = {r.key for r in conn.execute(sa.select(t.console_throttle.c.key))}
        assert keys == {"user:recent"}
        assert conn.execute(sa.select(sa.func.count()).select_from(t.webauthn_challenges)).scalar() == 0


def test_failures_lock_after_the_allowance_and_success_clears(runtime: Runtime, clock: FixedClock) -> None:
    rules = ThrottleSettings(user_free=2, source_free=10, base_seconds=4.0, max_seconds=60.0)
    now = clock.time()
    delays = []
    for _ in range(4):
        with runtime.db.side_write() as conn:
            delays.append(throttle.record_failure(conn, {"user:a": 2, "ip:x": 10}, now, rules))
    assert delays == [0.0, 0.0, 4.0, 8.0]
    with runtime.db.read() as conn:
        assert throttle.locked_for(conn, ["user:a", "ip:x"], now) == 8.0
        assert throttle.locked_for(conn, ["user:a"], now + 8) == 0.0
    with runtime.db.side_write() as conn:
        throttle.record_success(conn, "user:a")
    with runtime.db.read() as conn:
        row = conn.execute(sa.select(t.console_throttle).where(t.console_throttle.c.key == "ip:x")).one()
        assert row.failures == 4  # the source's count is not cleared by one user's success
        assert conn.execute(sa.select(t.console_throttle).where(t.console_throttle.c.key == "user:a")).first() is None


def test_root_sign_in_with_the_email_and_password_set_for_it(runtime: Runtime) -> None:
    signin.set_root_login(runtime, ACCOUNT, "Root@Example.com", "a-long-root-password")
    started = signin.sign_in_root(runtime, "root@example.com", "a-long-root-password", "192.0.2.9")
    assert started.session.is_root and started.session.state == sessions.ACTIVE
    with pytest.raises(ConsoleError) as wrong:
        signin.sign_in_root(runtime, "root@example.com", "not-the-password", "192.0.2.9")
    with pytest.raises(ConsoleError) as unknown:
        signin.sign_in_root(runtime, "nobody@example.com", "a-long-root-password", "192.0.2.9")
    assert wrong.value.message == unknown.value.message == INCORRECT
    # a new root login ends the root's console sessions
    signin.set_root_login(runtime, ACCOUNT, "root@example.com", "another-root-password")
    with runtime.db.read() as conn:
        assert sessions.load(conn, started.token, runtime.clock.time()) is None


@pytest.mark.parametrize(
    ("email", "password"),
    [("not-an-email", "a-long-root-password"), ("root@example.com", "short"), ("a b@example.com", "long-enough-1")],
)
def test_root_login_is_checked(runtime: Runtime, email: str, password: str) -> None:
    with pytest.raises(ValueError):
        signin.set_root_login(runtime, ACCOUNT, email, password)


def test_root_login_for_an_unknown_account_is_refused(runtime: Runtime) -> None:
    with pytest.raises(ValueError, match="no account"):
        signin.set_root_login(runtime, "999999999999", "root@example.com", "a-long-root-password")


def test_attempts_are_reserved_before_they_are_checked(runtime: Runtime, clock: FixedClock) -> None:
    rules = ThrottleSettings(user_free=3, source_free=100, base_seconds=10.0, max_seconds=60.0)
    now = clock.time()
    keys = {"user:a": 3, "ip:x": 100}
    outcomes = []
    for _ in range(6):  # six attempts whose checks have not finished yet: each is counted up front
        with runtime.db.side_write() as conn:
            outcomes.append(throttle.reserve(conn, keys, now, rules))
    # three free, the fourth is checked but starts a lock, the rest are refused unchecked
    assert outcomes == [(0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, 10.0), (10.0, 0.0), (10.0, 0.0)]
    with runtime.db.side_write() as conn:  # one of them succeeded: the user starts over, the source gives one back
        throttle.record_success(conn, "user:a")
        throttle.release(conn, "ip:x", 100, rules)
    with runtime.db.read() as conn:
        rows = {r.key: r.failures for r in conn.execute(sa.select(t.console_throttle))}
    assert rows == {"ip:x": 3}
