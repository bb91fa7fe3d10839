"""Shared pieces of the IAM handlers: lookups, pagination, tags, ARNs, quotas."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from iamd.core.arn import iam_arn
from iamd.core.errors import InvalidInput, LimitExceeded, NoSuchEntity, ValidationError
from iamd.services.context import OperationContext
from iamd.store import tables as t

DEFAULT_MAX_ITEMS = 100


# --- pagination ------------------------------------------------------------------------------


def encode_marker(*values: object) -> str:
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_marker(marker: str, arity: int = 1) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(marker + "=" * (-len(marker) % 4))
        values = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("Invalid Marker.") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidInput("Invalid Marker.")
    return values


def paginate(
    ctx: OperationContext,
    query: sa.Select[Any],
    order_columns: Sequence[sa.ColumnElement[Any]],
    params: Mapping[str, Any],
    *,
    marker_of: Any = None,
) -> tuple[list[Row[Any]], dict[str, Any]]:
    """Keyset pagination on ``order_columns`` (a unique key).

    Returns the page's rows and the ``IsTruncated``/``Marker`` fields of the response.
    ``marker_of(row)`` gives the key values of a row (default: the order columns by name).
    """
    max_items = int(params.get("MaxItems") or DEFAULT_MAX_ITEMS)
    marker = params.get("Marker")
    if marker:
        values = decode_marker(str(marker), len(order_columns))
        query = query.where(sa.tuple_(*order_columns) > sa.tuple_(*values))
    rows = list(ctx.conn.execute(query.order_by(*order_columns).limit(max_items + 1)).all())
    page = rows[:max_items]
    extra: dict[str, Any] = {"IsTruncated": len(rows) > max_items}
    if len(rows) > max_items:
        last = page[-1]
        keys = marker_of(last) if marker_of else [getattr(last, c.key or "") for c in order_columns]
        extra["Marker"] = encode_marker(*keys)
    return page, extra


def path_prefix_filter(column: sa.ColumnElement[str], params: Mapping[str, Any]) -> sa.ColumnElement[bool] | None:
    prefix = params.get("PathPrefix")
    if not prefix or prefix == "/":
        return None
    escaped = str(prefix).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(escaped + "%", escape="\\")


# --- paths ---------------------------------------------------------------------------------------

INVALID_PATH = (
    "The specified value for path is invalid. "
    "It must begin and end with / and contain only alphanumeric characters and/or / characters."
)


def check_path(path: str | None) -> str:
    """An entity's ``Path``/``NewPath`` (``/`` when not given), refused as AWS refuses bad ones.

    Besides the model's pattern (checked by the protocol layer), AWS refuses a path with an
    empty segment (``/a//b/``) with its own ValidationError message.
    """
    if not path:
        return "/"
    if not (path.startswith("/") and path.endswith("/")) or "//" in path:
        raise ValidationError(INVALID_PATH)
    return path


# --- ARNs ----------------------------------------------------------------------------------------


def arn(ctx: OperationContext, kind: str, path: str, name: str, account: str | None = None) -> str:
    return iam_arn(ctx.partition, account or ctx.account_id, kind, path, name)


# --- lookups -----------------------------------------------------------------------------------------

_NOT_FOUND = {
    "users": "The user with name {} cannot be found.",
    "groups": "The group with name {} cannot be found.",
    "roles": "The role with name {} cannot be found.",
    "instance_profiles": "Instance Profile {} cannot be found.",
    "server_certificates": "The Server Certificate with name {} cannot be found.",
}


def find_named(ctx: OperationContext, table: sa.Table, name: str) -> Row[Any] | None:
    return ctx.conn.execute(
        sa.select(table).where(table.c.account_id == ctx.account_id, table.c.name_key == name.lower())
    ).first()


def get_named(ctx: OperationContext, table: sa.Table, name: str) -> Row[Any]:
    row = find_named(ctx, table, name)
    if row is None:
        raise NoSuchEntity(_NOT_FOUND[table.name].format(name))
    return row


def get_user(ctx: OperationContext, name: str) -> Row[Any]:
    return get_named(ctx, t.users, name)


def get_group(ctx: OperationContext, name: str) -> Row[Any]:
    return get_named(ctx, t.groups, name)


def get_role(ctx: OperationContext, name: str) -> Row[Any]:
    return get_named(ctx, t.roles, name)


def caller_user_or_named(ctx: OperationContext, params: Mapping[str, Any]) -> Row[Any] | None:
    """The named user, or the calling IAM user when no UserName is given (None for root)."""
    name = params.get("UserName")
    if name:
        return get_user(ctx, str(name))
    if ctx.caller.entity_id and ctx.caller.kind.value == "user":
        return ctx.conn.execute(sa.select(t.users).where(t.users.c.id == ctx.caller.entity_id)).first()
    return None


def count(ctx: OperationContext, query: sa.Select[Any]) -> int:
    return int(ctx.conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar() or 0)


def check_quota(ctx: OperationContext, name: str, current: int, message: str) -> None:
    limit = ctx.quotas.limit(name)
    if current >= limit:
        raise LimitExceeded(message.format(limit=limit))


# --- tags --------------------------------------------------------------------------------------------


def validate_tags(tags: Sequence[Mapping[str, str]]) -> None:
    seen: set[str] = set()
    for tag in tags:
        key = tag["Key"]
        if key.lower().startswith("aws:"):
            raise InvalidInput("User is not authorized to perform tag operations on tags with the aws: prefix.")
        if key.lower() in seen:
            raise InvalidInput("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        seen.add(key.lower())


def put_tags(ctx: OperationContext, resource_type: str, resource_id: str, tags: Sequence[Mapping[str, str]]) -> None:
    """Add or overwrite tags, enforcing AWS's rules and the 50-tag quota."""
    if not tags:
        return
    validate_tags(tags)
    tt = t.tags
    existing = {
        r.key_lower
        for r in ctx.conn.execute(
            sa.select(tt.c.key_lower).where(tt.c.resource_type == resource_type, tt.c.resource_id == resource_id)
        )
    }
    new_keys = {tag["Key"].lower() for tag in tags}
    limit = ctx.quotas.tags
    if len(existing | new_keys) > limit:
        raise LimitExceeded(f"The number of tags has reached the maximum limit of {limit}.")
    for tag in tags:
        key_lower = tag["Key"].lower()
        if key_lower in existing:
            ctx.conn.execute(
                tt.update()
                .where(
                    tt.c.resource_type == resource_type, tt.c.resource_id == resource_id, tt.c.key_lower == key_lower
                )
                .values(key=tag["Key"], value=tag.get("Value", ""))
            )
        else:
            ctx.conn.execute(
                tt.insert().values(
                    resource_type=resource_type,
                    resource_id=resource_id,
                    key_lower=key_lower,
                    key=tag["Key"],
                    value=tag.get("Value", ""),
                )
            )


def remove_tags(ctx: OperationContext, resource_type: str, resource_id: str, keys: Sequence[str]) -> None:
    tt = t.tags
    lowered = [k.lower() for k in keys]
    if lowered:
        ctx.conn.execute(
            tt.delete().where(
                tt.c.resource_type == resource_type, tt.c.resource_id == resource_id, tt.c.key_lower.in_(lowered)
            )
        )


def delete_all_tags(ctx: OperationContext, resource_type: str, resource_id: str) -> None:
    tt = t.tags
    ctx.conn.execute(tt.delete().where(tt.c.resource_type == resource_type, tt.c.resource_id == resource_id))


def _sorted_tags(ctx: OperationContext, resource_type: str, resource_id: str) -> list[tuple[str, str]]:
    """A resource's tags as (key, value) in plain key order (code points, as AWS lists them).

    Sorted here rather than in SQL so that SQLite and PostgreSQL (whose collations differ) agree;
    a resource has at most 50 tags.
    """
    tt = t.tags
    rows = ctx.conn.execute(
        sa.select(tt.c.key, tt.c.value).where(tt.c.resource_type == resource_type, tt.c.resource_id == resource_id)
    )
    return sorted((r.key, r.value) for r in rows)


def get_tags(ctx: OperationContext, resource_type: str, resource_id: str) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in _sorted_tags(ctx, resource_type, resource_id)]


def list_tags_page(
    ctx: OperationContext, resource_type: str, resource_id: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    """One page of List*Tags: plain key order, the marker being the page's last key."""
    tags = _sorted_tags(ctx, resource_type, resource_id)
    marker = params.get("Marker")
    if marker:
        after = str(decode_marker(str(marker))[0])
        tags = [tag for tag in tags if tag[0] > after]
    max_items = int(params.get("MaxItems") or DEFAULT_MAX_ITEMS)
    page = tags[:max_items]
    out: dict[str, Any] = {"Tags": [{"Key": key, "Value": value} for key, value in page]}
    out["IsTruncated"] = len(tags) > max_items
    if len(tags) > max_items:
        out["Marker"] = encode_marker(page[-1][0])
    return out


# --- inline policy helpers shared by users, groups and roles ---------------------------------------


def delete_principal_policies(ctx: OperationContext, principal_type: str, principal_id: str) -> None:
    ip, pa = t.inline_policies, t.policy_attachments
    ctx.conn.execute(ip.delete().where(ip.c.principal_type == principal_type, ip.c.principal_id == principal_id))
    ctx.conn.execute(pa.delete().where(pa.c.principal_type == principal_type, pa.c.principal_id == principal_id))


def has_rows(ctx: OperationContext, query: sa.Select[Any]) -> bool:
    return ctx.conn.execute(query.limit(1)).first() is not None


# --- managed policies by ARN ------------------------------------------------------------------------


def find_policy(ctx: OperationContext, policy_arn: str) -> Row[Any] | None:
    mp = t.managed_policies
    row = ctx.conn.execute(sa.select(mp).where(mp.c.arn == policy_arn)).first()
    if row is None or row.account_id not in ("aws", ctx.account_id):
        return None
    return row


def get_policy(ctx: OperationContext, policy_arn: str) -> Row[Any]:
    row = find_policy(ctx, policy_arn)
    if row is None:
        raise NoSuchEntity(f"Policy {policy_arn} does not exist or is not attachable.")
    return row


def boundary_output(boundary_arn: str | None) -> dict[str, str] | None:
    if not boundary_arn:
        return None
    return {"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": boundary_arn}


def check_boundary(ctx: OperationContext, boundary_arn: str) -> None:
    """A permissions boundary must be an existing managed policy (AWS or this account's)."""
    if find_policy(ctx, boundary_arn) is None:
        raise NoSuchEntity(f"Scope ARN: {boundary_arn} does not exist or is not attachable.")
