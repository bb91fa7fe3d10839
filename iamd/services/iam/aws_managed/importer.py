"""``iamd policies import-aws-managed``: AWS managed policies from a real account's export.

The file is what ``aws iam get-account-authorization-details --filter AWSManagedPolicy`` prints:
an object whose ``Policies`` list holds one ``ManagedPolicyDetail`` per policy with all its
versions (other lists in the file are ignored).  ``read_policies`` checks the whole file first
and refuses it, naming every problem, when any entry is not an AWS managed policy iamd can serve:
a customer managed policy, a malformed entry, a policy listed twice, a partition other than the
store's, or a default version that iamd's policy grammar refuses (the default version is the one
iamd evaluates; the other versions are kept as AWS returned them).  ``store`` then merges the
policies in the caller's transaction, so an import is all or nothing and can be repeated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from iamd.core.errors import AwsError
from iamd.policy.grammar import PolicyKind, parse_policy
from iamd.services.iam.aws_managed.merge import MergeReport, merge
from iamd.services.iam.aws_managed.records import AwsManagedPolicy, DetailError, parse_detail

SHAPE_HINT = (
    "the file must hold what `aws iam get-account-authorization-details --filter AWSManagedPolicy` "
    "prints: a JSON object with a Policies list"
)
_SHOWN_PROBLEMS = 20


class ImportRefused(ValueError):
    """The file cannot be imported; ``problems`` lists every reason found."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = self.problems[:_SHOWN_PROBLEMS]
        more = len(self.problems) - len(shown)
        lines = "\n  ".join(shown + ([f"... and {more} more"] if more else []))
        super().__init__(f"{len(self.problems)} problem(s):\n  {lines}" if len(self.problems) > 1 else shown[0])


@dataclass(frozen=True, slots=True)
class ImportPlan:
    policies: tuple[AwsManagedPolicy, ...]
    """The policies to merge."""
    in_file: int
    skipped_not_attachable: tuple[str, ...]


def _entries(text: str) -> list[Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ImportRefused([f"not JSON ({exc}); {SHAPE_HINT}"]) from None
    if not isinstance(data, dict) or not isinstance(data.get("Policies"), list):
        raise ImportRefused([SHAPE_HINT])
    entries: list[Any] = data["Policies"]
    return entries


def _grammar_problem(policy: AwsManagedPolicy, where: str) -> str | None:
    try:
        parse_policy(policy.document, PolicyKind.MANAGED)
    except AwsError as exc:
        return (
            f"{where} {policy.name}: its default version {policy.default_version} is refused by iamd's "
            f"policy grammar: {exc.message}"
        )
    return None


def read_policies(text: str, partition: str, *, only_attachable: bool = False) -> ImportPlan:
    """Check a whole export file; raise ``ImportRefused`` listing every problem."""
    entries = _entries(text)
    problems: list[str] = []
    policies: list[AwsManagedPolicy] = []
    names: dict[str, str] = {}
    ids: dict[str, str] = {}
    for index, entry in enumerate(entries):
        where = f"Policies[{index}]"
        try:
            policy = parse_detail(entry, where)
        except DetailError as exc:
            problems.append(str(exc))
            continue
        if policy.partition != partition:
            problems.append(
                f"{where} {policy.name}: its ARN is in partition {policy.partition} but this store serves "
                f"{partition} (IAMD_PARTITION)"
            )
        if policy.name_key in names:
            problems.append(f"{where} {policy.name}: listed twice (also {names[policy.name_key]})")
        elif policy.policy_id in ids:
            problems.append(f"{where} {policy.name}: PolicyId {policy.policy_id} is also {ids[policy.policy_id]}'s")
        names.setdefault(policy.name_key, where)
        ids.setdefault(policy.policy_id, policy.name)
        grammar = _grammar_problem(policy, where)
        if grammar is not None:
            problems.append(grammar)
        policies.append(policy)
    if problems:
        raise ImportRefused(problems)
    kept = tuple(p for p in policies if p.is_attachable or not only_attachable)
    skipped = tuple(p.name for p in policies if only_attachable and not p.is_attachable)
    return ImportPlan(kept, len(entries), skipped)


def store(conn: Connection, plan: ImportPlan, partition: str, now: float) -> MergeReport:
    """Merge the checked policies (in the caller's transaction)."""
    return merge(conn, plan.policies, partition, now)


def summary(plan: ImportPlan, report: MergeReport, *, dry_run: bool) -> dict[str, Any]:
    """What the command prints."""
    return {
        "PoliciesInFile": plan.in_file,
        "Added": len(report.added),
        "Updated": len(report.updated),
        "Unchanged": len(report.unchanged),
        "KeptNewerDefault": len(report.kept_newer),
        "VersionsAdded": report.versions_added,
        "SkippedNotAttachable": len(plan.skipped_not_attachable),
        "DryRun": dry_run,
    }
