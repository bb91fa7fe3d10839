"""``iamd workloads register|list|deregister|reissue-token|rotate-ca``: bind machines and containers to roles.

``register --instance-profile P`` (a machine: its agent serves IMDS) or ``--role R`` (a container: ECS
task role style) prints the workload id and its bootstrap token as JSON; the token is shown once, is
good for one ``iamd agent enroll`` and expires (``--bootstrap-ttl``, default one hour). Exit status: 0
done, 1 refused (the message says why), 2 bad settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from iamd.core.config import Settings


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
    dereg.add_argument("workload_id")
    again = command("reissue-token", "a new bootstrap token for a workload that must enrol again")
    again.add_argument("workload_id")
    again.add_argument("--bootstrap-ttl", type=int, default=3600, help="seconds the token is good for (3600)")
    command("rotate-ca", "make a new workload CA; the old one still verifies what it issued")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the ``workloads`` command parsed by a parser that ``register`` extended."""
    import sqlalchemy as sa

    from iamd.core.errors import AwsError
    from iamd.services import workloads
    from iamd.services.runtime import ConfigError, Runtime
    from iamd.store import tables as t

    try:
        runtime = Runtime(settings)
        runtime.prepare_store()
    except ConfigError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return 2
    clock, partition = runtime.clock, settings.identity.partition
    try:
        with runtime.db.write() as conn:
            account = (
                args.account_id
                or conn.execute(sa.select(t.accounts.c.id).where(t.accounts.c.is_default.is_(True))).scalar()
            )
            if account is None:
                raise workloads.WorkloadNotFound("There is no default account: give --account-id.")
            command = args.workloads_command
            result: Any
            if command == "register":
                result = workloads.register(
                    conn,
                    clock,
                    partition,
                    account,
                    instance_profile=args.instance_profile,
                    role=args.role,
                    name=args.name,
                    bootstrap_ttl=args.bootstrap_ttl,
                ).as_json()
            elif command == "list":
                result = workloads.list_workloads(conn, account)
            elif command == "deregister":
                result = workloads.deregister(conn, clock, account, args.workload_id)
            elif command == "reissue-token":
                result = workloads.reissue_token(conn, clock, account, args.workload_id, args.bootstrap_ttl)
            else:
                result = {"AccountId": account, "CaId": workloads.rotate_ca(conn, runtime.box, clock, account)}
    except AwsError as exc:
        print(f"iamd: {exc.message}", file=sys.stderr)
        return 1
    finally:
        runtime.close()
    print(json.dumps(result, indent=2))
    return 0
