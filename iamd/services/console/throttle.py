"""Brute-force throttling of console sign-in: per user and per source address, growing delays.

Each key (``user:…``, ``root:…``, ``mfa:…``, ``ip:…``) counts failures since its last success.
Past a free allowance every further failure locks the key for a delay that doubles, up to a
ceiling; while a key is locked its attempts are refused without being checked at all.  The
allowances and delays are the node's ``settings.console.throttle`` (docs/configuration.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.core.config import ThrottleSettings
from iamd.store import tables as t
from iamd.store.db import insert_ignore


def user_key(account_id: str, name: str) -> str:
    return f"user:{account_id}:{name.lower()}"[:320]


def root_key(email: str) -> str:
    return f"root:{email.lower()}"[:320]


def source_key(source_ip: str) -> str:
    return f"ip:{source_ip or '-'}"[:320]


def locked_for(conn: Connection, keys: list[str], now: float) -> float:
    """Seconds until every one of ``keys`` accepts attempts again (0: go ahead)."""
    c = t.console_throttle
    rows = conn.execute(sa.select(c.c.locked_until).where(c.c.key.in_(keys), c.c.locked_until > now)).all()
    return max((float(r.locked_until) - now for r in rows), default=0.0)


def record_failure(conn: Connection, keys: dict[str, int], now: float, rules: ThrottleSettings) -> float:
    """Count a failure against each key (key -> its free allowance); the longest delay now due."""
    c = t.console_throttle
    longest = 0.0
    for key, free in keys.items():
        insert_ignore(conn, c, {"key": key, "failures": 0, "locked_until": None, "last_failure_at": now})
        row = conn.execute(sa.select(c).where(c.c.key == key).with_for_update()).one()
        failures = int(row.failures) + 1
        delay = rules.delay(failures, free)
        conn.execute(
            c.update()
            .where(c.c.key == key)
            .values(failures=failures, last_failure_at=now, locked_until=now + delay if delay else None)
        )
        longest = max(longest, delay)
    return longest


def record_success(conn: Connection, key: str) -> None:
    """A success clears the user's count (a source's count only decays by its own lock)."""
    conn.execute(t.console_throttle.delete().where(t.console_throttle.c.key == key))


def reserve(conn: Connection, keys: dict[str, int], now: float, rules: ThrottleSettings) -> tuple[float, float]:
    """Count an attempt against every key *before* it is checked, so parallel attempts cannot all
    slip past the allowance.  Returns (wait, delay): ``wait`` > 0 when a key is locked (nothing is
    counted, the attempt must be refused unchecked); ``delay``, the lock this attempt started."""
    c = t.console_throttle
    rows = {}
    for key in sorted(keys):  # one order everywhere: concurrent reservations cannot deadlock
        insert_ignore(conn, c, {"key": key, "failures": 0, "locked_until": None, "last_failure_at": now})
        rows[key] = conn.execute(sa.select(c).where(c.c.key == key).with_for_update()).one()
    wait = max(
        (float(r.locked_until) - now for r in rows.values() if r.locked_until and r.locked_until > now), default=0
    )
    if wait > 0:
        return wait, 0.0
    longest = 0.0
    for key, free in keys.items():
        failures = int(rows[key].failures) + 1
        delay = rules.delay(failures, free)
        conn.execute(
            c.update()
            .where(c.c.key == key)
            .values(failures=failures, last_failure_at=now, locked_until=now + delay if delay else None)
        )
        longest = max(longest, delay)
    return 0.0, longest


def release(conn: Connection, key: str, free: int, rules: ThrottleSettings) -> None:
    """Take back the attempt reserved on a shared key (the source address) when it succeeded."""
    c = t.console_throttle
    row = conn.execute(sa.select(c).where(c.c.key == key).with_for_update()).first()
    if row is None:
        return
    failures = max(0, int(row.failures) - 1)
    delay = rules.delay(failures, free)
    conn.execute(
        c.update()
        .where(c.c.key == key)
        .values(failures=failures, locked_until=float(row.last_failure_at) + delay if delay else None)
    )
