"""Reading the helper's certificate, intermediates and key (iamd.helper.files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from iamd.helper.files import HelperFileError, load_signing_material
from tests.support import pki


@pytest.mark.parametrize(
    ("key_type", "form", "marker"),
    [
        ("ec", "pkcs8", b"-----BEGIN PRIVATE KEY-----"),
        ("ec", "traditional", b"-----BEGIN EC PRIVATE KEY-----"),  # SEC1
        ("rsa", "pkcs8", b"-----BEGIN PRIVATE KEY-----"),
        ("rsa", "traditional", b"-----BEGIN RSA PRIVATE KEY-----"),  # PKCS#1
    ],
)
def test_key_formats(tmp_path: Path, key_type: pki.KeyType, form: str, marker: bytes) -> None:
    leaf = pki.root_ca(key_type=key_type).issue_ca("inter", key_type=key_type).issue_leaf("w", key_type=key_type)
    cert, key, chain = pki.write_pem(tmp_path, "w", leaf, key_form=form)  # type: ignore[arg-type]
    assert key.read_bytes().startswith(marker)
    material = load_signing_material(cert, key, chain)
    assert material.certificate == leaf.certificate
    assert list(material.intermediates) == leaf.intermediates


def test_key_of_another_certificate(tmp_path: Path) -> None:
    root = pki.root_ca()
    cert, _, _ = pki.write_pem(tmp_path, "a", root.issue_leaf("a"))
    _, other_key, _ = pki.write_pem(tmp_path, "b", root.issue_leaf("b"))
    with pytest.raises(HelperFileError, match="does not belong"):
        load_signing_material(cert, other_key)


def test_encrypted_key_is_refused_with_a_fix(tmp_path: Path) -> None:
    leaf = pki.root_ca().issue_leaf("w")
    cert, key, _ = pki.write_pem(tmp_path, "w", leaf)
    key.write_bytes(
        leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    with pytest.raises(HelperFileError, match="encrypted: decrypt it first"):
        load_signing_material(cert, key)


def test_unreadable_files(tmp_path: Path) -> None:
    leaf = pki.root_ca().issue_leaf("w")
    cert, key, _ = pki.write_pem(tmp_path, "w", leaf)
    with pytest.raises(HelperFileError, match="Cannot read the certificate"):
        load_signing_material(tmp_path / "missing.crt", key)
    with pytest.raises(HelperFileError, match="holds no PEM certificate"):
        load_signing_material(key, key)
    with pytest.raises(HelperFileError, match="not a PEM private key"):
        load_signing_material(cert, cert)
