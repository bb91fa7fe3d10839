"""uvicorn's app factory builds each worker's settings from the environment it is handed."""

from __future__ import annotations

from pathlib import Path

import pytest

from iamd.core.config import STORE_PREPARED_VARIABLE
from iamd.web.app import IamdApp, create_app


def make(environ: dict[str, str]) -> IamdApp:
    app = create_app(environ)
    app.runtime.close()
    app._executor.shutdown()
    return app


def test_the_factory_reads_the_mapping_it_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAMD_DEV", "0")
    app = make({"IAMD_DATA_DIR": str(tmp_path), "IAMD_DEV": "1", "IAMD_QUOTA_USERS": "3", "IAMD_ACCESS_LOG": "0"})
    assert app.settings.server.dev and app.settings.quotas.users == 3
    assert app.runtime.settings is app.settings and app.access_log.enabled is False
    assert app._prepare  # a worker started on its own prepares the store itself


def test_workers_of_serve_leave_the_store_to_it(tmp_path: Path) -> None:
    assert not make({"IAMD_DATA_DIR": str(tmp_path), STORE_PREPARED_VARIABLE: "1"})._prepare
