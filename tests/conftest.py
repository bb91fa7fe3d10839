"""Fixtures shared by every suite.

``backend`` is parametrized over SQLite and PostgreSQL: storage and functional tests run on both.
PostgreSQL tests need the server at 127.0.0.1:5432 (``.ci/run`` starts it); set
IAMD_TEST_SKIP_POSTGRES=1 to run the SQLite half alone on a machine without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import Server, postgres_available, postgres_database, start_server

BACKENDS = ["sqlite", "postgresql"]


def _skip_pg() -> bool:
    return os.environ.get("IAMD_TEST_SKIP_POSTGRES") == "1"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    if _skip_pg():
        pytest.skip("IAMD_TEST_SKIP_POSTGRES=1")
    if not postgres_available():
        pytest.fail("PostgreSQL is not answering at 127.0.0.1:5432 (.ci/run starts it)")
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real iamd server per backend for the whole session (reset before each test)."""
    data_dir = tmp_path_factory.mktemp(f"iamd-{request.param}")
    database_url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    srv = start_server(data_dir, database_url)
    yield srv
    srv.stop()


@pytest.fixture
def iamd(server: Server) -> Server:
    """The session's server, freshly reset: every test starts on an empty default account."""
    server.reset()
    return server


@pytest.fixture
def iam(iamd: Server) -> Any:
    return iamd.client("iam")


@pytest.fixture
def sts(iamd: Server) -> Any:
    return iamd.client("sts")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
