"""Schema migrations that change existing tables keep the rows already there, on both engines."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from iamd.core.config import Settings
from iamd.store import tables as t
from iamd.store.db import Database, alembic_config

ACCOUNT = "111122223333"
FIDO_SERIAL = f"arn:aws:iam::{ACCOUNT}:u2f/user/alice/key-ABC"


def _device(serial: str, name: str, path: str, kind: str) -> dict[str, object]:
    return {
        "id": serial[-20:].replace("/", "x"),
        "account_id": ACCOUNT,
        "is_root": False,
        "name": name,
        "name_key": name.lower(),
        "path": path,
        "serial": serial,
        "kind": kind,
        "seed_enc": b"sealed",
        "algorithm": "SHA1",
        "digits": 6,
        "period": 30,
        "drift": 0,
        "created_at": 1.0,
    }


def test_0005_keeps_devices_and_security_keys(store_settings: Settings) -> None:
    db = Database(store_settings.store.effective_database_url)
    try:
        with db.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0004")
        with db.engine.begin() as conn:
            conn.execute(t.accounts.insert().values(id=ACCOUNT, name="a", created_at=1.0))
            conn.execute(
                t.mfa_devices.insert().values(
                    _device(f"arn:aws:iam::{ACCOUNT}:mfa/phone", "phone", "/", "virtual"),
                )
            )
            conn.execute(t.mfa_devices.insert().values(_device(FIDO_SERIAL, "key-ABC", "/", "fido")))
            conn.execute(
                t.webauthn_credentials.insert().values(
                    serial=FIDO_SERIAL,
                    credential_id=b"cred",
                    user_handle=b"handle",
                    public_key=b"key",
                    sign_count=7,
                    discoverable=True,
                    backed_up=False,
                    aaguid="00000000-0000-0000-0000-000000000000",
                    transports="usb",
                )
            )
        db.migrate()
        with db.engine.begin() as conn:
            serials = sorted(conn.execute(sa.select(t.mfa_devices.c.serial)).scalars())
            assert serials == sorted([f"arn:aws:iam::{ACCOUNT}:mfa/phone", FIDO_SERIAL])
            kept = conn.execute(sa.select(t.webauthn_credentials)).one()
            assert (kept.serial, kept.credential_id, kept.sign_count) == (FIDO_SERIAL, b"cred", 7)
            # the same name under another path is now allowed; at the same path it is not
            conn.execute(
                t.mfa_devices.insert().values(
                    _device(f"arn:aws:iam::{ACCOUNT}:mfa/team/phone", "phone", "/team/", "virtual")
                )
            )
        with db.engine.connect() as conn:
            clash = _device(f"arn:aws:iam::{ACCOUNT}:mfa/PHONE", "PHONE", "/", "virtual")
            with pytest.raises(sa.exc.IntegrityError):
                conn.execute(t.mfa_devices.insert().values(clash))
            conn.rollback()
    finally:
        db.dispose()
