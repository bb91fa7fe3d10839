from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from iamd.core.clock import FixedClock
from iamd.core.config import IdentitySettings, SecretSettings, Settings, StoreSettings
from iamd.core.crypto import new_key_text
from iamd.services.runtime import Runtime
from tests.support.server import postgres_database

ACCOUNT = "111122223333"
ROOT_KEY = "AKIAZZZZZZZZZZZZZZZZ"
ROOT_SECRET = "storagesecretstoragesecretstoragesecret0"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings for a fresh, empty store on each backend (PostgreSQL: a new database)."""

    def settings(database_url: str | None = None) -> Settings:
        return Settings(
            store=StoreSettings(data_dir=tmp_path, database_url=database_url, cache_refresh_seconds=0.5),
            secrets=SecretSettings(master_key=new_key_text()),
            identity=IdentitySettings(
                bootstrap_account_id=ACCOUNT,
                bootstrap_root_access_key_id=ROOT_KEY,
                bootstrap_root_secret_access_key=ROOT_SECRET,
            ),
        )

    if request.param == "sqlite":
        yield settings()
    else:
        request.getfixturevalue("pg_url")  # skips/fails like the functional suite when PG is absent
        with postgres_database() as url:
            yield settings(url)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(1_800_000_000.0)


@pytest.fixture
def runtime(store_settings: Settings, clock: FixedClock) -> Iterator[Runtime]:
    rt = Runtime(store_settings, clock=clock)
    rt.prepare_store()
    rt.bootstrap()
    yield rt
    rt.close()
