"""Credential reports: AWS's CSV of every user's credentials, generated at most every four hours."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from iamd.core.arn import root_arn
from iamd.core.errors import CredentialReportExpired, CredentialReportNotPresent
from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.iam import login_profiles
from iamd.services.registry import operation
from iamd.services.targets import any_resource
from iamd.store import tables as t

REPORT_TTL_SECONDS = 4 * 3600
"""A report is reused for four hours after it is generated, and expires after that."""

COLUMNS = (
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
)

ROOT_USER = "<root_account>"
NA = "N/A"
NO_INFORMATION = "no_information"
NOT_SUPPORTED = "not_supported"

STARTED_DESCRIPTION = "No report exists. Starting a new report generation task"
NOT_PRESENT = "Credential report not present. Call GenerateCredentialReport to generate one."
EXPIRED = (
    "The credential report has expired: it is more than 4 hours old. "
    "Call GenerateCredentialReport to generate a new one."
)


def iso(ts: float | None, missing: str = NA) -> str:
    """AWS's report time format: ``2014-10-22T19:45:08+00:00``."""
    if ts is None:
        return missing
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _key_columns(keys: Sequence[Row[Any]]) -> list[str]:
    out: list[str] = []
    for i in range(2):
        if i < len(keys):
            k = keys[i]
            used = k.last_used_at is not None
            out += [
                _bool(k.status == "Active"),
                iso(k.created_at),
                iso(k.last_used_at),
                (k.last_used_region or NA) if used else NA,
                (k.last_used_service or NA) if used else NA,
            ]
        else:
            out += ["false", NA, NA, NA, NA]
    return out


def _cert_columns(certs: Sequence[Row[Any]]) -> list[str]:
    out: list[str] = []
    for i in range(2):
        if i < len(certs):
            out += [_bool(certs[i].status == "Active"), iso(certs[i].uploaded_at)]
        else:
            out += ["false", NA]
    return out


def _max_password_age_days(ctx: OperationContext) -> int | None:
    policy = login_profiles.get_policy(ctx)
    return policy.max_age if policy is not None and policy.max_age else None


def _mfa_users(ctx: OperationContext) -> tuple[set[str], bool]:
    """Ids of users with an enabled MFA device, and whether the root has one."""
    d = t.mfa_devices
    rows = ctx.conn.execute(
        sa.select(d.c.user_id, d.c.is_root).where(d.c.account_id == ctx.account_id, d.c.enabled_at.is_not(None))
    )
    users: set[str] = set()
    root = False
    for row in rows:
        if row.user_id is not None:
            users.add(row.user_id)
        elif row.is_root:
            root = True
    return users, root


def build_report(ctx: OperationContext) -> bytes:
    acct = ctx.account_id
    ak, sc, lp, u = t.access_keys, t.signing_certificates, t.login_profiles, t.users
    keys: dict[str | None, list[Row[Any]]] = defaultdict(list)
    for k in ctx.conn.execute(sa.select(ak).where(ak.c.account_id == acct).order_by(ak.c.created_at, ak.c.id)):
        keys[k.user_id].append(k)
    certs: dict[str | None, list[Row[Any]]] = defaultdict(list)
    for s in ctx.conn.execute(sa.select(sc).where(sc.c.account_id == acct).order_by(sc.c.uploaded_at, sc.c.id)):
        certs[s.user_id].append(s)
    mfa_users, root_mfa = _mfa_users(ctx)
    max_age = _max_password_age_days(ctx)
    account = ctx.conn.execute(sa.select(t.accounts).where(t.accounts.c.id == acct)).one()

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerow(
        [
            ROOT_USER,
            root_arn(ctx.partition, acct),
            iso(account.created_at),
            NOT_SUPPORTED,
            NO_INFORMATION if account.root_password_hash else NA,
            NOT_SUPPORTED,
            NOT_SUPPORTED,
            _bool(root_mfa),
            *_key_columns(keys[None]),
            *_cert_columns(certs[None]),
        ]
    )
    rows = ctx.conn.execute(
        sa.select(u, lp.c.password_changed_at, lp.c.user_id.label("profile_user"))
        .select_from(u.outerjoin(lp, lp.c.user_id == u.c.id))
        .where(u.c.account_id == acct)
        .order_by(u.c.name_key)
    )
    for row in rows:
        has_password = row.profile_user is not None
        if has_password:
            last_used = iso(row.password_last_used, NO_INFORMATION)
            changed = iso(row.password_changed_at)
            next_rotation = iso(row.password_changed_at + max_age * 86400) if max_age else NA
        else:
            last_used = iso(row.password_last_used)
            changed = next_rotation = NA
        writer.writerow(
            [
                row.name,
                c.arn(ctx, "user", row.path, row.name, acct),
                iso(row.created_at),
                _bool(has_password),
                last_used,
                changed,
                next_rotation,
                _bool(row.id in mfa_users),
                *_key_columns(keys[row.id]),
                *_cert_columns(certs[row.id]),
            ]
        )
    return buf.getvalue().rstrip("\n").encode()


def _upsert(ctx: OperationContext, generated_at: float, content: bytes) -> None:
    cr = t.credential_reports
    values = {"account_id": ctx.account_id, "generated_at": generated_at, "content": content}
    dialect = ctx.conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert(cr) if dialect == "postgresql" else sqlite.insert(cr)
        stmt = insert.values(**values).on_conflict_do_update(
            index_elements=[cr.c.account_id], set_={"generated_at": generated_at, "content": content}
        )
        ctx.conn.execute(stmt)
        return
    ctx.conn.execute(cr.delete().where(cr.c.account_id == ctx.account_id))
    ctx.conn.execute(cr.insert().values(**values))


@operation("iam", "GenerateCredentialReport", target=any_resource)
def generate_credential_report(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    cr = t.credential_reports
    now = ctx.now()
    generated_at = ctx.conn.execute(sa.select(cr.c.generated_at).where(cr.c.account_id == ctx.account_id)).scalar()
    if generated_at is not None and now - generated_at < REPORT_TTL_SECONDS:
        return {"State": "COMPLETE"}
    _upsert(ctx, now, build_report(ctx))
    return {"State": "STARTED", "Description": STARTED_DESCRIPTION}


@operation("iam", "GetCredentialReport", target=any_resource)
def get_credential_report(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
    cr = t.credential_reports
    row = ctx.conn.execute(sa.select(cr).where(cr.c.account_id == ctx.account_id)).first()
    if row is None:
        raise CredentialReportNotPresent(NOT_PRESENT)
    if ctx.now() - row.generated_at >= REPORT_TTL_SECONDS:
        raise CredentialReportExpired(EXPIRED)
    return {"Content": bytes(row.content), "ReportFormat": "text/csv", "GeneratedTime": row.generated_at}
