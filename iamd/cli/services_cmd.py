"""``iamd services``: the services that act for customers (``iamd.services.service_principals``).

* ``iamd services register NAME`` records a service principal (``backup.example.internal``) and
  prints its access key as JSON, once: the service signs its requests with it.
* ``iamd services list`` prints the registered services as JSON (no secrets).
* ``iamd services deregister NAME`` removes a service; its key stops working at once on this node
  and within the cache refresh interval on the others.

Exit status: 0 done, 1 refused (the message says why), 2 bad settings.
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


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the ``services`` command parsed by a parser that ``register`` extended."""
    from iamd.services import service_principals as sp

    runtime = open_store(settings)
    if runtime is None:
        return 2
    try:
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
            from iamd.cli.main import iso_time

            for row in listed:
                row["CreatedAt"] = iso_time(float(row["CreatedAt"]))
            print(json.dumps(listed, indent=2))
    except sp.ServiceError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return 1
    finally:
        runtime.close()
    return 0
