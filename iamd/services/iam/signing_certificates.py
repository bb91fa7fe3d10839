"""X.509 signing certificates of IAM users and of the account root.

A certificate's id is its SHA-1 fingerprint in upper-case hex (40 characters, within AWS's
24..128 id shape).  The root's certificates have no user (``user_id`` NULL) and are managed by
the root omitting UserName.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy.engine import Row

from iamd.core.errors import DuplicateCertificate, MalformedCertificate, NoSuchEntity
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.iam.access_keys import Owner, check_status, resolve_owner
from iamd.services.registry import operation
from iamd.services.targets import user_or_caller
from iamd.store import tables as t

ACTIVE = "Active"


def certificate_id(body: str) -> str:
    """Parse a PEM certificate and return its id, or raise MalformedCertificate."""
    try:
        cert = x509.load_pem_x509_certificate(body.strip().encode())
        fingerprint = cert.fingerprint(hashes.SHA1())  # noqa: S303 - an identifier, as AWS's fingerprints
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise MalformedCertificate(
            "Unable to parse certificate. Please ensure the certificate is in PEM format."
        ) from exc
    return fingerprint.hex().upper()


def _not_found(cert_id: str) -> NoSuchEntity:
    return NoSuchEntity(f"The Certificate with id {cert_id} cannot be found.")


def _owned(ctx: OperationContext, owner: Owner, cert_id: str) -> Row[Any]:
    sc = t.signing_certificates
    row = ctx.conn.execute(
        sa.select(sc).where(sc.c.id == cert_id, sc.c.account_id == ctx.account_id, owner.owns(sc.c.user_id))
    ).first()
    if row is None:
        raise _not_found(cert_id)
    return row


def _output(ctx: OperationContext, owner: Owner, row: Row[Any]) -> dict[str, Any]:
    return {
        "UserName": owner.name(ctx),
        "CertificateId": row.id,
        "CertificateBody": row.body,
        "Status": row.status,
        "UploadDate": row.uploaded_at,
    }


@operation("iam", "UploadSigningCertificate", target=user_or_caller())
def upload_signing_certificate(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    owner = resolve_owner(ctx, p)
    body = str(p["CertificateBody"])  # kept as uploaded (trailing newline included), as AWS returns it
    cert_id = certificate_id(body)
    sc = t.signing_certificates
    # Ids are fingerprints, so a certificate can be registered once in the whole store.
    if c.has_rows(ctx, sa.select(sc.c.id).where(sc.c.id == cert_id)):
        raise DuplicateCertificate(
            f"The Certificate with id {cert_id} already exists: the same certificate is associated with an IAM user."
        )
    c.check_quota(
        ctx,
        "signing_certificates_per_user",
        c.count(ctx, sa.select(sc.c.id).where(sc.c.account_id == ctx.account_id, owner.owns(sc.c.user_id))),
        "Cannot exceed quota for CertificatesPerUser: {limit}",
    )
    ctx.conn.execute(
        sc.insert().values(
            id=cert_id,
            account_id=ctx.account_id,
            user_id=owner.user_id,
            body=body,
            status=ACTIVE,
            uploaded_at=ctx.now(),
        )
    )
    return {"Certificate": _output(ctx, owner, _owned(ctx, owner, cert_id))}


@operation("iam", "ListSigningCertificates", target=user_or_caller())
def list_signing_certificates(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    owner = resolve_owner(ctx, p)
    sc = t.signing_certificates
    query = sa.select(sc).where(sc.c.account_id == ctx.account_id, owner.owns(sc.c.user_id))
    rows, extra = c.paginate(ctx, query, [sc.c.id], p)
    return {"Certificates": [_output(ctx, owner, r) for r in rows], **extra}


@operation("iam", "UpdateSigningCertificate", target=user_or_caller())
def update_signing_certificate(ctx: OperationContext, p: dict[str, Any]) -> None:
    owner = resolve_owner(ctx, p)
    status = check_status(p["Status"])
    row = _owned(ctx, owner, p["CertificateId"])
    sc = t.signing_certificates
    ctx.conn.execute(sc.update().where(sc.c.id == row.id).values(status=status))
    return None


@operation("iam", "DeleteSigningCertificate", target=user_or_caller())
def delete_signing_certificate(ctx: OperationContext, p: dict[str, Any]) -> None:
    owner = resolve_owner(ctx, p)
    row = _owned(ctx, owner, p["CertificateId"])
    sc = t.signing_certificates
    ctx.conn.execute(sc.delete().where(sc.c.id == row.id))
    return None
