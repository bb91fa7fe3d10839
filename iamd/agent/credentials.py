"""Where the agent's credentials come from, and the cache that keeps serving them.

A :class:`CredentialSource` hands out temporary credentials (iamd's workload endpoint, or Roles
Anywhere's CreateSession for the credential helper). :class:`CredentialCache` sits in front of it:

* it refreshes ahead of expiry, once a third of the credentials' lifetime is left (at least five
  minutes before, at most half-way), so clients that refresh 10 to 15 minutes before expiry (botocore)
  always find fresh credentials;
* one fetch at a time: concurrent requests wait for the same refresh;
* when the source is unavailable it keeps serving the cached credentials until they expire, and tries
  again at most every ``retry_seconds``;
* when the source refuses (the workload was deregistered, the role no longer trusts it) the cached
  credentials are dropped at once, so a revocation takes effect at the next refresh.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from iamd.core.clock import Clock, utc_from_timestamp

__all__ = [
    "CachedCredentials",
    "CredentialCache",
    "CredentialSource",
    "CredentialSourceError",
    "Credentials",
    "CredentialsUnavailable",
]

log = logging.getLogger("iamd.agent")

MIN_REFRESH_MARGIN_SECONDS = 300
RETRY_SECONDS = 10


@dataclass(frozen=True, slots=True)
class Credentials:
    """A set of temporary credentials; the secret and the token never appear in a repr."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime
    """Timezone-aware UTC."""
    account_id: str | None = None
    role_arn: str | None = None


class CredentialSourceError(Exception):
    """The source gave no credentials.

    ``denied`` says the source refused (keep nothing cached); otherwise it was unreachable or failing
    (cached credentials stay in service until they expire). ``code`` is the source's error code.
    """

    def __init__(self, message: str, *, code: str = "Unavailable", denied: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.denied = denied


class CredentialSource(Protocol):
    def fetch(self) -> Credentials:
        """Fresh credentials, or CredentialSourceError."""
        ...


class CredentialsUnavailable(Exception):
    """Nothing valid to serve: carries the source's last error."""

    def __init__(self, cause: CredentialSourceError) -> None:
        super().__init__(cause.message)
        self.cause = cause


@dataclass(frozen=True, slots=True)
class CachedCredentials:
    credentials: Credentials
    last_updated: datetime
    """When the cache fetched them (IMDS's ``LastUpdated``)."""


class CredentialCache:
    def __init__(
        self,
        source: CredentialSource,
        clock: Clock,
        *,
        min_refresh_margin_seconds: float = MIN_REFRESH_MARGIN_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self._source = source
        self._clock = clock
        self._min_margin = min_refresh_margin_seconds
        self._retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._current: CachedCredentials | None = None
        self._refresh_at = 0.0
        self._retry_after = 0.0
        self._last_error: CredentialSourceError | None = None
        self.fetches = 0
        """How many times the source was asked (tests and metrics read it)."""

    def refresh_at(self) -> float | None:
        """Epoch seconds when the cached credentials are next due for a refresh (None: nothing cached)."""
        return None if self._current is None else max(self._refresh_at, self._retry_after)

    def _margin(self, lifetime: float) -> float:
        return min(max(self._min_margin, lifetime / 3), lifetime / 2)

    def get(self) -> CachedCredentials:
        """Credentials to serve now; CredentialsUnavailable when there are none."""
        current = self._current
        if current is not None and self._clock.time() < self._refresh_at:
            return current
        with self._lock:
            return self._get_locked()

    def _get_locked(self) -> CachedCredentials:
        now = self._clock.time()
        current = self._current
        if current is not None and now < self._refresh_at:
            return current
        valid = current is not None and now < current.credentials.expiration.timestamp()
        if now < self._retry_after and self._last_error is not None:
            if current is not None and valid:
                return current
            raise CredentialsUnavailable(self._last_error)
        try:
            self.fetches += 1
            fresh = self._source.fetch()
            if fresh.expiration.timestamp() <= now:
                raise CredentialSourceError(
                    f"The credential source returned credentials that expired at {fresh.expiration.isoformat()}."
                )
        except CredentialSourceError as error:
            self._last_error = error
            self._retry_after = now + self._retry_seconds
            if error.denied:
                self._current = None
                log.warning("credentials refused by the source (%s): %s", error.code, error.message)
                raise CredentialsUnavailable(error) from error
            if current is not None and valid:
                log.warning(
                    "credential source unavailable (%s); serving cached credentials %s until %s",
                    error.message,
                    current.credentials.access_key_id,
                    current.credentials.expiration.isoformat(),
                )
                return current
            self._current = None
            raise CredentialsUnavailable(error) from error
        lifetime = fresh.expiration.timestamp() - now
        self._current = CachedCredentials(fresh, utc_from_timestamp(int(now)))
        self._refresh_at = fresh.expiration.timestamp() - self._margin(lifetime)
        self._retry_after = 0.0
        self._last_error = None
        log.info("fetched credentials %s, expiring at %s", fresh.access_key_id, fresh.expiration.isoformat())
        return self._current
