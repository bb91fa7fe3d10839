"""The node's JWKS cache from the federation settings: offline keys, development-only plain HTTP."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest

from iamd.core.clock import SystemClock
from iamd.core.config import load_settings
from iamd.services.runtime import ConfigError, _jwks_cache
from tests.support.jwt_signer import SigningKey, jwks


def test_offline_keys_are_read_by_provider_url(tmp_path: Path) -> None:
    key = SigningKey.generate("ES256", kid="k1")
    url = "oidc.example.com/tenant/"
    (tmp_path / (urllib.parse.quote(url, safe="") + ".json")).write_text(json.dumps(jwks(key)))
    cache = _jwks_cache(load_settings({"IAMD_OFFLINE_JWKS_DIR": str(tmp_path)}), SystemClock())
    assert [k.kid for k in cache.keys_for(f"https://{url}", "k1")] == ["k1"]
    assert cache.fetch_count == 0  # never fetched


def test_a_bad_offline_file_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "broken.example.com.json").write_text('{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "x"}]}')
    with pytest.raises(ConfigError, match="IAMD_OFFLINE_JWKS_DIR"):
        _jwks_cache(load_settings({"IAMD_OFFLINE_JWKS_DIR": str(tmp_path)}), SystemClock())


def test_plain_http_issuers_need_dev_mode() -> None:
    with pytest.raises(ConfigError, match="--dev"):
        _jwks_cache(load_settings({"IAMD_FEDERATION_ALLOW_HTTP_LOOPBACK": "1"}), SystemClock())
    dev = load_settings({"IAMD_FEDERATION_ALLOW_HTTP_LOOPBACK": "1", "IAMD_DEV": "1"})
    assert _jwks_cache(dev, SystemClock()).settings.allow_http_loopback
