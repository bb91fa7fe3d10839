"""Signing keys and JWTs for tests: a stand-in identity provider in memory (and the attacker's tools).

Independent of iamd's verifier: keys and signatures come from ``cryptography`` directly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

_HASH = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVE = {
    "ES256": (ec.SECP256R1, "P-256", 32),
    "ES384": (ec.SECP384R1, "P-384", 48),
    "ES512": (ec.SECP521R1, "P-521", 66),
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int, length: int | None = None) -> str:
    size = length or max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(size, "big"))


@dataclass
class SigningKey:
    alg: str
    kid: str | None
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls, alg: str = "RS256", kid: str | None = "key-1", rsa_bits: int = 2048) -> SigningKey:
        if alg.startswith(("RS", "PS")):
            return cls(alg, kid, rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits))
        return cls(alg, kid, ec.generate_private_key(_CURVE[alg][0]()))

    def public_jwk(self, *, with_alg: bool = True, **extra: Any) -> dict[str, Any]:
        jwk: dict[str, Any]
        if isinstance(self.private, rsa.RSAPrivateKey):
            numbers = self.private.public_key().public_numbers()
            jwk = {"kty": "RSA", "n": _uint(numbers.n), "e": _uint(numbers.e)}
        else:
            pub = self.private.public_key().public_numbers()
            _, crv, size = _CURVE[self.alg]
            jwk = {"kty": "EC", "crv": crv, "x": _uint(pub.x, size), "y": _uint(pub.y, size)}
        jwk["use"] = "sig"
        if self.kid is not None:
            jwk["kid"] = self.kid
        if with_alg:
            jwk["alg"] = self.alg
        jwk.update(extra)
        return jwk

    def private_jwk(self) -> dict[str, Any]:
        """The full private JWK (what oidc-provider is configured with)."""
        jwk = self.public_jwk()
        if isinstance(self.private, rsa.RSAPrivateKey):
            n = self.private.private_numbers()
            jwk.update(d=_uint(n.d), p=_uint(n.p), q=_uint(n.q), dp=_uint(n.dmp1), dq=_uint(n.dmq1), qi=_uint(n.iqmp))
        else:
            _, _, size = _CURVE[self.alg]
            jwk["d"] = _uint(self.private.private_numbers().private_value, size)
        return jwk

    def sign(self, signing_input: bytes) -> bytes:
        digest = _HASH[self.alg[2:]]()
        if isinstance(self.private, rsa.RSAPrivateKey):
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if self.alg.startswith("RS")
                else padding.PSS(mgf=padding.MGF1(_HASH[self.alg[2:]]()), salt_length=digest.digest_size)
            )
            return self.private.sign(signing_input, pad, digest)
        r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(digest)))
        size = _CURVE[self.alg][2]
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [k.public_jwk() for k in keys]}


def encode_part(data: Mapping[str, Any] | bytes) -> str:
    return b64url(data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode())


def make_token(key: SigningKey, claims: Mapping[str, Any], header: Mapping[str, Any] | None = None) -> str:
    """A compact JWS signed by ``key`` (header ``alg``/``kid`` from the key unless overridden)."""
    head: dict[str, Any] = {"alg": key.alg, "typ": "JWT"}
    if key.kid is not None:
        head["kid"] = key.kid
    head.update(header or {})
    signing_input = f"{encode_part(head)}.{encode_part(claims)}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"


def unsigned_token(claims: Mapping[str, Any], header: Mapping[str, Any] | None = None) -> str:
    """``alg: none``: the oldest trick."""
    head = {"alg": "none", "typ": "JWT", **(header or {})}
    return f"{encode_part(head)}.{encode_part(claims)}."


def hmac_token_with_public_key(key: SigningKey, claims: Mapping[str, Any], kid: str | None = None) -> str:
    """HS256 keyed with the provider's public JWK text: the algorithm-confusion attack."""
    head = {"alg": "HS256", "typ": "JWT", "kid": kid or key.kid}
    signing_input = f"{encode_part(head)}.{encode_part(claims)}"
    secret = json.dumps(key.public_jwk(), separators=(",", ":")).encode()
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"
