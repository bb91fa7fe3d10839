"""``iamd workloads register|list|deregister|reissue-token|rotate-ca``: bind machines and containers to roles.

``register --instance-profile P`` (a machine: its agent serves IMDS) or ``--role R`` (a container: ECS
task role style) prints the workload id and its bootstrap token as JSON; the token is shown once, is
good for one ``iamd agent enroll`` and expires (``--bootstrap-ttl``, default one hour). Exit status: 0
done, 1 refused (the message says why), 2 bad settings.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from iamd.core.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from iamd.services.runtime import Runtime


def register(subparsers: Any, store_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``workloads`` to the ``iamd`` parser's subcommands; ``store_options`` adds --data-dir etc."""
    workloads = subparsers.add_parser("workloads", help="bind machines and containers to instance profiles or roles")
    store_options(workloads)
    sub = workloads.add_subparsers(dest="workloads_command", required=True, metavar="ACTION")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
        store_options(parser)
        parser.add_argument("--account-id", default=None, help="the account (default: the default account)")
        return parser

    reg = command("register", "register a workload and print its one-time bootstrap token")
    target = reg.add_mutually_exclusive_group(required=True)
    target.add_argument("--instance-profile", help="instance profile name or ARN (machines: IMDS)")
    target.add_argument("--role", help="role name or ARN (containers: the container credentials endpoint)")
    reg.add_argument("--name", help="a label for the workload")
    reg.add_argument("--bootstrap-ttl", type=int, default=3600, help="seconds the token is good for (3600)")
    command("list", "list the account's workloads")
    dereg = command("deregister", "refuse the workload from its next request on")
    dereg.add_argument("workload_id", help="the workload's id (i-...)")
    again = command("reissue-token", "a new bootstrap token for a workload that must enrol again")
    again.add_argument("workload_id", help="the workload's id (i-...)")
    again.add_argument("--bootstrap-ttl", type=int, default=3600, help="seconds the token is good for (3600)")
    command("rotate-ca", "make a new workload CA; the old one still verifies what it issued")


def in_store(settings: Settings, account_id: str | None, act: Callable[[Runtime, Connection, str], Any]) -> int:
    """Run ``act(runtime, connection, account)`` in one write transaction and print its answer as JSON.

    The account is ``account_id`` or the default account. Exit status: 0 done, 1 refused (an AWS error or an
    unreadable file: the message says why), 2 the store cannot be opened.
    """
    import sqlalchemy as sa

    from iamd.core.errors import AwsError, NoSuchEntity
    from iamd.services.runtime import ConfigError, Runtime
    from iamd.store import tables as t

    try:
        runtime = Runtime(settings)
        runtime.prepare_store()
    except ConfigError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return 2
    try:
        with runtime.db.write() as conn:
            default = sa.select(t.accounts.c.id).where(t.accounts.c.is_default.is_(True))
            account = account_id or conn.execute(default).scalar()
            if account is None:
                raise NoSuchEntity("There is no default account: give --account-id.")
            result = act(runtime, conn, account)
    except (AwsError, OSError) as exc:
        print(f"iamd: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 1
    finally:
        runtime.close()
    print(json.dumps(result, indent=2, default=_json_value))
    return 0


def _json_value(value: object) -> str:
    """Times as ISO 8601 UTC, bytes as base64 (as the AWS CLI prints them)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot print a {type(value).__name__}")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the ``workloads`` command parsed by a parser that ``register`` extended."""
    from iamd.services import workloads

    partition = settings.identity.partition

    def act(runtime: Runtime, conn: Connection, account: str) -> Any:
        clock, command = runtime.clock, args.workloads_command
        if command == "register":
            return workloads.register(
                conn,
                clock,
                partition,
                account,
                instance_profile=args.instance_profile,
                role=args.role,
                name=args.name,
                bootstrap_ttl=args.bootstrap_ttl,
            ).as_json()
        if command == "list":
            return workloads.list_workloads(conn, account)
        if command == "deregister":
            return workloads.deregister(conn, clock, account, args.workload_id)
        if command == "reissue-token":
            return workloads.reissue_token(conn, clock, account, args.workload_id, args.bootstrap_ttl)
        return {"AccountId": account, "CaId": workloads.rotate_ca(conn, runtime.box, clock, account)}

    return in_store(settings, args.account_id, act)
