"""Write docs/operations-implemented.md from the code: the registry against botocore's models.

python scripts/gen_operations_doc.py          # rewrite the file
python scripts/gen_operations_doc.py --check  # exit 1 if the file is stale (tests run this)
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from iamd.services.registry import load_all  # noqa: E402
from iamd.web.protocol.model import load_service  # noqa: E402

TARGET = ROOT / "docs" / "operations-implemented.md"


def render() -> str:
    registered = load_all()
    lines = [
        "# Implemented operations",
        "",
        "Generated from the code by `python scripts/gen_operations_doc.py`; a test fails when it is stale.",
        f"Every operation of the models of botocore {version('botocore')} (the version constraints.txt pins)",
        "is listed. Operations marked *not yet* answer HTTP 501 with the error code `NotImplemented` and a",
        "message naming the operation.",
        "",
    ]
    for service in ("iam", "sts", "organizations"):
        spec = load_service(service)
        names = sorted(spec.operations)
        done = [n for n in names if (service, n) in registered]
        lines += [
            f"## {service.upper()} ({spec.api_version}): {len(done)} of {len(names)} implemented",
            "",
            "| Operation | Status |",
            "| --- | --- |",
        ]
        lines += [f"| {n} | {'implemented' if (service, n) in registered else 'not yet'} |" for n in names]
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current != text:
            print(
                f"{TARGET} is stale for botocore {version('botocore')}: run python scripts/gen_operations_doc.py"
                " (or, if this is not the botocore constraints.txt pins, install the pinned versions:"
                " pip install -c constraints.txt -e '.[test,dev]')",
                file=sys.stderr,
            )
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
