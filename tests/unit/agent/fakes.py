"""A fake credential source for the agent's tests.

In stage 1 of issue 12 the agent's real source (iamd's workload endpoint) does not exist yet; this fake
hands out numbered credentials on the test's clock and can be told to be unreachable or to refuse.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from iamd.agent.credentials import Credentials, CredentialSourceError
from iamd.core.clock import FixedClock

ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/app"


class FakeSource:
    def __init__(self, clock: FixedClock, lifetime_seconds: int = 3600) -> None:
        self.clock = clock
        self.lifetime = lifetime_seconds
        self.calls = 0
        self.failure: CredentialSourceError | None = None
        self.fetched = threading.Event()
        self.hold: threading.Event | None = None
        """When set, fetch() waits for it (to line up concurrent callers)."""

    def fetch(self) -> Credentials:
        if self.hold is not None:
            self.hold.wait(timeout=30)
        self.calls += 1
        self.fetched.set()
        if self.failure is not None:
            raise self.failure
        return Credentials(
            access_key_id=f"ASIAFAKE{self.calls:012d}",
            secret_access_key=f"secret-{self.calls}",
            session_token=f"token-{self.calls}",
            expiration=self.clock.now().replace(microsecond=0) + timedelta(seconds=self.lifetime),
            account_id=ACCOUNT,
            role_arn=ROLE_ARN,
        )

    def go_down(self) -> None:
        self.failure = CredentialSourceError("connection refused", code="Unavailable")

    def refuse(self) -> None:
        self.failure = CredentialSourceError("The workload was deregistered.", code="AccessDenied", denied=True)

    def recover(self) -> None:
        self.failure = None
