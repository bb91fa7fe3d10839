"""Secrets at rest: AES-256-GCM under a master key kept outside the database.

Ciphertext layout: ``0x01 | key-id (4 bytes) | nonce (12 bytes) | ciphertext+tag``.
The key id lets a key ring hold retired keys for decryption while new data is
written under the primary key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from iamd.core.private_files import create_private_file

_VERSION = 1
KEY_BYTES = 32


class MasterKeyError(Exception):
    """The master key is missing, malformed or does not open this database's secrets."""


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"iamd-key-id" + key).digest()[:4]


class SecretBox:
    def __init__(self, primary: bytes, retired: tuple[bytes, ...] = ()) -> None:
        for k in (primary, *retired):
            if len(k) != KEY_BYTES:
                raise MasterKeyError("a master key must be 32 bytes (base64 of 32 random bytes)")
        self._primary_id = key_id(primary)
        self._keys = {key_id(k): AESGCM(k) for k in (primary, *retired)}
        self._primary = self._keys[self._primary_id]
        self._derivation_key = hmac.new(primary, b"iamd-derived-keys-v1", hashlib.sha256).digest()

    def derive_key(self, label: str) -> bytes:
        """A 32-byte key for ``label`` (HMAC-SHA256 under the primary key): the same on every node."""
        return hmac.new(self._derivation_key, label.encode(), hashlib.sha256).digest()

    def encrypt(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        nonce = os.urandom(12)
        return bytes([_VERSION]) + self._primary_id + nonce + self._primary.encrypt(nonce, plaintext, aad)

    def decrypt(self, blob: bytes, aad: bytes = b"") -> bytes:
        if len(blob) < 1 + 4 + 12 + 16 or blob[0] != _VERSION:
            raise MasterKeyError("ciphertext is malformed")
        aes = self._keys.get(bytes(blob[1:5]))
        if aes is None:
            raise MasterKeyError("ciphertext was written under a master key this server does not hold")
        try:
            return aes.decrypt(bytes(blob[5:17]), bytes(blob[17:]), aad)
        except Exception as exc:  # cryptography raises InvalidTag
            raise MasterKeyError("ciphertext failed authentication") from exc

    def encrypt_text(self, text: str, aad: str = "") -> bytes:
        return self.encrypt(text.encode(), aad.encode())

    def decrypt_text(self, blob: bytes, aad: str = "") -> str:
        return self.decrypt(blob, aad.encode()).decode()


def decode_key(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise MasterKeyError("master key is not valid base64") from exc
    if len(raw) != KEY_BYTES:
        raise MasterKeyError("master key must decode to 32 bytes")
    return raw


def new_key_text() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def read_key_file(path: Path) -> bytes | None:
    """The master key held in ``path``; None when there is no such file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return decode_key(text)


def create_key_file(path: Path) -> bytes:
    """Write a new random master key to ``path`` (0600) and return it.

    When another process created the file first, its key is returned instead: every process that
    races here ends up with the same key, and none ever reads a partly written file.
    """
    text = new_key_text()
    if create_private_file(path, (text + "\n").encode()):
        return decode_key(text)
    key = read_key_file(path)
    if key is None:  # pragma: no cover - created and then removed by someone else
        raise MasterKeyError(f"{path} vanished while it was being created")
    return key


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    ab = a.encode() if isinstance(a, str) else a
    bb = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(ab, bb)
