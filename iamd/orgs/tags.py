"""Tags on roots, OUs, member accounts and customer policies (TagResource, UntagResource,
ListTagsForResource, and the Tags of the Create* operations).

Keys are case-sensitive; at most 50 per resource (``ConstraintViolationException``
``MAX_TAG_LIMIT_EXCEEDED``); a key given twice in one request is ``InvalidInputException``
``DUPLICATE_TAG_KEY``; keys starting ``aws:`` are AWS's (``INVALID_SYSTEM_TAGS_PARAMETER``).  Tags
of an account that leaves its organization are deleted ("AWS accounts outside of an organization do
not support tags", RemoveAccountFromOrganization).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa

from iamd.core.errors import ConstraintViolationException, InvalidInputException, TargetNotFoundException
from iamd.orgs import ids
from iamd.orgs.core import OrgCall, node_exists, require_management, require_reader
from iamd.orgs.model import Organization
from iamd.store import tables as t


def check_tags(tags: Sequence[Mapping[str, str]]) -> None:
    seen: set[str] = set()
    for tag in tags:
        key = tag["Key"]
        if key in seen:
            raise InvalidInputException(
                "Tag keys must be unique among the tags attached to the same entity.", Reason="DUPLICATE_TAG_KEY"
            )
        seen.add(key)
        if key.lower().startswith("aws:"):
            raise InvalidInputException(
                "You specified a tag key that is a system tag. You can't add, edit, or delete system tag keys "
                "because they're reserved for AWS use.",
                Reason="INVALID_SYSTEM_TAGS_PARAMETER",
            )


def put_tags(call: OrgCall, org: Organization, resource_id: str, tags: Sequence[Mapping[str, str]]) -> None:
    """Add or overwrite tags on a resource known to be in ``org``."""
    if not tags:
        return
    check_tags(tags)
    tg = t.org_tags
    existing = set(call.conn.execute(sa.select(tg.c.key).where(tg.c.resource_id == resource_id)).scalars())
    if len(existing | {tag["Key"] for tag in tags}) > call.quotas.tags_per_resource:
        raise ConstraintViolationException(
            "You have exceeded the number of tags allowed on this resource.", reason="MAX_TAG_LIMIT_EXCEEDED"
        )
    for tag in tags:
        value = tag.get("Value", "")
        if tag["Key"] in existing:
            call.conn.execute(
                tg.update().where(tg.c.resource_id == resource_id, tg.c.key == tag["Key"]).values(value=value)
            )
        else:
            call.conn.execute(
                tg.insert().values(resource_id=resource_id, key=tag["Key"], organization_id=org.id, value=value)
            )


def _require_resource(call: OrgCall, org: Organization, resource_id: str) -> None:
    """Roots, OUs and member accounts of ``org``, and its customer policies (AWS managed policies
    cannot be tagged)."""
    if ids.node_kind(resource_id) is not None:
        if node_exists(call, org, resource_id):
            return
    elif resource_id.startswith("p-"):
        p = t.org_policies
        found = call.conn.execute(sa.select(p.c.id).where(p.c.id == resource_id, p.c.organization_id == org.id)).first()
        if found is not None:
            return
    raise TargetNotFoundException()


def tag_resource(call: OrgCall, resource_id: str, tags: Sequence[Mapping[str, str]]) -> None:
    org = require_management(call)
    _require_resource(call, org, resource_id)
    put_tags(call, org, resource_id, tags)


def untag_resource(call: OrgCall, resource_id: str, keys: Sequence[str]) -> None:
    org = require_management(call)
    _require_resource(call, org, resource_id)
    tg = t.org_tags
    if keys:
        call.conn.execute(tg.delete().where(tg.c.resource_id == resource_id, tg.c.key.in_(list(keys))))


def list_tags(call: OrgCall, resource_id: str) -> list[tuple[str, str]]:
    """``[(key, value)]`` sorted by key."""
    org = require_reader(call)
    _require_resource(call, org, resource_id)
    tg = t.org_tags
    rows = call.conn.execute(sa.select(tg.c.key, tg.c.value).where(tg.c.resource_id == resource_id).order_by(tg.c.key))
    return [(row.key, row.value) for row in rows]
