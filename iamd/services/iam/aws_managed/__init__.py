"""AWS managed policies: a catalogue of real ones seeded into every store, and imports of more.

``catalogue/*.json`` holds one policy per file in the ``ManagedPolicyDetail`` shape that
``aws iam get-account-authorization-details`` prints (see ``records``): AWS's own PolicyId,
path, dates, description and default version document.  The documents, ids and dates come from
the MAMIP snapshot of 2026-03-07 (github.com/zoph-io/MAMIP, which records ``aws iam
get-policy-version`` output for every AWS managed policy), the descriptions from iam-floyd's
generated list (github.com/udondan/iam-floyd).  Newer versions, and any other AWS managed
policy, come in with ``iamd policies import-aws-managed`` (``importer``).

``seed`` runs at every start-up and after every dev reset, so it is cheap when nothing changed:
a fingerprint of the catalogue is kept in the settings table, and when it matches and every
shipped policy is present at its shipped version (or newer) seeding is two small queries.
Otherwise ``merge`` writes what is missing in a few batched statements; it never moves a
default version back, so imported newer versions survive re-seeding.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from iamd.services.iam.aws_managed.merge import MergeReport, merge
from iamd.services.iam.aws_managed.records import (
    AWS_ACCOUNT,
    AwsManagedPolicy,
    PolicyVersion,
    parse_detail,
    render_document,
    version_number,
)
from iamd.store import tables as t

__all__ = [
    "AWS_ACCOUNT",
    "CATALOGUE_DIR",
    "AwsManagedPolicy",
    "PolicyVersion",
    "fingerprint",
    "load",
    "render_document",
    "seed",
    "version_number",
]

CATALOGUE_DIR = Path(__file__).parent / "catalogue"
FINGERPRINT_KEY = "aws_managed.catalogue"
_FORMAT = b"iamd aws-managed catalogue 2\n"


@functools.cache
def _read_catalogue() -> tuple[tuple[AwsManagedPolicy, ...], str]:
    digest = hashlib.sha256(_FORMAT)
    policies: list[AwsManagedPolicy] = []
    for path in sorted(CATALOGUE_DIR.glob("*.json")):
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw + b"\0")
        policies.append(parse_detail(json.loads(raw), where=f"catalogue/{path.name}"))
    return tuple(sorted(policies, key=lambda p: p.name_key)), digest.hexdigest()


def load() -> tuple[AwsManagedPolicy, ...]:
    """Every shipped AWS managed policy, sorted by name."""
    return _read_catalogue()[0]


def fingerprint(partition: str) -> str:
    """Names the shipped catalogue as seeded into a store of ``partition``."""
    return hashlib.sha256(f"{_read_catalogue()[1]} {partition}".encode()).hexdigest()


def _seeded(conn: Connection, partition: str) -> bool:
    """Whether this catalogue was merged before and every shipped policy is still there, as new or newer."""
    st, mp = t.settings, t.managed_policies
    stored = conn.execute(sa.select(st.c.value).where(st.c.key == FINGERPRINT_KEY)).scalar()
    if stored != fingerprint(partition):
        return False
    defaults = {
        r.name_key: r.default_version
        for r in conn.execute(sa.select(mp.c.name_key, mp.c.default_version).where(mp.c.account_id == AWS_ACCOUNT))
    }
    return all(p.name_key in defaults and version_number(defaults[p.name_key]) >= p.version_number for p in load())


def _remember(conn: Connection, partition: str) -> None:
    st = t.settings
    values = {"key": FINGERPRINT_KEY, "value": fingerprint(partition)}
    if conn.dialect.name == "postgresql":
        pg_insert = postgresql.insert(st).values(**values)
        conn.execute(pg_insert.on_conflict_do_update(index_elements=[st.c.key], set_={"value": values["value"]}))
    else:
        lite_insert = sqlite.insert(st).values(**values)
        conn.execute(lite_insert.on_conflict_do_update(index_elements=[st.c.key], set_={"value": values["value"]}))


def seed(conn: Connection, partition: str, now: float) -> MergeReport | None:
    """Bring the shipped AWS managed policies into the store; ``None`` when they already were."""
    if _seeded(conn, partition):
        return None
    report = merge(conn, load(), partition, now)
    _remember(conn, partition)
    return report
