"""Roles Anywhere's control plane: every operation of botocore's ``rolesanywhere`` model, declared like every
other operation (iamd.web.rolesanywhere_api serves them over REST-JSON).

Each is authorized as ``rolesanywhere:<Operation>`` on the resource's ARN
(``arn:aws:rolesanywhere:REGION:ACCOUNT:trust-anchor/ID``, ``profile/``, ``crl/``, ``subject/``) with its
tags as ``aws:ResourceTag/*``, or on ``*`` for creates and lists, with a request's tags as
``aws:RequestTag/*`` and ``aws:TagKeys``. The work is in iamd.services.rolesanywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iamd.services import rolesanywhere as ra
from iamd.services.context import OperationContext
from iamd.services.registry import operation
from iamd.services.targets import ContextValues, Target, TargetBuilder, TargetQuery, any_resource

SERVICE = "rolesanywhere"
DEFAULT_PAGE_SIZE = 50
Result = Mapping[str, Any] | None


def _scope(ctx: OperationContext) -> ra.Scope:
    return ra.Scope(ctx.partition, ctx.account_id, ctx.region)


def _resource_tags(q: TargetQuery, arn: str) -> dict[str, str]:
    try:
        return {
            tag["key"]: tag["value"] for tag in ra.list_tags(q.conn, ra.Scope(q.partition, q.account, q.region), arn)
        }
    except ra.ResourceNotFoundException:
        return {}


def resource(kind: str, member: str) -> TargetBuilder:
    """The ARN of the trust anchor, profile, CRL or subject whose id ``member`` gives, with its tags."""

    def build(q: TargetQuery) -> Target | None:
        value = q.params.get(member)
        if not isinstance(value, str):
            return None
        arn = ra.arn(q.partition, q.region, q.account, kind, value)
        return Target(arn, _resource_tags(q, arn) if kind != "subject" else {})

    return build


def tagged_resource(q: TargetQuery) -> Target | None:
    """The ``resourceArn`` of the tag operations, with its tags."""
    value = q.params.get("resourceArn")
    return Target(value, _resource_tags(q, value)) if isinstance(value, str) else None


def request_tags(params: Mapping[str, Any]) -> ContextValues:
    """``aws:RequestTag/*`` and ``aws:TagKeys`` from a ``tags`` list (Roles Anywhere spells it lower-case)."""
    tags = params.get("tags")
    if not isinstance(tags, list) or not tags:
        return {}
    out: ContextValues = {f"aws:RequestTag/{tag['key']}": tag["value"] for tag in tags}
    out["aws:TagKeys"] = [tag["key"] for tag in tags]
    return out


def tag_keys(params: Mapping[str, Any]) -> ContextValues:
    keys = params.get("tagKeys")
    return {"aws:TagKeys": list(keys)} if isinstance(keys, list) and keys else {}


def _tags(p: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(tag["key"], tag["value"]) for tag in p.get("tags") or []]


def _page(items: list[dict[str, Any]], key: str, p: Mapping[str, Any]) -> dict[str, Any]:
    """One page of ``items``; the token is the offset of the next page."""
    token = p.get("nextToken")
    if token is not None and (not isinstance(token, str) or not token.isdigit()):
        raise ra.ValidationException("The nextToken is not one a list call returned.")
    start = int(token) if token else 0
    size = int(p.get("pageSize") or DEFAULT_PAGE_SIZE)
    out: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        out["nextToken"] = str(start + size)
    return out


def _source(p: Mapping[str, Any]) -> tuple[str, str | None]:
    source = p["source"]
    data = source.get("sourceData") or {}
    return str(source.get("sourceType") or ""), data.get("x509CertificateData")


ANCHOR = resource("trust-anchor", "trustAnchorId")
PROFILE = resource("profile", "profileId")
CRL = resource("crl", "crlId")
SUBJECT = resource("subject", "subjectId")


# --- trust anchors ----------------------------------------------------------------------------------


@operation("rolesanywhere", "CreateTrustAnchor", target=any_resource, request_keys=(request_tags,))
def create_trust_anchor(ctx: OperationContext, p: dict[str, Any]) -> Result:
    source_type, bundle = _source(p)
    scope = _scope(ctx)
    detail = ra.create_trust_anchor(
        ctx.conn,
        ctx.clock,
        scope,
        name=p["name"],
        source_type=source_type,
        bundle_pem=bundle,
        enabled=p.get("enabled", True),
        tags=_tags(p),
    )
    if p.get("notificationSettings"):
        anchor_id = detail["trustAnchorId"]
        detail = ra.put_notification_settings(ctx.conn, ctx.clock, scope, anchor_id, p["notificationSettings"])
    return {"trustAnchor": detail}


@operation("rolesanywhere", "GetTrustAnchor", target=ANCHOR)
def get_trust_anchor(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return {"trustAnchor": ra.get_trust_anchor(ctx.conn, _scope(ctx), p["trustAnchorId"])}


@operation("rolesanywhere", "ListTrustAnchors", target=any_resource)
def list_trust_anchors(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return _page(ra.list_trust_anchors(ctx.conn, _scope(ctx)), "trustAnchors", p)


@operation("rolesanywhere", "UpdateTrustAnchor", target=ANCHOR)
def update_trust_anchor(ctx: OperationContext, p: dict[str, Any]) -> Result:
    source_type, bundle = _source(p) if p.get("source") else (None, None)
    detail = ra.update_trust_anchor(
        ctx.conn,
        ctx.clock,
        _scope(ctx),
        p["trustAnchorId"],
        name=p.get("name"),
        source_type=source_type,
        bundle_pem=bundle,
    )
    return {"trustAnchor": detail}


@operation("rolesanywhere", "DeleteTrustAnchor", target=ANCHOR)
def delete_trust_anchor(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return {"trustAnchor": ra.delete_trust_anchor(ctx.conn, _scope(ctx), p["trustAnchorId"])}


@operation("rolesanywhere", "EnableTrustAnchor", target=ANCHOR)
def enable_trust_anchor(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return {"trustAnchor": ra.set_trust_anchor_enabled(ctx.conn, ctx.clock, _scope(ctx), p["trustAnchorId"], True)}


@operation("rolesanywhere", "DisableTrustAnchor", target=ANCHOR)
def disable_trust_anchor(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return {"trustAnchor": ra.set_trust_anchor_enabled(ctx.conn, ctx.clock, _scope(ctx), p["trustAnchorId"], False)}


@operation("rolesanywhere", "PutNotificationSettings", target=ANCHOR)
def put_notification_settings(ctx: OperationContext, p: dict[str, Any]) -> Result:
    settings = p["notificationSettings"]
    return {"trustAnchor": ra.put_notification_settings(ctx.conn, ctx.clock, _scope(ctx), p["trustAnchorId"], settings)}


@operation("rolesanywhere", "ResetNotificationSettings", target=ANCHOR)
def reset_notification_settings(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return {"trustAnchor": ra.put_notification_settings(ctx.conn, ctx.clock, _scope(ctx), p["trustAnchorId"], None)}


# --- profiles ---------------------------------------------------------------------------------------


@operation("rolesanywhere", "CreateProfile", target=any_resource, request_keys=(request_tags,))
def create_profile(ctx: OperationContext, p: dict[str, Any]) -> Result:
    detail = ra.create_profile(
        ctx.conn,
        ctx.clock,
        _scope(ctx),
        name=p["name"],
        role_arns=p.get("roleArns") or [],
        managed_policy_arns=p.get("managedPolicyArns") or [],
        session_policy=p.get("sessionPolicy"),
        duration_seconds=p.get("durationSeconds"),
        require_instance_properties=bool(p.get("requireInstanceProperties", False)),
        accept_role_session_name=bool(p.get("acceptRoleSessionName", False)),
        enabled=p.get("enabled", True),
        tags=_tags(p),
    )
    return {"profile": detail}


@operation("rolesanywhere", "GetProfile", target=PROFILE)
def get_profile(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return {"profile": ra.get_profile(ctx.conn, _scope(ctx), p["profileId"])}


@operation("rolesanywhere", "ListProfiles", target=any_resource)
def list_profiles(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return _page(ra.list_profiles(ctx.conn, _scope(ctx)), "profiles", p)


@operation("rolesanywhere", "UpdateProfile", target=PROFILE)
def update_profile(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return {"profile": ra.update_profile(ctx.conn, ctx.clock, _scope(ctx), p["profileId"], p)}


@operation("rolesanywhere", "DeleteProfile", target=PROFILE)
def delete_profile(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return {"profile": ra.delete_profile(ctx.conn, _scope(ctx), p["profileId"])}


@operation("rolesanywhere", "EnableProfile", target=PROFILE)
def enable_profile(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return {"profile": ra.set_profile_enabled(ctx.conn, ctx.clock, _scope(ctx), p["profileId"], True)}


@operation("rolesanywhere", "DisableProfile", target=PROFILE)
def disable_profile(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return {"profile": ra.set_profile_enabled(ctx.conn, ctx.clock, _scope(ctx), p["profileId"], False)}


@operation("rolesanywhere", "PutAttributeMapping", target=PROFILE)
def put_attribute_mapping(ctx: OperationContext, p: dict[str, Any]) -> Result:
    specifiers = [rule["specifier"] for rule in p["mappingRules"]]
    detail = ra.put_attribute_mapping(
        ctx.conn, ctx.clock, _scope(ctx), p["profileId"], p["certificateField"], specifiers
    )
    return {"profile": detail}


@operation("rolesanywhere", "DeleteAttributeMapping", target=PROFILE)
def delete_attribute_mapping(ctx: OperationContext, p: dict[str, Any]) -> Result:
    detail = ra.delete_attribute_mapping(
        ctx.conn, ctx.clock, _scope(ctx), p["profileId"], p["certificateField"], p.get("specifiers")
    )
    return {"profile": detail}


# --- CRLs -------------------------------------------------------------------------------------------


@operation("rolesanywhere", "ImportCrl", target=any_resource, request_keys=(request_tags,))
def import_crl(ctx: OperationContext, p: dict[str, Any]) -> Result:
    detail = ra.import_crl(
        ctx.conn,
        ctx.clock,
        _scope(ctx),
        name=p["name"],
        crl_data=p["crlData"],
        trust_anchor=p["trustAnchorArn"],
        enabled=p.get("enabled", True),
        tags=_tags(p),
    )
    return {"crl": detail}


@operation("rolesanywhere", "GetCrl", target=CRL)
def get_crl(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return {"crl": ra.get_crl(ctx.conn, _scope(ctx), p["crlId"])}


@operation("rolesanywhere", "ListCrls", target=any_resource)
def list_crls(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return _page(ra.list_crls(ctx.conn, _scope(ctx)), "crls", p)


@operation("rolesanywhere", "UpdateCrl", target=CRL)
def update_crl(ctx: OperationContext, p: dict[str, Any]) -> Result:
    detail = ra.update_crl(ctx.conn, ctx.clock, _scope(ctx), p["crlId"], name=p.get("name"), crl_data=p.get("crlData"))
    return {"crl": detail}


@operation("rolesanywhere", "DeleteCrl", target=CRL)
def delete_crl(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return {"crl": ra.delete_crl(ctx.conn, _scope(ctx), p["crlId"])}


@operation("rolesanywhere", "EnableCrl", target=CRL)
def enable_crl(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return {"crl": ra.set_crl_enabled(ctx.conn, ctx.clock, _scope(ctx), p["crlId"], True)}


@operation("rolesanywhere", "DisableCrl", target=CRL)
def disable_crl(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return {"crl": ra.set_crl_enabled(ctx.conn, ctx.clock, _scope(ctx), p["crlId"], False)}


# --- subjects and tags ------------------------------------------------------------------------------


@operation("rolesanywhere", "ListSubjects", target=any_resource)
def list_subjects(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return _page(ra.list_subjects(ctx.conn, _scope(ctx)), "subjects", p)


@operation("rolesanywhere", "GetSubject", target=SUBJECT)
def get_subject(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return {"subject": ra.get_subject(ctx.conn, _scope(ctx), p["subjectId"])}


@operation("rolesanywhere", "TagResource", target=tagged_resource, request_keys=(request_tags,))
def tag_resource(ctx: OperationContext, p: dict[str, Any]) -> Result:
    ra.tag_resource(ctx.conn, _scope(ctx), p["resourceArn"], _tags(p))
    return None


@operation("rolesanywhere", "UntagResource", target=tagged_resource, request_keys=(tag_keys,))
def untag_resource(ctx: OperationContext, p: dict[str, Any]) -> Result:
    ra.untag_resource(ctx.conn, _scope(ctx), p["resourceArn"], p["tagKeys"])
    return None


@operation("rolesanywhere", "ListTagsForResource", target=tagged_resource)
def list_tags_for_resource(ctx: OperationContext, p: dict[str, Any]) -> Result:
    return {"tags": ra.list_tags(ctx.conn, _scope(ctx), p["resourceArn"])}
