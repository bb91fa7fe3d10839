"""Accounts: creation (bootstrap and admin CLI) and listing."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.core import ids
from iamd.core.clock import Clock
from iamd.core.crypto import SecretBox
from iamd.store import tables as t

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ACCESS_KEY_ID = re.compile(r"^AKIA[A-Z2-7]{12,28}$")


class AccountError(ValueError):
    """Bad admin input (an account id that is taken or malformed, a bad root key)."""


@dataclass(frozen=True)
class RootCredentials:
    account_id: str
    access_key_id: str
    secret_access_key: str

    def as_json(self) -> dict[str, str]:
        return {
            "AccountId": self.account_id,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
        }


def create_account(
    conn: Connection,
    box: SecretBox,
    clock: Clock,
    *,
    account_id: str | None = None,
    name: str | None = None,
    root_access_key_id: str | None = None,
    root_secret_access_key: str | None = None,
    is_default: bool = False,
) -> RootCredentials:
    if account_id is None:
        account_id = ids.account_id()
        while conn.execute(sa.select(t.accounts.c.id).where(t.accounts.c.id == account_id)).first():
            account_id = ids.account_id()
    elif not _ACCOUNT_ID.match(account_id):
        raise AccountError(f"account id must be 12 digits, got {account_id!r}")
    elif conn.execute(sa.select(t.accounts.c.id).where(t.accounts.c.id == account_id)).first():
        raise AccountError(f"account {account_id} already exists")
    if (root_access_key_id is None) != (root_secret_access_key is None):
        raise AccountError("give both the root access key id and its secret, or neither")
    key_id = root_access_key_id or ids.access_key_id()
    secret = root_secret_access_key or ids.secret_access_key()
    if not _ACCESS_KEY_ID.match(key_id):
        raise AccountError("root access key id must look like AKIA followed by 16 characters A-Z, 2-7")
    if len(secret) < 16:
        raise AccountError("root secret access key must be at least 16 characters")
    if conn.execute(sa.select(t.access_keys.c.id).where(t.access_keys.c.id == key_id)).first():
        raise AccountError(f"access key {key_id} already exists")
    now = clock.time()
    conn.execute(
        t.accounts.insert().values(
            id=account_id, name=name or f"account-{account_id}", created_at=now, is_default=is_default
        )
    )
    conn.execute(
        t.access_keys.insert().values(
            id=key_id,
            account_id=account_id,
            user_id=None,
            secret_enc=box.encrypt_text(secret, aad=key_id),
            status="Active",
            created_at=now,
        )
    )
    return RootCredentials(account_id, key_id, secret)


def list_accounts(conn: Connection) -> list[dict[str, object]]:
    a, al = t.accounts, t.account_aliases
    rows = conn.execute(
        sa.select(a.c.id, a.c.name, a.c.created_at, a.c.is_default, al.c.alias)
        .select_from(a.outerjoin(al, al.c.account_id == a.c.id))
        .order_by(a.c.created_at, a.c.id)
    ).all()
    return [
        {"AccountId": r.id, "Name": r.name, "Default": bool(r.is_default), "Alias": r.alias, "CreatedAt": r.created_at}
        for r in rows
    ]


def has_default_account(conn: Connection) -> bool:
    return conn.execute(sa.select(t.accounts.c.id).where(t.accounts.c.is_default.is_(True))).first() is not None


def write_credentials_file(path: Path, creds: RootCredentials) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(creds.as_json(), fh, indent=2)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
