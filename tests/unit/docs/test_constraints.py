"""constraints.txt pins, exactly, every requirement pyproject.toml declares, within its declared range."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[3]
PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def pins() -> dict[str, Version]:
    found: dict[str, Version] = {}
    for number, line in enumerate((ROOT / "constraints.txt").read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = PIN.fullmatch(text)
        assert match, f"constraints.txt:{number}: not an exact pin: {line!r}"
        name = canonicalize_name(match[1])
        assert name not in found, f"constraints.txt:{number}: {name} pinned twice"
        found[name] = Version(match[2])
    return found


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = list(project["dependencies"])
    for extra in ("test", "dev"):
        texts += project["optional-dependencies"][extra]
    return [req for req in map(Requirement, texts) if canonicalize_name(req.name) != "iamd"]


def test_every_declared_requirement_is_pinned_within_its_range() -> None:
    pinned = pins()
    wrong = []
    for req in declared():
        version = pinned.get(canonicalize_name(req.name))
        if version is None or not req.specifier.contains(version, prereleases=True):
            wrong.append(f"{req} -> {version}")
    assert not wrong, wrong


def test_the_project_itself_is_not_pinned() -> None:
    assert "iamd" not in pins()


def test_botocore_and_boto3_agree() -> None:
    pinned = pins()
    assert pinned["boto3"] == pinned["botocore"]
    assert "awscli" in pinned
