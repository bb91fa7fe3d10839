"""RFC 4226 / RFC 6238 published test values and the pure TOTP helpers."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from iamd.core import totp

# RFC 4226 (HOTP), Appendix D "HOTP Algorithm: Test Values": the ASCII secret "12345678901234567890",
# 6 digits, the HOTP value for counters 0 to 9.
HOTP_SECRET = b"12345678901234567890"
HOTP_CODES_BY_COUNTER = (
    "755224",
    "287082",
    "359152",
    "969429",
    "338314",
    "254676",
    "287922",
    "162583",
    "399871",
    "520489",
)

# RFC 6238 (TOTP), Appendix B "Test Vectors": T0 = 0, X = 30 seconds, 8 digits.  Appendix B's prose
# names only the 20-byte seed, but its SHA256 and SHA512 values are those of the 32- and 64-byte
# seeds ("seed32", "seed64") of the reference implementation in Appendix A, as used here.
TOTP_SECRETS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
TOTP_TABLE = (
    # time (seconds since the epoch), SHA1, SHA256, SHA512
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
)


def test_hotp_rfc4226() -> None:
    for counter, expected in enumerate(HOTP_CODES_BY_COUNTER):
        assert totp.hotp(HOTP_SECRET, counter, 6) == expected


@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "SHA512"])
def test_totp_rfc6238(algorithm: str) -> None:
    column = 1 + list(TOTP_SECRETS).index(algorithm)
    for row in TOTP_TABLE:
        when = row[0]
        assert isinstance(when, int)
        got = totp.totp(TOTP_SECRETS[algorithm], when, digits=8, period=30, algorithm=algorithm)
        assert got == row[column], (when, algorithm)


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
