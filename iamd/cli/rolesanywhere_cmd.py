"""``iamd rolesanywhere ...``: Roles Anywhere trust anchors, profiles, CRLs and subjects in the store.

Answers are AWS's detail shapes as JSON (``trustAnchor``, ``profile``, ``crl``, ``subjects``). Resources
belong to an account (``--account-id``, default the default account) and a region (``--region``,
default us-east-1), as their ARNs say. Exit status: 0 done, 1 refused (the message says why), 2 bad
settings.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from iamd.cli.workloads_cmd import in_store
from iamd.core.config import Settings

_KINDS = {"trust-anchor": "trustAnchor", "profile": "profile", "crl": "crl"}


def _tag(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"'{text}' is not KEY=VALUE")
    return key, value


def _mapping(text: str) -> tuple[str, list[str]]:
    field, sep, specifiers = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"'{text}' is not FIELD=SPECIFIER[,SPECIFIER...]")
    return field, [s for s in specifiers.split(",") if s]


def register(subparsers: Any, store_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``rolesanywhere`` to the ``iamd`` parser's subcommands; ``store_options`` adds --data-dir etc."""
    top = subparsers.add_parser("rolesanywhere", help="Roles Anywhere trust anchors, profiles, CRLs, subjects")
    store_options(top)
    sub = top.add_subparsers(dest="ra_command", required=True, metavar="ACTION")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
        store_options(parser)
        parser.add_argument("--account-id", default=None, help="the account (default: the default account)")
        parser.add_argument("--region", default="us-east-1", help="the resources' region (us-east-1)")
        return parser

    anchor = command("create-trust-anchor", "create a trust anchor from a PEM bundle of CA certificates")
    source = anchor.add_mutually_exclusive_group(required=True)
    source.add_argument("--bundle", type=Path, help="PEM file of the CA certificates to trust")
    source.add_argument(
        "--self-signed-repository", action="store_true", help="trust the account's workload CAs (iamd workloads)"
    )
    profile = command("create-profile", "create a profile: the roles sessions may assume and their limits")
    profile.add_argument("--role-arn", action="append", required=True, help="a role the profile allows (repeat)")
    profile.add_argument("--managed-policy-arn", action="append", default=[], help="a session policy ARN (repeat)")
    profile.add_argument("--session-policy-file", type=Path, help="a JSON session policy")
    profile.add_argument("--duration-seconds", type=int, help="the longest session (900 to 43200)")
    profile.add_argument(
        "--require-instance-properties", action="store_true", help="refuse sessions that send no instanceProperties"
    )
    profile.add_argument(
        "--accept-role-session-name", action="store_true", help="let a session name itself (roleSessionName)"
    )
    profile.add_argument(
        "--attribute-mapping",
        action="append",
        type=_mapping,
        default=[],
        help="x509Subject|x509Issuer|x509SAN=SPECIFIER,... (default: AWS's mapping)",
    )
    crl = command("import-crl", "import a CRL (PEM or DER) for a trust anchor")
    crl.add_argument("--crl", type=Path, required=True, help="the CRL file")
    crl.add_argument("--trust-anchor", required=True, help="the trust anchor's id or ARN")
    for parser in (anchor, profile, crl):
        parser.add_argument("--name", required=True, help="the resource's name")
        parser.add_argument("--disabled", action="store_true", help="create it disabled")
        parser.add_argument("--tag", action="append", type=_tag, default=[], help="KEY=VALUE (repeat)")
    for kind in _KINDS:
        command(f"list-{kind}s", f"list {kind}s")
        for verb in ("get", "enable", "disable", "delete"):
            command(f"{verb}-{kind}", f"{verb} a {kind}").add_argument("id", help=f"the {kind}'s id or ARN")
    command("list-subjects", "list the certificate subjects that got credentials")


def _act(conn: Any, clock: Any, scope: Any, args: argparse.Namespace) -> Any:
    from iamd.services import rolesanywhere as ra

    name = args.ra_command
    tags = getattr(args, "tag", [])
    enabled = not getattr(args, "disabled", False)
    if name == "create-trust-anchor":
        bundle = args.bundle.read_text() if args.bundle else None
        source_type = ra.CERTIFICATE_BUNDLE if bundle is not None else ra.SELF_SIGNED_REPOSITORY
        return {
            "trustAnchor": ra.create_trust_anchor(
                conn,
                clock,
                scope,
                name=args.name,
                source_type=source_type,
                bundle_pem=bundle,
                enabled=enabled,
                tags=tags,
            )
        }
    if name == "create-profile":
        return {
            "profile": ra.create_profile(
                conn,
                clock,
                scope,
                name=args.name,
                role_arns=args.role_arn,
                managed_policy_arns=args.managed_policy_arn,
                session_policy=args.session_policy_file.read_text() if args.session_policy_file else None,
                duration_seconds=args.duration_seconds,
                require_instance_properties=args.require_instance_properties,
                accept_role_session_name=args.accept_role_session_name,
                attribute_mappings=dict(args.attribute_mapping) if args.attribute_mapping else None,
                enabled=enabled,
                tags=tags,
            )
        }
    if name == "import-crl":
        crl = ra.import_crl(
            conn,
            clock,
            scope,
            name=args.name,
            crl_data=args.crl.read_bytes(),
            trust_anchor=args.trust_anchor,
            enabled=enabled,
            tags=tags,
        )
        return {"crl": crl}
    if name == "list-subjects":
        return {"subjects": ra.list_subjects(conn, scope)}
    verb, _, kind = name.partition("-")
    key = _KINDS[kind.removesuffix("s")]
    table = {
        "trust-anchor": (
            ra.list_trust_anchors,
            ra.get_trust_anchor,
            ra.set_trust_anchor_enabled,
            ra.delete_trust_anchor,
        ),
        "profile": (ra.list_profiles, ra.get_profile, ra.set_profile_enabled, ra.delete_profile),
        "crl": (ra.list_crls, ra.get_crl, ra.set_crl_enabled, ra.delete_crl),
    }[kind.removesuffix("s")]
    lister, getter, switch, deleter = table
    if verb == "list":
        return {key + "s": lister(conn, scope)}
    if verb == "get":
        return {key: getter(conn, scope, args.id)}
    if verb in ("enable", "disable"):
        return {key: switch(conn, clock, scope, args.id, verb == "enable")}
    return {key: deleter(conn, scope, args.id)}


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the ``rolesanywhere`` command parsed by a parser that ``register`` extended."""
    from iamd.services.rolesanywhere import Scope

    def act(runtime: Any, conn: Any, account: str) -> Any:
        return _act(conn, runtime.clock, Scope(settings.identity.partition, account, args.region), args)

    return in_store(settings, args.account_id, act)
