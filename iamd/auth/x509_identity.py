"""The identity IAM Roles Anywhere derives from an authenticating certificate. Pure.

From AWS's "Trust model" and "Certificate attribute mapping" pages:

* principal tags: ``x509Subject/<RDN>`` and ``x509Issuer/<RDN>`` for the supported relative
  distinguished names of the subject and issuer, and ``x509SAN/DNS``, ``x509SAN/URI`` and
  ``x509SAN/Name/<RDN>`` for the **first** DNS name, URI and directory name of the subjectAltName
  extension. A profile's attribute mappings choose which (specifier ``*`` = every supported RDN);
  without any, the default mapping below applies.
* the role session name: the hex-encoded serial number of the certificate;
* the source identity: the subject's common name, as ``CN=<value>``.

Supported RDNs are those AWS's documentation shows: C, CN, L, O, OU, ST. When the subject repeats an
attribute (two OUs), the first one is mapped, as with the SAN values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cryptography import x509
from cryptography.x509.oid import NameOID

__all__ = [
    "DEFAULT_ATTRIBUTE_MAPPINGS",
    "SUPPORTED_RDNS",
    "AttributeMappings",
    "principal_tags",
    "role_session_name",
    "source_identity",
]

SUBJECT = "x509Subject"
ISSUER = "x509Issuer"
SAN = "x509SAN"

SUPPORTED_RDNS: Mapping[x509.ObjectIdentifier, str] = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.COMMON_NAME: "CN",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
}
"""RDN attribute OIDs mapped to principal tags, with the short name used in the tag key."""

AttributeMappings = Mapping[str, Sequence[str]]
"""certificateField (``x509Subject``, ``x509Issuer``, ``x509SAN``) -> specifiers, as a profile holds them."""

DEFAULT_ATTRIBUTE_MAPPINGS: AttributeMappings = {
    SUBJECT: ("*",),
    ISSUER: ("*",),
    SAN: ("DNS", "URI", "Name/*"),
}
"""What a new profile maps (AWS's default mapping rules)."""


def _rdn_values(name: x509.Name) -> dict[str, str]:
    """Short name -> first value for the supported attributes of ``name``."""
    values: dict[str, str] = {}
    for attribute in name:
        short = SUPPORTED_RDNS.get(attribute.oid)
        if short is not None and short not in values and isinstance(attribute.value, str):
            values[short] = attribute.value
    return values


def _select(values: Mapping[str, str], specifiers: Sequence[str]) -> dict[str, str]:
    if "*" in specifiers:
        return dict(values)
    return {short: values[short] for short in specifiers if short in values}


def _san_values(cert: x509.Certificate, specifiers: Sequence[str]) -> dict[str, str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return {}
    tags: dict[str, str] = {}
    if "DNS" in specifiers:
        dns = san.get_values_for_type(x509.DNSName)
        if dns:
            tags["DNS"] = dns[0]
    if "URI" in specifiers:
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
        if uris:
            tags["URI"] = uris[0]
    name_specifiers = [spec.removeprefix("Name/") for spec in specifiers if spec.startswith("Name/")]
    if name_specifiers:
        names = san.get_values_for_type(x509.DirectoryName)
        if names:
            for short, value in _select(_rdn_values(names[0]), name_specifiers).items():
                tags[f"Name/{short}"] = value
    return tags


def principal_tags(cert: x509.Certificate, mappings: AttributeMappings | None = None) -> dict[str, str]:
    """Principal tags (key without ``aws:PrincipalTag/``) for a session authenticated by ``cert``."""
    rules = DEFAULT_ATTRIBUTE_MAPPINGS if mappings is None else mappings
    tags: dict[str, str] = {}
    for field, name in ((SUBJECT, cert.subject), (ISSUER, cert.issuer)):
        specifiers = rules.get(field, ())
        if specifiers:
            for short, value in _select(_rdn_values(name), specifiers).items():
                tags[f"{field}/{short}"] = value
    san_specifiers = rules.get(SAN, ())
    if san_specifiers:
        for key, value in _san_values(cert, san_specifiers).items():
            tags[f"{SAN}/{key}"] = value
    return tags


def role_session_name(cert: x509.Certificate) -> str:
    """The hex-encoded serial number (lower case, whole bytes), AWS's session name for the session."""
    serial = cert.serial_number
    return serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big").hex()


def source_identity(cert: x509.Certificate) -> str | None:
    """``CN=<common name>`` of the subject, or None when the subject has no common name."""
    common_name = _rdn_values(cert.subject).get("CN")
    return None if common_name is None else f"CN={common_name}"
