"""Reading the helper's certificate, intermediates and private key (PEM).

Private keys may be PKCS#8 (``PRIVATE KEY``), PKCS#1 (``RSA PRIVATE KEY``) or SEC1 (``EC PRIVATE KEY``),
RSA or elliptic-curve; encrypted keys are refused with a message that says how to decrypt them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from iamd.auth.x509 import SigningKey

__all__ = ["HelperFileError", "SigningMaterial", "load_signing_material"]


class HelperFileError(Exception):
    """A certificate or key file that cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class SigningMaterial:
    certificate: x509.Certificate
    private_key: SigningKey
    intermediates: tuple[x509.Certificate, ...]


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise HelperFileError(f"Cannot read the {what} {path}: {error.strerror or error}.") from None


def _certificates(path: Path, what: str) -> list[x509.Certificate]:
    data = _read(path, what)
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        certificates = []
    if not certificates:
        raise HelperFileError(f"The {what} {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----).")
    return certificates


def _private_key(path: Path) -> SigningKey:
    data = _read(path, "private key")
    if b"ENCRYPTED" in data:
        raise HelperFileError(
            f"The private key {path} is encrypted: decrypt it first "
            "(openssl pkcs8 -in KEY -out PLAIN.key), and keep the result readable by its owner only."
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise HelperFileError(
            f"The private key {path} is not a PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC)."
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise HelperFileError(f"The private key {path} is neither an RSA nor an elliptic-curve key.")
    return key


def _spki(key: object) -> bytes:
    assert isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_signing_material(certificate: Path, private_key: Path, intermediates: Path | None = None) -> SigningMaterial:
    """The leaf (the first certificate of ``certificate``), its key, and the intermediates to send."""
    leaf = _certificates(certificate, "certificate")[0]
    key = _private_key(private_key)
    if _spki(leaf.public_key()) != _spki(key.public_key()):
        raise HelperFileError(f"The private key {private_key} does not belong to the certificate {certificate}.")
    chain = tuple(_certificates(intermediates, "intermediates bundle")) if intermediates is not None else ()
    return SigningMaterial(certificate=leaf, private_key=key, intermediates=chain)
