"""Table-driven evaluation cases (tests/unit/policy/cases/*.json), each citing the AWS rule it checks.

A case file holds ``defaults`` (request fields shared by its cases) and ``cases``: each with a
``name``, a ``rule`` (AWS documentation page and section), a ``request`` in the format of
``iamd policy evaluate`` (merged over the defaults) and the expected ``decision``, deciding
``statements`` (Sid, or ``policy-id[index]``) and, for denials, the policy type that decided.
Requests are decided as ``iamd policy evaluate`` and the server decide them (``authorize``:
the evaluation logic plus the service rules of ``iamd.policy.service_rules``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iamd.cli.policy_cmd import load_request
from iamd.policy import authorize

CASES_DIR = Path(__file__).parent / "cases"


def _load() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(CASES_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        defaults = data.get("defaults", {})
        for case in data["cases"]:
            request = {**defaults, **case["request"]}
            out.append((f"{path.stem}: {case['name']}", {**case, "request": request}))
    return out


CASES = _load()


def test_there_are_enough_cases_and_each_cites_a_rule() -> None:
    assert len(CASES) >= 300
    names = [name for name, _ in CASES]
    assert len(names) == len(set(names))
    for name, case in CASES:
        assert case.get("rule", "").strip(), f"{name} cites no rule"


@pytest.mark.parametrize(("name", "case"), CASES, ids=[name for name, _ in CASES])
def test_case(name: str, case: dict[str, Any]) -> None:
    decision = authorize(load_request(case["request"]))
    expect = case["expect"]
    got: dict[str, object] = {
        "decision": decision.effect.value,
        "statements": sorted(s.ref for s in decision.statements),
    }
    want: dict[str, object] = {"decision": expect["decision"], "statements": sorted(expect.get("statements", []))}
    if "denied_by" in expect:
        got["denied_by"] = decision.policy_type.key if decision.policy_type is not None else None
        want["denied_by"] = expect["denied_by"]
    assert got == want, f"{name} ({case['rule']}): {decision.explanation}"
