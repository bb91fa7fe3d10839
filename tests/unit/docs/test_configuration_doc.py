"""docs/configuration.md carries a table of every option, generated from the declarations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from iamd.core.config import OPTIONS

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "configuration.md"


def test_configuration_doc_is_current() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_configuration_doc.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_configuration_doc_names_every_variable_and_flag() -> None:
    text = DOC.read_text()
    missing = [o.spec.env for o in OPTIONS if f"| `{o.spec.env}` |" not in text]
    missing += [o.spec.flag for o in OPTIONS if o.spec.flag and f"`{o.spec.flag}" not in text]
    assert missing == []
    assert "`IAMD_QUOTAS=" in text or "`IAMD_QUOTAS" in text  # the older form is still documented
