"""RFC 4226 / RFC 6238 published vectors and the pure TOTP helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from iamd.core import totp

REPO_ROOT = Path(__file__).resolve().parents[3]
VECTORS = REPO_ROOT.parent / "shared" / "testdata" / "totp-vectors.json"


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data


def test_hotp_rfc4226(vectors: dict[str, Any]) -> None:
    case = vectors["hotp_rfc4226"]
    secret = case["secret_ascii"].encode()
    for counter, expected in enumerate(case["codes_by_counter"]):
        assert totp.hotp(secret, counter, case["digits"]) == expected


@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "SHA512"])
def test_totp_rfc6238(vectors: dict[str, Any], algorithm: str) -> None:
    case = vectors["totp_rfc6238"]
    secret = case["secrets_ascii"][algorithm].encode()
    assert case["cases"]
    for row in case["cases"]:
        got = totp.totp(secret, row["time"], digits=case["digits"], period=case["period"], algorithm=algorithm)
        assert got == row[algorithm], (row["time"], algorithm)


def test_step_boundaries() -> None:
    assert totp.time_step(0) == 0
    assert totp.time_step(29.999) == 0
    assert totp.time_step(30) == 1
    assert totp.time_step(59, period=60) == 0 and totp.time_step(60, period=60) == 1
    secret = b"12345678901234567890"
    assert totp.totp(secret, 29) == totp.hotp(secret, 0)
    assert totp.totp(secret, 30) == totp.hotp(secret, 1)


def test_matching_steps_and_compare() -> None:
    secret = b"12345678901234567890"
    code = totp.hotp(secret, 100)
    assert totp.matching_steps(secret, code, range(98, 103)) == [100]
    assert totp.matching_steps(secret, code, range(101, 110)) == []
    assert totp.matching_steps(secret, code, range(-3, 2)) == []  # negative steps ignored
    assert totp.codes_equal("123456", "123456") and not totp.codes_equal("123456", "123457")


def test_algorithm_names_and_limits() -> None:
    assert totp.normalize_algorithm("HMAC-SHA256") == "SHA256"
    assert totp.normalize_algorithm("sha-512") == "SHA512"
    with pytest.raises(ValueError):
        totp.normalize_algorithm("MD5")
    with pytest.raises(ValueError):
        totp.hotp(b"x" * 20, 0, digits=5)
    with pytest.raises(ValueError):
        totp.hotp(b"x" * 20, -1)


def test_base32_and_otpauth_uri() -> None:
    seed = totp.new_seed()
    assert len(seed) == 40
    text = totp.base32(seed)
    assert len(text) == 64 and "=" not in text
    assert totp.from_base32(text.lower()) == seed
    uri = totp.otpauth_uri("iamd", "my phone@123456789012", seed)
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert parts.path == "/iamd:my%20phone@123456789012"
    assert parse_qs(parts.query) == {"secret": [text], "issuer": ["iamd"]}
    custom = parse_qs(urlsplit(totp.otpauth_uri("x", "y", seed, digits=8, period=60, algorithm="SHA256")).query)
    assert custom["digits"] == ["8"] and custom["period"] == ["60"] and custom["algorithm"] == ["SHA256"]
