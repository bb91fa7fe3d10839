"""Encrypted SAML assertions: pysaml2's signed responses, encrypted by xmlsec1 for the provider's key, decrypted by
iamd (iamd.auth.saml_decrypt) - and every way of getting it wrong refused."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from iamd.auth.saml import SamlProviderTrust, SamlSettings, verify_saml_response
from iamd.auth.saml_decrypt import CANNOT_DECRYPT
from iamd.auth.saml_metadata import parse_saml_metadata
from iamd.auth.saml_xml import SIGNATURE_INVALID
from iamd.core.errors import InvalidIdentityToken
from tests.support.saml_idp import XENC, XENC11, SamlIdp, b64, encrypt_assertion, self_signed

pytestmark = pytest.mark.slow

ACCOUNT = "123456789012"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/TestIdP"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/Admin"
A = "https://aws.amazon.com/SAML/Attributes/"
ATTRIBUTES = {A + "Role": [f"{ROLE_ARN},{PROVIDER_ARN}"], A + "RoleSessionName": ["alice@example.com"]}
SP_KEY, SP_CERT = self_signed("iamd SAML provider")


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamlIdp]:
    yield SamlIdp(tmp_path_factory.mktemp("saml-idp"))


def trust_for(idp: SamlIdp, *keys: rsa.RSAPrivateKey, required: bool = False) -> SamlProviderTrust:
    meta = parse_saml_metadata(idp.metadata())
    return SamlProviderTrust(PROVIDER_ARN, meta.entity_id, meta.signing_certificates, tuple(keys), required)


def verify(xml: str, trust: SamlProviderTrust) -> tuple[str, tuple[str, ...]]:
    assertion = verify_saml_response(b64(xml), trust, time.time(), SamlSettings())
    return assertion.attributes.role_session_name, assertion.signed_parts


@pytest.mark.parametrize(
    ("content", "sign_response", "sign_assertion", "signed"),
    [
        (XENC11 + "aes256-gcm", False, True, ("Assertion",)),
        (XENC11 + "aes128-gcm", True, True, ("Response", "Assertion")),
        (XENC + "aes256-cbc", True, False, ("Response",)),
        (XENC + "aes128-cbc", False, True, ("Assertion",)),
    ],
)
def test_encrypted_assertions_are_decrypted_and_still_need_a_signature(
    idp: SamlIdp, tmp_path: Path, content: str, sign_response: bool, sign_assertion: bool, signed: tuple[str, ...]
) -> None:
    xml = idp.response("alice", ATTRIBUTES, sign_response=sign_response, sign_assertion=sign_assertion)
    encrypted = encrypt_assertion(xml, SP_CERT, tmp_path, content=content, signer=idp if sign_response else None)
    assert "EncryptedAssertion" in encrypted and "alice@example.com" not in encrypted
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert verify(encrypted, trust_for(idp, other_key, SP_KEY)) == ("alice@example.com", signed)


def test_an_encrypted_assertion_without_any_signature_is_refused(idp: SamlIdp, tmp_path: Path) -> None:
    xml = idp.response("alice", ATTRIBUTES, sign_response=False, sign_assertion=False)
    with pytest.raises(InvalidIdentityToken, match=SIGNATURE_INVALID):
        verify(encrypt_assertion(xml, SP_CERT, tmp_path), trust_for(idp, SP_KEY))


def test_keys_and_modes(idp: SamlIdp, tmp_path: Path) -> None:
    plain = idp.response("alice", ATTRIBUTES, sign_response=False)
    encrypted = encrypt_assertion(plain, SP_CERT, tmp_path)
    with pytest.raises(InvalidIdentityToken, match="not supported by this provider"):
        verify(encrypted, trust_for(idp))  # no private key: no encrypted assertions
    wrong = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidIdentityToken, match=CANNOT_DECRYPT):
        verify(encrypted, trust_for(idp, wrong))
    with pytest.raises(InvalidIdentityToken, match="encrypted SAML assertions only"):
        verify(plain, trust_for(idp, SP_KEY, required=True))
    assert verify(encrypted, trust_for(idp, SP_KEY, required=True))[0] == "alice@example.com"


def test_weak_algorithms_are_refused(idp: SamlIdp, tmp_path: Path) -> None:
    xml = idp.response("alice", ATTRIBUTES, sign_response=False)
    for content, transport in (
        (XENC + "tripledes-cbc", XENC + "rsa-oaep-mgf1p"),  # pysaml2's own default
        (XENC11 + "aes256-gcm", XENC + "rsa-1_5"),  # Bleichenbacher's oracle
    ):
        encrypted = encrypt_assertion(xml, SP_CERT, tmp_path / content[-6:], content=content, key_transport=transport)
        with pytest.raises(InvalidIdentityToken, match=CANNOT_DECRYPT):
            verify(encrypted, trust_for(idp, SP_KEY))


def _flip_ciphertext(xml: str) -> str:
    """Change one byte in the middle of the content ciphertext (the last CipherValue)."""
    values = list(re.finditer(r"<(?:\w+:)?CipherValue>([^<]+)</(?:\w+:)?CipherValue>", xml))
    match = values[-1]
    raw = bytearray(base64.b64decode("".join(match.group(1).split())))
    raw[len(raw) // 2] ^= 0x01
    return xml[: match.start(1)] + base64.b64encode(bytes(raw)).decode() + xml[match.end(1) :]


def test_tampered_ciphertext_is_refused(idp: SamlIdp, tmp_path: Path) -> None:
    signed_response = encrypt_assertion(idp.response("alice", ATTRIBUTES), SP_CERT, tmp_path / "a", signer=idp)
    with pytest.raises(InvalidIdentityToken, match=SIGNATURE_INVALID):  # the response signature covers it
        verify(_flip_ciphertext(signed_response), trust_for(idp, SP_KEY))
    gcm = encrypt_assertion(idp.response("alice", ATTRIBUTES, sign_response=False), SP_CERT, tmp_path / "b")
    with pytest.raises(InvalidIdentityToken, match=CANNOT_DECRYPT):  # GCM's tag
        verify(_flip_ciphertext(gcm), trust_for(idp, SP_KEY))
    cbc = encrypt_assertion(
        idp.response("alice", ATTRIBUTES, sign_response=False), SP_CERT, tmp_path / "c", content=XENC + "aes256-cbc"
    )
    with pytest.raises(InvalidIdentityToken):  # garbled plaintext or the assertion's own signature
        verify(_flip_ciphertext(cbc), trust_for(idp, SP_KEY))


def test_an_encrypted_and_a_plain_assertion_together_are_refused(idp: SamlIdp, tmp_path: Path) -> None:
    encrypted = encrypt_assertion(idp.response("alice", ATTRIBUTES, sign_response=False), SP_CERT, tmp_path)
    plain = idp.response("mallory", ATTRIBUTES, sign_response=False)
    assertion = re.search(r"<ns1:Assertion .*</ns1:Assertion>", plain, re.S)
    assert assertion is not None
    both = encrypted.replace("</ns0:Response>", assertion.group(0) + "</ns0:Response>")
    with pytest.raises(InvalidIdentityToken, match="exactly one assertion"):
        verify(both, trust_for(idp, SP_KEY))
