"""What the console's administration pages show and do, each piece as the IAM call it stands for.

Every read and every change is made through ``Caller.call`` (iamd.services.dispatch) as the
console's current identity (the user, root, or the role it switched into), so the pages show
and allow exactly what the API would.  A refused call becomes ``NotAllowed`` (the page says so
in words); a refused optional piece of a page becomes a ``Section`` marked ``denied``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from iamd.core.errors import AccessDenied, NoSuchEntity
from iamd.services.console.actions import Caller

PAGE_SIZE = 20
SEARCH_LIMIT = 1000
"""A search scans at most this many entities (ListUsers has no name filter)."""
SEARCH_SHOWN = 100


class NotAllowed(Exception):
    """The identity may not make the call a page needs (AccessDenied from the authorizer)."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(message)
        self.action = action
        self.message = message


def call(caller: Caller, action: str, params: Mapping[str, str] | None = None, service: str = "iam") -> dict[str, Any]:
    try:
        return caller.call(service, action, dict(params or {}))
    except AccessDenied as err:
        raise NotAllowed(f"{service}:{action}", err.message) from None


@dataclass
class Section:
    """One optional part of a page: its data, or why it is missing."""

    data: dict[str, Any] = field(default_factory=dict)
    denied: str | None = None
    """The action that was refused (``iam:ListGroupsForUser``)."""
    missing: bool = False
    """NoSuchEntity: e.g. no login profile, no boundary."""

    @property
    def ok(self) -> bool:
        return self.denied is None and not self.missing


def section(caller: Caller, action: str, params: Mapping[str, str] | None = None, service: str = "iam") -> Section:
    try:
        return Section(call(caller, action, params, service))
    except NotAllowed as err:
        return Section(denied=err.action)
    except NoSuchEntity:
        return Section(missing=True)


def list_all(
    caller: Caller, action: str, key: str, params: Mapping[str, str] | None = None, limit: int = SEARCH_LIMIT
) -> tuple[list[dict[str, Any]], bool]:
    """Every item of a paginated list call (at most ``limit``); (items, cut short)."""
    items: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        page = {**(params or {}), "MaxItems": "100"}
        if marker:
            page["Marker"] = marker
        out = call(caller, action, page)
        items.extend(out.get(key, []))
        if not out.get("IsTruncated"):
            return items, False
        if len(items) >= limit:
            return items[:limit], True
        marker = str(out["Marker"])


def list_section(caller: Caller, action: str, key: str, params: Mapping[str, str] | None = None) -> Section:
    try:
        items, _ = list_all(caller, action, key, params)
    except NotAllowed as err:
        return Section(denied=err.action)
    except NoSuchEntity:
        return Section(missing=True)
    return Section({key: items})


# --- lists -----------------------------------------------------------------------------------------------


@dataclass
class Listing:
    items: list[dict[str, Any]]
    next_marker: str | None
    searched: bool
    cut_short: bool = False


def listing(
    caller: Caller, action: str, key: str, page_query: Mapping[str, str], params: Mapping[str, str] | None = None
) -> Listing:
    """One page of a list call (the page's ``marker``), or the entities whose name contains its ``q``."""
    params = params or {}
    query = page_query.get("q", "").strip().lower()
    marker = page_query.get("marker", "")
    if query:
        items, cut = list_all(caller, action, key, params)
        name_key = _name_key(key)
        found = [i for i in items if query in str(i.get(name_key, "")).lower()]
        return Listing(found[:SEARCH_SHOWN], None, True, cut or len(found) > SEARCH_SHOWN)
    page = {**params, "MaxItems": str(PAGE_SIZE)}
    if marker:
        page["Marker"] = marker
    out = call(caller, action, page)
    return Listing(list(out.get(key, [])), str(out["Marker"]) if out.get("IsTruncated") else None, False)


def _name_key(list_key: str) -> str:
    return {"Users": "UserName", "Groups": "GroupName", "Roles": "RoleName", "Policies": "PolicyName"}[list_key]


@dataclass
class UserSummary:
    """A users-list row's extra columns; ``None`` where the identity may not look."""

    mfa: bool | None
    console: bool | None
    oldest_key_created: float | None
    keys: int | None
    last_activity: float | None


def user_summary(caller: Caller, user: Mapping[str, Any]) -> UserSummary:
    name = str(user["UserName"])
    mfa = section(caller, "ListMFADevices", {"UserName": name})
    login = section(caller, "GetLoginProfile", {"UserName": name})
    keys = section(caller, "ListAccessKeys", {"UserName": name})
    last = [float(user["PasswordLastUsed"])] if user.get("PasswordLastUsed") else []
    oldest = None
    key_count = None
    if keys.ok:
        metadata = keys.data.get("AccessKeyMetadata", [])
        key_count = len(metadata)
        active = [float(k["CreateDate"]) for k in metadata if k.get("Status") == "Active"]
        oldest = min(active) if active else None
        for k in metadata:
            used = section(caller, "GetAccessKeyLastUsed", {"AccessKeyId": str(k["AccessKeyId"])})
            when = used.data.get("AccessKeyLastUsed", {}).get("LastUsedDate") if used.ok else None
            if when:
                last.append(float(when))
    return UserSummary(
        mfa=bool(mfa.data.get("MFADevices")) if mfa.ok else None,
        console=None if login.denied else login.ok,
        oldest_key_created=oldest,
        keys=key_count,
        last_activity=max(last) if last else None,
    )


# --- detail pages ----------------------------------------------------------------------------------------


def user_detail(caller: Caller, name: str) -> dict[str, Any]:
    user = call(caller, "GetUser", {"UserName": name})["User"]
    p = {"UserName": name}
    keys = section(caller, "ListAccessKeys", p)
    last_used: dict[str, Any] = {}
    for k in keys.data.get("AccessKeyMetadata", []):
        used = section(caller, "GetAccessKeyLastUsed", {"AccessKeyId": str(k["AccessKeyId"])})
        last_used[str(k["AccessKeyId"])] = used.data.get("AccessKeyLastUsed") if used.ok else None
    return {
        "user": user,
        "groups": list_section(caller, "ListGroupsForUser", "Groups", p),
        "attached": list_section(caller, "ListAttachedUserPolicies", "AttachedPolicies", p),
        "inline": list_section(caller, "ListUserPolicies", "PolicyNames", p),
        "tags": list_section(caller, "ListUserTags", "Tags", p),
        "keys": keys,
        "key_last_used": last_used,
        "mfa": list_section(caller, "ListMFADevices", "MFADevices", p),
        "login": section(caller, "GetLoginProfile", p),
    }


def group_detail(caller: Caller, name: str) -> dict[str, Any]:
    p = {"GroupName": name}
    out = call(caller, "GetGroup", {**p, "MaxItems": "1000"})
    return {
        "group": out["Group"],
        "members": out.get("Users", []),
        "attached": list_section(caller, "ListAttachedGroupPolicies", "AttachedPolicies", p),
        "inline": list_section(caller, "ListGroupPolicies", "PolicyNames", p),
    }


def role_detail(caller: Caller, name: str) -> dict[str, Any]:
    p = {"RoleName": name}
    role = call(caller, "GetRole", p)["Role"]
    return {
        "role": role,
        "attached": list_section(caller, "ListAttachedRolePolicies", "AttachedPolicies", p),
        "inline": list_section(caller, "ListRolePolicies", "PolicyNames", p),
        "tags": list_section(caller, "ListRoleTags", "Tags", p),
        "profiles": list_section(caller, "ListInstanceProfilesForRole", "InstanceProfiles", p),
    }


def inline_document(caller: Caller, kind: str, owner: str, policy: str) -> str:
    """An inline policy's document (Get{User,Group,Role}Policy)."""
    action, key = _INLINE[kind]
    return str(call(caller, f"Get{action}Policy", {key: owner, "PolicyName": policy})["PolicyDocument"])


_INLINE = {"user": ("User", "UserName"), "group": ("Group", "GroupName"), "role": ("Role", "RoleName")}


def policy_detail(caller: Caller, arn: str) -> dict[str, Any]:
    policy = call(caller, "GetPolicy", {"PolicyArn": arn})["Policy"]
    versions = list_section(caller, "ListPolicyVersions", "Versions", {"PolicyArn": arn})
    entities = section(caller, "ListEntitiesForPolicy", {"PolicyArn": arn, "MaxItems": "1000"})
    return {"policy": policy, "versions": versions, "entities": entities}


def policy_version(caller: Caller, arn: str, version: str) -> str:
    out = call(caller, "GetPolicyVersion", {"PolicyArn": arn, "VersionId": version})
    return str(out["PolicyVersion"]["Document"])


def principal_arns(caller: Caller) -> list[str]:
    """Users, roles and groups the identity may list (for the simulator's principal field)."""
    arns: list[str] = []
    for action, key in (("ListUsers", "Users"), ("ListRoles", "Roles"), ("ListGroups", "Groups")):
        found = list_section(caller, action, key)
        arns.extend(str(item["Arn"]) for item in found.data.get(key, []))
    return arns


# --- changes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One state-changing form: the API action, the form fields it takes (named as the API's
    parameters), what to say when it worked, and where to go afterwards."""

    action: str
    fields: tuple[str, ...]
    notice: str
    back: str
    service: str = "iam"


def run(caller: Caller, op: Op, form: Mapping[str, str]) -> dict[str, Any]:
    """Make the call with the form's fields (blank ones left out, but a tag's value may be empty)."""
    params = {f: form[f] for f in op.fields if form.get(f, "") != "" or (f.endswith(".Value") and f in form)}
    return call(caller, op.action, params, op.service)


def list_params(prefix: str, values: Sequence[str]) -> dict[str, str]:
    """A Query-protocol list (``Prefix.member.N``)."""
    return {f"{prefix}.member.{i}": v for i, v in enumerate(values, 1)}
