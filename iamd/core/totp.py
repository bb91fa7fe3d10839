"""HOTP (RFC 4226) and TOTP (RFC 6238): pure maths, no state, no clock of its own.

Codes are compared in constant time; :func:`matching_steps` checks every step of a window
whatever matches, so the time taken does not tell which step (if any) matched.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from collections.abc import Callable
from urllib.parse import quote, urlencode

ALGORITHMS: dict[str, Callable[..., hashlib._Hash]] = {
    "SHA1": hashlib.sha1,
    "SHA256": hashlib.sha256,
    "SHA512": hashlib.sha512,
}

DEFAULT_DIGITS = 6
DEFAULT_PERIOD = 30
DEFAULT_ALGORITHM = "SHA1"
SEED_BYTES = 40
"""AWS's virtual MFA seeds are 40 bytes (a 64-character base32 string)."""


def normalize_algorithm(name: str) -> str:
    """``sha1`` / ``HMAC-SHA1`` / ``SHA-256`` ... -> ``SHA1`` / ``SHA256`` / ``SHA512``."""
    key = name.upper().replace("HMAC-", "").replace("HMAC", "").replace("-", "").replace("_", "")
    if key not in ALGORITHMS:
        raise ValueError(f"unsupported OTP algorithm {name!r}: use SHA1, SHA256 or SHA512")
    return key


def hotp(secret: bytes, counter: int, digits: int = DEFAULT_DIGITS, algorithm: str = DEFAULT_ALGORITHM) -> str:
    """RFC 4226: the ``digits``-digit code of ``counter``."""
    if not 6 <= digits <= 10:
        raise ValueError("digits must be between 6 and 10")
    if counter < 0:
        raise ValueError("counter must not be negative")
    mac = hmac.new(secret, struct.pack(">Q", counter), ALGORITHMS[normalize_algorithm(algorithm)]).digest()
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(binary % (10**digits)).zfill(digits)


def time_step(at: float, period: int = DEFAULT_PERIOD, t0: int = 0) -> int:
    """RFC 6238: the time step (counter) at epoch second ``at``."""
    if period <= 0:
        raise ValueError("period must be positive")
    return int((int(at) - t0) // period)


def totp(
    secret: bytes,
    at: float,
    digits: int = DEFAULT_DIGITS,
    period: int = DEFAULT_PERIOD,
    algorithm: str = DEFAULT_ALGORITHM,
) -> str:
    """RFC 6238: the code shown at epoch second ``at``."""
    return hotp(secret, time_step(at, period), digits, algorithm)


def codes_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def matching_steps(
    secret: bytes,
    code: str,
    steps: range,
    digits: int = DEFAULT_DIGITS,
    algorithm: str = DEFAULT_ALGORITHM,
) -> list[int]:
    """Every step of ``steps`` whose code equals ``code`` (all steps are computed and compared)."""
    found: list[int] = []
    for step in steps:
        if step >= 0 and codes_equal(hotp(secret, step, digits, algorithm), code):
            found.append(step)
    return found


def new_seed(size: int = SEED_BYTES) -> bytes:
    return secrets.token_bytes(size)


def base32(seed: bytes) -> str:
    """Base32 without padding (what authenticator apps expect)."""
    return base64.b32encode(seed).decode("ascii").rstrip("=")


def from_base32(text: str) -> bytes:
    cleaned = text.strip().replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def otpauth_uri(
    issuer: str,
    account_name: str,
    seed: bytes,
    digits: int = DEFAULT_DIGITS,
    period: int = DEFAULT_PERIOD,
    algorithm: str = DEFAULT_ALGORITHM,
) -> str:
    """The Key Uri Format scanned by authenticator apps: ``otpauth://totp/ISSUER:NAME?secret=...&issuer=...``."""
    label = quote(f"{issuer}:{account_name}", safe=":@")
    params: dict[str, str] = {"secret": base32(seed), "issuer": issuer}
    if algorithm != DEFAULT_ALGORITHM:
        params["algorithm"] = algorithm
    if digits != DEFAULT_DIGITS:
        params["digits"] = str(digits)
    if period != DEFAULT_PERIOD:
        params["period"] = str(period)
    return f"otpauth://totp/{label}?{urlencode(params, quote_via=quote)}"
