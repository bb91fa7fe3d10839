"""Web console sign-in with an authenticator app (TOTP) as the second factor, and session rotation."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from iamd.store import tables as t
from tests.support.console_client import (
    STEP_EXPIRED,
    WRONG_CODE,
    Console,
    enable_virtual_device,
    error_text,
    make_user,
    opens_home,
    server_engine,
    set_cookies,
    text_of,
    totp_code,
)
from tests.support.server import Server

PASSWORD = "Alice-Password-1"


def wrong_code(seed: bytes, step: int) -> str:
    """A code that is not valid anywhere near ``step``."""
    near = {totp_code(seed, s) for s in range(step - 3, step + 5)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


def test_totp_second_factor_rotates_the_session(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD)
    serial, seed, step = enable_virtual_device(iam, "alice", "alice-phone")
    with Console(iamd.url) as c:
        response = c.sign_in(iamd.account_id, "alice", PASSWORD)
        assert (response.status_code, response.headers["location"]) == (303, "/console/mfa")
        before_mfa = c.session_token
        assert before_mfa is not None
        # half signed in: nothing but the MFA step opens
        assert c.home().headers["location"] == "/console/mfa"
        assert c.get("/console").headers["location"] == "/console/mfa"
        refused = c.post("/console/credentials", {}, csrf=c.refresh_csrf("/console/mfa"))
        assert (refused.status_code, refused.headers["location"]) == (303, "/console/mfa")
        page = c.get("/console/mfa")
        assert page.status_code == 200
        assert 'id="totp-form"' in page.text and "Device: alice-phone" in page.text
        assert 'id="use-security-key"' not in page.text  # no FIDO device

        bad = c.submit_totp(wrong_code(seed, step))
        assert bad.status_code == 401
        assert error_text(bad) == WRONG_CODE
        assert "iamd_session" not in set_cookies(bad) and c.session_token == before_mfa
        other_serial = c.post("/console/mfa/totp", {"serial": serial + "x", "code": totp_code(seed, step + 1)})
        assert (other_serial.status_code, error_text(other_serial)) == (401, WRONG_CODE)

        good = c.submit_totp(totp_code(seed, step + 1))
        assert (good.status_code, good.headers["location"]) == (303, "/console/home")
        after_mfa = c.session_token
        assert after_mfa is not None and after_mfa != before_mfa
        home = c.home()
        assert home.status_code == 200
        assert text_of(home, "mfa-state") == "used at sign-in"
        assert text_of(home, "arn") == f"arn:aws:iam::{iamd.account_id}:user/alice"
        # the cookie of the password step is worth nothing now
        stale = opens_home(iamd.url, "iamd_session", before_mfa)
        assert (stale.status_code, stale.headers["location"]) == (303, "/console")
        assert opens_home(iamd.url, "iamd_session", after_mfa).status_code == 200
        # and cannot finish a second factor again
        with Console(iamd.url) as thief:
            thief.http.cookies.set("iamd_session", before_mfa)
            again = thief.post("/console/mfa/totp", {"serial": serial, "code": totp_code(seed, step + 2)})
            assert (again.status_code, error_text(again)) == (401, STEP_EXPIRED)
        # the sign-in's MFA rides in the command line credentials
        creds = c.credentials()
        sts = iamd.client("sts", creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"], creds["AWS_SESSION_TOKEN"])
        assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{iamd.account_id}:user/alice"

    with server_engine(iamd).connect() as conn:
        events = [r.event for r in conn.execute(sa.select(t.mfa_events.c.event).where(t.mfa_events.c.serial == serial))]
    assert "console-accepted" in events and "wrong-code" in events

    # the same code, replayed in a new sign-in, is refused
    with Console(iamd.url) as c:
        assert c.sign_in(iamd.account_id, "alice", PASSWORD).headers["location"] == "/console/mfa"
        replay = c.submit_totp(totp_code(seed, step + 1))
        assert (replay.status_code, error_text(replay)) == (401, WRONG_CODE)
        assert c.home().headers["location"] == "/console/mfa"


def test_mfa_codes_are_throttled(iamd: Server, iam: Any) -> None:
    make_user(iam, "alice", PASSWORD)
    _, seed, step = enable_virtual_device(iam, "alice", "alice-phone")
    bad = wrong_code(seed, step)
    statuses = []
    with Console(iamd.url) as c:
        assert c.sign_in(iamd.account_id, "alice", PASSWORD).headers["location"] == "/console/mfa"
        for _ in range(7):
            statuses.append(c.submit_totp(bad).status_code)
        # five free failures (IAMD_CONSOLE_USER_FREE_ATTEMPTS), then the user's MFA is locked
        # (the device itself is locked after five wrong codes as well, so the lock holds)
        assert statuses == [401] * 5 + [429] * 2
        locked = c.submit_totp(totp_code(seed, step + 1))
        assert locked.status_code == 429
        assert "Too many failed attempts" in (error_text(locked) or "")
        assert int(locked.headers["retry-after"]) >= 1
        assert c.home().headers["location"] == "/console/mfa"
