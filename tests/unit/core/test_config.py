"""Settings travel to uvicorn's workers through IAMD_* variables: every option must survive the trip."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from iamd.core.config import Settings, settings_from_env, settings_to_env

NOT_OPTIONS = {"max_skew_seconds", "extra"}
"""Fields with neither a flag nor a variable: only code sets them."""


def every_option_changed(tmp_path: Path) -> Settings:
    """Settings where each option differs from its default."""
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "database_url": "postgresql+psycopg://db.example/iamd",
        "host": "0.0.0.0",
        "port": 9443,
        "workers": 3,
        "dev": True,
        "partition": "aws-cn",
        "region": "cn-north-1",
        "bootstrap_account_id": "111122223333",
        "bootstrap_root_access_key_id": "AKIAEXAMPLEEXAMPLE12",
        "bootstrap_root_secret_access_key": "s" * 40,
        "master_key": "k" * 44,
        "master_key_file": tmp_path / "master.key",
        "cache_refresh_seconds": 0.25,
        "service_linked_principals": ("a.amazonaws.com", "b.amazonaws.com"),
        "log_level": "debug",
        "encoded_authorization_messages": True,
        "console_session_seconds": 3600,
        "webauthn_rp_id": "iam.example.com",
        "webauthn_origins": ("https://iam.example.com", "https://iam2.example.com"),
        "webauthn_user_verification": "required",
        "webauthn_attestation": "direct",
        "webauthn_trust_store": tmp_path / "roots",
        "tls_cert": tmp_path / "cert.pem",
        "tls_key": tmp_path / "key.pem",
        "forwarded_allow_ips": "10.0.0.1,10.0.0.2",
        "access_log": False,
    }
    options = {f.name for f in dataclasses.fields(Settings)} - NOT_OPTIONS
    assert set(values) == options, "a new setting: add it here and to settings_to_env"
    changed = Settings(**values)  # type: ignore[arg-type]
    default = Settings()
    assert all(getattr(changed, name) != getattr(default, name) for name in options)
    return changed


def test_every_option_reaches_the_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("IAMD_"):
            monkeypatch.delenv(name)
    settings = every_option_changed(tmp_path)
    for name, value in settings_to_env(settings).items():
        monkeypatch.setenv(name, value)
    assert settings_from_env() == settings


def test_defaults_survive_the_trip_too(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("IAMD_"):
            monkeypatch.delenv(name)
    for name, value in settings_to_env(Settings()).items():
        monkeypatch.setenv(name, value)
    assert settings_from_env() == Settings()


@pytest.mark.parametrize(
    ("value", "expected"), [("", True), ("1", True), ("on", True), ("0", False), ("false", False), ("OFF", False)]
)
def test_access_log_variable(value: str, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAMD_ACCESS_LOG", value)
    assert settings_from_env().access_log is expected
    monkeypatch.setenv("IAMD_ACCESS_LOG", "2")
    with pytest.raises(ValueError, match="IAMD_ACCESS_LOG"):
        settings_from_env()
