"""Tag, Untag and List...Tags for every taggable IAM entity, declared once per entity kind.

AWS has the same three operations for users, roles, instance profiles, server certificates,
virtual MFA devices and customer managed policies; they differ only in how the entity is named
(a name, a serial number, an ARN), what they are authorized against, and (policies) whether an
AWS managed entity may be tagged.  Each kind is one :class:`TaggedKind`; the tag rules (AWS's
key checks, the quota, the listing order) are in ``common``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Row

from iamd.services.context import OperationContext
from iamd.services.iam import common as c
from iamd.services.iam import instance_profiles, mfa_devices, policies, roles, server_certificates, users
from iamd.services.registry import operation
from iamd.services.targets import TargetBuilder, arn_param, existing, request_tags, tag_keys

Finder = Callable[[OperationContext, Mapping[str, Any], str], Row[Any]]
"""The entity a request names, or AWS's error; the third argument is the action (for its message)."""


@dataclass(frozen=True, slots=True)
class TaggedKind:
    noun: str
    """``User`` names TagUser, UntagUser and ListUserTags."""
    resource_type: str
    """The entity's ``tags.resource_type``."""
    target: TargetBuilder
    find: Finder
    """For listing."""
    find_writable: Finder | None = None
    """For tagging and untagging, when it refuses more than ``find`` (AWS managed policies)."""


def _named(param: str, get: Callable[[OperationContext, str], Row[Any]]) -> Finder:
    return lambda ctx, p, action: get(ctx, str(p[param]))


KINDS: tuple[TaggedKind, ...] = (
    TaggedKind("User", users.RESOURCE, existing("user", "UserName"), _named("UserName", c.get_user)),
    TaggedKind("Role", roles.RESOURCE, existing("role", "RoleName"), _named("RoleName", c.get_role)),
    TaggedKind(
        "InstanceProfile",
        instance_profiles.RESOURCE,
        existing("instance-profile", "InstanceProfileName"),
        _named("InstanceProfileName", instance_profiles.get_profile),
    ),
    TaggedKind(
        "ServerCertificate",
        server_certificates.RESOURCE,
        existing("server-certificate", "ServerCertificateName"),
        _named("ServerCertificateName", server_certificates.get_certificate),
    ),
    TaggedKind(
        "MFADevice",
        mfa_devices.RESOURCE,
        arn_param("SerialNumber"),
        _named("SerialNumber", mfa_devices.virtual_device),
    ),
    TaggedKind(
        "Policy",
        policies.RESOURCE,
        arn_param("PolicyArn"),
        _named("PolicyArn", policies.get_any),
        lambda ctx, p, action: policies.get_local(ctx, str(p["PolicyArn"]), action),
    ),
)


def register(kind: TaggedKind) -> None:
    tag_action, untag_action = f"Tag{kind.noun}", f"Untag{kind.noun}"
    find_writable = kind.find_writable or kind.find

    @operation("iam", tag_action, target=kind.target, request_keys=(request_tags,))
    def tag(ctx: OperationContext, p: dict[str, Any]) -> None:
        row = find_writable(ctx, p, tag_action)
        c.put_tags(ctx, kind.resource_type, row.id, p["Tags"])

    @operation("iam", untag_action, target=kind.target, request_keys=(tag_keys,))
    def untag(ctx: OperationContext, p: dict[str, Any]) -> None:
        row = find_writable(ctx, p, untag_action)
        c.remove_tags(ctx, kind.resource_type, row.id, p["TagKeys"])

    @operation("iam", f"List{kind.noun}Tags", target=kind.target)
    def list_tags(ctx: OperationContext, p: dict[str, Any]) -> Mapping[str, Any]:
        row = kind.find(ctx, p, f"List{kind.noun}Tags")
        return c.list_tags_page(ctx, kind.resource_type, row.id, p)


for _kind in KINDS:
    register(_kind)
