"""The identity a Roles Anywhere session gets from its certificate (iamd.auth.x509_identity)."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

from iamd.auth.x509_identity import principal_tags, role_session_name, source_identity
from tests.support import pki

ROOT = pki.root_ca(
    "Roles Anywhere", subject=pki.name("Roles Anywhere", C="US", O="Example", OU="IAM", ST="Washington", L="Seattle")
)


def leaf(**options: object) -> x509.Certificate:
    return ROOT.issue_leaf("unused", **options).certificate


def test_default_mapping_takes_subject_issuer_and_first_sans() -> None:
    cert = leaf(
        subject=pki.name("web-01.example.com", C="DE", O="Shop", OU="Checkout"),
        dns_names=["web-01.example.com", "web.example.com"],
        uris=["spiffe://example.com/ns/shop/sa/web", "urn:second"],
        directory_names=[pki.name("dir-cn", O="DirOrg"), pki.name("second-dir")],
    )
    assert principal_tags(cert) == {
        "x509Subject/C": "DE",
        "x509Subject/O": "Shop",
        "x509Subject/OU": "Checkout",
        "x509Subject/CN": "web-01.example.com",
        "x509Issuer/C": "US",
        "x509Issuer/O": "Example",
        "x509Issuer/OU": "IAM",
        "x509Issuer/ST": "Washington",
        "x509Issuer/L": "Seattle",
        "x509Issuer/CN": "Roles Anywhere",
        "x509SAN/DNS": "web-01.example.com",
        "x509SAN/URI": "spiffe://example.com/ns/shop/sa/web",
        "x509SAN/Name/O": "DirOrg",
        "x509SAN/Name/CN": "dir-cn",
    }


def test_unsupported_attributes_and_repeats() -> None:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "first-ou"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "second-ou"),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, "ops@example.com"),
            x509.NameAttribute(NameOID.COMMON_NAME, "svc"),
        ]
    )
    tags = principal_tags(leaf(subject=subject), {"x509Subject": ["*"]})
    assert tags == {"x509Subject/OU": "first-ou", "x509Subject/CN": "svc"}


def test_custom_mapping_rules() -> None:
    cert = leaf(subject=pki.name("svc", O="Shop", OU="Checkout"), dns_names=["a.example"], uris=["urn:x"])
    mappings = {"x509Subject": ["CN", "OU"], "x509Issuer": [], "x509SAN": ["URI", "Name/CN"]}
    assert principal_tags(cert, mappings) == {
        "x509Subject/CN": "svc",
        "x509Subject/OU": "Checkout",
        "x509SAN/URI": "urn:x",
    }
    assert principal_tags(cert, {}) == {}


def test_certificate_without_sans() -> None:
    tags = principal_tags(leaf(subject=pki.name("plain")))
    assert not [key for key in tags if key.startswith("x509SAN/")]


def test_role_session_name_is_the_hex_serial_number() -> None:
    assert (
        role_session_name(leaf(serial_number=0x1F71C5114A119FC0CC5A5A52FB3720AD)) == "1f71c5114a119fc0cc5a5a52fb3720ad"
    )
    assert role_session_name(leaf(serial_number=0x0ABC)) == "0abc"


def test_source_identity_is_the_subject_common_name() -> None:
    assert source_identity(leaf(subject=pki.name("build-agent-01", O="CI"))) == "CN=build-agent-01"
    no_cn = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "only-org")])
    assert source_identity(leaf(subject=no_cn)) is None
