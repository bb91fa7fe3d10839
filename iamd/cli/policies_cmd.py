"""``iamd policies import-aws-managed FILE``: load AWS managed policies into the store.

FILE (or ``-`` for standard input) is the JSON that
``aws iam get-account-authorization-details --filter AWSManagedPolicy`` prints against a real
account.  The whole file is checked before anything is written, then every policy with all its
versions is merged in one transaction: all or nothing, and importing the same file again changes
nothing.  A summary (counts of added/updated/unchanged policies and added versions) is printed as
JSON.  Exit status: 0 imported, 1 the file was refused (every problem is listed), 2 bad settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from iamd.core.config import Settings


def register(subparsers: Any, store_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``policies`` to the ``iamd`` parser's subcommands; ``store_options`` adds --data-dir etc."""
    policies = subparsers.add_parser("policies", help="AWS managed policies in the store")
    store_options(policies)
    sub = policies.add_subparsers(dest="policies_command", required=True)
    imp = sub.add_parser(
        "import-aws-managed",
        help="import AWS managed policies (all versions) from get-account-authorization-details output",
        description="Import AWS managed policies, with every version, from the JSON that "
        "`aws iam get-account-authorization-details --filter AWSManagedPolicy` prints. They become "
        "visible and attachable in every account. Newer versions replace the default version; a "
        "default version is never moved back. Customer managed policies in the file are refused.",
    )
    store_options(imp)
    imp.add_argument("file", help="the JSON file, or - for standard input")
    imp.add_argument(
        "--only-attachable", action="store_true", help="skip the policies the file marks IsAttachable: false"
    )
    imp.add_argument("--dry-run", action="store_true", help="check the file and print the summary; write nothing")


def _read(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    with open(name, encoding="utf-8") as fh:
        return fh.read()


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the ``policies`` command parsed by a parser that ``register`` extended."""
    from iamd.services.iam.aws_managed import importer
    from iamd.services.iam.aws_managed.merge import MergeConflict, MergeReport
    from iamd.services.runtime import ConfigError, Runtime

    try:
        plan = importer.read_policies(
            _read(args.file), settings.identity.partition, only_attachable=args.only_attachable
        )
    except (OSError, UnicodeDecodeError, importer.ImportRefused) as exc:
        print(f"iamd: {args.file}: {exc}\nnothing was imported", file=sys.stderr)
        return 1
    try:
        runtime = Runtime(settings)
        runtime.prepare_store()
    except ConfigError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return 2
    report = MergeReport()
    try:
        with runtime.db.write() as conn:
            report = importer.store(conn, plan, settings.identity.partition, runtime.clock.time())
            if args.dry_run:
                raise _DryRun
    except _DryRun:
        pass
    except MergeConflict as exc:
        print(f"iamd: {args.file}: {exc}\nnothing was imported", file=sys.stderr)
        return 1
    finally:
        runtime.close()
    print(json.dumps(importer.summary(plan, report, dry_run=args.dry_run)))
    return 0
