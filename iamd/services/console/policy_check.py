"""The policy editor's checks: IAM's own validator (``check_document``), with a line and column.

IAM's messages carry no position; the editor wants one.  JSON syntax errors take the parser's
position; a grammar error is pinned to the first statement that fails on its own (the same
checks, run on a document holding just that statement), else to the start of the document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from iamd.core.errors import AwsError
from iamd.policy.document import check_document
from iamd.policy.grammar import PolicyKind, statement_lines

KINDS = {
    "managed": PolicyKind.MANAGED,
    "user": PolicyKind.USER_INLINE,
    "group": PolicyKind.GROUP_INLINE,
    "role": PolicyKind.ROLE_INLINE,
    "trust": PolicyKind.TRUST,
}


@dataclass(frozen=True, slots=True)
class Finding:
    ok: bool
    message: str = ""
    code: str = ""
    line: int | None = None
    column: int | None = None


def check(text: str, kind_name: str) -> Finding:
    kind = KINDS.get(kind_name, PolicyKind.MANAGED)
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        return Finding(False, f"Syntax errors in policy: {err.msg}.", "MalformedPolicyDocument", err.lineno, err.colno)
    except (ValueError, RecursionError):
        return Finding(False, "Syntax errors in policy.", "MalformedPolicyDocument", 1, 1)
    try:
        check_document(text, kind)
    except AwsError as err:
        line, column = _locate(text, kind)
        return Finding(False, err.message, err.code, line, column)
    return Finding(True)


def _locate(text: str, kind: PolicyKind) -> tuple[int, int]:
    """The line and column of the first statement that fails by itself, else (1, 1)."""
    try:
        doc = json.loads(text)
        lines = statement_lines(text)
    except (ValueError, RecursionError):
        return 1, 1
    statements = doc.get("Statement") if isinstance(doc, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return 1, 1
    version = doc.get("Version")
    for i, st in enumerate(statements):
        alone = {"Statement": [st]} if version is None else {"Version": version, "Statement": [st]}
        try:
            check_document(json.dumps(alone), kind)
        except AwsError:
            if i < len(lines):
                line = lines[i]
                row = text.split("\n")[line - 1]
                return line, row.find("{") + 1 if "{" in row else 1
            return 1, 1
    return 1, 1
