"""SAML provider metadata (CreateSAMLProvider / UpdateSAMLProvider ``SAMLMetadataDocument``).

What IAM keeps of an identity provider's metadata: its entity id, the certificates whose keys may sign
its responses, and its ``validUntil``.  Parsed with the same safe parser as responses (no DTD, no
entities, no network).  Errors are IAM's ``InvalidInput``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from iamd.auth.saml_xml import Element, parse_xml, tag, text_of
from iamd.core.errors import InvalidIdentityToken, InvalidInput

MIN_METADATA_LENGTH = 1000
MAX_METADATA_LENGTH = 10_000_000
"""CreateSAMLProvider's SAMLMetadataDocument: 1000 to 10,000,000 characters (botocore's SAMLMetadataDocumentType)."""

COULD_NOT_PARSE = "Could not parse metadata"


@dataclass(frozen=True)
class SamlMetadata:
    entity_id: str
    signing_certificates: tuple[x509.Certificate, ...]
    valid_until: float | None
    """Epoch seconds of the earliest ``validUntil`` in the document (GetSAMLProvider's ValidUntil), if any."""
    sso_urls: tuple[str, ...] = ()


def _invalid(reason: str) -> InvalidInput:
    return InvalidInput(f"{COULD_NOT_PARSE}: {reason}")


def _instant(value: str) -> float:
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise _invalid(f"validUntil {value!r} is not a date and time") from exc
    if when.tzinfo is None:
        raise _invalid("validUntil must be in UTC")
    return when.timestamp()


def _certificate(element: Element) -> x509.Certificate:
    compact = re.sub(r"\s+", "", text_of(element))
    try:
        return x509.load_der_x509_certificate(base64.b64decode(compact, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise _invalid("an X509Certificate cannot be read") from exc


def _entity(root: Element) -> Element:
    if root.tag == tag("md", "EntityDescriptor"):
        return root
    if root.tag == tag("md", "EntitiesDescriptor"):
        idps = [
            e for e in root.iter(tag("md", "EntityDescriptor")) if e.find(tag("md", "IDPSSODescriptor")) is not None
        ]
        if len(idps) == 1:
            return idps[0]
        raise _invalid("the document must describe exactly one identity provider")
    raise _invalid("the document is not a SAML 2.0 EntityDescriptor")


def parse_saml_metadata(document: str) -> SamlMetadata:
    """The entity id, signing certificates and validity of an IdP's metadata; InvalidInput otherwise."""
    if not MIN_METADATA_LENGTH <= len(document) <= MAX_METADATA_LENGTH:
        raise _invalid(f"the document must be {MIN_METADATA_LENGTH} to {MAX_METADATA_LENGTH} characters")
    try:
        root = parse_xml(document.encode("utf-8"), what="SAML metadata document")
    except InvalidIdentityToken as exc:
        raise _invalid(exc.message) from exc
    entity = _entity(root)
    entity_id = (entity.get("entityID") or "").strip()
    if not entity_id or len(entity_id) > 1024:
        raise _invalid("the EntityDescriptor has no entityID")
    limits = [_instant(v) for v in (root.get("validUntil"), entity.get("validUntil")) if v]
    idp = entity.find(tag("md", "IDPSSODescriptor"))
    if idp is None:
        raise _invalid("the entity has no IDPSSODescriptor")
    certificates: list[x509.Certificate] = []
    for descriptor in idp.findall(tag("md", "KeyDescriptor")):
        if descriptor.get("use") not in (None, "signing"):
            continue
        for element in descriptor.iter(tag("ds", "X509Certificate")):
            certificates.append(_certificate(element))
    if not certificates:
        raise _invalid("the IDPSSODescriptor has no signing certificate")
    sso = tuple(
        location
        for service in idp.findall(tag("md", "SingleSignOnService"))
        if (location := service.get("Location")) is not None
    )
    unique = tuple({c.fingerprint(hashes.SHA256()): c for c in certificates}.values())
    return SamlMetadata(entity_id, unique, min(limits) if limits else None, sso)
