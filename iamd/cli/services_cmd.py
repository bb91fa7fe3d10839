"""``iamd services``: the services that act for customers (``iamd.services.service_principals``).

* ``iamd services register NAME`` records a service principal (``backup.example.internal``) and
  prints its access key as JSON, once: the service signs its requests with it.
* ``iamd services list`` prints the registered services as JSON (no secrets).
* ``iamd services deregister NAME`` removes a service; its key stops working at once on this node
  and within the cache refresh interval on the others.

* ``iamd services check-pass-role --principal ARN --role ARN --service NAME`` asks whether the
  principal may pass the role to the service (``iam:PassRole``, ``iamd.services.pass_role``).

Exit status: 0 done (or allowed), 1 refused (or denied; the message says why), 2 bad settings or input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from iamd.core.config import Settings

if TYPE_CHECKING:
    from iamd.services.runtime import Runtime


def register(subparsers: Any, store_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``services`` to the ``iamd`` parser's subcommands; ``store_options`` adds --data-dir etc."""
    services = subparsers.add_parser("services", help="services that act for customers (service principals)")
    store_options(services)
    sub = services.add_subparsers(dest="services_command", required=True, metavar="ACTION")
    reg = sub.add_parser(
        "register",
        help="register a service principal and print its access key as JSON",
        description="Give a service its own identity: requests signed with the printed key are made by the "
        "service principal NAME, which can assume the roles whose trust policy names it.",
    )
    store_options(reg)
    reg.add_argument("name", help="the service principal name, e.g. backup.example.internal")
    listing = sub.add_parser("list", help="list the registered services as JSON")
    store_options(listing)
    dereg = sub.add_parser("deregister", help="remove a service and its access key")
    store_options(dereg)
    dereg.add_argument("name", help="the service principal name")
    check = sub.add_parser(
        "check-pass-role",
        help="may a principal pass a role to a service (iam:PassRole)? prints the answer as JSON",
        description="Decide iam:PassRole on the role for the principal, with iam:PassedToService and "
        "iam:AssociatedResourceArn, as the engine decides the principal's API calls. Exit status 0 when "
        "allowed, 1 when denied.",
    )
    store_options(check)
    check.add_argument("--principal", required=True, help="the ARN of the IAM user, role or account root")
    check.add_argument("--role", required=True, help="the ARN of the role to pass")
    check.add_argument("--service", required=True, help="the service principal the role is passed to")
    check.add_argument("--associated-resource", default=None, help="the ARN of the resource the role is for")


def open_store(settings: Settings) -> Runtime | None:
    """A runtime on the migrated store, or None (the reason printed) when the settings do not open it."""
    from iamd.services.runtime import ConfigError, Runtime

    try:
        runtime = Runtime(settings)
        runtime.prepare_store()
    except ConfigError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return None
    return runtime


def _check_pass_role(runtime: Runtime, args: argparse.Namespace) -> int:
    from iamd.services import pass_role

    try:
        with runtime.db.read() as conn:
            answer = pass_role.check_pass_role(
                conn,
                runtime.authorizer,
                runtime.settings.identity.partition,
                args.principal,
                args.role,
                args.service,
                args.associated_resource,
            )
    except pass_role.PassRoleError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(answer, indent=2))
    return 0 if answer["Allowed"] else 1


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the ``services`` command parsed by a parser that ``register`` extended."""
    from iamd.services import service_principals as sp

    runtime = open_store(settings)
    if runtime is None:
        return 2
    try:
        if args.services_command == "check-pass-role":
            return _check_pass_role(runtime, args)
        if args.services_command == "register":
            with runtime.db.write() as conn:
                creds = sp.register(conn, runtime.box, runtime.clock, args.name)
            print(json.dumps(creds, indent=2))
        elif args.services_command == "deregister":
            with runtime.db.write() as conn:
                sp.deregister(conn, args.name)
        else:
            with runtime.db.read() as conn:
                listed = sp.list_services(conn)
            from iamd.core.clock import iso8601

            for row in listed:
                row["CreatedAt"] = iso8601(float(row["CreatedAt"]))
            print(json.dumps(listed, indent=2))
    except sp.ServiceError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return 1
    finally:
        runtime.close()
    return 0
