"""A software FIDO2 authenticator plus the browser glue around it, for tests without a browser.

``create`` / ``get`` take the options JSON a relying party sends to ``navigator.credentials.create()`` /
``get()`` and return the ``RegistrationResponseJSON`` / ``AuthenticationResponseJSON`` dicts a browser would
post back: real CBOR attestation objects, real authenticator data, real P-256 ECDSA signatures. Base64url
without padding everywhere, like browsers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

AAGUID = bytes.fromhex("1da3fd5e1c7d4e8f9a2b3c4d5e6f7a8b")
"""Fixed AAGUID of every credential this authenticator makes."""

ES256 = -7

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_BE = 0x08
FLAG_BS = 0x10
FLAG_AT = 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftCredential:
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int
    resident: bool


class SoftAuthenticator:
    def __init__(self, *, sign_count_start: int = 0, user_verifying: bool = True, backed_up: bool = False) -> None:
        """``backed_up`` sets the BE and BS flags (a synced passkey)."""
        self.sign_count_start = sign_count_start
        self.user_verifying = user_verifying
        self.backed_up = backed_up
        self._credentials: dict[bytes, SoftCredential] = {}

    @property
    def credential_ids(self) -> list[bytes]:
        return list(self._credentials)

    def credential(self, credential_id: bytes) -> SoftCredential:
        return self._credentials[credential_id]

    def set_sign_count(self, credential_id: bytes, value: int) -> None:
        """Set a credential's counter, e.g. back in time to simulate a cloned authenticator."""
        self._credentials[credential_id].sign_count = value

    # --- navigator.credentials.create() -------------------------------------------------------------------------

    def create(
        self, options_json: str | Mapping[str, Any], origin: str, *, resident: bool = True, fmt: str = "none"
    ) -> dict[str, Any]:
        """Make a credential. ``fmt`` is "none" or "packed" (self attestation)."""
        options = _options(options_json)
        rp_id = str(options.get("rp", {}).get("id") or _host(origin))
        algorithms = [param.get("alg") for param in options.get("pubKeyCredParams", [])]
        if algorithms and ES256 not in algorithms:
            raise ValueError("no supported algorithm")
        for descriptor in options.get("excludeCredentials", []):
            held = self._credentials.get(b64url_decode(descriptor["id"]))
            if held is not None and held.rp_id == rp_id:
                raise ValueError("excluded")
        if fmt not in ("none", "packed"):
            raise ValueError(f"unsupported attestation format {fmt!r}")

        credential_id = secrets.token_bytes(32)
        private_key = ec.generate_private_key(ec.SECP256R1())
        credential = SoftCredential(
            private_key=private_key,
            rp_id=rp_id,
            user_handle=b64url_decode(options["user"]["id"]),
            sign_count=self.sign_count_start,
            resident=resident,
        )

        client_data = _client_data("webauthn.create", options["challenge"], origin)
        attested = AAGUID + struct.pack(">H", len(credential_id)) + credential_id + _cose_key(private_key)
        auth_data = self._auth_data(rp_id, credential.sign_count, FLAG_AT) + attested
        statement: dict[str, Any] = {}
        if fmt == "packed":
            signature = private_key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
            statement = {"alg": ES256, "sig": signature}
        attestation_object = cbor2.dumps({"fmt": fmt, "attStmt": statement, "authData": auth_data})

        self._credentials[credential_id] = credential
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation_object),
                "transports": ["internal"],
            },
            "clientExtensionResults": {"credProps": {"rk": resident}},
            "authenticatorAttachment": "platform",
        }

    # --- navigator.credentials.get() ----------------------------------------------------------------------------

    def get(
        self, options_json: str | Mapping[str, Any], origin: str, *, credential_id: bytes | None = None
    ) -> dict[str, Any]:
        """Make an assertion with an allowed credential, or (empty allow list) a resident credential for the RP
        (the most recent one unless ``credential_id`` picks another)."""
        options = _options(options_json)
        rp_id = str(options.get("rpId") or _host(origin))
        allowed = [b64url_decode(d["id"]) for d in options.get("allowCredentials", [])]
        candidates = [
            cid
            for cid, cred in self._credentials.items()
            if cred.rp_id == rp_id and (cid in allowed if allowed else cred.resident)
        ]
        if credential_id is not None:
            if credential_id not in candidates:
                raise ValueError("credential not usable for this request")
            chosen = credential_id
        elif candidates:
            chosen = candidates[-1]
        else:
            raise ValueError("no credential")

        credential = self._credentials[chosen]
        credential.sign_count += 1
        client_data = _client_data("webauthn.get", options["challenge"], origin)
        auth_data = self._auth_data(rp_id, credential.sign_count, 0)
        signature = credential.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        response: dict[str, Any] = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        if credential.resident:
            response["userHandle"] = b64url(credential.user_handle)
        return {
            "id": b64url(chosen),
            "rawId": b64url(chosen),
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def _auth_data(self, rp_id: str, sign_count: int, extra_flags: int) -> bytes:
        flags = FLAG_UP | extra_flags
        if self.user_verifying:
            flags |= FLAG_UV
        if self.backed_up:
            flags |= FLAG_BE | FLAG_BS
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", sign_count)


def _options(options_json: str | Mapping[str, Any]) -> dict[str, Any]:
    value = json.loads(options_json) if isinstance(options_json, str) else dict(options_json)
    if "publicKey" in value:  # {"publicKey": {...}} as passed to navigator.credentials.*
        value = dict(value["publicKey"])
    assert isinstance(value, dict)
    return value


def _host(origin: str) -> str:
    host = urlsplit(origin).hostname
    if not host:
        raise ValueError(f"bad origin {origin!r}")
    return host


def _client_data(kind: str, challenge_b64url: str, origin: str) -> bytes:
    document = {"type": kind, "challenge": challenge_b64url, "origin": origin, "crossOrigin": False}
    return json.dumps(document, separators=(",", ":")).encode()


def _cose_key(private_key: ec.EllipticCurvePrivateKey) -> bytes:
    numbers = private_key.public_key().public_numbers()
    return cbor2.dumps(
        {1: 2, 3: ES256, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")},
        canonical=True,
    )
