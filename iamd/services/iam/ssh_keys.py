"""SSH public keys of IAM users (as used by CodeCommit): upload, get, list, update, delete.

AWS accepts RSA keys of at least 2048 bits, in OpenSSH (``ssh-rsa AAAA...``) or PEM form,
and shows the MD5 fingerprint of the key blob as colon-separated hex.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.engine import Row

from iamd.core import ids
from iamd.core.errors import (
    DuplicateSSHPublicKey,
    InvalidPublicKey,
    NoSuchEntity,
    UnrecognizedPublicKeyEncoding,
)
from iamd.core.principal import PrincipalKind
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.iam.access_keys import check_status, resolve_owner
from iamd.services.registry import operation
from iamd.services.targets import existing, user_or_caller
from iamd.store import tables as t

MIN_RSA_BITS = 2048
ACTIVE = "Active"


@dataclass(frozen=True, slots=True)
class ParsedKey:
    key: rsa.RSAPublicKey
    blob: bytes
    """The OpenSSH wire-format key blob (what the fingerprint is computed over)."""

    @property
    def fingerprint(self) -> str:
        digest = hashlib.md5(self.blob, usedforsecurity=False).hexdigest()
        return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _openssh_line(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def parse_public_key(body: str) -> ParsedKey:
    """Parse an uploaded SSH public key; raise AWS's errors for anything it would refuse."""
    text = body.strip()
    if text.startswith("ssh-rsa "):
        parts = text.split()
        try:
            blob = base64.b64decode(parts[1], validate=True)
            key = serialization.load_ssh_public_key(f"ssh-rsa {parts[1]}".encode())
        except (IndexError, ValueError, binascii.Error, UnsupportedAlgorithm) as exc:
            raise InvalidPublicKey("The public key is malformed or otherwise invalid.") from exc
    elif text.startswith("-----BEGIN"):
        try:
            loaded = serialization.load_pem_public_key(text.encode())
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise InvalidPublicKey("The public key is malformed or otherwise invalid.") from exc
        if not isinstance(loaded, rsa.RSAPublicKey):
            raise UnrecognizedPublicKeyEncoding("The public key encoding format is unsupported or unrecognized.")
        key = loaded
        blob = base64.b64decode(_openssh_line(key).split()[1])
    else:
        raise UnrecognizedPublicKeyEncoding("The public key encoding format is unsupported or unrecognized.")
    if not isinstance(key, rsa.RSAPublicKey):
        raise UnrecognizedPublicKeyEncoding("The public key encoding format is unsupported or unrecognized.")
    if key.key_size < MIN_RSA_BITS:
        raise InvalidPublicKey(f"The public key must be an RSA key of at least {MIN_RSA_BITS} bits.")
    return ParsedKey(key, blob)


def _encoded(body: str, encoding: str) -> str:
    stored = body.strip()
    if encoding == "SSH":
        return stored if stored.startswith("ssh-rsa ") else _openssh_line(parse_public_key(stored).key)
    if stored.startswith("-----BEGIN"):
        return stored
    pem = parse_public_key(stored).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode().strip()


def _not_found(key_id: str) -> NoSuchEntity:
    return NoSuchEntity(f"The Public Key with id {key_id} cannot be found.")


def _get_key(ctx: OperationContext, user: Row[Any], key_id: str) -> Row[Any]:
    k = t.ssh_public_keys
    row = ctx.conn.execute(sa.select(k).where(k.c.id == key_id, k.c.user_id == user.id)).first()
    if row is None:
        raise _not_found(key_id)
    return row


def _full_output(user: Row[Any], row: Row[Any], body: str) -> dict[str, Any]:
    return {
        "UserName": user.name,
        "SSHPublicKeyId": row.id,
        "Fingerprint": row.fingerprint,
        "SSHPublicKeyBody": body,
        "Status": row.status,
        "UploadDate": row.uploaded_at,
    }


@operation("iam", "UploadSSHPublicKey", target=existing("user", "UserName"))
def upload_ssh_public_key(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    user = c.get_user(ctx, p["UserName"])
    body = str(p["SSHPublicKeyBody"]).strip()
    parsed = parse_public_key(body)
    k = t.ssh_public_keys
    if c.has_rows(ctx, sa.select(k.c.id).where(k.c.user_id == user.id, k.c.fingerprint == parsed.fingerprint)):
        raise DuplicateSSHPublicKey("The SSH public key is already associated with the specified IAM user.")
    c.check_quota(
        ctx,
        "ssh_keys_per_user",
        c.count(ctx, sa.select(k.c.id).where(k.c.user_id == user.id)),
        "Cannot exceed quota for SSHPublicKeysPerUser: {limit}",
    )
    key_id = ids.unique_id(ids.SSH_KEY_PREFIX)
    ctx.conn.execute(
        k.insert().values(
            id=key_id,
            user_id=user.id,
            body=body,
            fingerprint=parsed.fingerprint,
            status=ACTIVE,
            uploaded_at=ctx.now(),
        )
    )
    row = _get_key(ctx, user, key_id)
    return {"SSHPublicKey": _full_output(user, row, body)}


@operation("iam", "GetSSHPublicKey", target=existing("user", "UserName"))
def get_ssh_public_key(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    user = c.get_user(ctx, p["UserName"])
    row = _get_key(ctx, user, p["SSHPublicKeyId"])
    return {"SSHPublicKey": _full_output(user, row, _encoded(row.body, p["Encoding"]))}


@operation("iam", "ListSSHPublicKeys", target=user_or_caller())
def list_ssh_public_keys(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    if not p.get("UserName") and ctx.caller.kind is PrincipalKind.ROOT:
        return {"SSHPublicKeys": [], "IsTruncated": False}  # the root has no SSH keys
    owner = resolve_owner(ctx, p, allow_root=False)
    user = owner.user
    assert user is not None
    k = t.ssh_public_keys
    query = sa.select(k.c.id, k.c.status, k.c.uploaded_at).where(k.c.user_id == user.id)
    rows, extra = c.paginate(ctx, query, [k.c.id], p)
    keys = [
        {"UserName": user.name, "SSHPublicKeyId": r.id, "Status": r.status, "UploadDate": r.uploaded_at} for r in rows
    ]
    return {"SSHPublicKeys": keys, **extra}


@operation("iam", "UpdateSSHPublicKey", target=existing("user", "UserName"))
def update_ssh_public_key(ctx: OperationContext, p: dict[str, Any]) -> None:
    user = c.get_user(ctx, p["UserName"])
    status = check_status(p["Status"])
    row = _get_key(ctx, user, p["SSHPublicKeyId"])
    k = t.ssh_public_keys
    ctx.conn.execute(k.update().where(k.c.id == row.id).values(status=status))
    return None


@operation("iam", "DeleteSSHPublicKey", target=existing("user", "UserName"))
def delete_ssh_public_key(ctx: OperationContext, p: dict[str, Any]) -> None:
    user = c.get_user(ctx, p["UserName"])
    row = _get_key(ctx, user, p["SSHPublicKeyId"])
    k = t.ssh_public_keys
    ctx.conn.execute(k.delete().where(k.c.id == row.id))
    return None
