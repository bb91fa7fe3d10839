"""IAM Roles Anywhere: trust anchors, profiles, CRLs, subjects, and CreateSession (issue 12).

Resources are ``arn:<partition>:rolesanywhere:<region>:<account>:trust-anchor/<uuid>`` (``profile/``,
``crl/``, ``subject/``); the admin functions answer AWS's detail shapes (``TrustAnchorDetail``,
``ProfileDetail``, ``CrlDetail``, ``SubjectSummary``). Trust anchors hold a ``CERTIFICATE_BUNDLE`` (PEM,
CA certificates only) or are iamd's ``SELF_SIGNED_REPOSITORY``: the account's workload CAs
(iamd.services.workloads). ``AWS_ACM_PCA`` is refused: iamd has no Private CA.

CreateSession (docs/design/workloads.md, "CreateSession facts") runs, in order: the X.509 signature
pieces, the request time, the signing certificate's fitness, the signature, the named trust anchor
(enabled, this region), the path to it and its enabled CRLs, replay; then the profile (enabled, lists
the role), the role's trust policy for the service principal ``rolesanywhere.amazonaws.com`` with the
certificate's attributes as ``aws:PrincipalTag/x509...`` (``sts:AssumeRole``, ``sts:TagSession``,
``sts:SetSourceIdentity``), and mints AssumeRole's credentials with the session name, source identity and
tags AWS documents. Principal tags that do not fit STS's session tag rules (key 1-128 and value 0-256
characters of ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]``, 50 tags) are left out, never refused: a certificate
whose OU holds a comma must still authenticate (the choice is written down in docs/workloads.md).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy.engine import Connection

from iamd.auth.session_tokens import SessionClaims
from iamd.auth.x509 import (
    ALGORITHM_RSA,
    ReplayedRequest,
    SignatureReplayCache,
    check_request_time,
    parse_x509_request,
    verify_signature,
)
from iamd.auth.x509_identity import DEFAULT_ATTRIBUTE_MAPPINGS, principal_tags, role_session_name, source_identity
from iamd.auth.x509_trust import check_signing_certificate, verify_path
from iamd.core import ids
from iamd.core.arn import split_iam_resource, try_parse
from iamd.core.clock import Clock
from iamd.core.errors import AwsError
from iamd.core.http import HttpRequest
from iamd.policy import Effect, EvaluationRequest, PolicyKind, authorize, compile_policy, describe_principal
from iamd.policy.context import valid_session_name
from iamd.policy.document import check_document, policy_size
from iamd.services import workloads
from iamd.services.context import NodeServices
from iamd.store import tables as t

log = logging.getLogger("iamd.rolesanywhere")

SERVICE_PRINCIPAL = "rolesanywhere.amazonaws.com"
CERTIFICATE_BUNDLE = "CERTIFICATE_BUNDLE"
SELF_SIGNED_REPOSITORY = "SELF_SIGNED_REPOSITORY"
AWS_ACM_PCA = "AWS_ACM_PCA"
MIN_DURATION = 900
MAX_DURATION = 43200
DEFAULT_DURATION = 3600
MAX_SESSION_TAGS = 50
MAX_BUNDLE_CERTIFICATES = 50
_TAG_TEXT = re.compile(r"[\w\s.:/=+\-@]*", re.UNICODE)
_REPLAYS = SignatureReplayCache()
"""Per process: the same signed CreateSession is accepted once within its 15-minute window."""
RSA_RESIGN_SECONDS = 2.0
"""RSA PKCS#1 v1.5 signatures are deterministic: two clients (two ``credential_process`` runs) that sign
the same request in the same second send the same signature. A repeat that arrives within this many
seconds of its X-Amz-Date is such a re-signing, not a replay; later repeats are refused. ECDSA
signatures are randomized, so a repeated one is always a replay."""


class AccessDeniedException(AwsError):
    code = "AccessDeniedException"
    status = 403
    sender_fault = True


class ValidationException(AwsError):
    code = "ValidationException"
    status = 400
    sender_fault = True


class TooManyTagsException(AwsError):
    code = "TooManyTagsException"
    status = 400
    sender_fault = True


class ResourceNotFoundException(AwsError):
    code = "ResourceNotFoundException"
    status = 404
    sender_fault = True
    default_message = "The requested resource could not be found."


# --- helpers ----------------------------------------------------------------------------------------


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def arn(partition: str, region: str, account: str, kind: str, resource_id: str) -> str:
    return f"arn:{partition}:rolesanywhere:{region}:{account}:{kind}/{resource_id}"


@dataclass(frozen=True, slots=True)
class Scope:
    """Where admin calls act: the partition, the account and the region of the resources."""

    partition: str
    account_id: str
    region: str

    def arn(self, kind: str, resource_id: str) -> str:
        return arn(self.partition, self.region, self.account_id, kind, resource_id)


def _resource_id(scope: Scope, kind: str, id_or_arn: str) -> str:
    if id_or_arn.startswith("arn:"):
        parts = id_or_arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "rolesanywhere" or not parts[5].startswith(kind + "/"):
            raise ValidationException(f"'{id_or_arn}' is not a Roles Anywhere {kind} ARN.")
        if parts[4] != scope.account_id or parts[3] != scope.region:
            raise ResourceNotFoundException()
        return parts[5][len(kind) + 1 :]
    return id_or_arn


def _row(conn: Connection, table: sa.Table, scope: Scope, kind: str, id_or_arn: str) -> Any:
    resource_id = _resource_id(scope, kind, id_or_arn)
    row = conn.execute(
        sa.select(table).where(
            table.c.id == resource_id, table.c.account_id == scope.account_id, table.c.region == scope.region
        )
    ).first()
    if row is None:
        raise ResourceNotFoundException()
    return row


def _name(value: str) -> str:
    if not re.fullmatch(r"[ a-zA-Z0-9\-_]{1,255}", value or ""):
        raise ValidationException(
            "1 validation error detected: Value at 'name' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: ^[ a-zA-Z0-9-_]*$ and length 1 to 255"
        )
    return value


def _tags_of(conn: Connection, resource_id: str) -> list[dict[str, str]]:
    tt = t.rolesanywhere_tags
    rows = conn.execute(sa.select(tt.c.key, tt.c.value).where(tt.c.resource_id == resource_id).order_by(tt.c.key))
    return [{"key": r.key, "value": r.value} for r in rows]


def _put_tags(conn: Connection, scope: Scope, resource_id: str, tags: Sequence[tuple[str, str]]) -> None:
    tt = t.rolesanywhere_tags
    if len(tags) > 200:
        raise ValidationException("A resource takes at most 200 tags.")
    for key, value in tags:
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise ValidationException("Tag keys are 1 to 128 characters and values at most 256.")
        conn.execute(tt.delete().where(tt.c.resource_id == resource_id, tt.c.key == key))
        conn.execute(tt.insert().values(resource_id=resource_id, key=key, value=value, account_id=scope.account_id))


_TAGGABLE = {
    "trust-anchor": t.rolesanywhere_trust_anchors,
    "profile": t.rolesanywhere_profiles,
    "crl": t.rolesanywhere_crls,
}


def _tagged(conn: Connection, scope: Scope, resource_arn: str) -> str:
    """The id of the trust anchor, profile or CRL ``resource_arn`` names (ResourceNotFound otherwise)."""
    kind = resource_arn.split(":", 5)[-1].split("/", 1)[0]
    table = _TAGGABLE.get(kind)
    if table is None:
        raise ResourceNotFoundException()
    return str(_row(conn, table, scope, kind, resource_arn).id)


def list_tags(conn: Connection, scope: Scope, resource_arn: str) -> list[dict[str, str]]:
    return _tags_of(conn, _tagged(conn, scope, resource_arn))


def tag_resource(conn: Connection, scope: Scope, resource_arn: str, tags: Sequence[tuple[str, str]]) -> None:
    resource_id = _tagged(conn, scope, resource_arn)
    _put_tags(conn, scope, resource_id, tags)
    if len(_tags_of(conn, resource_id)) > 50:
        raise TooManyTagsException("A resource takes at most 50 tags.")


def untag_resource(conn: Connection, scope: Scope, resource_arn: str, keys: Sequence[str]) -> None:
    tt = t.rolesanywhere_tags
    resource_id = _tagged(conn, scope, resource_arn)
    conn.execute(tt.delete().where(tt.c.resource_id == resource_id, tt.c.key.in_(list(keys))))


def _touch(conn: Connection, table: sa.Table, row_id: str, now: float, **values: Any) -> None:
    conn.execute(table.update().where(table.c.id == row_id).values(updated_at=now, **values))


# --- trust anchors ----------------------------------------------------------------------------------


def _bundle(pem: str) -> list[x509.Certificate]:
    """The CA certificates of a PEM bundle; ValidationException for anything else."""
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise ValidationException("The certificate bundle is not a PEM bundle of X.509 certificates.") from None
    if not 1 <= len(certificates) <= MAX_BUNDLE_CERTIFICATES:
        raise ValidationException(f"A certificate bundle holds 1 to {MAX_BUNDLE_CERTIFICATES} certificates.")
    for cert in certificates:
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.ca:
            raise ValidationException(
                f"The certificate '{cert.subject.rfc4514_string()}' is not a CA certificate (basicConstraints CA:true)."
            )
        if not isinstance(cert.public_key(), rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise ValidationException("Trust anchor certificates must have RSA or EC keys.")
    return certificates


def _anchor_detail(conn: Connection, scope: Scope, row: Any) -> dict[str, Any]:
    source_data = {"x509CertificateData": row.source_data} if row.source_type == CERTIFICATE_BUNDLE else {}
    detail: dict[str, Any] = {
        "trustAnchorId": row.id,
        "trustAnchorArn": scope.arn("trust-anchor", row.id),
        "name": row.name,
        "source": {"sourceType": row.source_type, "sourceData": source_data},
        "enabled": row.enabled,
        "createdAt": _time(row.created_at),
        "updatedAt": _time(row.updated_at),
    }
    if row.notification_settings:
        detail["notificationSettings"] = json.loads(row.notification_settings)
    return detail


def create_trust_anchor(
    conn: Connection,
    clock: Clock,
    scope: Scope,
    *,
    name: str,
    source_type: str,
    bundle_pem: str | None = None,
    enabled: bool = True,
    tags: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    data = _source(source_type, bundle_pem)
    now = clock.time()
    anchor_id = str(uuid.uuid4())
    conn.execute(
        t.rolesanywhere_trust_anchors.insert().values(
            id=anchor_id,
            account_id=scope.account_id,
            region=scope.region,
            name=_name(name),
            source_type=source_type,
            source_data=data,
            enabled=enabled,
            created_at=now,
            updated_at=now,
        )
    )
    _put_tags(conn, scope, anchor_id, tags)
    return get_trust_anchor(conn, scope, anchor_id)


def _source(source_type: str, bundle_pem: str | None) -> str:
    """The stored source data of a trust anchor of ``source_type``; ValidationException if unfit."""
    if source_type == AWS_ACM_PCA:
        raise ValidationException("AWS_ACM_PCA trust anchors need AWS Private CA, which iamd does not have.")
    if source_type == CERTIFICATE_BUNDLE:
        _bundle(bundle_pem or "")
        return bundle_pem or ""
    if source_type == SELF_SIGNED_REPOSITORY:
        return ""
    raise ValidationException(f"sourceType must be {CERTIFICATE_BUNDLE} or {SELF_SIGNED_REPOSITORY}.")


def update_trust_anchor(
    conn: Connection,
    clock: Clock,
    scope: Scope,
    id_or_arn: str,
    *,
    name: str | None = None,
    source_type: str | None = None,
    bundle_pem: str | None = None,
) -> dict[str, Any]:
    row = _row(conn, t.rolesanywhere_trust_anchors, scope, "trust-anchor", id_or_arn)
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = _name(name)
    if source_type is not None:
        values["source_type"] = source_type
        values["source_data"] = _source(source_type, bundle_pem)
    _touch(conn, t.rolesanywhere_trust_anchors, row.id, clock.time(), **values)
    return get_trust_anchor(conn, scope, row.id)


_NOTIFICATION_EVENTS = ("CA_CERTIFICATE_EXPIRY", "END_ENTITY_CERTIFICATE_EXPIRY")


def put_notification_settings(
    conn: Connection, clock: Clock, scope: Scope, id_or_arn: str, settings: Sequence[Mapping[str, Any]] | None
) -> dict[str, Any]:
    """Record notification settings (``None``: back to the defaults). iamd keeps and shows them; it sends
    no notifications (there is no EventBridge or Health to send them to)."""
    row = _row(conn, t.rolesanywhere_trust_anchors, scope, "trust-anchor", id_or_arn)
    merged: dict[tuple[str, str], dict[str, Any]] = {
        (event, "ALL"): {"enabled": True, "event": event, "threshold": 45, "channel": "ALL", "configuredBy": "iamd"}
        for event in _NOTIFICATION_EVENTS
    }
    if row.notification_settings and settings is not None:
        for item in json.loads(row.notification_settings):
            merged[(item["event"], item.get("channel", "ALL"))] = item
    for item in settings or ():
        key = (str(item["event"]), str(item.get("channel") or "ALL"))
        entry = dict(merged.get(key, {"event": key[0], "channel": key[1], "threshold": 45}))
        entry.update({k: v for k, v in item.items() if v is not None}, configuredBy="customer")
        merged[key] = entry
    _touch(
        conn,
        t.rolesanywhere_trust_anchors,
        row.id,
        clock.time(),
        notification_settings=json.dumps(list(merged.values())),
    )
    return get_trust_anchor(conn, scope, row.id)


def get_trust_anchor(conn: Connection, scope: Scope, id_or_arn: str) -> dict[str, Any]:
    return _anchor_detail(conn, scope, _row(conn, t.rolesanywhere_trust_anchors, scope, "trust-anchor", id_or_arn))


def list_trust_anchors(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    ta = t.rolesanywhere_trust_anchors
    rows = conn.execute(
        sa.select(ta)
        .where(ta.c.account_id == scope.account_id, ta.c.region == scope.region)
        .order_by(ta.c.created_at, ta.c.id)
    )
    return [_anchor_detail(conn, scope, r) for r in rows]


def _set_enabled(
    conn: Connection, clock: Clock, table: sa.Table, scope: Scope, kind: str, id_or_arn: str, enabled: bool
) -> Any:
    row = _row(conn, table, scope, kind, id_or_arn)
    conn.execute(table.update().where(table.c.id == row.id).values(enabled=enabled, updated_at=clock.time()))
    return row.id


def set_trust_anchor_enabled(
    conn: Connection, clock: Clock, scope: Scope, id_or_arn: str, enabled: bool
) -> dict[str, Any]:
    ta = t.rolesanywhere_trust_anchors
    return get_trust_anchor(conn, scope, _set_enabled(conn, clock, ta, scope, "trust-anchor", id_or_arn, enabled))


def delete_trust_anchor(conn: Connection, scope: Scope, id_or_arn: str) -> dict[str, Any]:
    detail = get_trust_anchor(conn, scope, id_or_arn)
    ta, c, tt = t.rolesanywhere_trust_anchors, t.rolesanywhere_crls, t.rolesanywhere_tags
    crls = sa.select(c.c.id).where(c.c.trust_anchor_id == detail["trustAnchorId"])
    conn.execute(tt.delete().where(tt.c.resource_id.in_(crls)))  # its CRLs go with it (foreign key)
    conn.execute(tt.delete().where(tt.c.resource_id == detail["trustAnchorId"]))
    conn.execute(ta.delete().where(ta.c.id == detail["trustAnchorId"]))
    return detail


# --- profiles -------------------------------------------------------------------------------------


def _profile_detail(conn: Connection, scope: Scope, row: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "profileId": row.id,
        "profileArn": scope.arn("profile", row.id),
        "name": row.name,
        "enabled": row.enabled,
        "roleArns": json.loads(row.role_arns),
        "managedPolicyArns": json.loads(row.managed_policy_arns),
        "requireInstanceProperties": row.require_instance_properties,
        "acceptRoleSessionName": row.accept_role_session_name,
        "durationSeconds": row.duration_seconds or DEFAULT_DURATION,
        "createdAt": _time(row.created_at),
        "updatedAt": _time(row.updated_at),
        "createdBy": row.created_by or "iamd",
    }
    if row.session_policy:
        detail["sessionPolicy"] = row.session_policy
    detail["attributeMappings"] = [
        {"certificateField": field, "mappingRules": [{"specifier": s} for s in specifiers]}
        for field, specifiers in _mappings(row).items()
    ]
    return detail


def _mappings(row: Any) -> dict[str, list[str]]:
    """The profile's attribute mappings: AWS's defaults until changed."""
    if row.attribute_mappings:
        stored: dict[str, list[str]] = json.loads(row.attribute_mappings)
        return stored
    return {field: list(specifiers) for field, specifiers in DEFAULT_ATTRIBUTE_MAPPINGS.items()}


def _attribute_mappings(value: Mapping[str, Sequence[str]] | None) -> str | None:
    if value is None:
        return None
    allowed = ("x509Subject", "x509Issuer", "x509SAN")
    for field, specifiers in value.items():
        if field not in allowed or not all(isinstance(s, str) and s for s in specifiers):
            raise ValidationException(f"attributeMappings: certificateField must be one of {', '.join(allowed)}.")
    return json.dumps({k: list(v) for k, v in value.items()})


def _check_role_arns(role_arns: Sequence[str]) -> None:
    if not 1 <= len(role_arns) <= 250:
        raise ValidationException("A profile lists 1 to 250 role ARNs.")
    for role_arn in role_arns:
        parsed = try_parse(role_arn)
        if parsed is None or parsed.service != "iam" or not parsed.resource.startswith("role/"):
            raise ValidationException(f"'{role_arn}' is not an IAM role ARN.")


def _check_duration(duration_seconds: int) -> int:
    if not MIN_DURATION <= duration_seconds <= MAX_DURATION:
        raise ValidationException(f"durationSeconds must be {MIN_DURATION} to {MAX_DURATION}.")
    return duration_seconds


def create_profile(
    conn: Connection,
    clock: Clock,
    scope: Scope,
    *,
    name: str,
    role_arns: Sequence[str],
    managed_policy_arns: Sequence[str] = (),
    session_policy: str | None = None,
    duration_seconds: int | None = None,
    require_instance_properties: bool = False,
    accept_role_session_name: bool = False,
    attribute_mappings: Mapping[str, Sequence[str]] | None = None,
    enabled: bool = True,
    tags: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    _check_role_arns(role_arns)
    if len(managed_policy_arns) > 50:
        raise ValidationException("A profile takes at most 50 managed policy ARNs.")
    if session_policy is not None:
        check_document(session_policy, PolicyKind.SESSION)
    if duration_seconds is not None:
        _check_duration(duration_seconds)
    now = clock.time()
    profile_id = str(uuid.uuid4())
    conn.execute(
        t.rolesanywhere_profiles.insert().values(
            id=profile_id,
            account_id=scope.account_id,
            region=scope.region,
            name=_name(name),
            enabled=enabled,
            role_arns=json.dumps(list(role_arns)),
            managed_policy_arns=json.dumps(list(managed_policy_arns)),
            session_policy=session_policy,
            duration_seconds=duration_seconds,
            require_instance_properties=require_instance_properties,
            accept_role_session_name=accept_role_session_name,
            attribute_mappings=_attribute_mappings(attribute_mappings),
            created_at=now,
            updated_at=now,
        )
    )
    _put_tags(conn, scope, profile_id, tags)
    return get_profile(conn, scope, profile_id)


def update_profile(
    conn: Connection, clock: Clock, scope: Scope, id_or_arn: str, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Change what ``changes`` names (``name``, ``sessionPolicy``, ``roleArns``, ``managedPolicyArns``,
    ``durationSeconds``, ``acceptRoleSessionName``)."""
    row = _row(conn, t.rolesanywhere_profiles, scope, "profile", id_or_arn)
    values: dict[str, Any] = {}
    if changes.get("name") is not None:
        values["name"] = _name(changes["name"])
    if changes.get("roleArns") is not None:
        _check_role_arns(changes["roleArns"])
        values["role_arns"] = json.dumps(list(changes["roleArns"]))
    if changes.get("managedPolicyArns") is not None:
        values["managed_policy_arns"] = json.dumps(list(changes["managedPolicyArns"]))
    if changes.get("sessionPolicy") is not None:
        check_document(changes["sessionPolicy"], PolicyKind.SESSION)
        values["session_policy"] = changes["sessionPolicy"]
    if changes.get("durationSeconds") is not None:
        values["duration_seconds"] = _check_duration(changes["durationSeconds"])
    if changes.get("acceptRoleSessionName") is not None:
        values["accept_role_session_name"] = bool(changes["acceptRoleSessionName"])
    _touch(conn, t.rolesanywhere_profiles, row.id, clock.time(), **values)
    return get_profile(conn, scope, row.id)


def put_attribute_mapping(
    conn: Connection, clock: Clock, scope: Scope, id_or_arn: str, field: str, specifiers: Sequence[str]
) -> dict[str, Any]:
    """Replace the rules of one certificate field (the other fields keep theirs)."""
    row = _row(conn, t.rolesanywhere_profiles, scope, "profile", id_or_arn)
    mappings = _mappings(row)
    mappings[field] = list(specifiers)
    _touch(conn, t.rolesanywhere_profiles, row.id, clock.time(), attribute_mappings=_attribute_mappings(mappings))
    return get_profile(conn, scope, row.id)


def delete_attribute_mapping(
    conn: Connection, clock: Clock, scope: Scope, id_or_arn: str, field: str, specifiers: Sequence[str] | None
) -> dict[str, Any]:
    """Remove some specifiers of a field (all of them when ``specifiers`` is None)."""
    row = _row(conn, t.rolesanywhere_profiles, scope, "profile", id_or_arn)
    mappings = _mappings(row)
    kept = [s for s in mappings.get(field, []) if specifiers is not None and s not in specifiers]
    if kept:
        mappings[field] = kept
    else:
        mappings.pop(field, None)
    _touch(conn, t.rolesanywhere_profiles, row.id, clock.time(), attribute_mappings=_attribute_mappings(mappings))
    return get_profile(conn, scope, row.id)


def get_profile(conn: Connection, scope: Scope, id_or_arn: str) -> dict[str, Any]:
    return _profile_detail(conn, scope, _row(conn, t.rolesanywhere_profiles, scope, "profile", id_or_arn))


def list_profiles(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    p = t.rolesanywhere_profiles
    rows = conn.execute(
        sa.select(p).where(p.c.account_id == scope.account_id, p.c.region == scope.region).order_by(p.c.created_at)
    )
    return [_profile_detail(conn, scope, r) for r in rows]


def set_profile_enabled(conn: Connection, clock: Clock, scope: Scope, id_or_arn: str, enabled: bool) -> dict[str, Any]:
    p = t.rolesanywhere_profiles
    return get_profile(conn, scope, _set_enabled(conn, clock, p, scope, "profile", id_or_arn, enabled))


def delete_profile(conn: Connection, scope: Scope, id_or_arn: str) -> dict[str, Any]:
    detail = get_profile(conn, scope, id_or_arn)
    conn.execute(t.rolesanywhere_tags.delete().where(t.rolesanywhere_tags.c.resource_id == detail["profileId"]))
    conn.execute(t.rolesanywhere_profiles.delete().where(t.rolesanywhere_profiles.c.id == detail["profileId"]))
    return detail


# --- CRLs -------------------------------------------------------------------------------------------


def _crl_detail(scope: Scope, row: Any) -> dict[str, Any]:
    return {
        "crlId": row.id,
        "crlArn": scope.arn("crl", row.id),
        "name": row.name,
        "enabled": row.enabled,
        "trustAnchorArn": scope.arn("trust-anchor", row.trust_anchor_id),
        "createdAt": _time(row.created_at),
        "updatedAt": _time(row.updated_at),
    }


def _load_crl(data: bytes) -> x509.CertificateRevocationList:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError:
        raise ValidationException("crlData is not a PEM or DER X.509 CRL.") from None


def import_crl(
    conn: Connection,
    clock: Clock,
    scope: Scope,
    *,
    name: str,
    crl_data: bytes,
    trust_anchor: str,
    enabled: bool = True,
    tags: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Import a CRL for a trust anchor: it must be signed by a certificate of the anchor (or one of the
    CAs the anchor's CAs issued, which iamd cannot know: only the anchor's own certificates are checked)."""
    anchor = _row(conn, t.rolesanywhere_trust_anchors, scope, "trust-anchor", trust_anchor)
    crl = _checked_crl(conn, anchor, crl_data, clock.time())
    now = clock.time()
    crl_id = str(uuid.uuid4())
    conn.execute(
        t.rolesanywhere_crls.insert().values(
            id=crl_id,
            account_id=scope.account_id,
            region=scope.region,
            name=_name(name),
            trust_anchor_id=anchor.id,
            crl_der=crl.public_bytes(serialization.Encoding.DER),
            enabled=enabled,
            created_at=now,
            updated_at=now,
        )
    )
    _put_tags(conn, scope, crl_id, tags)
    return _crl_detail(scope, _row(conn, t.rolesanywhere_crls, scope, "crl", crl_id))


def _checked_crl(conn: Connection, anchor: Any, crl_data: bytes, now: float) -> x509.CertificateRevocationList:
    crl = _load_crl(crl_data)
    issuers = [c for c in _anchor_certificates(conn, anchor, now) if c.subject == crl.issuer]
    if issuers and not any(crl.is_signature_valid(_verifying_key(c)) for c in issuers):
        raise ValidationException("The CRL's signature does not verify with the trust anchor's certificate.")
    return crl


def _verifying_key(cert: x509.Certificate) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):  # pragma: no cover - bundles are checked
        raise ValidationException("Trust anchor certificates must have RSA or EC keys.")
    return key


def get_crl(conn: Connection, scope: Scope, id_or_arn: str) -> dict[str, Any]:
    row = _row(conn, t.rolesanywhere_crls, scope, "crl", id_or_arn)
    return {**_crl_detail(scope, row), "crlData": bytes(row.crl_der)}


def update_crl(
    conn: Connection,
    clock: Clock,
    scope: Scope,
    id_or_arn: str,
    *,
    name: str | None = None,
    crl_data: bytes | None = None,
) -> dict[str, Any]:
    row = _row(conn, t.rolesanywhere_crls, scope, "crl", id_or_arn)
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = _name(name)
    if crl_data is not None:
        anchor = _row(conn, t.rolesanywhere_trust_anchors, scope, "trust-anchor", row.trust_anchor_id)
        values["crl_der"] = _checked_crl(conn, anchor, crl_data, clock.time()).public_bytes(serialization.Encoding.DER)
    _touch(conn, t.rolesanywhere_crls, row.id, clock.time(), **values)
    return get_crl(conn, scope, row.id)


def list_crls(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    c = t.rolesanywhere_crls
    rows = conn.execute(
        sa.select(c).where(c.c.account_id == scope.account_id, c.c.region == scope.region).order_by(c.c.created_at)
    )
    return [_crl_detail(scope, r) for r in rows]


def set_crl_enabled(conn: Connection, clock: Clock, scope: Scope, id_or_arn: str, enabled: bool) -> dict[str, Any]:
    c = t.rolesanywhere_crls
    crl_id = _set_enabled(conn, clock, c, scope, "crl", id_or_arn, enabled)
    return _crl_detail(scope, _row(conn, c, scope, "crl", crl_id))


def delete_crl(conn: Connection, scope: Scope, id_or_arn: str) -> dict[str, Any]:
    c = t.rolesanywhere_crls
    row = _row(conn, c, scope, "crl", id_or_arn)
    conn.execute(t.rolesanywhere_tags.delete().where(t.rolesanywhere_tags.c.resource_id == row.id))
    conn.execute(c.delete().where(c.c.id == row.id))
    return _crl_detail(scope, row)


# --- subjects ---------------------------------------------------------------------------------------


def list_subjects(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    s = t.rolesanywhere_subjects
    rows = conn.execute(
        sa.select(s).where(s.c.account_id == scope.account_id, s.c.region == scope.region).order_by(s.c.x509_subject)
    )
    return [
        {
            "subjectId": r.id,
            "subjectArn": scope.arn("subject", r.id),
            "x509Subject": r.x509_subject,
            "enabled": True,
            "lastSeenAt": _time(r.last_seen_at),
            "createdAt": _time(r.created_at),
            "updatedAt": _time(r.updated_at),
        }
        for r in rows
    ]


def get_subject(conn: Connection, scope: Scope, id_or_arn: str) -> dict[str, Any]:
    row = _row(conn, t.rolesanywhere_subjects, scope, "subject", id_or_arn)
    certificates = json.loads(row.certificates)
    seen = json.loads(row.credentials) if row.credentials else {}
    detail: dict[str, Any] = {
        "subjectId": row.id,
        "subjectArn": scope.arn("subject", row.id),
        "x509Subject": row.x509_subject,
        "enabled": True,
        "lastSeenAt": _time(row.last_seen_at),
        "createdAt": _time(row.created_at),
        "updatedAt": _time(row.updated_at),
        "credentials": [
            {**seen, "seenAt": _time(seen.get("seenAt", row.last_seen_at)), **certificate}
            for certificate in certificates
        ],
    }
    if row.instance_properties:
        detail["instanceProperties"] = [
            {"seenAt": _time(row.last_seen_at), "properties": json.loads(row.instance_properties), "failed": False}
        ]
    return detail


@dataclass
class _Seen:
    subject_id: str
    account_id: str
    region: str
    x509_subject: str
    certificate_pem: str
    instance_properties: Mapping[str, str] | None
    credentials: dict[str, Any]
    when: float


class SubjectRecorder:
    """CreateSession's subjects, gathered in memory and written at most every ``interval`` seconds by the
    request that finds the batch due (like access-key last-used data), so sessions cost no write each."""

    def __init__(self, interval: float = 5.0) -> None:
        self._interval = interval
        self._pending: dict[tuple[str, str, str], _Seen] = {}
        self._ids: dict[tuple[str, str, str], str] = {}
        self._written: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()
        self._last_flush = 0.0

    def subject_id(self, account_id: str, region: str, subject: str) -> str:
        """The subject's id: known, or reserved now (the row is written with the next batch)."""
        key = (account_id, region, subject)
        with self._lock:
            return self._ids.setdefault(key, str(uuid.uuid5(uuid.NAMESPACE_URL, "|".join(key))))

    def record(self, seen: _Seen, transaction: Callable[[], AbstractContextManager[Connection]]) -> None:
        """Keep ``seen``; write the batch when it is due, or at once for a subject this process has not
        written yet (so ListSubjects shows a new subject right away; only lastSeenAt waits)."""
        key = (seen.account_id, seen.region, seen.x509_subject)
        with self._lock:
            self._pending[key] = seen
            due = seen.when - self._last_flush >= self._interval or key not in self._written
            if due:
                self._last_flush = seen.when
                self._written.add(key)
        if due:
            self.flush(transaction)

    def flush(self, transaction: Callable[[], AbstractContextManager[Connection]]) -> None:
        """Write what was gathered, in a transaction of its own (``NodeServices.side_transaction``)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        s = t.rolesanywhere_subjects
        try:
            with transaction() as conn:
                for seen in pending.values():
                    values = {
                        "certificates": json.dumps([{"x509CertificateData": seen.certificate_pem}]),
                        "instance_properties": json.dumps(seen.instance_properties)
                        if seen.instance_properties
                        else None,
                        "credentials": json.dumps(seen.credentials),
                        "last_seen_at": seen.when,
                        "updated_at": seen.when,
                    }
                    done = conn.execute(s.update().where(s.c.id == seen.subject_id).values(**values)).rowcount
                    if not done:
                        conn.execute(
                            s.insert().values(
                                id=seen.subject_id,
                                account_id=seen.account_id,
                                region=seen.region,
                                x509_subject=seen.x509_subject,
                                created_at=seen.when,
                                **values,
                            )
                        )
        except sa.exc.DBAPIError:
            log.warning("could not record Roles Anywhere subjects; will retry")
            with self._lock:
                for key, value in pending.items():
                    self._pending.setdefault(key, value)


SUBJECTS = SubjectRecorder()


# --- CreateSession ----------------------------------------------------------------------------------


class ConfigCache:
    """Anchors (with their parsed certificates and enabled CRLs), profiles and roles CreateSession read,
    kept until the store's generation moves (subscribe ``clear`` to the runtime's watcher)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, ...], Any] = {}

    def clear(self) -> None:
        self._entries = {}

    def get(self, key: tuple[str, ...], load: Callable[[], Any]) -> Any:
        entries = self._entries
        if key in entries:
            return entries[key]
        value = entries[key] = load()
        return value


@dataclass(frozen=True, slots=True)
class _TrustedAnchor:
    row: Any
    certificates: list[x509.Certificate]
    crls: list[x509.CertificateRevocationList]


def _load_anchor(conn: Connection, anchor_id: str, account: str, region: str, now: float) -> _TrustedAnchor | None:
    ta, c = t.rolesanywhere_trust_anchors, t.rolesanywhere_crls
    row = conn.execute(
        sa.select(ta).where(ta.c.id == anchor_id, ta.c.account_id == account, ta.c.region == region)
    ).first()
    if row is None:
        return None
    crls = [
        x509.load_der_x509_crl(r.crl_der)
        for r in conn.execute(sa.select(c.c.crl_der).where(c.c.trust_anchor_id == row.id, c.c.enabled.is_(True)))
    ]
    return _TrustedAnchor(row, _anchor_certificates(conn, row, now), crls)


def _anchor_certificates(conn: Connection, anchor: Any, now: float) -> list[x509.Certificate]:
    if anchor.source_type == SELF_SIGNED_REPOSITORY:
        return [ca.certificate for ca in workloads.trusted_cas(conn, now) if ca.account_id == anchor.account_id]
    return x509.load_pem_x509_certificates(anchor.source_data.encode())


def _fits_tag(key: str, value: str) -> bool:
    return 1 <= len(key) <= 128 and len(value) <= 256 and bool(_TAG_TEXT.fullmatch(key) and _TAG_TEXT.fullmatch(value))


def _session_tags(cert: x509.Certificate, mappings_json: str | None) -> dict[str, str]:
    mappings = json.loads(mappings_json) if mappings_json else None
    tags = {k: v for k, v in principal_tags(cert, mappings).items() if _fits_tag(k, v)}
    return dict(list(tags.items())[:MAX_SESSION_TAGS])


def _packed_size(policies: Sequence[str], arns: Sequence[str], tags: Mapping[str, str]) -> int:
    """Percent of STS's packed-policy allowance the session's policies and tags use."""
    used = sum(policy_size(text) for text in policies) + sum(len(a) for a in arns)
    used += sum(len(k) + len(v) for k, v in tags.items())
    return (used * 100 + 2047) // 2048


def _parse_arn(value: object, kind: str) -> tuple[str, str, str, str]:
    """(partition, region, account, id) of a Roles Anywhere ARN of ``kind``."""
    if not isinstance(value, str):
        raise ValidationException(f"{kind}Arn is required.")
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "rolesanywhere" or not parts[5].startswith(kind + "/"):
        raise ValidationException(f"'{value}' is not a Roles Anywhere {kind} ARN.")
    return parts[1], parts[3], parts[4], parts[5][len(kind) + 1 :]


def _inputs(query: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any]:
    """CreateSession's members: ARNs from the query (AWS's helper) or the body (iam-rolesanywhere-session)."""
    inputs = dict(body)
    for name in ("profileArn", "roleArn", "trustAnchorArn"):
        if name in query:
            if name in inputs and inputs[name] != query[name]:
                raise ValidationException(f"{name} is given twice with different values.")
            inputs[name] = query[name]
    duration = inputs.get("durationSeconds")
    if duration is not None and (
        not isinstance(duration, int) or isinstance(duration, bool) or not MIN_DURATION <= duration <= MAX_DURATION
    ):
        raise ValidationException(
            f"1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: "
            f"Member must have value between {MIN_DURATION} and {MAX_DURATION}"
        )
    properties = inputs.get("instanceProperties")
    if properties is not None and (
        not isinstance(properties, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in properties.items())
    ):
        raise ValidationException("instanceProperties must map strings to strings.")
    return inputs


def create_session(
    conn: Connection,
    node: NodeServices,
    cache: ConfigCache,
    request: HttpRequest,
    query: Mapping[str, str],
    body: Mapping[str, Any],
) -> dict[str, Any]:
    """Verify an X.509-signed CreateSession and answer its ``credentialSet`` (status 201)."""
    now = node.clock.time()
    moment = datetime.fromtimestamp(now, UTC)
    signature = parse_x509_request(request)
    check_request_time(signature, now)
    check_signing_certificate(signature.certificate, moment)
    verify_signature(request, signature)
    inputs = _inputs(query, body)
    partition, region, account, anchor_id = _parse_arn(inputs.get("trustAnchorArn"), "trust-anchor")
    trusted = cache.get(
        ("anchor", anchor_id, account, region), lambda: _load_anchor(conn, anchor_id, account, region, now)
    )
    untrusted = "Untrusted signing certificate: "
    if trusted is None or partition != node.identity.partition:
        raise AccessDeniedException(untrusted + f"the trust anchor {inputs['trustAnchorArn']} does not exist.")
    anchor = trusted.row
    if not anchor.enabled:
        raise AccessDeniedException(untrusted + f"the trust anchor {inputs['trustAnchorArn']} is disabled.")
    path = verify_path(signature.certificate, signature.intermediates, trusted.certificates, moment, trusted.crls)
    try:
        _REPLAYS.check_and_record(signature, now)
    except ReplayedRequest:
        fresh = now - signature.request_time.timestamp() <= RSA_RESIGN_SECONDS
        if not (signature.algorithm == ALGORITHM_RSA and fresh):
            raise
    cert = path.certificate

    p_partition, p_region, p_account, profile_id = _parse_arn(inputs.get("profileArn"), "profile")
    p = t.rolesanywhere_profiles
    profile = cache.get(
        ("profile", profile_id, account),
        lambda: conn.execute(sa.select(p).where(p.c.id == profile_id, p.c.account_id == account)).first(),
    )
    if profile is None or (p_partition, p_region, p_account) != (partition, region, account):
        raise AccessDeniedException(f"The profile {inputs['profileArn']} does not exist in the trust anchor's account.")
    if not profile.enabled:
        raise AccessDeniedException(f"The profile {inputs['profileArn']} is disabled.")
    role_arn = inputs.get("roleArn")
    if not isinstance(role_arn, str) or role_arn not in json.loads(profile.role_arns):
        raise AccessDeniedException(f"The profile {inputs['profileArn']} does not list the role {role_arn}.")
    properties = inputs.get("instanceProperties")
    if profile.require_instance_properties and not properties:
        raise AccessDeniedException("The profile requires instanceProperties in the request.")
    requested_name = inputs.get("roleSessionName")
    if requested_name is not None:
        if not profile.accept_role_session_name:
            raise AccessDeniedException(f"The profile {inputs['profileArn']} does not accept a roleSessionName.")
        if not isinstance(requested_name, str) or not valid_session_name(requested_name):
            raise ValidationException("roleSessionName must be 2 to 64 of letters, digits and _+=,.@-")
    session_name = requested_name or role_session_name(cert)

    parsed_role = try_parse(role_arn)
    if parsed_role is None or parsed_role.service != "iam" or parsed_role.account != account:
        raise AccessDeniedException(f"The role {role_arn} is not in the trust anchor's account.")
    _, path_prefix, role_name = split_iam_resource(parsed_role.resource)
    r = t.roles
    role = cache.get(
        ("role", account, role_name.lower(), path_prefix),
        lambda: conn.execute(
            sa.select(r).where(r.c.account_id == account, r.c.name_key == role_name.lower(), r.c.path == path_prefix)
        ).first(),
    )
    if role is None or role.name != role_name:
        raise AccessDeniedException(f"The role {role_arn} does not exist.")

    tags = _session_tags(cert, profile.attribute_mappings)
    identity = source_identity(cert)
    anchor_arn = arn(partition, region, account, "trust-anchor", anchor.id)
    context: dict[str, str | Sequence[str]] = {
        "aws:SourceArn": anchor_arn,
        "aws:SourceAccount": account,
        "sts:RoleSessionName": session_name,
    }
    for key, value in tags.items():
        context[f"aws:RequestTag/{key}"] = value
    if tags:
        context["aws:TagKeys"] = list(tags)
    if identity is not None:
        context["sts:SourceIdentity"] = identity
    principal = describe_principal(SERVICE_PRINCIPAL, tags=tags)
    trust = compile_policy(role.trust_policy, policy_id=f"{role_arn} trust policy", kind=PolicyKind.TRUST)
    actions = [
        "sts:AssumeRole",
        *(["sts:TagSession"] if tags else []),
        *(["sts:SetSourceIdentity"] if identity else []),
    ]
    for action in actions:
        decision = authorize(
            EvaluationRequest(
                principal=principal,
                action=action,
                resource=role_arn,
                context=context,
                resource_policy=trust,
                resource_account=account,
                resource_policy_required=True,
                now=now,
            )
        )
        if decision.effect is not Effect.ALLOW:
            raise AccessDeniedException(
                f"The trust policy of {role_arn} does not allow {SERVICE_PRINCIPAL} to perform {action} for the "
                f"certificate '{cert.subject.rfc4514_string()}'."
            )

    duration = min(
        inputs.get("durationSeconds") or DEFAULT_DURATION,
        profile.duration_seconds or MAX_DURATION,
        role.max_session_duration,
    )
    managed = tuple(json.loads(profile.managed_policy_arns))
    policies = (profile.session_policy,) if profile.session_policy else ()
    assumed_arn = f"arn:{partition}:sts::{account}:assumed-role/{role.name}/{session_name}"
    assumed_id = f"{role.id}:{session_name}"
    claims = SessionClaims(
        account_id=account,
        access_key_id=ids.temporary_access_key_id(account),
        secret_access_key=ids.secret_access_key(),
        principal_kind="assumed-role",
        arn=assumed_arn,
        user_id=assumed_id,
        name=role.name,
        issued_at=now,
        expires_at=now + duration,
        entity_id=role.id,
        session_name=session_name,
        session_policies=policies,
        session_policy_arns=managed,
        tags=tags,
        source_identity=identity,
        source_arn=anchor_arn,
        role_arn=f"arn:{partition}:iam::{account}:role{role.path}{role.name}",
    )
    token = node.seal_token(claims)
    node.usage.record_role(role.id, now, region)
    subject = cert.subject.rfc4514_string()
    subject_id = SUBJECTS.subject_id(account, region, subject)
    expiration = datetime.fromtimestamp(claims.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry: dict[str, Any] = {
        "assumedRoleUser": {"arn": assumed_arn, "assumedRoleId": assumed_id},
        "credentials": {
            "accessKeyId": claims.access_key_id,
            "expiration": expiration,
            "secretAccessKey": claims.secret_access_key,
            "sessionToken": token,
        },
        "packedPolicySize": _packed_size(policies, managed, tags),
        "roleArn": role_arn,
        "sourceIdentity": identity or "",
    }
    SUBJECTS.record(
        _Seen(
            subject_id,
            account,
            region,
            subject,
            cert.public_bytes(serialization.Encoding.PEM).decode(),
            properties,
            {
                "seenAt": now,
                "serialNumber": format(cert.serial_number, "x"),
                "issuer": cert.issuer.rfc4514_string(),
                "enabled": True,
                "failed": False,
            },
            now,
        ),
        node.side_transaction,
    )
    return {"credentialSet": [entry], "subjectArn": arn(partition, region, account, "subject", subject_id)}
