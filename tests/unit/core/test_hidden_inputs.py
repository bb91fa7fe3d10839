"""iamd reads the environment only at its entry points, and the time only through the Clock.

Settings come from the mapping the command line (or uvicorn's app factory) hands to
``load_settings``; wall-clock and monotonic readings come from ``iamd.core.clock`` so that tests
can move them.  These checks walk the source so that a new hidden input fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import iamd

SOURCE = Path(iamd.__file__).resolve().parent

ENVIRONMENT_READERS = {
    "cli/main.py": "hands os.environ to load_settings once; reads the variables --password-env names",
    "web/app.py": "uvicorn's app factory: the worker's settings from its environment",
    "metrics.py": "prometheus-client's multiprocess mode is configured through PROMETHEUS_MULTIPROC_DIR",
}
CLOCK_READERS = {
    "core/clock.py": "the clock itself",
    "store/db.py": "bump_generation() stamps generation.changed_at, which nothing reads, without a clock",
    "metrics.py": "perf_counter() measures database statement durations for a histogram, not a time of day",
    "audit/store.py": "monotonic() paces the background flush thread, not a time of day",
    "helper/session.py": "the client-side credential helper's default clock (injectable), outside the server",
}
TIME_FUNCTIONS = {"time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns"}
DATETIME_FUNCTIONS = {"now", "utcnow", "today"}


def modules() -> list[tuple[str, ast.Module]]:
    return [(p.relative_to(SOURCE).as_posix(), ast.parse(p.read_text())) for p in sorted(SOURCE.rglob("*.py"))]


ENVIRONMENT_NAMES = ("environ", "environb", "getenv", "getenvb")


def reads_environment(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            found = node.value.id == "os" and node.attr in ENVIRONMENT_NAMES
        elif isinstance(node, ast.ImportFrom):
            found = node.module == "os" and any(a.name in ENVIRONMENT_NAMES for a in node.names)
        else:
            found = False
        if found:
            return True
    return False


def reads_clock(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            found = (node.value.id == "time" and node.attr in TIME_FUNCTIONS) or (
                node.value.id in ("datetime", "date") and node.attr in DATETIME_FUNCTIONS
            )
        elif isinstance(node, ast.ImportFrom):
            found = node.module == "time" and any(a.name in TIME_FUNCTIONS for a in node.names)
        else:
            found = False
        if found:
            return True
    return False


def test_the_walk_sees_the_known_readers() -> None:
    """The checks below would catch a reader: they find the ones that are allowed."""
    found = dict(modules())
    assert reads_environment(found["cli/main.py"]) and reads_environment(found["web/app.py"])
    assert reads_clock(found["core/clock.py"])
    assert reads_clock(ast.parse("import time\nstarted = time.monotonic()"))
    assert reads_clock(ast.parse("from datetime import datetime\nnow = datetime.now()"))
    assert reads_environment(ast.parse("from os import environ"))
    assert not reads_clock(ast.parse("import time\ntime.strftime('%Y', time.gmtime(0))"))


def test_only_the_entry_points_read_the_environment() -> None:
    readers = [path for path, tree in modules() if reads_environment(tree)]
    assert sorted(readers) == sorted(ENVIRONMENT_READERS)


def test_the_time_is_read_through_the_clock() -> None:
    readers = [path for path, tree in modules() if reads_clock(tree)]
    assert set(readers) <= set(CLOCK_READERS), "read the time through iamd.core.clock.Clock"
