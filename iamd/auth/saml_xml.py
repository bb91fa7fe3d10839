"""Safe XML for SAML: parsing without DTDs or entities, and signatures verified with signxml.

The rule that defeats XML signature wrapping: after a signature is verified, only the subtree the
signature covers - as signxml returns it, re-read from the canonical bytes that were digested - is
used.  Nothing is ever read from the document that was posted.  Comments cannot split text that way
either: the canonical form has none (or they are signed), and text is read with ``itertext``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from typing import TypeAlias

from cryptography import x509
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import SignXMLException
from signxml.verifier import SignatureConfiguration, XMLVerifier

from iamd.core.errors import InvalidIdentityToken

Element: TypeAlias = etree._Element

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
}

SIGNATURE_INVALID = "Response signature invalid"
"""AWS's message when the signature of a SAML response does not verify."""

NOT_A_SAML_RESPONSE = "The SAML assertion is not a valid base64-encoded SAML 2.0 response document"

_STRONG_METHODS = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
        SignatureMethod.ECDSA_SHA512,
        SignatureMethod.SHA256_RSA_MGF1,
        SignatureMethod.SHA384_RSA_MGF1,
        SignatureMethod.SHA512_RSA_MGF1,
    }
)
_STRONG_DIGESTS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512})


def tag(prefix: str, local: str) -> str:
    return f"{{{NS[prefix]}}}{local}"


def decode_base64_document(value: str, *, max_bytes: int) -> bytes:
    """The bytes of a base64-encoded XML document (line breaks and spaces in the base64 allowed)."""
    compact = re.sub(r"\s+", "", value)
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidIdentityToken(NOT_A_SAML_RESPONSE) from exc
    if not raw or len(raw) > max_bytes:
        raise InvalidIdentityToken(NOT_A_SAML_RESPONSE)
    return raw


def parse_xml(document: bytes, *, what: str = "SAML response") -> Element:
    """Parse untrusted XML: no DTD, no entities, no network, no huge trees.

    A document type declaration is refused outright (it is the door to entity expansion and external
    entities, and no SAML message needs one).
    """
    head = document[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in document.lower():
        raise InvalidIdentityToken(f"The {what} must not contain a document type declaration or entities")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )
    try:
        root = etree.fromstring(document, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise InvalidIdentityToken(f"The {what} is not well-formed XML") from exc
    tree = root.getroottree()
    if getattr(tree.docinfo, "doctype", "") or tree.docinfo.internalDTD is not None:
        raise InvalidIdentityToken(f"The {what} must not contain a document type declaration or entities")
    return root


def text_of(element: Element | None) -> str:
    """All the text inside an element (comments or child elements cannot cut it short)."""
    if element is None:
        return ""
    return "".join(str(piece) for piece in element.itertext())


def duplicate_ids(root: Element) -> bool:
    ids = [e.get("ID") for e in root.iter() if isinstance(e.tag, str) and e.get("ID") is not None]
    return len(ids) != len(set(ids))


def load_certificates(pems_or_der: Sequence[str | bytes | x509.Certificate]) -> tuple[x509.Certificate, ...]:
    out: list[x509.Certificate] = []
    for item in pems_or_der:
        if isinstance(item, x509.Certificate):
            out.append(item)
        elif isinstance(item, bytes):
            out.append(x509.load_der_x509_certificate(item))
        else:
            out.append(x509.load_pem_x509_certificate(item.encode()))
    return tuple(out)


def verify_enveloped(element: Element, certificates: Sequence[x509.Certificate], *, allow_sha1: bool) -> Element:
    """Verify the signature that is a direct child of ``element`` and covers exactly ``element``.

    ``element`` is serialized on its own (exclusive canonicalization keeps the namespaces it uses), so the
    signature's reference can only resolve inside it.  Returns the *signed* element as signxml re-reads it
    from the verified canonical bytes; raises InvalidIdentityToken(SIGNATURE_INVALID) otherwise.
    """
    methods = set(_STRONG_METHODS)
    digests = set(_STRONG_DIGESTS)
    if allow_sha1:
        methods.add(SignatureMethod.RSA_SHA1)
        digests.add(DigestAlgorithm.SHA1)
    config = SignatureConfiguration(
        require_x509=True,
        location="./",
        expect_references=1,
        signature_methods=frozenset(methods),
        digest_algorithms=frozenset(digests),
    )
    standalone = etree.tostring(element)
    expected_id = element.get("ID")
    for certificate in certificates:
        try:
            result = XMLVerifier().verify(standalone, x509_cert=certificate, expect_config=config, id_attribute="ID")
        except (SignXMLException, etree.LxmlError, ValueError):  # a bad signature, or not one (schema)
            continue
        signed = result[0] if isinstance(result, list) else result
        signed_xml = signed.signed_xml
        if signed_xml is None or signed_xml.tag != element.tag or signed_xml.get("ID") != expected_id:
            continue  # the signature covers something else than the element it sits in
        return signed_xml
    raise InvalidIdentityToken(SIGNATURE_INVALID)


def has_enveloped_signature(element: Element) -> bool:
    return element.find(tag("ds", "Signature")) is not None
