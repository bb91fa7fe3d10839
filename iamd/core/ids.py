"""Identifiers shaped as AWS shapes them, from a cryptographic generator."""

from __future__ import annotations

import base64
import secrets

# AWS unique ids: a 4-character prefix + 17 characters of [A-Z2-7] (base32 alphabet).
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"  # noqa: S105 - an alphabet, not a secret

USER_PREFIX = "AIDA"
GROUP_PREFIX = "AGPA"
ROLE_PREFIX = "AROA"
POLICY_PREFIX = "ANPA"
AWS_POLICY_PREFIX = "ANPA"
INSTANCE_PROFILE_PREFIX = "AIPA"
SERVER_CERT_PREFIX = "ASCA"
SSH_KEY_PREFIX = "APKA"
LONG_TERM_KEY_PREFIX = "AKIA"
TEMPORARY_KEY_PREFIX = "ASIA"


def _random_chars(alphabet: str, count: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(count))


def unique_id(prefix: str) -> str:
    """A 21-character unique id such as ``AIDAJQABLZS4A3QDU576Q``."""
    return prefix + _random_chars(_ID_ALPHABET, 17)


def access_key_id(prefix: str = LONG_TERM_KEY_PREFIX) -> str:
    """A 20-character access key id (AKIA… long-term, ASIA… temporary)."""
    return prefix + _random_chars(_ID_ALPHABET, 16)


def temporary_access_key_id(account: str) -> str:
    """An ASIA… id that encodes its account (as AWS's do), so GetAccessKeyInfo needs no lookup."""
    number = int(account)
    encoded = "".join(_ID_ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(8)))
    return TEMPORARY_KEY_PREFIX + encoded + _random_chars(_ID_ALPHABET, 8)


def account_of_temporary_key(key_id: str) -> str | None:
    if not key_id.startswith(TEMPORARY_KEY_PREFIX) or len(key_id) != 20:
        return None
    number = 0
    for ch in key_id[4:12]:
        index = _ID_ALPHABET.find(ch)
        if index < 0:
            return None
        number = (number << 5) | index
    return f"{number:012d}" if number < 10**12 else None


def secret_access_key() -> str:
    """A 40-character secret access key."""
    return _random_chars(_SECRET_ALPHABET, 40)


def account_id() -> str:
    """A random 12-digit account id that does not start with 0."""
    return str(secrets.randbelow(9 * 10**11) + 10**11)


def request_id() -> str:
    raw = secrets.token_bytes(16)
    h = raw.hex()
    return f"{h[0:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[raw[8] & 3]}{h[17:20]}-{h[20:32]}"


def opaque_token(nbytes: int = 24) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).rstrip(b"=").decode()
