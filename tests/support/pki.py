"""Test certificate authorities: roots, intermediates, leaves and CRLs made on the fly (RSA and P-256).

Everything is generated in memory; ``write_pem`` puts certificates and keys on disk for clients that
read files (the credential helper, ``iam-rolesanywhere-session``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

KeyType = Literal["rsa", "ec"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def new_key(kind: KeyType = "ec", rsa_bits: int = 2048) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    return ec.generate_private_key(ec.SECP256R1())


def name(common_name: str, **attributes: str) -> x509.Name:
    """A name with CN last, the other attributes (C, O, OU, ST, L) first in the order given."""
    oids = {
        "C": NameOID.COUNTRY_NAME,
        "O": NameOID.ORGANIZATION_NAME,
        "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
        "ST": NameOID.STATE_OR_PROVINCE_NAME,
        "L": NameOID.LOCALITY_NAME,
        "DC": NameOID.DOMAIN_COMPONENT,
    }
    parts = [x509.NameAttribute(oids[key], value) for key, value in attributes.items()]
    return x509.Name([*parts, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass
class Issued:
    """A certificate with its private key (and the chain of CAs above it, nearest first)."""

    certificate: x509.Certificate
    key: PrivateKey
    parents: list[Issued] = field(default_factory=list)

    @property
    def intermediates(self) -> list[x509.Certificate]:
        """The CA certificates between this one and the root (the root excluded)."""
        return [p.certificate for p in self.parents if p.certificate.issuer != p.certificate.subject]

    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self, form: Literal["pkcs8", "traditional"] = "pkcs8") -> bytes:
        fmt = serialization.PrivateFormat.PKCS8 if form == "pkcs8" else serialization.PrivateFormat.TraditionalOpenSSL
        return self.key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.intermediates)

    def issue_ca(self, common_name: str, key_type: KeyType = "ec", **options: object) -> Issued:
        return issue(common_name, issuer=self, ca=True, key_type=key_type, **options)  # type: ignore[arg-type]

    def issue_leaf(self, common_name: str, key_type: KeyType = "ec", **options: object) -> Issued:
        return issue(common_name, issuer=self, ca=False, key_type=key_type, **options)  # type: ignore[arg-type]

    def crl(self, revoked_serials: Sequence[int], *, now: dt.datetime | None = None) -> x509.CertificateRevocationList:
        moment = now or dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(moment - dt.timedelta(hours=1))
            .next_update(moment + dt.timedelta(days=7))
        )
        for serial in revoked_serials:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(moment - dt.timedelta(minutes=30))
                .build()
            )
        return builder.sign(self.key, hashes.SHA256())


def issue(
    common_name: str,
    *,
    issuer: Issued | None = None,
    ca: bool,
    key_type: KeyType = "ec",
    key: PrivateKey | None = None,
    rsa_bits: int = 2048,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    digital_signature: bool = True,
    key_usage: bool = True,
    basic_constraints: bool = True,
    version1: bool = False,
    subject: x509.Name | None = None,
    dns_names: Sequence[str] = (),
    uris: Sequence[str] = (),
    directory_names: Sequence[x509.Name] = (),
    ip_addresses: Sequence[str] = (),
    serial_number: int | None = None,
    extended_key_usage: Sequence[x509.ObjectIdentifier] = (),
) -> Issued:
    """A certificate: a root when ``issuer`` is None, else signed by ``issuer``."""
    now = dt.datetime.now(dt.UTC)
    private_key = key or new_key(key_type, rsa_bits)
    subject_name = subject or name(common_name)
    signer = issuer.key if issuer else private_key
    issuer_name = issuer.certificate.subject if issuer else subject_name
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name)
        .issuer_name(issuer_name)
        .public_key(private_key.public_key())
        .serial_number(serial_number or x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(hours=1))
        .not_valid_after(not_after or now + dt.timedelta(days=30))
    )
    if version1:
        builder._version = x509.Version.v1  # cryptography has no public switch for v1 certificates
    else:
        if basic_constraints:
            builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        if key_usage:
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=digital_signature,
                    content_commitment=False,
                    key_encipherment=not ca and isinstance(private_key, rsa.RSAPrivateKey),
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=ca,
                    crl_sign=ca,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(private_key.public_key()), critical=False
        )
        if issuer is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
            )
        if extended_key_usage:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(extended_key_usage)), critical=False)
        general_names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        general_names += [x509.UniformResourceIdentifier(u) for u in uris]
        general_names += [x509.DirectoryName(n) for n in directory_names]
        general_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        if general_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(general_names), critical=False)
    certificate = builder.sign(signer, hashes.SHA256())
    parents = [issuer, *issuer.parents] if issuer else []
    return Issued(certificate=certificate, key=private_key, parents=parents)


def root_ca(common_name: str = "iamd test root", key_type: KeyType = "ec", **options: object) -> Issued:
    return issue(common_name, ca=True, key_type=key_type, **options)  # type: ignore[arg-type]


def write_pem(
    directory: Path, stem: str, issued: Issued, *, key_form: Literal["pkcs8", "traditional"] = "pkcs8"
) -> tuple[Path, Path, Path | None]:
    """Write ``stem.crt``, ``stem.key`` (and ``stem-chain.pem`` when there are intermediates)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / f"{stem}.crt"
    key_path = directory / f"{stem}.key"
    cert_path.write_bytes(issued.cert_pem())
    key_path.write_bytes(issued.key_pem(key_form))
    chain_path: Path | None = None
    if issued.intermediates:
        chain_path = directory / f"{stem}-chain.pem"
        chain_path.write_bytes(issued.chain_pem())
    return cert_path, key_path, chain_path
