"""IAM server certificates: upload (PEM checks, key kept only encrypted), read, list, rename, delete, tags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from sqlalchemy.engine import Row

from iamd.core import ids
from iamd.core.errors import EntityAlreadyExists, KeyPairMismatch, MalformedCertificate
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.registry import operation
from iamd.services.targets import created, existing, listing, request_tags
from iamd.store import tables as t

RESOURCE = "server-certificate"

MALFORMED_BODY = "Unable to parse certificate. Please ensure the certificate is in PEM format."
MALFORMED_KEY = "Unable to parse private key. Please ensure the private key is in PEM format and not encrypted."
MALFORMED_CHAIN = "Unable to parse certificate chain. Please ensure the certificate chain is in PEM format."
INVALID_CHAIN = (
    "Unable to validate certificate chain. The certificate chain must start with the immediate signing "
    "certificate, followed by any intermediaries in order. The index within the chain of the invalid "
    "certificate is: {index}"
)
KEY_MISMATCH = "The private key does not match the public key in the certificate."


def _already_exists(name: str) -> EntityAlreadyExists:
    return EntityAlreadyExists(f"The Server Certificate with name {name} already exists.")


# --- PEM checks ------------------------------------------------------------------------------------


def parse_certificate(body: str) -> x509.Certificate:
    if "-----BEGIN CERTIFICATE-----" not in body:
        raise MalformedCertificate(MALFORMED_BODY)
    try:
        certs = x509.load_pem_x509_certificates(body.encode())
    except (ValueError, TypeError) as exc:
        raise MalformedCertificate(MALFORMED_BODY) from exc
    if len(certs) != 1:
        raise MalformedCertificate(MALFORMED_BODY)
    return certs[0]


def parse_private_key(pem: str) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise MalformedCertificate(MALFORMED_KEY) from exc


def parse_chain(chain: str) -> list[x509.Certificate]:
    if "-----BEGIN CERTIFICATE-----" not in chain:
        raise MalformedCertificate(MALFORMED_CHAIN)
    try:
        return x509.load_pem_x509_certificates(chain.encode())
    except (ValueError, TypeError) as exc:
        raise MalformedCertificate(MALFORMED_CHAIN) from exc


def _spki(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def check_key_pair(cert: x509.Certificate, key: PrivateKeyTypes) -> None:
    try:
        matches = _spki(cert.public_key()) == _spki(key.public_key())
    except (ValueError, TypeError, AttributeError):
        matches = False
    if not matches:
        raise KeyPairMismatch(KEY_MISMATCH)


def check_chain(cert: x509.Certificate, chain: list[x509.Certificate]) -> None:
    """Each chain element must have issued the one before it (the body first)."""
    child = cert
    for index, issuer in enumerate(chain):
        try:
            child.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise MalformedCertificate(INVALID_CHAIN.format(index=index)) from exc
        child = issuer


# --- outputs ---------------------------------------------------------------------------------------


def metadata_output(ctx: OperationContext, row: Row[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Path": row.path,
        "ServerCertificateName": row.name,
        "ServerCertificateId": row.id,
        "Arn": c.arn(ctx, "server-certificate", row.path, row.name, row.account_id),
        "UploadDate": row.created_at,
    }
    if row.expiration is not None:
        out["Expiration"] = row.expiration
    return out


def get_certificate(ctx: OperationContext, name: str) -> Row[Any]:
    return c.get_named(ctx, t.server_certificates, name)


# --- operations ------------------------------------------------------------------------------------


@operation(
    "iam",
    "UploadServerCertificate",
    target=created("server-certificate", "ServerCertificateName"),
    request_keys=(request_tags,),
)
def upload_server_certificate(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    path = c.check_path(p.get("Path"))
    name: str = p["ServerCertificateName"]
    sc = t.server_certificates
    if c.find_named(ctx, sc, name) is not None:
        raise _already_exists(name)
    c.check_quota(
        ctx,
        "server_certificates",
        c.count(ctx, sa.select(sc.c.id).where(sc.c.account_id == ctx.account_id)),
        "Cannot exceed quota for ServerCertificatesPerAccount: {limit}",
    )
    body: str = p["CertificateBody"]
    key_pem: str = p["PrivateKey"]
    chain_pem: str | None = p.get("CertificateChain")
    cert = parse_certificate(body)
    key = parse_private_key(key_pem)
    check_key_pair(cert, key)
    if chain_pem:
        check_chain(cert, parse_chain(chain_pem))
    tags = p.get("Tags") or []
    c.validate_tags(tags)
    cert_id = ids.unique_id(ids.SERVER_CERT_PREFIX)
    ctx.conn.execute(
        sc.insert().values(
            id=cert_id,
            account_id=ctx.account_id,
            name=name,
            name_key=name.lower(),
            path=path,
            created_at=ctx.now(),
            body=body,
            chain=chain_pem or None,
            private_key_enc=ctx.box.encrypt_text(key_pem, aad=cert_id),
            expiration=cert.not_valid_after_utc.timestamp(),
        )
    )
    c.put_tags(ctx, RESOURCE, cert_id, tags)
    row = ctx.conn.execute(sa.select(sc).where(sc.c.id == cert_id)).one()
    out: dict[str, Any] = {"ServerCertificateMetadata": metadata_output(ctx, row)}
    saved = c.get_tags(ctx, RESOURCE, cert_id)
    if saved:
        out["Tags"] = saved
    return out


@operation("iam", "GetServerCertificate", target=existing("server-certificate", "ServerCertificateName"))
def get_server_certificate(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    row = get_certificate(ctx, p["ServerCertificateName"])
    cert: dict[str, Any] = {
        "ServerCertificateMetadata": metadata_output(ctx, row),
        "CertificateBody": row.body,
    }
    if row.chain:
        cert["CertificateChain"] = row.chain
    tags = c.get_tags(ctx, RESOURCE, row.id)
    if tags:
        cert["Tags"] = tags
    return {"ServerCertificate": cert}


@operation("iam", "ListServerCertificates", target=listing("server-certificate"))
def list_server_certificates(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    sc = t.server_certificates
    query = sa.select(
        sc.c.id, sc.c.account_id, sc.c.name, sc.c.name_key, sc.c.path, sc.c.created_at, sc.c.expiration
    ).where(sc.c.account_id == ctx.account_id)
    prefix = c.path_prefix_filter(sc.c.path, p)
    if prefix is not None:
        query = query.where(prefix)
    rows, extra = c.paginate(ctx, query, [sc.c.name_key], p)
    return {"ServerCertificateMetadataList": [metadata_output(ctx, r) for r in rows], **extra}


@operation("iam", "UpdateServerCertificate", target=existing("server-certificate", "ServerCertificateName"))
def update_server_certificate(ctx: OperationContext, p: dict[str, Any]) -> None:
    new_path = c.check_path(p["NewPath"]) if p.get("NewPath") else None
    row = get_certificate(ctx, p["ServerCertificateName"])
    values: dict[str, Any] = {}
    new_name = p.get("NewServerCertificateName")
    if new_name and new_name != row.name:
        clash = c.find_named(ctx, t.server_certificates, new_name)
        if clash is not None and clash.id != row.id:
            raise _already_exists(new_name)
        values.update(name=new_name, name_key=new_name.lower())
    if new_path is not None:
        values["path"] = new_path
    if values:
        sc = t.server_certificates
        ctx.conn.execute(sc.update().where(sc.c.id == row.id).values(**values))
    return None


@operation("iam", "DeleteServerCertificate", target=existing("server-certificate", "ServerCertificateName"))
def delete_server_certificate(ctx: OperationContext, p: dict[str, Any]) -> None:
    row = get_certificate(ctx, p["ServerCertificateName"])
    c.delete_all_tags(ctx, RESOURCE, row.id)
    sc = t.server_certificates
    ctx.conn.execute(sc.delete().where(sc.c.id == row.id))
    return None
