"""Roles Anywhere's control plane: every operation of botocore's ``rolesanywhere`` model over REST-JSON.

Requests are routed by method and path (``web/protocol/rest_router``), signed with SigV4 for the service
``rolesanywhere`` and authenticated like every API call (long-term keys, sessions), then authorized by
the caller's policies as ``rolesanywhere:<Operation>`` on the resource's ARN (``trust-anchor/``,
``profile/``, ``crl/``, ``subject/``; ``*`` for creates and lists), with the resource's tags as
``aws:ResourceTag/*`` and a request's tags as ``aws:RequestTag/*``. Each call is one transaction; the
resources are the caller's account's, in the region of the signature's credential scope.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from iamd.core import ids
from iamd.core.errors import AwsError, InternalFailure, MissingAuthenticationToken, SignatureDoesNotMatch
from iamd.core.http import HttpRequest
from iamd.core.principal import Principal, PrincipalKind
from iamd.policy import Effect, access_denied_message
from iamd.services import rolesanywhere as ra
from iamd.services.dispatch import request_context
from iamd.services.runtime import Runtime
from iamd.web.api import authenticate
from iamd.web.protocol.model import load_service
from iamd.web.protocol.rest_json import parse_rest_request, serialize_rest_error, serialize_rest_result
from iamd.web.protocol.rest_router import RestRouter

log = logging.getLogger("iamd.rolesanywhere")

SERVICE = "rolesanywhere"
DEFAULT_PAGE_SIZE = 50
Response = tuple[int, list[tuple[bytes, bytes]], bytes]
_Run = Callable[[Connection, Any, ra.Scope, Mapping[str, Any]], Mapping[str, Any] | None]

# Operations that name an existing resource: the input member holding its id, and its ARN kind.
_RESOURCE_MEMBERS = (
    ("trustAnchorId", "trust-anchor", "rolesanywhere_trust_anchors"),
    ("profileId", "profile", "rolesanywhere_profiles"),
    ("crlId", "crl", "rolesanywhere_crls"),
    ("subjectId", "subject", "rolesanywhere_subjects"),
)


def _tags(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(tag["key"], tag["value"]) for tag in inputs.get("tags") or []]


def _page(items: list[dict[str, Any]], key: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """One page of ``items``; the token is the offset of the next page."""
    token = inputs.get("nextToken")
    start = int(token) if isinstance(token, str) and token.isdigit() else 0
    if token is not None and (not isinstance(token, str) or not token.isdigit()):
        raise ra.ValidationException("The nextToken is not one a list call returned.")
    size = int(inputs.get("pageSize") or DEFAULT_PAGE_SIZE)
    out: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        out["nextToken"] = str(start + size)
    return out


def _source(inputs: Mapping[str, Any]) -> tuple[str, str | None]:
    source = inputs["source"]
    data = source.get("sourceData") or {}
    return str(source.get("sourceType") or ""), data.get("x509CertificateData")


def _create_trust_anchor(conn: Connection, clock: Any, scope: ra.Scope, p: Mapping[str, Any]) -> dict[str, Any]:
    source_type, bundle = _source(p)
    detail = ra.create_trust_anchor(
        conn,
        clock,
        scope,
        name=p["name"],
        source_type=source_type,
        bundle_pem=bundle,
        enabled=p.get("enabled", True),
        tags=_tags(p),
    )
    if p.get("notificationSettings"):
        detail = ra.put_notification_settings(conn, clock, scope, detail["trustAnchorId"], p["notificationSettings"])
    return {"trustAnchor": detail}


def _update_trust_anchor(conn: Connection, clock: Any, scope: ra.Scope, p: Mapping[str, Any]) -> dict[str, Any]:
    source_type, bundle = _source(p) if p.get("source") else (None, None)
    detail = ra.update_trust_anchor(
        conn, clock, scope, p["trustAnchorId"], name=p.get("name"), source_type=source_type, bundle_pem=bundle
    )
    return {"trustAnchor": detail}


def _create_profile(conn: Connection, clock: Any, scope: ra.Scope, p: Mapping[str, Any]) -> dict[str, Any]:
    detail = ra.create_profile(
        conn,
        clock,
        scope,
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


def _import_crl(conn: Connection, clock: Any, scope: ra.Scope, p: Mapping[str, Any]) -> dict[str, Any]:
    detail = ra.import_crl(
        conn,
        clock,
        scope,
        name=p["name"],
        crl_data=p["crlData"],
        trust_anchor=p["trustAnchorArn"],
        enabled=p.get("enabled", True),
        tags=_tags(p),
    )
    return {"crl": detail}


def _switch(kind: str, verb: str) -> _Run:
    setters = {
        "trust-anchor": ra.set_trust_anchor_enabled,
        "profile": ra.set_profile_enabled,
        "crl": ra.set_crl_enabled,
    }
    member, key = {"trust-anchor": ("trustAnchorId", "trustAnchor"), "profile": ("profileId", "profile")}.get(
        kind, ("crlId", "crl")
    )
    return lambda conn, clock, scope, p: {key: setters[kind](conn, clock, scope, p[member], verb == "enable")}


_OPERATIONS: dict[str, _Run] = {
    "CreateTrustAnchor": _create_trust_anchor,
    "GetTrustAnchor": lambda conn, clock, scope, p: {
        "trustAnchor": ra.get_trust_anchor(conn, scope, p["trustAnchorId"])
    },
    "ListTrustAnchors": lambda conn, clock, scope, p: _page(ra.list_trust_anchors(conn, scope), "trustAnchors", p),
    "UpdateTrustAnchor": _update_trust_anchor,
    "DeleteTrustAnchor": lambda conn, clock, scope, p: {
        "trustAnchor": ra.delete_trust_anchor(conn, scope, p["trustAnchorId"])
    },
    "EnableTrustAnchor": _switch("trust-anchor", "enable"),
    "DisableTrustAnchor": _switch("trust-anchor", "disable"),
    "PutNotificationSettings": lambda conn, clock, scope, p: {
        "trustAnchor": ra.put_notification_settings(conn, clock, scope, p["trustAnchorId"], p["notificationSettings"])
    },
    "ResetNotificationSettings": lambda conn, clock, scope, p: {
        "trustAnchor": ra.put_notification_settings(conn, clock, scope, p["trustAnchorId"], None)
    },
    "CreateProfile": _create_profile,
    "GetProfile": lambda conn, clock, scope, p: {"profile": ra.get_profile(conn, scope, p["profileId"])},
    "ListProfiles": lambda conn, clock, scope, p: _page(ra.list_profiles(conn, scope), "profiles", p),
    "UpdateProfile": lambda conn, clock, scope, p: {
        "profile": ra.update_profile(conn, clock, scope, p["profileId"], p)
    },
    "DeleteProfile": lambda conn, clock, scope, p: {"profile": ra.delete_profile(conn, scope, p["profileId"])},
    "EnableProfile": _switch("profile", "enable"),
    "DisableProfile": _switch("profile", "disable"),
    "PutAttributeMapping": lambda conn, clock, scope, p: {
        "profile": ra.put_attribute_mapping(
            conn, clock, scope, p["profileId"], p["certificateField"], [r["specifier"] for r in p["mappingRules"]]
        )
    },
    "DeleteAttributeMapping": lambda conn, clock, scope, p: {
        "profile": ra.delete_attribute_mapping(
            conn, clock, scope, p["profileId"], p["certificateField"], p.get("specifiers")
        )
    },
    "ImportCrl": _import_crl,
    "GetCrl": lambda conn, clock, scope, p: {"crl": ra.get_crl(conn, scope, p["crlId"])},
    "ListCrls": lambda conn, clock, scope, p: _page(ra.list_crls(conn, scope), "crls", p),
    "UpdateCrl": lambda conn, clock, scope, p: {
        "crl": ra.update_crl(conn, clock, scope, p["crlId"], name=p.get("name"), crl_data=p.get("crlData"))
    },
    "DeleteCrl": lambda conn, clock, scope, p: {"crl": ra.delete_crl(conn, scope, p["crlId"])},
    "EnableCrl": _switch("crl", "enable"),
    "DisableCrl": _switch("crl", "disable"),
    "ListSubjects": lambda conn, clock, scope, p: _page(ra.list_subjects(conn, scope), "subjects", p),
    "GetSubject": lambda conn, clock, scope, p: {"subject": ra.get_subject(conn, scope, p["subjectId"])},
    "TagResource": lambda conn, clock, scope, p: ra.tag_resource(conn, scope, p["resourceArn"], _tags(p)),
    "UntagResource": lambda conn, clock, scope, p: ra.untag_resource(conn, scope, p["resourceArn"], p["tagKeys"]),
    "ListTagsForResource": lambda conn, clock, scope, p: {"tags": ra.list_tags(conn, scope, p["resourceArn"])},
}
_READS = frozenset(name for name in _OPERATIONS if name.startswith(("Get", "List")))


class RolesAnywhereApi:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.spec = load_service(SERVICE)
        self.router = RestRouter(self.spec)
        self._first_segments = {
            op.request_uri.lstrip("/").split("/", 1)[0].split("?", 1)[0] for op in self.spec.operations.values()
        }

    def serves(self, path: str) -> bool:
        """Whether ``path`` is one of the control plane's (``/trustanchors``, ``/profile/ID``...)."""
        return path.lstrip("/").split("/", 1)[0] in self._first_segments

    def handle(self, request: HttpRequest) -> Response:
        request_id = ids.request_id()
        try:
            status, headers, body = serialize_rest_result(self.spec, *self._handle(request), request_id=request_id)
        except AwsError as error:
            status, headers, body = serialize_rest_error(error, request_id, self.spec)
        except Exception:
            log.exception("unhandled error in Roles Anywhere request %s", request_id)
            status, headers, body = serialize_rest_error(InternalFailure(), request_id, self.spec)
        encoded = [(name.lower().encode(), value.encode()) for name, value in headers]
        encoded.append((b"content-length", str(len(body)).encode()))
        return status, encoded, body

    def _handle(self, request: HttpRequest) -> tuple[str, Mapping[str, Any] | None]:
        rt = self.runtime
        operation, labels = self.router.match(request.method, request.path.split("?", 1)[0], request.query_string)
        rt.watcher.refresh_if_due()
        info = rt.verifier.parse(request)
        if info is None:
            raise MissingAuthenticationToken()
        if info.service != SERVICE:
            raise SignatureDoesNotMatch(f"Credential should be scoped to correct service: '{SERVICE}'. ")
        caller = authenticate(rt, request, info)
        inputs = parse_rest_request(self.spec, operation, labels, request.query_string, request.headers, request.body)
        scope = ra.Scope(rt.settings.identity.partition, caller.account_id, info.region)
        writes = operation not in _READS
        with rt.db.write() if writes else rt.db.read() as conn:
            self._authorize(conn, caller, operation, scope, inputs, request_context(request, info.region))
            result = _OPERATIONS[operation](conn, rt.clock, scope, inputs)
        if writes:
            rt.watcher.invalidate()
        return operation, result

    def _authorize(
        self,
        conn: Connection,
        caller: Principal,
        operation: str,
        scope: ra.Scope,
        inputs: Mapping[str, Any],
        request_keys: Mapping[str, str],
    ) -> None:
        if caller.kind is PrincipalKind.ROOT:
            return
        resource = "*"
        tags: Sequence[Mapping[str, str]] = ()
        if isinstance(inputs.get("resourceArn"), str):
            resource = inputs["resourceArn"]
            try:
                tags = ra.list_tags(conn, scope, resource)
            except ra.ResourceNotFoundException:
                tags = ()
        for member, kind, _ in _RESOURCE_MEMBERS:
            if isinstance(inputs.get(member), str):
                resource = scope.arn(kind, inputs[member])
                if kind != "subject":
                    try:
                        tags = ra.list_tags(conn, scope, resource)
                    except ra.ResourceNotFoundException:
                        tags = ()
                break
        context: dict[str, str | Sequence[str]] = dict(request_keys)
        for tag in tags:
            context[f"aws:ResourceTag/{tag['key']}"] = tag["value"]
        new_tags = _tags(inputs)
        for key, value in new_tags:
            context[f"aws:RequestTag/{key}"] = value
        keys = [key for key, _ in new_tags] or list(inputs.get("tagKeys") or [])
        if keys:
            context["aws:TagKeys"] = keys
        action = f"{SERVICE}:{operation}"
        decision = self.runtime.authorizer.decide(caller, action, resource, context)
        if decision.effect is not Effect.ALLOW:
            raise ra.AccessDeniedException(access_denied_message(caller.arn, action, resource, decision))
