"""AWS managed policies as AWS describes them: one ``ManagedPolicyDetail`` per policy.

The shipped catalogue files and ``iamd policies import-aws-managed`` read the same shape, the one
``aws iam get-account-authorization-details --filter AWSManagedPolicy`` prints::

    {"PolicyName": "ReadOnlyAccess", "PolicyId": "ANPAILL3HVNFSB6DCOWYQ",
     "Arn": "arn:aws:iam::aws:policy/ReadOnlyAccess", "Path": "/", "DefaultVersionId": "v128",
     "IsAttachable": true, "Description": "...", "CreateDate": "2015-02-06T18:39:48+00:00",
     "UpdateDate": "...", "PolicyVersionList": [{"Document": {...} or "%7B%22Version...",
     "VersionId": "v128", "IsDefaultVersion": true, "CreateDate": "..."}, ...]}

``parse_detail`` turns one such object into a checked ``AwsManagedPolicy`` or raises
``DetailError`` naming the field.  Counts (AttachmentCount, ...) belong to the exporting account
and are ignored.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

AWS_ACCOUNT = "aws"

_NAME = re.compile(r"[\w+=,.@-]{1,128}")
_PATH = re.compile(r"/(?:[\x21-\x7e]{1,510}/)?")
_POLICY_ID = re.compile(r"[A-Z0-9]{16,32}")
_VERSION_ID = re.compile(r"v[1-9][0-9]{0,8}(?:\.[A-Za-z0-9-]{1,10})?")
_POLICY_ARN = re.compile(r"arn:(?P<partition>[a-z0-9-]+):iam::(?P<account>[^:]*):policy(?P<rest>/.*)")
DESCRIPTION_LIMIT = 1000


class DetailError(ValueError):
    """A policy entry that iamd cannot take as an AWS managed policy; the message says why."""


class CustomerManagedPolicy(DetailError):
    """The entry is a customer managed policy (its ARN names an account, not ``aws``)."""


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    version_id: str
    document: str
    """The document text as stored and returned by GetPolicyVersion."""
    create_date: float | None

    @property
    def number(self) -> int:
        return version_number(self.version_id)


@dataclass(frozen=True, slots=True)
class AwsManagedPolicy:
    name: str
    policy_id: str
    path: str
    partition: str
    """The partition of the ARN the entry came with."""
    description: str | None
    default_version: str
    is_attachable: bool
    create_date: float | None
    update_date: float | None
    versions: tuple[PolicyVersion, ...]
    """Every version the entry lists, newest first."""

    @property
    def name_key(self) -> str:
        return self.name.lower()

    @property
    def version_number(self) -> int:
        return version_number(self.default_version)

    @property
    def default(self) -> PolicyVersion:
        return next(v for v in self.versions if v.version_id == self.default_version)

    @property
    def document(self) -> str:
        """The default version's document text."""
        return self.default.document

    def arn(self, partition: str) -> str:
        return f"arn:{partition}:iam::{AWS_ACCOUNT}:policy{self.path}{self.name}"


def version_number(version_id: str) -> int:
    """``v12`` -> 12 (``v3.beta`` -> 3)."""
    return int(version_id[1:].split(".", 1)[0])


def render_document(document: Mapping[str, Any]) -> str:
    """The stored text of a document given as a JSON object (stable, so every node agrees)."""
    return json.dumps(document, indent=4, ensure_ascii=False)


def same_document(stored: str, incoming: str) -> bool:
    """Whether two document texts hold the same JSON (whitespace and escapes aside)."""
    if stored == incoming:
        return True
    try:
        return bool(json.loads(stored) == json.loads(incoming))
    except ValueError:
        return False


def _optional(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise DetailError(f"{where}: {key} must be a string")
    return value


def _required(data: Mapping[str, Any], key: str, where: str) -> str:
    value = _optional(data, key, where)
    if value is None:
        raise DetailError(f"{where}: {key} is missing")
    return value


def _date(data: Mapping[str, Any], key: str, where: str) -> float | None:
    text = _optional(data, key, where)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DetailError(f"{where}: {key} {text!r} is not an ISO 8601 date") from None
    if parsed.tzinfo is None:
        raise DetailError(f"{where}: {key} {text!r} has no time zone")
    return parsed.timestamp()


def _document(value: Any, where: str) -> str:
    """The document text: the CLI prints an object, the raw API a URL-encoded string."""
    if isinstance(value, Mapping):
        return render_document(value)
    if not isinstance(value, str):
        raise DetailError(f"{where}: Document must be a JSON object or a string")
    text = urllib.parse.unquote(value) if value.lstrip().startswith("%") else value
    try:
        parsed = json.loads(text)
    except ValueError:
        raise DetailError(f"{where}: Document is not JSON (nor URL-encoded JSON)") from None
    if not isinstance(parsed, dict):
        raise DetailError(f"{where}: Document must be a JSON object")
    return text


def _version(data: Any, where: str) -> tuple[PolicyVersion, bool | None]:
    if not isinstance(data, Mapping):
        raise DetailError(f"{where}: each PolicyVersionList entry must be an object")
    version_id = _required(data, "VersionId", where)
    if not _VERSION_ID.fullmatch(version_id):
        raise DetailError(f"{where}: VersionId {version_id!r} is not a policy version id (v1, v2, ...)")
    where = f"{where} {version_id}"
    if "Document" not in data:
        raise DetailError(f"{where}: Document is missing")
    is_default = data.get("IsDefaultVersion")
    if is_default is not None and not isinstance(is_default, bool):
        raise DetailError(f"{where}: IsDefaultVersion must be true or false")
    version = PolicyVersion(version_id, _document(data["Document"], where), _date(data, "CreateDate", where))
    return version, is_default


def _check_arn(arn: str, path: str, name: str, where: str) -> str:
    """The ARN's partition; refuses customer managed policies and ARNs that disagree with Path/PolicyName."""
    match = _POLICY_ARN.fullmatch(arn)
    if match is None:
        raise DetailError(f"{where}: Arn {arn!r} is not a policy ARN")
    if match["account"] != AWS_ACCOUNT:
        raise CustomerManagedPolicy(
            f"{where}: {arn} is a customer managed policy of account {match['account'] or '(none)'}; "
            f"only AWS managed policies (arn:{match['partition']}:iam::aws:policy/...) can be imported: "
            "export them with --filter AWSManagedPolicy"
        )
    if match["rest"] != f"{path}{name}":
        raise DetailError(f"{where}: Arn {arn} does not match Path {path!r} and PolicyName {name!r}")
    return match["partition"]


def parse_detail(data: Any, where: str = "policy") -> AwsManagedPolicy:
    """One ``ManagedPolicyDetail`` object, checked."""
    if not isinstance(data, Mapping):
        raise DetailError(f"{where}: each policy must be a JSON object")
    name = _required(data, "PolicyName", where)
    where = f"{where} {name}"
    if not _NAME.fullmatch(name):
        raise DetailError(f"{where}: PolicyName is not a valid policy name")
    path = _optional(data, "Path", where) or "/"
    if not _PATH.fullmatch(path):
        raise DetailError(f"{where}: Path {path!r} must begin and end with / (at most 512 characters)")
    partition = _check_arn(_required(data, "Arn", where), path, name, where)
    policy_id = _required(data, "PolicyId", where)
    if not _POLICY_ID.fullmatch(policy_id):
        raise DetailError(f"{where}: PolicyId {policy_id!r} is not an IAM policy id")
    description = _optional(data, "Description", where) or None
    if description is not None and len(description) > DESCRIPTION_LIMIT:
        raise DetailError(f"{where}: Description is longer than {DESCRIPTION_LIMIT} characters")
    attachable = data.get("IsAttachable", True)
    if not isinstance(attachable, bool):
        raise DetailError(f"{where}: IsAttachable must be true or false")
    default_version = _required(data, "DefaultVersionId", where)
    raw_versions = data.get("PolicyVersionList")
    if not isinstance(raw_versions, list) or not raw_versions:
        raise DetailError(f"{where}: PolicyVersionList must list the policy's versions (at least the default)")
    versions: dict[str, PolicyVersion] = {}
    flagged: list[str] = []
    for raw in raw_versions:
        version, is_default = _version(raw, where)
        if version.version_id in versions:
            raise DetailError(f"{where}: version {version.version_id} is listed twice")
        versions[version.version_id] = version
        if is_default:
            flagged.append(version.version_id)
    if default_version not in versions:
        raise DetailError(f"{where}: the default version {default_version} is not in PolicyVersionList")
    if any(v != default_version for v in flagged):
        raise DetailError(
            f"{where}: IsDefaultVersion marks {', '.join(flagged)} but DefaultVersionId is {default_version}"
        )
    return AwsManagedPolicy(
        name=name,
        policy_id=policy_id,
        path=path,
        partition=partition,
        description=description,
        default_version=default_version,
        is_attachable=attachable,
        create_date=_date(data, "CreateDate", where),
        update_date=_date(data, "UpdateDate", where),
        versions=tuple(sorted(versions.values(), key=lambda v: v.number, reverse=True)),
    )
