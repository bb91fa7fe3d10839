"""Workloads: machines and containers bound to an instance profile or a role (issue 12).

The protocol is docs/design/workloads.md's "workload identity protocol":

* each account has a **workload CA** (P-256, key sealed with the master key), made on first use and
  rotatable; a retired CA keeps verifying the certificates it issued;
* **registration** binds a new workload id (``i-`` + 17 hex digits) to an instance profile or a role
  and hands out a **bootstrap token** once: 32 random bytes, stored as SHA-256, single use, expiring;
* **enrolment** trades the token and a CSR (the agent's own key, which never leaves it) for a client
  certificate (``CN=<workload id>, O=<account>``, 7 days, random 128-bit serial kept in
  ``workload_certificates``: that table is the revocation list);
* **credentials** and **renewal** are requests signed exactly like Roles Anywhere's CreateSession
  (``AWS4-X509-ECDSA-SHA256``) but scoped to the service ``iamd-workload``, so a signature made for one
  can never be replayed at the other. iamd assumes the bound role as the service principal
  ``ec2.amazonaws.com`` (instance profiles) or ``ecs-tasks.amazonaws.com`` (roles), so trust policies
  copied from AWS work unchanged; the session name and the source identity are the workload id, and the
  trust policy sees ``ec2:SourceInstanceARN``, ``ec2:RoleDelivery``, ``aws:SourceArn`` and
  ``aws:SourceAccount``.

Handlers here take a connection and the runtime; the HTTP layer (iamd.web.workloads) and the admin CLI
(iamd.cli.workloads_cmd) call them, each in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy.engine import Connection

from iamd.auth.session_tokens import SessionClaims
from iamd.auth.x509 import WORKLOAD_SERVICE, SignatureReplayCache
from iamd.auth.x509_trust import VerifiedX509Request, verify_x509_request
from iamd.core import ids
from iamd.core.arn import iam_arn, split_iam_resource, try_parse
from iamd.core.clock import Clock
from iamd.core.crypto import SecretBox
from iamd.core.errors import AccessDenied, AwsError, InvalidParameterValue, NoSuchEntity, ValidationError
from iamd.core.http import HttpRequest
from iamd.policy import Effect, EvaluationRequest, PolicyKind, authorize, compile_policy, describe_principal
from iamd.services.context import NodeServices
from iamd.store import tables as t

INSTANCE_PROFILE = "instance-profile"
ROLE = "role"
EC2_PRINCIPAL = "ec2.amazonaws.com"
ECS_TASKS_PRINCIPAL = "ecs-tasks.amazonaws.com"

PENDING = "pending"
ACTIVE = "active"
DEREGISTERED = "deregistered"

CA_LIFETIME = timedelta(days=3650)
CERTIFICATE_LIFETIME = timedelta(days=7)
DEFAULT_BOOTSTRAP_TTL = 3600
MAX_BOOTSTRAP_TTL = 7 * 24 * 3600
DEFAULT_DURATION = 3600
MIN_DURATION = 900
MAX_CSR_BYTES = 8192

_REPLAYS = SignatureReplayCache()
"""Per process: a signed workload request is accepted once (agents sign with ECDSA, so no two differ)."""


class WorkloadNotFound(NoSuchEntity):
    pass


# --- the workload CA ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkloadCa:
    id: str
    account_id: str
    certificate: x509.Certificate
    retired: bool


_parsed: dict[str, x509.Certificate] = {}
_parsed_lock = threading.Lock()


def _certificate(ca_id: str, pem: str) -> x509.Certificate:
    """CA certificates never change under their id: parse each once per process."""
    cert = _parsed.get(ca_id)
    if cert is None:
        cert = x509.load_pem_x509_certificate(pem.encode())
        with _parsed_lock:
            _parsed[ca_id] = cert
    return cert


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """A CA signs certificates and CRLs; a workload's certificate signs requests, nothing else."""
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _new_ca(conn: Connection, box: SecretBox, account_id: str, now: float) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    ca_id = ids.unique_id("WCA")
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, account_id),
            x509.NameAttribute(NameOID.COMMON_NAME, f"iamd workload CA {ca_id}"),
        ]
    )
    start = datetime.fromtimestamp(now, UTC) - timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    conn.execute(
        t.workload_cas.insert().values(
            id=ca_id,
            account_id=account_id,
            certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            private_key_enc=box.encrypt(key_pem, aad=ca_id.encode()),
            created_at=now,
            expires_at=cert.not_valid_after_utc.timestamp(),
        )
    )
    return ca_id


def _issuing_ca(
    conn: Connection, box: SecretBox, account_id: str, now: float
) -> tuple[str, x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The account's issuing CA (made on first use) with its key."""
    c = t.workload_cas
    row = conn.execute(
        sa.select(c)
        .where(c.c.account_id == account_id, c.c.retired_at.is_(None))
        .order_by(c.c.created_at.desc())
        .limit(1)
    ).first()
    if row is None:
        ca_id = _new_ca(conn, box, account_id, now)
        row = conn.execute(sa.select(c).where(c.c.id == ca_id)).one()
    key = serialization.load_pem_private_key(box.decrypt(row.private_key_enc, aad=row.id.encode()), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):  # pragma: no cover - iamd only makes P-256 keys
        raise TypeError("a workload CA key is not an EC key")
    return row.id, _certificate(row.id, row.certificate_pem), key


def rotate_ca(conn: Connection, box: SecretBox, clock: Clock, account_id: str) -> str:
    """A new issuing CA; the old ones stay trusted for the certificates they issued (until those expire)."""
    now = clock.time()
    _require_account(conn, account_id)
    c = t.workload_cas
    conn.execute(c.update().where(c.c.account_id == account_id, c.c.retired_at.is_(None)).values(retired_at=now))
    return _new_ca(conn, box, account_id, now)


def trusted_cas(conn: Connection, now: float) -> list[WorkloadCa]:
    """Every workload CA still within its validity (any account: the anchor found names the account)."""
    c = t.workload_cas
    rows = conn.execute(sa.select(c).where(c.c.expires_at > now))
    return [
        WorkloadCa(r.id, r.account_id, _certificate(r.id, r.certificate_pem), r.retired_at is not None) for r in rows
    ]


# --- registration -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Registration:
    workload_id: str
    account_id: str
    kind: str
    target_arn: str
    name: str | None
    bootstrap_token: str
    bootstrap_expires_at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "WorkloadId": self.workload_id,
            "AccountId": self.account_id,
            "Kind": self.kind,
            "TargetArn": self.target_arn,
            "Name": self.name,
            "BootstrapToken": self.bootstrap_token,
            "BootstrapTokenExpiration": _iso(self.bootstrap_expires_at),
        }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _require_account(conn: Connection, account_id: str) -> None:
    if conn.execute(sa.select(t.accounts.c.id).where(t.accounts.c.id == account_id)).first() is None:
        raise NoSuchEntity(f"The account {account_id} does not exist.")


def _find_named(conn: Connection, table: sa.Table, kind: str, account_id: str, name_or_arn: str) -> Any:
    name = name_or_arn
    if name_or_arn.startswith("arn:"):
        parsed = try_parse(name_or_arn)
        if parsed is None or parsed.service != "iam" or not parsed.resource.startswith(kind + "/"):
            raise InvalidParameterValue(f"{name_or_arn} is not an IAM {kind} ARN.")
        if parsed.account != account_id:
            raise InvalidParameterValue(f"{name_or_arn} belongs to another account than {account_id}.")
        name = split_iam_resource(parsed.resource)[2]
    row = conn.execute(
        sa.select(table).where(table.c.account_id == account_id, table.c.name_key == name.lower())
    ).first()
    if row is None:
        raise NoSuchEntity(f"The {kind} with name {name} cannot be found.")
    return row


def register(
    conn: Connection,
    clock: Clock,
    partition: str,
    account_id: str,
    *,
    instance_profile: str | None = None,
    role: str | None = None,
    name: str | None = None,
    bootstrap_ttl: int = DEFAULT_BOOTSTRAP_TTL,
) -> Registration:
    """Bind a new workload to an instance profile or a role; its bootstrap token is in the answer only."""
    if (instance_profile is None) == (role is None):
        raise ValidationError("Give exactly one of an instance profile and a role.")
    if not 60 <= bootstrap_ttl <= MAX_BOOTSTRAP_TTL:
        raise ValidationError(f"The bootstrap token's lifetime must be 60 to {MAX_BOOTSTRAP_TTL} seconds.")
    if name is not None and not 1 <= len(name) <= 128:
        raise ValidationError("A workload name is 1 to 128 characters.")
    _require_account(conn, account_id)
    if instance_profile is not None:
        kind, table, value = INSTANCE_PROFILE, t.instance_profiles, instance_profile
    else:
        kind, table, value = ROLE, t.roles, role or ""
    row = _find_named(conn, table, kind, account_id, value)
    now = clock.time()
    workload_id = "i-" + secrets.token_hex(9)[:17]
    target_arn = iam_arn(partition, account_id, kind, row.path, row.name)
    conn.execute(
        t.workloads.insert().values(
            id=workload_id,
            account_id=account_id,
            name=name,
            kind=kind,
            target_id=row.id,
            target_arn=target_arn,
            state=PENDING,
            created_at=now,
        )
    )
    token, expires = _new_bootstrap_token(conn, workload_id, now, bootstrap_ttl)
    return Registration(workload_id, account_id, kind, target_arn, name, token, expires)


def _new_bootstrap_token(conn: Connection, workload_id: str, now: float, ttl: int) -> tuple[str, float]:
    token = "iamdwb-" + secrets.token_urlsafe(32)
    conn.execute(
        t.workload_bootstrap_tokens.insert().values(
            token_hash=_hash(token), workload_id=workload_id, created_at=now, expires_at=now + ttl
        )
    )
    return token, now + ttl


def _workload(conn: Connection, account_id: str, workload_id: str) -> Any:
    w = t.workloads
    row = conn.execute(sa.select(w).where(w.c.id == workload_id, w.c.account_id == account_id)).first()
    if row is None:
        raise WorkloadNotFound(f"The workload {workload_id} does not exist in account {account_id}.")
    return row


def reissue_token(
    conn: Connection, clock: Clock, account_id: str, workload_id: str, bootstrap_ttl: int = DEFAULT_BOOTSTRAP_TTL
) -> dict[str, str]:
    """A new bootstrap token for a workload that must enrol again (a rebuilt machine); older ones go."""
    row = _workload(conn, account_id, workload_id)
    if row.state == DEREGISTERED:
        raise InvalidParameterValue(f"The workload {workload_id} is deregistered.")
    if not 60 <= bootstrap_ttl <= MAX_BOOTSTRAP_TTL:
        raise ValidationError(f"The bootstrap token's lifetime must be 60 to {MAX_BOOTSTRAP_TTL} seconds.")
    b = t.workload_bootstrap_tokens
    conn.execute(b.delete().where(b.c.workload_id == workload_id))
    token, expires = _new_bootstrap_token(conn, workload_id, clock.time(), bootstrap_ttl)
    return {"WorkloadId": workload_id, "BootstrapToken": token, "BootstrapTokenExpiration": _iso(expires)}


def list_workloads(conn: Connection, account_id: str) -> list[dict[str, Any]]:
    w = t.workloads
    rows = conn.execute(sa.select(w).where(w.c.account_id == account_id).order_by(w.c.created_at, w.c.id))
    out = []
    for r in rows:
        item: dict[str, Any] = {
            "WorkloadId": r.id,
            "Name": r.name,
            "Kind": r.kind,
            "TargetArn": r.target_arn,
            "State": r.state,
            "CreatedAt": _iso(r.created_at),
        }
        for column, key in (
            ("enrolled_at", "EnrolledAt"),
            ("deregistered_at", "DeregisteredAt"),
            ("last_credentials_at", "LastCredentialsAt"),
        ):
            value = getattr(r, column)
            if value is not None:
                item[key] = _iso(value)
        out.append(item)
    return out


def deregister(conn: Connection, clock: Clock, account_id: str, workload_id: str) -> dict[str, str]:
    """Refuse the workload from its next request on; its certificates and tokens are removed."""
    row = _workload(conn, account_id, workload_id)
    now = clock.time()
    conn.execute(t.workloads.update().where(t.workloads.c.id == row.id).values(state=DEREGISTERED, deregistered_at=now))
    conn.execute(t.workload_certificates.delete().where(t.workload_certificates.c.workload_id == row.id))
    conn.execute(t.workload_bootstrap_tokens.delete().where(t.workload_bootstrap_tokens.c.workload_id == row.id))
    return {"WorkloadId": row.id, "State": DEREGISTERED}


# --- enrolment and renewal ----------------------------------------------------------------------------


def _load_csr(csr_pem: object) -> x509.CertificateSigningRequest:
    if not isinstance(csr_pem, str) or not csr_pem.strip() or len(csr_pem) > MAX_CSR_BYTES:
        raise ValidationError("csr must be a PEM certificate signing request.")
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError:
        raise ValidationError("csr is not a readable PEM certificate signing request.") from None
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1 | ec.SECP384R1):
        raise ValidationError("The CSR's key must be an EC key on P-256 or P-384.")
    if not csr.is_signature_valid:
        raise ValidationError("The CSR's signature does not verify with its own key.")
    return csr


def _issue_certificate(
    conn: Connection, box: SecretBox, workload: Any, csr: x509.CertificateSigningRequest, now: float
) -> dict[str, Any]:
    ca_id, ca_cert, ca_key = _issuing_ca(conn, box, workload.account_id, now)
    start = datetime.fromtimestamp(now, UTC) - timedelta(minutes=5)
    end = min(start + CERTIFICATE_LIFETIME, ca_cert.not_valid_after_utc)
    serial = x509.random_serial_number()
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, workload.account_id),
                    x509.NameAttribute(NameOID.COMMON_NAME, workload.id),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"iamd://{workload.account_id}/workload/{workload.id}")]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    conn.execute(
        t.workload_certificates.insert().values(
            serial=format(serial, "x"),
            workload_id=workload.id,
            ca_id=ca_id,
            issued_at=now,
            expires_at=end.timestamp(),
        )
    )
    lifetime = end.timestamp() - start.timestamp()
    return {
        "certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "caCertificates": [
            ca.certificate.public_bytes(serialization.Encoding.PEM).decode()
            for ca in trusted_cas(conn, now)
            if ca.account_id == workload.account_id
        ],
        "expiration": _iso(end.timestamp()),
        "renewAfter": _iso(start.timestamp() + lifetime * 2 / 3),
    }


def _identity(conn: Connection, partition: str, workload: Any) -> dict[str, Any]:
    """What the agent serves about itself: ids, the role, the instance profile."""
    out: dict[str, Any] = {
        "workloadId": workload.id,
        "accountId": workload.account_id,
        "kind": workload.kind,
        "instanceArn": f"arn:{partition}:ec2::{workload.account_id}:instance/{workload.id}",
    }
    role = _current_role(conn, workload, required=False)
    if role is not None:
        out["roleName"] = role.name
        out["roleArn"] = iam_arn(partition, role.account_id, "role", role.path, role.name)
    if workload.kind == INSTANCE_PROFILE:
        out["instanceProfileArn"] = workload.target_arn
        out["instanceProfileId"] = workload.target_id
    return out


def enroll(conn: Connection, node: NodeServices, document: Mapping[str, Any]) -> dict[str, Any]:
    """Trade a bootstrap token and a CSR for the workload's client certificate (the token is spent)."""
    token = document.get("bootstrapToken")
    csr = _load_csr(document.get("csr"))
    if not isinstance(token, str) or not token:
        raise ValidationError("bootstrapToken is required.")
    now = node.clock.time()
    b = t.workload_bootstrap_tokens
    refused = AccessDenied("The bootstrap token is not valid: it is unknown, used or expired. Register again.")
    spent = conn.execute(
        b.update()
        .where(b.c.token_hash == _hash(token), b.c.used_at.is_(None), b.c.expires_at > now)
        .values(used_at=now)
        .returning(b.c.workload_id)
    ).first()
    if spent is None:
        raise refused
    w = t.workloads
    workload = conn.execute(sa.select(w).where(w.c.id == spent.workload_id)).one()
    if workload.state == DEREGISTERED:
        raise refused
    conn.execute(w.update().where(w.c.id == workload.id).values(state=ACTIVE, enrolled_at=now))
    issued = _issue_certificate(conn, node.box, workload, csr, now)
    return {**issued, **_identity(conn, node.identity.partition, workload)}


@dataclass(frozen=True, slots=True)
class AuthenticatedWorkload:
    workload: Any
    verified: VerifiedX509Request


def authenticate(conn: Connection, node: NodeServices, request: HttpRequest) -> AuthenticatedWorkload:
    """Verify an ``iamd-workload``-scoped X.509 request and find its live workload and certificate."""
    now = node.clock.time()
    cas = trusted_cas(conn, now)
    verified = verify_x509_request(
        request, [ca.certificate for ca in cas], now=now, service=WORKLOAD_SERVICE, replay_cache=_REPLAYS
    )
    anchor = verified.path.anchor
    ca = next((ca for ca in cas if ca.certificate == anchor), None)
    leaf = verified.path.certificate
    denied = AccessDenied("The workload certificate is not current: the workload was deregistered or re-enrolled.")
    if ca is None:  # pragma: no cover - the path ends at one of the anchors given
        raise denied
    wc = t.workload_certificates
    cert_row = conn.execute(sa.select(wc).where(wc.c.serial == format(leaf.serial_number, "x"))).first()
    if cert_row is None or cert_row.ca_id != ca.id:
        raise denied
    w = t.workloads
    workload = conn.execute(sa.select(w).where(w.c.id == cert_row.workload_id)).one()
    if workload.state != ACTIVE or workload.account_id != ca.account_id:
        raise denied
    common_names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [a.value for a in common_names] != [workload.id]:
        raise denied
    return AuthenticatedWorkload(workload, verified)


def renew(conn: Connection, node: NodeServices, request: HttpRequest, document: Mapping[str, Any]) -> dict[str, Any]:
    """A new certificate for a fresh CSR; the old one stays valid until it expires."""
    who = authenticate(conn, node, request)
    csr = _load_csr(document.get("csr"))
    issued = _issue_certificate(conn, node.box, who.workload, csr, node.clock.time())
    return {**issued, **_identity(conn, node.identity.partition, who.workload)}


# --- credentials ------------------------------------------------------------------------------------


def _current_role(conn: Connection, workload: Any, *, required: bool = True) -> Any:
    r = t.roles
    if workload.kind == ROLE:
        role = conn.execute(sa.select(r).where(r.c.id == workload.target_id)).first()
        if role is None and required:
            raise AccessDenied(f"The role {workload.target_arn} bound to workload {workload.id} no longer exists.")
        return role
    ipr = t.instance_profile_roles
    role = conn.execute(
        sa.select(r).join(ipr, ipr.c.role_id == r.c.id).where(ipr.c.instance_profile_id == workload.target_id)
    ).first()
    if role is None and required:
        raise AccessDenied(
            f"The instance profile {workload.target_arn} of workload {workload.id} has no role (or no longer exists)."
        )
    return role


def _duration(value: object, maximum: int) -> int:
    if value is None:
        return min(DEFAULT_DURATION, maximum)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError("durationSeconds must be an integer.")
    if not MIN_DURATION <= value <= maximum:
        raise ValidationError(f"durationSeconds must be {MIN_DURATION} to {maximum} (the role's MaxSessionDuration).")
    return value


def credentials(
    conn: Connection, node: NodeServices, request: HttpRequest, document: Mapping[str, Any]
) -> dict[str, Any]:
    """The bound role's temporary credentials for an authenticated workload (AssumeRole's tokens)."""
    who = authenticate(conn, node, request)
    workload = who.workload
    role = _current_role(conn, workload)
    partition = node.identity.partition
    region = who.verified.signature.region
    role_arn = iam_arn(partition, role.account_id, "role", role.path, role.name)
    instance_arn = f"arn:{partition}:ec2:{region}:{workload.account_id}:instance/{workload.id}"
    imds_v1 = document.get("imdsV1Allowed")
    if imds_v1 is not None and not isinstance(imds_v1, bool):
        raise ValidationError("imdsV1Allowed must be true or false.")
    duration = _duration(document.get("durationSeconds"), role.max_session_duration)
    service = EC2_PRINCIPAL if workload.kind == INSTANCE_PROFILE else ECS_TASKS_PRINCIPAL
    context: dict[str, str | Sequence[str]] = {
        "aws:SourceAccount": workload.account_id,
        "aws:SourceArn": instance_arn,
        "sts:RoleSessionName": workload.id,
        "sts:SourceIdentity": workload.id,
    }
    if workload.kind == INSTANCE_PROFILE:
        context["ec2:SourceInstanceARN"] = instance_arn
        context["ec2:RoleDelivery"] = "1.0" if imds_v1 else "2.0"
    now = node.clock.time()
    trust = compile_policy(role.trust_policy, policy_id=f"{role_arn} trust policy", kind=PolicyKind.TRUST)
    decision = authorize(
        EvaluationRequest(
            principal=describe_principal(service),
            action="sts:AssumeRole",
            resource=role_arn,
            context=context,
            resource_policy=trust,
            resource_account=role.account_id,
            resource_policy_required=True,
            now=now,
        )
    )
    if decision.effect is not Effect.ALLOW:
        raise AccessDenied(
            f"The role {role_arn} does not trust {service} to perform sts:AssumeRole for workload {workload.id}: "
            f"its trust policy must allow the service principal {service}."
        )
    session_name = workload.id
    assumed_arn = f"arn:{partition}:sts::{role.account_id}:assumed-role/{role.name}/{session_name}"
    key_id = ids.temporary_access_key_id(role.account_id)
    claims = SessionClaims(
        account_id=role.account_id,
        access_key_id=key_id,
        secret_access_key=ids.secret_access_key(),
        principal_kind="assumed-role",
        arn=assumed_arn,
        user_id=f"{role.id}:{session_name}",
        name=role.name,
        issued_at=now,
        expires_at=now + duration,
        entity_id=role.id,
        session_name=session_name,
        source_identity=workload.id,
        source_arn=instance_arn,
        role_arn=role_arn,
        context={k: str(v) for k, v in context.items() if k.startswith("ec2:")},
    )
    token = node.seal_token(claims)
    node.usage.record_role(role.id, now, region)
    conn.execute(t.workloads.update().where(t.workloads.c.id == workload.id).values(last_credentials_at=now))
    return {
        "AccessKeyId": key_id,
        "SecretAccessKey": claims.secret_access_key,
        "SessionToken": token,
        "Expiration": _iso(claims.expires_at),
        "AccountId": role.account_id,
        "RoleArn": role_arn,
        "RoleName": role.name,
        "AssumedRoleArn": assumed_arn,
        "SourceIdentity": workload.id,
    }


def error_document(error: AwsError) -> bytes:
    return json.dumps({"code": error.code, "message": error.message}).encode()
