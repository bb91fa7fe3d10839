"""``iamd policy evaluate FILE|-`` and ``iamd policy validate FILE|-``: the engine offline.

``evaluate`` reads a request file and prints the decision as JSON::

    {
      "principal": {"arn": "arn:aws:iam::123456789012:user/bob", "tags": {"team": "blue"}},
      "action": "s3:GetObject",
      "resource": "arn:aws:s3:::bucket/key",
      "resource_account": "123456789012",
      "context": {"aws:SourceIp": "10.0.0.1", "aws:TagKeys": ["a", "b"]},
      "identity_policies": [{...}, {"id": "MyPolicy", "document": {...}}],
      "resource_policy": {...},
      "permissions_boundaries": [{...}],
      "session_policies": [{...}],
      "service_control_policies": [[{...}], [{...}]],
      "resource_control_policies": [[{...}]]
    }

A policy is a JSON object, a JSON string holding the document text, or ``{"id": ..., "document":
...}``.  ``principal`` may also be just the ARN string.  A role ARN as the principal stands for a
session of that role (``principal.session_name`` names it), as AWS's simulator takes a role.
Optional: ``time`` (ISO 8601 or epoch, for aws:CurrentTime / aws:EpochTime),
``resource_policy_kind`` (``resource`` or ``trust``; ``trust`` by default for the STS actions a
role's trust policy decides), ``resource_policy_required``, ``resource_in_management_account``.
A malformed request or policy is reported naming the field, with exit status 2.

The request is decided as the server decides it (``iamd.policy.service_rules``):
``sts:GetCallerIdentity`` is never denied; ``sts:AssumeRole*`` (and ``sts:TagSession`` /
``sts:SetSourceIdentity``) on a role need its trust policy, and ``kms:`` actions on a key its key
policy, to allow them, in the same account too.

``validate`` checks one document with IAM's messages: exit 0 when valid, 2 when not.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from iamd.core.errors import AwsError, LimitExceeded, MalformedPolicyDocument
from iamd.policy.compile import CompiledPolicy, compile_policy
from iamd.policy.context import describe_principal, principal_context, valid_session_name
from iamd.policy.document import check_document, policy_size
from iamd.policy.grammar import PolicyKind, parse_policy
from iamd.policy.model import (
    EvaluationRequest,
    PrincipalDescriptor,
    PrincipalType,
    access_denied_message,
)
from iamd.policy.operators import parse_date
from iamd.policy.service_rules import authorize, is_trust_action

REQUEST_FIELDS = frozenset(
    {
        "principal",
        "action",
        "resource",
        "resource_account",
        "context",
        "identity_policies",
        "resource_policy",
        "resource_policy_kind",
        "permissions_boundaries",
        "session_policies",
        "service_control_policies",
        "resource_control_policies",
        "resource_policy_required",
        "resource_in_management_account",
        "time",
    }
)
PRINCIPAL_FIELDS = frozenset(
    {
        "arn",
        "account",
        "tags",
        "type",
        "user_id",
        "unique_id",
        "role_arn",
        "session_name",
        "source_user_arn",
        "source_identity",
        "federated_provider",
        "canonical_user",
        "service_linked_role",
        "in_management_account",
    }
)
VALIDATE_KINDS = {kind.value: kind for kind in PolicyKind}
EXIT_INVALID = 2


class RequestError(ValueError):
    """A malformed request file; the message starts with the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


# --- reading a request ---------------------------------------------------------------------------


def _string(data: Mapping[str, Any], key: str, field: str, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise RequestError(field, "is required")
        return None
    if not isinstance(value, str):
        raise RequestError(field, "must be a string")
    return value


def _bool(data: Mapping[str, Any], key: str, field: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise RequestError(field, "must be true or false")
    return value


def _list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RequestError(field, "must be a list")
    return value


def _policy(entry: Any, field: str, kind: PolicyKind) -> CompiledPolicy:
    policy_id = field
    document = entry
    if isinstance(entry, Mapping) and "document" in entry:
        extra = set(entry) - {"id", "document"}
        if extra:
            raise RequestError(f"{field}.{sorted(extra)[0]}", "unknown field (a policy is {id, document})")
        given = entry.get("id")
        if given is not None:
            if not isinstance(given, str):
                raise RequestError(f"{field}.id", "must be a string")
            policy_id = given
        document = entry["document"]
    if not isinstance(document, (str, Mapping)):
        raise RequestError(field, "must be a policy document (a JSON object or its text)")
    try:
        return compile_policy(document, policy_id=policy_id, kind=kind)
    except MalformedPolicyDocument as exc:
        raise RequestError(field, f"MalformedPolicyDocument: {exc.message}") from exc


def _policies(data: Mapping[str, Any], key: str, kind: PolicyKind) -> list[CompiledPolicy]:
    return [_policy(entry, f"{key}[{i}]", kind) for i, entry in enumerate(_list(data.get(key), key))]


def _levels(data: Mapping[str, Any], key: str, kind: PolicyKind) -> list[list[CompiledPolicy]]:
    levels = []
    for i, level in enumerate(_list(data.get(key), key)):
        field = f"{key}[{i}]"
        levels.append([_policy(entry, f"{field}[{j}]", kind) for j, entry in enumerate(_list(level, field))])
    return levels


def _principal(value: Any) -> PrincipalDescriptor:
    if isinstance(value, str):
        value = {"arn": value}
    if not isinstance(value, Mapping):
        raise RequestError("principal", "must be an object {arn, account?, tags?, ...} or an ARN string")
    unknown = set(value) - PRINCIPAL_FIELDS
    if unknown:
        raise RequestError(f"principal.{sorted(unknown)[0]}", "unknown field")
    tags = value.get("tags") or {}
    if not isinstance(tags, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise RequestError("principal.tags", "must be an object of strings")
    strings = {
        key: _string(value, key, f"principal.{key}")
        for key in (
            "account",
            "user_id",
            "unique_id",
            "role_arn",
            "session_name",
            "source_user_arn",
            "source_identity",
            "federated_provider",
            "canonical_user",
            "type",
        )
    }
    flags = {key: _bool(value, key, f"principal.{key}") for key in ("service_linked_role", "in_management_account")}
    kind = strings.pop("type")
    session_name = strings["session_name"]
    if session_name is not None and not valid_session_name(session_name):
        raise RequestError("principal.session_name", "must be 2-64 of letters, digits and _+=,.@-")
    arn = _string(value, "arn", "principal.arn", required=kind is None) or ""
    if kind is not None:
        return _typed_principal(kind, arn, strings, dict(tags))
    try:
        described = describe_principal(
            arn,
            account=strings["account"],
            tags=dict(tags),
            user_id=strings["user_id"],
            unique_id=strings["unique_id"],
            role_arn=strings["role_arn"],
            source_user_arn=strings["source_user_arn"],
            source_identity=strings["source_identity"],
            federated_provider=strings["federated_provider"],
            service_linked_role=flags["service_linked_role"],
            in_management_account=flags["in_management_account"],
            session_name=strings["session_name"],
        )
    except ValueError as exc:
        raise RequestError("principal.arn", str(exc)) from exc
    if strings["canonical_user"] is not None:
        described = replace(described, canonical_user=strings["canonical_user"])
    return described


def _typed_principal(kind: str, arn: str, strings: dict[str, str | None], tags: dict[str, str]) -> PrincipalDescriptor:
    """Web identity / SAML callers (before they have a role session) are given by ``type``."""
    types = {t.value: t for t in (PrincipalType.WEB_IDENTITY, PrincipalType.SAML)}
    ptype = types.get(kind)
    if ptype is None:
        raise RequestError("principal.type", f"must be one of {sorted(types)} (other callers: give only arn)")
    provider = strings.get("federated_provider") or arn
    if not provider:
        raise RequestError("principal.federated_provider", "is required for web identity and SAML callers")
    return PrincipalDescriptor(
        type=ptype,
        arn=arn or provider,
        account=strings.get("account"),
        user_id=strings.get("user_id"),
        tags=tags,
        federated_provider=provider,
        source_identity=strings.get("source_identity"),
    )


def _context(value: Any) -> dict[str, str | list[str]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RequestError("context", "must be an object {key: string or [strings]}")
    out: dict[str, str | list[str]] = {}
    for key, item in value.items():
        if isinstance(item, bool):
            out[key] = "true" if item else "false"
        elif isinstance(item, (int, float)):
            out[key] = str(item)
        elif isinstance(item, str):
            out[key] = item
        elif isinstance(item, list) and all(isinstance(v, str) for v in item):
            out[key] = list(item)
        else:
            raise RequestError(f"context.{key}", "must be a string or a list of strings")
    return out


def _time(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        parsed = parse_date(value)
        if parsed is not None:
            return parsed
    raise RequestError("time", "must be an ISO 8601 date-time or epoch seconds")


def load_request(data: Any) -> EvaluationRequest:
    """An ``EvaluationRequest`` from a parsed request file; raises ``RequestError``."""
    if not isinstance(data, Mapping):
        raise RequestError("request", "must be a JSON object")
    unknown = set(data) - REQUEST_FIELDS
    if unknown:
        raise RequestError(sorted(unknown)[0], "unknown field")
    principal = _principal(data.get("principal"))
    action = _string(data, "action", "action", required=True) or ""
    if not action:
        raise RequestError("action", "must not be empty")
    resource = _string(data, "resource", "resource", required=True) or ""
    default_kind = "trust" if is_trust_action(action, resource) else "resource"
    rp_kind_name = _string(data, "resource_policy_kind", "resource_policy_kind") or default_kind
    if rp_kind_name not in ("resource", "trust"):
        raise RequestError("resource_policy_kind", "must be 'resource' or 'trust'")
    rp_kind = PolicyKind.TRUST if rp_kind_name == "trust" else PolicyKind.RESOURCE
    resource_policy = data.get("resource_policy")
    return EvaluationRequest(
        principal=principal,
        action=action,
        resource=resource,
        context=_context(data.get("context")),
        identity_policies=_policies(data, "identity_policies", PolicyKind.IDENTITY),
        resource_policy=_policy(resource_policy, "resource_policy", rp_kind) if resource_policy is not None else None,
        permissions_boundaries=_policies(data, "permissions_boundaries", PolicyKind.IDENTITY),
        session_policies=_policies(data, "session_policies", PolicyKind.IDENTITY),
        service_control_policies=_levels(data, "service_control_policies", PolicyKind.SCP),
        resource_control_policies=_levels(data, "resource_control_policies", PolicyKind.RCP),
        resource_account=_string(data, "resource_account", "resource_account"),
        resource_policy_required=_bool(data, "resource_policy_required", "resource_policy_required"),
        resource_in_management_account=_bool(data, "resource_in_management_account", "resource_in_management_account"),
        now=_time(data.get("time")),
    )


# --- the commands --------------------------------------------------------------------------------


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    return Path(path).read_text(encoding="utf-8")


def _error(command: str, message: str) -> int:
    print(f"iamd policy {command}: {message}", file=sys.stderr)
    return EXIT_INVALID


def cmd_evaluate(args: argparse.Namespace) -> int:
    try:
        text = _read(args.file)
    except OSError as exc:
        return _error("evaluate", f"{args.file}: {exc.strerror or exc}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        return _error("evaluate", f"{args.file}: not JSON: {exc}")
    try:
        request = load_request(data)
    except RequestError as exc:
        return _error("evaluate", str(exc))
    decision = authorize(request)
    out = decision.as_json()
    if not decision.allowed:
        out["message"] = access_denied_message(request.principal.arn, request.action, request.resource, decision)
    if args.show_context:
        shown: dict[str, Any] = dict(principal_context(request.principal, request.now, request.resource_account))
        shown.update(request.context)
        out["context"] = shown
    print(json.dumps(out, indent=2))
    if args.exit_code and not decision.allowed:
        return 1
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    kind: PolicyKind = VALIDATE_KINDS[args.kind]
    try:
        text = _read(args.file)
    except OSError as exc:
        return _error("validate", f"{args.file}: {exc.strerror or exc}")
    try:
        check_document(text, kind, args.entity)
        statements = len(parse_policy(text, kind).statements)
    except (MalformedPolicyDocument, LimitExceeded) as exc:
        error: AwsError = exc
        print(json.dumps({"valid": False, "kind": kind.value, "error": error.code, "message": error.message}, indent=2))
        return EXIT_INVALID
    summary = {"valid": True, "kind": kind.value, "statements": statements, "size": policy_size(text)}
    print(json.dumps(summary, indent=2))
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``policy evaluate`` and ``policy validate`` to an argparse subparsers object."""
    policy = subparsers.add_parser("policy", help="evaluate or validate IAM policies offline")
    sub = policy.add_subparsers(dest="policy_command", required=True)
    ev = sub.add_parser("evaluate", help="decide a request file (JSON) and print the decision as JSON")
    ev.add_argument("file", help="request file, or - for standard input")
    ev.add_argument("--show-context", action="store_true", help="also print the request context used")
    ev.add_argument("--exit-code", action="store_true", help="exit 1 when the decision is not Allow")
    ev.set_defaults(policy_handler=cmd_evaluate)
    va = sub.add_parser("validate", help="check a policy document with IAM's error messages")
    va.add_argument("file", help="policy document, or - for standard input")
    va.add_argument(
        "--kind",
        choices=sorted(VALIDATE_KINDS),
        default=PolicyKind.MANAGED.value,
        help="which kind of policy the document is (default: managed); sets the size limit and the rules",
    )
    va.add_argument("--entity", default="", help="entity name for inline-policy size messages")
    va.set_defaults(policy_handler=cmd_validate)
    return policy  # type: ignore[no-any-return]


def run(args: argparse.Namespace) -> int:
    """Run the ``policy`` command parsed by a parser that ``register`` extended."""
    handler = args.policy_handler
    result: int = handler(args)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="iamd")
    register(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
