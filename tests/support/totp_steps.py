"""TOTP codes for tests: the current step (never at the very end of one) and the code of a step."""

from __future__ import annotations

import time

from iamd.core import totp


def fresh_step(period: int = 30) -> int:
    """The current time step, waiting out the last two seconds of a step so the next requests land in it."""
    now = time.time()
    if period - now % period < 2.0:
        time.sleep(period - now % period + 0.05)
        now = time.time()
    return int(now // period)


def code(seed: bytes, step: int) -> str:
    return totp.hotp(seed, step)
