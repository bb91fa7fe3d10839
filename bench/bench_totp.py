"""TOTP verification speed: the pure maths, and full checks with the replay/throttle bookkeeping.

    python bench/bench_totp.py [--seconds 2] [--no-postgres]

* ``totp window``: matching one 6-digit code against a look-around window of 3 steps (SHA1).
* ``verify+replay <backend>``: what STS does per MFA sign-in: one side transaction that reads and
  locks the device's failure row, checks the window, inserts the (serial, step) pair (refused if
  already there), resets the counters, prunes old steps and logs the event.  Each iteration
  presents the code of a new time step (the clock moves 30 s), so every code is accepted once.
  PostgreSQL runs on a fresh database at 127.0.0.1:5432 (IAMD_TEST_PG_ADMIN), skipped if absent.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from iamd.core import totp  # noqa: E402
from iamd.core.clock import FixedClock  # noqa: E402
from iamd.core.config import MfaSettings  # noqa: E402
from iamd.services import mfa  # noqa: E402
from iamd.store.db import Database  # noqa: E402

SEED = b"12345678901234567890"


def rate(label: str, seconds: float, fn: Callable[[int], None]) -> None:
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(n)
        n += 1
    elapsed = time.perf_counter() - start
    print(f"{label:<28} {n / elapsed:>10,.0f} /s  {elapsed / n * 1e6:>9.1f} us each")


def bench_window(seconds: float) -> None:
    codes = [totp.hotp(SEED, s) for s in range(1000)]

    def one(i: int) -> None:
        step = 500 + i % 400
        assert totp.matching_steps(SEED, codes[step], range(step - 1, step + 2)) == [step]

    rate("totp window (3 steps)", seconds, one)


def bench_verify(label: str, db: Database, seconds: float) -> None:
    clock = FixedClock(1_800_000_000.0)
    token = mfa.Token("BENCH0001", SEED, "SHA1", 6, 30)
    pol = MfaSettings()
    actor = mfa.Actor("123456789012", "arn:aws:iam::123456789012:user/bench")

    def one(_: int) -> None:
        clock.advance(30)
        now = clock.time()
        with db.side_write() as conn:
            result = mfa.verify(conn, token, [totp.totp(SEED, now)], now, window=1, actor=actor, purpose="sts", pol=pol)
        assert result.accepted

    rate(f"verify+replay {label}", seconds, one)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    bench_window(args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'iamd.db'}")
        db.migrate()
        bench_verify("sqlite", db, args.seconds)
        db.dispose()
    if not args.no_postgres:
        from tests.support.server import postgres_available, postgres_database

        if not postgres_available():
            print("verify+replay postgresql      skipped: no PostgreSQL at 127.0.0.1:5432")
            return 0
        with postgres_database() as url:
            db = Database(url)
            db.migrate()
            bench_verify("postgresql", db, args.seconds)
            db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
