"""``iamd audit lookup|verify|prune``: the audit trail for operators.

* ``lookup`` filters as CloudTrail's LookupEvents does (one attribute at a time in CloudTrail; here
  any number, all must hold), a time range, paging; prints JSON lines (one record each) or a table;
  the next page's token goes to standard error.  Exit 2 on a bad query (CloudTrail's error codes).
* ``verify`` checks the hash chain in the database (and with ``--files`` the JSONL copies, and that
  both end at the same head; with ``--head SEQ:HASH`` that the chain still reaches a head kept
  elsewhere).  Prints each finding; exit 1 when there is any.
* ``prune --older-than DAYS`` deletes older records (the chain records the prune).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from iamd.core.config import Settings

_FILTERS = (
    ("--event-name", "EventName", "the event's name (CreateUser, ConsoleLogin, Authorize...)"),
    ("--user", "Username", "the user name (or role session, root) who called"),
    ("--resource-name", "ResourceName", "a resource the event touched (its ARN or name)"),
    ("--resource-type", "ResourceType", "the type of a resource the event touched (AWS::IAM::User...)"),
    ("--access-key-id", "AccessKeyId", "the access key the caller signed with"),
    ("--event-source", "EventSource", "the service (iam.amazonaws.com, signin.amazonaws.com, iamd.internal...)"),
    ("--read-only", "ReadOnly", "true: reads only; false: writes only"),
    ("--event-id", "EventId", "one record by its eventID"),
)


def register(subparsers: Any, store_options: Callable[[argparse.ArgumentParser], None]) -> None:
    audit = subparsers.add_parser("audit", help="the audit trail: look up, verify, prune")
    store_options(audit)
    sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    lookup = sub.add_parser("lookup", help="find records (filters as CloudTrail's LookupEvents)")
    store_options(lookup)
    for flag, attribute, help_text in _FILTERS:
        lookup.add_argument(flag, dest=attribute, default=None, metavar="VALUE", help=help_text)
    lookup.add_argument("--start", default=None, help="records at or after this time (ISO 8601 or epoch seconds)")
    lookup.add_argument("--end", default=None, help="records before this time (ISO 8601 or epoch seconds)")
    lookup.add_argument("--account", default=None, help="only records delivered to this account")
    lookup.add_argument("--max-results", type=int, default=50, help="records per page (1 to 50)")
    lookup.add_argument("--next-token", default=None, help="the token a previous page printed")
    lookup.add_argument("--output", choices=("json", "table"), default="json", help="JSON lines or a table")

    verify = sub.add_parser("verify", help="check the hash chain: altered, deleted, inserted, reordered records")
    store_options(verify)
    verify.add_argument("--head", default=None, metavar="SEQ:HASH", help="a head kept elsewhere (log, file)")
    verify.add_argument("--files", type=Path, default=None, metavar="DIR", help="also check the JSONL files in DIR")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")

    prune = sub.add_parser("prune", help="delete records older than a number of days")
    store_options(prune)
    prune.add_argument(
        "--older-than", type=float, required=True, metavar="DAYS", help="delete records older than this many days"
    )


def _time(text: str | None, flag: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{flag}: {text!r} is not an ISO 8601 time or epoch seconds") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def run(args: argparse.Namespace, settings: Settings) -> int:
    from iamd.services.runtime import ConfigError, Runtime

    try:
        runtime = Runtime(settings)
        runtime.prepare_store()
    except ConfigError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return 2
    try:
        if args.audit_command == "lookup":
            return _lookup(runtime, args)
        if args.audit_command == "verify":
            return _verify(runtime, args)
        deleted = runtime.audit.prune(runtime.clock.time() - args.older_than * 86400.0)
        print(json.dumps({"deleted": deleted}))
        return 0
    finally:
        runtime.close()


def _lookup(runtime: Any, args: argparse.Namespace) -> int:
    from iamd.audit.lookup import LookupQuery, json_lines, lookup, table
    from iamd.core.errors import AwsError

    attributes = [(attr, getattr(args, attr)) for _, attr, _ in _FILTERS if getattr(args, attr) is not None]
    try:
        query = LookupQuery(
            attributes=attributes,
            start_time=_time(args.start, "--start"),
            end_time=_time(args.end, "--end"),
            max_results=args.max_results,
            next_token=args.next_token,
            account_id=args.account,
        )
        with runtime.db.read() as conn:
            page = lookup(conn, query)
    except ValueError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return 2
    except AwsError as exc:
        print(f"{exc.code}: {exc.message}", file=sys.stderr)
        return 2
    text = json_lines(page.events) if args.output == "json" else table(page.events)
    if text:
        print(text.rstrip("\n"))
    if page.next_token:
        print(f"NextToken: {page.next_token}", file=sys.stderr)
    return 0


def _verify(runtime: Any, args: argparse.Namespace) -> int:
    from iamd.audit.chain import Anchor, verify
    from iamd.audit.sink import JsonlSink, read_chain
    from iamd.audit.store import verify_store

    expected = None
    if args.head:
        seq, _, digest = args.head.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            print("iamd: --head takes SEQ:HASH (a sequence number and a 64-digit hex hash)", file=sys.stderr)
            return 2
        expected = Anchor(int(seq), digest)
    report = verify_store(runtime.db, expected)
    out: dict[str, Any] = {"database": report.as_json()}
    problems = [f.message for f in report.findings]
    if args.files is not None:
        try:
            records = list(read_chain(JsonlSink(args.files).files()))
        except (OSError, ValueError) as exc:
            print(f"iamd: cannot read the audit files: {exc}", file=sys.stderr)
            return 2
        start = Anchor(records[0].sequence - 1, records[0].previous_hash) if records else None
        files = verify(records, start=start) if start is not None else verify(records)
        out["files"] = files.as_json()
        problems += [f"files: {f.message}" for f in files.findings]
        if files.head is not None and report.head is not None and files.head != report.head:
            if files.head.sequence > report.head.sequence:
                problems.append(
                    f"the database ends at record {report.head.sequence} but the files go on to "
                    f"{files.head.sequence}: records were cut off the database"
                )
            else:  # the files may lag a running server's database by a flush, or after a file sink failure
                print(
                    f"note: the files end at record {files.head.sequence}, the database at {report.head.sequence}",
                    file=sys.stderr,
                )
    if args.json:
        print(json.dumps({**out, "ok": not problems, "problems": problems}, indent=2))
    else:
        for problem in problems:
            print(problem)
        head = report.head
        summary = f"{report.checked} records checked"
        if head is not None:
            summary += f"; head {head.sequence}:{head.hash}"
        print(("OK: " if not problems else "FAILED: ") + summary)
    return 1 if problems else 0
