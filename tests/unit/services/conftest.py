"""Fixtures shared by the services unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from iamd.store.db import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite store of the test's own."""
    database = Database(f"sqlite:///{tmp_path / 'iamd.db'}")
    database.migrate()
    yield database
    database.dispose()
