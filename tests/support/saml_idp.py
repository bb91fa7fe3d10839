"""A real SAML 2.0 identity provider for tests: pysaml2's IdP ``Server`` signing with xmlsec1.

``SamlIdp.response(...)`` returns the XML of a genuine signed ``samlp:Response`` for AWS's service provider
(entity ``urn:amazon:webservices``, ACS ``https://signin.aws.amazon.com/saml``) or for a second, foreign service
provider (to produce wrong audiences and recipients); ``metadata()`` is the IdP's own metadata document, as
an operator would upload it with CreateSAMLProvider.
"""

from __future__ import annotations

import base64
import datetime
import shutil
import subprocess
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pysaml2 imports cryptography names that warn of their deprecation
    from saml2 import BINDING_HTTP_REDIRECT
    from saml2.config import IdPConfig
    from saml2.metadata import create_metadata_string
    from saml2.saml import AUTHN_PASSWORD_PROTECTED, NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
    from saml2.server import Server
    from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

AWS_SP = "urn:amazon:webservices"
AWS_ACS = "https://signin.aws.amazon.com/saml"
OTHER_SP = "https://other.example.test/sp"
OTHER_ACS = "https://other.example.test/acs"
ENTITY_ID = "https://idp.example.test/saml"

SP_METADATA = f"""<?xml version="1.0"?>
<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">
 <md:EntityDescriptor entityID="{AWS_SP}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAssertionsSigned="true">
   <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
   <md:AssertionConsumerService index="1" isDefault="true"
     Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{AWS_ACS}"/>
  </md:SPSSODescriptor>
 </md:EntityDescriptor>
 <md:EntityDescriptor entityID="{OTHER_SP}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
   <md:AssertionConsumerService index="1" isDefault="true"
     Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{OTHER_ACS}"/>
  </md:SPSSODescriptor>
 </md:EntityDescriptor>
</md:EntitiesDescriptor>
"""


def self_signed(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return key, cert


@dataclass
class SamlIdp:
    directory: Path
    entity_id: str = ENTITY_ID
    key: rsa.RSAPrivateKey | None = None
    certificate: x509.Certificate | None = None

    def __post_init__(self) -> None:
        xmlsec = shutil.which("xmlsec1")
        if xmlsec is None:
            pytest.fail("xmlsec1 is needed for the SAML identity provider test peer (Debian: apt-get install xmlsec1)")
        if self.key is None or self.certificate is None:
            self.key, self.certificate = self_signed("iamd test IdP")
        self.directory.mkdir(parents=True, exist_ok=True)
        key_file, cert_file = self.directory / "idp.key", self.directory / "idp.crt"
        key_file.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        cert_file.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        config = IdPConfig()
        config.load(
            {
                "entityid": self.entity_id,
                "valid_for": 24 * 7,
                "service": {
                    "idp": {
                        "name": "iamd test IdP",
                        "endpoints": {
                            "single_sign_on_service": [("https://idp.example.test/sso", BINDING_HTTP_REDIRECT)]
                        },
                        "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_URI}},
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                    }
                },
                "key_file": str(key_file),
                "cert_file": str(cert_file),
                "xmlsec_binary": xmlsec,
                "metadata": {"inline": [SP_METADATA]},
            }
        )
        self.config = config
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.server = Server(config=config)

    @property
    def certificate_pem(self) -> str:
        assert self.certificate is not None
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def metadata(self) -> str:
        """The IdP's metadata document (EntityDescriptor with its signing certificate)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = create_metadata_string(None, config=self.config)
        return text.decode() if isinstance(text, bytes) else str(text)

    def response(
        self,
        name_id: str = "alice-persistent-id",
        attributes: Mapping[str, Sequence[str]] | None = None,
        *,
        sign_response: bool = True,
        sign_assertion: bool = True,
        sp: str = AWS_SP,
        destination: str = AWS_ACS,
        name_id_format: str = NAMEID_FORMAT_PERSISTENT,
        sha1: bool = False,
        **extra: Any,
    ) -> str:
        """A genuine signed SAML response (XML text) as this IdP issues it now."""
        identity = {k: list(v) for k, v in (attributes or {}).items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            response = self.server.create_authn_response(
                identity,
                None,
                destination,
                sp,
                name_id=NameID(format=name_id_format, text=name_id),
                authn={"class_ref": AUTHN_PASSWORD_PROTECTED},
                sign_response=sign_response,
                sign_assertion=sign_assertion,
                sign_alg=SIG_RSA_SHA1 if sha1 else SIG_RSA_SHA256,
                digest_alg=DIGEST_SHA1 if sha1 else DIGEST_SHA256,
                **extra,
            )
        return str(response)


XENC = "http://www.w3.org/2001/04/xmlenc#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"
SAML_ASSERTION_NS = "urn:oasis:names:tc:SAML:2.0:assertion"


def encrypt_assertion(
    xml: str,
    certificate: x509.Certificate,
    work: Path,
    *,
    content: str = XENC11 + "aes256-gcm",
    key_transport: str = XENC + "rsa-oaep-mgf1p",
    signer: SamlIdp | None = None,
) -> str:
    """The response with its assertion encrypted for ``certificate`` by xmlsec1 (an ``EncryptedAssertion``).

    ``signer``: re-sign the response (its signature then covers the ciphertext, as an IdP that encrypts
    then signs sends it); without it, only the assertion's own signature (inside the ciphertext) remains.
    """
    from lxml import etree

    xmlsec = shutil.which("xmlsec1")
    assert xmlsec is not None
    work.mkdir(parents=True, exist_ok=True)
    sizes = {"aes128": "aes-128", "aes192": "aes-192", "aes256": "aes-256", "tripledes": "des-192"}
    session = sizes[content.rsplit("#", 1)[1].split("-")[0]]
    template = (
        f'<xenc:EncryptedData xmlns:xenc="{XENC}" Type="{XENC}Element">'
        f'<xenc:EncryptionMethod Algorithm="{content}"/>'
        '<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey>'
        f'<xenc:EncryptionMethod Algorithm="{key_transport}"/>'
        "<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>"
        "<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"
    )
    (work / "template.xml").write_text(template)
    (work / "response.xml").write_text(xml)
    (work / "sp.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    subprocess.run(
        [xmlsec, "encrypt", "--pubkey-cert-pem", str(work / "sp.crt"), "--session-key", session,
         "--xml-data", str(work / "response.xml"), "--node-xpath", "//*[local-name()='Assertion']",
         "--output", str(work / "encrypted.xml"), str(work / "template.xml")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    root = etree.fromstring((work / "encrypted.xml").read_bytes())
    data = root.find(f"{{{XENC}}}EncryptedData")
    assert data is not None
    wrapper = etree.Element(f"{{{SAML_ASSERTION_NS}}}EncryptedAssertion")
    data.addprevious(wrapper)
    wrapper.append(data)
    (work / "wrapped.xml").write_bytes(etree.tostring(root))
    if signer is None:
        return etree.tostring(root).decode()
    subprocess.run(
        [xmlsec, "sign", "--privkey-pem", f"{signer.directory / 'idp.key'},{signer.directory / 'idp.crt'}",
         "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response",
         "--output", str(work / "signed.xml"), str(work / "wrapped.xml")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return (work / "signed.xml").read_text()


def b64(xml: str | bytes) -> str:
    return base64.b64encode(xml.encode() if isinstance(xml, str) else xml).decode()
