"""The agent's credential cache: refresh ahead of expiry, ride out outages, obey refusals.

The source is tests/unit/agent/fakes.FakeSource: a stand-in for iamd's workload endpoint, which comes
in stage 2 of issue 12. Time only moves when the test moves the clock.
"""

from __future__ import annotations

import threading

import pytest

from iamd.agent.credentials import CredentialCache, CredentialsUnavailable
from iamd.core.clock import FixedClock
from tests.unit.agent.fakes import FakeSource

START = 1_700_000_000.0


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def test_fetches_once_and_serves_from_cache(clock: FixedClock) -> None:
    source = FakeSource(clock)
    cache = CredentialCache(source, clock)
    first = cache.get()
    clock.advance(60)
    assert cache.get() is first
    assert source.calls == 1
    assert first.last_updated.timestamp() == START


@pytest.mark.parametrize(
    ("lifetime", "refresh_after"),
    [
        (3600, 2400),  # a third of the lifetime left: 20 minutes before expiry
        (900, 600),  # at least five minutes before expiry
        (60, 30),  # but never later than half-way
        (43200, 28800),
    ],
)
def test_refreshes_ahead_of_expiry(clock: FixedClock, lifetime: int, refresh_after: int) -> None:
    source = FakeSource(clock, lifetime_seconds=lifetime)
    cache = CredentialCache(source, clock)
    first = cache.get()
    assert cache.refresh_at() == START + refresh_after
    clock.advance(refresh_after - 1)
    assert cache.get() is first
    clock.advance(1)
    second = cache.get()
    assert second.credentials.access_key_id != first.credentials.access_key_id
    assert source.calls == 2


def test_outage_serves_cached_credentials_until_they_expire(clock: FixedClock) -> None:
    source = FakeSource(clock)
    cache = CredentialCache(source, clock, retry_seconds=10)
    first = cache.get()
    clock.advance(2400)
    source.go_down()
    assert cache.get() is first
    assert source.calls == 2
    clock.advance(5)
    assert cache.get() is first
    assert source.calls == 2, "no new attempt inside the retry interval"
    clock.advance(5)
    assert cache.get() is first
    assert source.calls == 3
    clock.set(first.credentials.expiration.timestamp())
    with pytest.raises(CredentialsUnavailable) as raised:
        cache.get()
    assert not raised.value.cause.denied


def test_recovers_after_an_outage(clock: FixedClock) -> None:
    source = FakeSource(clock)
    cache = CredentialCache(source, clock, retry_seconds=10)
    first = cache.get()
    clock.advance(2400)
    source.go_down()
    cache.get()
    source.recover()
    clock.advance(10)
    assert cache.get().credentials.access_key_id != first.credentials.access_key_id


def test_no_credentials_at_all_while_the_source_is_down(clock: FixedClock) -> None:
    source = FakeSource(clock)
    source.go_down()
    cache = CredentialCache(source, clock, retry_seconds=10)
    with pytest.raises(CredentialsUnavailable):
        cache.get()
    with pytest.raises(CredentialsUnavailable):
        cache.get()
    assert source.calls == 1
    source.recover()
    clock.advance(10)
    assert cache.get().credentials.access_key_id == "ASIAFAKE000000000002"


def test_refusal_drops_the_cached_credentials(clock: FixedClock) -> None:
    source = FakeSource(clock)
    cache = CredentialCache(source, clock)
    cache.get()
    clock.advance(2400)
    source.refuse()
    with pytest.raises(CredentialsUnavailable) as raised:
        cache.get()
    assert raised.value.cause.denied and raised.value.cause.code == "AccessDenied"
    with pytest.raises(CredentialsUnavailable):
        cache.get()


def test_already_expired_credentials_from_the_source_are_not_served(clock: FixedClock) -> None:
    source = FakeSource(clock, lifetime_seconds=0)
    cache = CredentialCache(source, clock)
    with pytest.raises(CredentialsUnavailable, match="expired"):
        cache.get()


def test_concurrent_requests_share_one_fetch(clock: FixedClock) -> None:
    source = FakeSource(clock)
    source.hold = threading.Event()
    cache = CredentialCache(source, clock)
    results: list[str] = []

    def ask() -> None:
        results.append(cache.get().credentials.access_key_id)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    source.hold.set()
    for thread in threads:
        thread.join(timeout=30)
    assert source.calls == 1
    assert results == ["ASIAFAKE000000000001"] * 8


def test_credentials_repr_hides_the_secrets(clock: FixedClock) -> None:
    creds = FakeSource(clock).fetch()
    assert "secret-1" not in repr(creds) and "token-1" not in repr(creds)
