"""FIDO2 security keys and passkeys: registration and sign-in ceremonies with their bookkeeping.

The ceremony checks themselves are iamd.auth.fido's (py_webauthn); this module holds the
challenges (single use, two minutes, bound to one console session or pre-sign-in cookie), the
credentials (an ``mfa_devices`` row of kind ``fido`` with a serial ARN, so ListMFADevices and
the eight-device quota see it, plus its ``webauthn_credentials`` row), the sign counter, and
the partition rule: AWS offers no FIDO devices in the aws-cn partition, so neither does iamd.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from iamd.auth import fido
from iamd.core import ids
from iamd.core.config import Settings
from iamd.services import mfa
from iamd.services.console.errors import FIDO_FAILED, INCORRECT, STEP_EXPIRED, ChallengeGone, ConsoleError
from iamd.services.console.signin import FIDO_KIND, has_console_access, owner_devices
from iamd.services.iam.mfa_devices import lock_owner
from iamd.services.runtime import Runtime
from iamd.store import tables as t

log = logging.getLogger("iamd.console")

CHALLENGE_SECONDS = 120.0
REGISTER = "register"
AUTHENTICATE = "authenticate"
PASSKEY = "passkey"
NOT_IN_PARTITION = "Security keys and passkeys are not available in the aws-cn partition."


def offered(settings: Settings) -> bool:
    """AWS's rule: no FIDO security keys or passkeys in the China partition."""
    return settings.identity.partition != "aws-cn"


def require_offered(settings: Settings) -> None:
    if not offered(settings):
        raise ConsoleError(NOT_IN_PARTITION, status=403)


@functools.cache
def _trust_store(directory: Path) -> Mapping[str, list[bytes]]:
    return fido.load_trust_store(directory)


def relying_party(settings: Settings, host: str, scheme: str) -> fido.RelyingParty:
    """The relying party from configuration; for an unconfigured server, the request's own host."""
    hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    console = settings.console
    rp_id = console.webauthn_rp_id or hostname
    origins = console.webauthn_origins or (f"{scheme}://{host}",)
    trust = _trust_store(console.webauthn_trust_store) if console.webauthn_trust_store else {}
    return fido.RelyingParty(
        rp_id=rp_id,
        rp_name="iamd",
        origins=tuple(origins),
        user_verification=console.webauthn_user_verification,
        attestation=console.webauthn_attestation,
        trust_store=trust,
    )


def user_handle(rt: Runtime, account_id: str, user_id: str | None) -> bytes:
    """A stable, opaque WebAuthn user handle: no name or id of ours is handed to authenticators."""
    key = rt.box.derive_key("webauthn-user-handle")
    return hmac.new(key, f"{account_id}:{user_id or 'root'}".encode(), hashlib.sha256).digest()


def binding_of(token: str) -> str:
    """What a challenge is bound to: the hash of a session or pre-sign-in cookie."""
    return hashlib.sha256(token.encode()).hexdigest()


def _put_challenge(conn: Connection, binding: str, purpose: str, challenge: bytes, now: float) -> None:
    c = t.webauthn_challenges
    conn.execute(c.delete().where(c.c.binding == binding, c.c.purpose == purpose))
    conn.execute(
        c.insert().values(binding=binding, purpose=purpose, challenge=challenge, expires_at=now + CHALLENGE_SECONDS)
    )


def _take_challenge(rt: Runtime, binding: str, purpose: str) -> bytes:
    """The pending challenge, removed so it cannot be answered twice."""
    now = rt.clock.time()
    c = t.webauthn_challenges
    with rt.db.side_write() as conn:
        row = conn.execute(
            c.delete().where(c.c.binding == binding, c.c.purpose == purpose).returning(c.c.challenge, c.c.expires_at)
        ).first()
    if row is None:
        raise ChallengeGone(STEP_EXPIRED)
    if float(row.expires_at) <= now:
        raise ChallengeGone("The security key request expired. Try again.")
    return bytes(row.challenge)


Owner = tuple[str, str | None]
"""(account id, user id), the user id None for the account's root."""


def _credential_ids(conn: Connection, account_id: str, user_id: str | None) -> list[bytes]:
    serials = [d.serial for d in owner_devices(conn, account_id, user_id) if d.kind == FIDO_KIND]
    if not serials:
        return []
    w = t.webauthn_credentials
    return [bytes(r.credential_id) for r in conn.execute(sa.select(w.c.credential_id).where(w.c.serial.in_(serials)))]


# --- registration ------------------------------------------------------------------------------------


def begin_registration(
    rt: Runtime, binding: str, rp: fido.RelyingParty, *, account_id: str, user_id: str | None, name: str
) -> str:
    require_offered(rt.settings)
    now = rt.clock.time()
    with rt.db.side_write() as conn:
        exclude = _credential_ids(conn, account_id, user_id)
        challenge = fido.registration_options(
            rp,
            user_handle=user_handle(rt, account_id, user_id),
            user_name=name,
            display_name=name,
            exclude_credential_ids=exclude,
        )
        _put_challenge(conn, binding, REGISTER, challenge.challenge, now)
    return challenge.options_json


def serial_for(partition: str, account_id: str, owner_name: str | None, device_name: str) -> str:
    owner = "root" if owner_name is None else f"user/{owner_name}"
    return f"arn:{partition}:iam::{account_id}:u2f/{owner}/{device_name}-{ids.unique_id('')[:26]}"


def check_device_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 64 or not all(ch.isalnum() or ch in "+=,.@-_" for ch in name):
        raise ConsoleError("Name the device with 1 to 64 letters, digits or +=,.@-_ characters.")
    return name


def finish_registration(
    rt: Runtime,
    binding: str,
    rp: fido.RelyingParty,
    credential: str | Mapping[str, Any],
    *,
    account_id: str,
    user_id: str | None,
    owner_name: str | None,
    device_name: str,
    actor_arn: str,
    source_ip: str,
) -> str:
    """Verify a registration response and store the device; its serial."""
    require_offered(rt.settings)
    device_name = check_device_name(device_name)
    challenge = _take_challenge(rt, binding, REGISTER)
    try:
        registered = fido.verify_registration(rp, credential, challenge)
    except fido.FidoError as exc:
        log.info("FIDO registration refused for %s: %s", actor_arn, exc.reason)
        raise ConsoleError(f"The security key or passkey could not be registered ({exc.reason}).") from exc
    now = rt.clock.time()
    serial = serial_for(rt.settings.identity.partition, account_id, owner_name, device_name)
    d, w = t.mfa_devices, t.webauthn_credentials
    with rt.db.write() as conn:
        lock_owner(conn, account_id, user_id)
        limit = rt.settings.quotas.mfa_devices_per_user
        if len(owner_devices(conn, account_id, user_id)) >= limit:
            raise ConsoleError(f"You can have at most {limit} MFA devices.", status=409)
        if conn.execute(sa.select(w.c.serial).where(w.c.credential_id == registered.credential_id)).first():
            raise ConsoleError("This security key or passkey is already registered.", status=409)
        conn.execute(
            d.insert().values(
                id=ids.unique_id("MFAF"),
                account_id=account_id,
                user_id=user_id,
                is_root=user_id is None,
                name=device_name,
                name_key=serial.rsplit("/", 1)[1].lower(),
                path="/",
                serial=serial,
                kind=FIDO_KIND,
                seed_enc=b"",
                algorithm="",
                digits=0,
                period=0,
                enabled_at=now,
                created_at=now,
            )
        )
        conn.execute(
            w.insert().values(
                serial=serial,
                credential_id=registered.credential_id,
                user_handle=user_handle(rt, account_id, user_id),
                public_key=registered.public_key,
                sign_count=registered.sign_count,
                discoverable=registered.discoverable,
                backed_up=registered.backed_up,
                aaguid=registered.aaguid,
                transports=",".join(registered.transports),
            )
        )
        detail = "passkey" if registered.discoverable else "security key"
        mfa.record_event(conn, serial, "enabled", now, mfa.Actor(account_id, actor_arn, source_ip), detail)
    rt.watcher.invalidate()
    return serial


# --- authentication ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FidoSignIn:
    account_id: str
    user_id: str | None
    """None for the account's root."""
    serial: str
    user_verified: bool


def passkey_first(rp: fido.RelyingParty) -> fido.RelyingParty:
    """A passkey alone stands for both factors only with user verification (PIN or biometric)."""
    return replace(rp, user_verification="required")


def begin_authentication(rt: Runtime, binding: str, rp: fido.RelyingParty, *, owner: Owner | None) -> str:
    """Options for a second factor (``owner``'s credentials) or, with no owner, a passkey-first sign-in."""
    require_offered(rt.settings)
    if owner is None:
        rp = passkey_first(rp)
    now = rt.clock.time()
    with rt.db.side_write() as conn:
        allow = _credential_ids(conn, *owner) if owner is not None else None
        if owner is not None and not allow:
            raise ConsoleError("You have no security key or passkey registered.")
        challenge = fido.authentication_options(rp, allow_credential_ids=allow)
        _put_challenge(conn, binding, AUTHENTICATE if owner is not None else PASSKEY, challenge.challenge, now)
    return challenge.options_json


def finish_authentication(
    rt: Runtime,
    binding: str,
    rp: fido.RelyingParty,
    credential: str | Mapping[str, Any],
    *,
    owner: Owner | None,
    source_ip: str,
) -> FidoSignIn:
    require_offered(rt.settings)
    if owner is None:
        rp = passkey_first(rp)
    challenge = _take_challenge(rt, binding, AUTHENTICATE if owner is not None else PASSKEY)
    try:
        assertion = fido.parse_assertion(credential)
    except fido.FidoError as exc:
        raise ConsoleError(FIDO_FAILED, status=401) from exc
    d, w = t.mfa_devices, t.webauthn_credentials
    with rt.db.read() as conn:
        row = conn.execute(
            sa.select(w, d.c.account_id, d.c.user_id, d.c.enabled_at)
            .select_from(w.join(d, d.c.serial == w.c.serial))
            .where(w.c.credential_id == assertion.credential_id)
        ).first()
    if row is None or row.enabled_at is None:
        raise ConsoleError(FIDO_FAILED, status=401)
    if owner is not None and (row.account_id, row.user_id) != owner:
        raise ConsoleError(FIDO_FAILED, status=401)
    if owner is None and (
        assertion.user_handle is None or not hmac.compare_digest(assertion.user_handle, bytes(row.user_handle))
    ):
        raise ConsoleError(FIDO_FAILED, status=401)
    now = rt.clock.time()
    actor = mfa.Actor(row.account_id, None, source_ip)
    try:
        verified = fido.verify_authentication(
            rp, credential, challenge, public_key=bytes(row.public_key), current_sign_count=int(row.sign_count)
        )
    except fido.FidoError as exc:
        with rt.db.side_write() as conn:
            event = "counter-regression" if exc.reason == "counter" else "fido-refused"
            mfa.record_event(conn, row.serial, event, now, actor, exc.reason)
        if exc.reason == "counter":
            log.warning("FIDO sign counter went backwards for %s: possible cloned authenticator", row.serial)
        raise ConsoleError(FIDO_FAILED, status=401) from exc
    if owner is None and not _console_access(rt, row.account_id, row.user_id):
        # checked only after the signature, so a credential id alone tells nothing about the user
        with rt.db.side_write() as conn:
            mfa.record_event(conn, row.serial, "fido-refused", now, actor, "no console access")
        raise ConsoleError(INCORRECT, status=401)
    with rt.db.side_write() as conn:
        updated = conn.execute(
            w.update()
            .where(w.c.serial == row.serial, w.c.sign_count == row.sign_count)
            .values(sign_count=verified.new_sign_count, last_used_at=now, backed_up=verified.backed_up)
        ).rowcount
        mfa.record_event(conn, row.serial, "console-accepted" if updated == 1 else "fido-race", now, actor)
    if updated != 1:
        raise ConsoleError(FIDO_FAILED, status=401)  # another sign-in with the same counter won the race
    return FidoSignIn(row.account_id, row.user_id, row.serial, verified.user_verified)


def _console_access(rt: Runtime, account_id: str, user_id: str | None) -> bool:
    with rt.db.read() as conn:
        return has_console_access(conn, account_id, user_id)
