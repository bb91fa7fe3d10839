"""The ``iamd`` command: serve, and the admin commands that work on the same store."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iamd.cli import audit_cmd, logs, policies_cmd, policy_cmd, rolesanywhere_cmd, services_cmd, workloads_cmd
from iamd.core.clock import iso8601
from iamd.core.config import OPTIONS, STORE_PREPARED_VARIABLE, Settings, load_settings, settings_to_env
from iamd.core.options import Option

if TYPE_CHECKING:
    from iamd.services.runtime import Runtime


def _flag_help(opt: Option) -> str:
    default = opt.shown_default
    tail = f"env {opt.spec.env}" + (f"; default {default}" if default else "")
    return f"{opt.spec.help} ({tail})".replace("%", "%%")


def _setting_flags(parser: argparse.ArgumentParser, *, every_command: bool, suppress: bool) -> None:
    """The flags of the settings declared in iamd.core.config (``every_command``: the global options)."""
    default: Any = argparse.SUPPRESS if suppress else None
    for opt in OPTIONS:
        if opt.spec.flag is None or opt.spec.every_command != every_command:
            continue
        kwargs: dict[str, Any] = {"dest": opt.name, "default": default, "help": _flag_help(opt)}
        if opt.kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction if opt.default else "store_true"
        else:
            kwargs["type"] = opt.kind
            kwargs["metavar"] = opt.metavar
            if opt.spec.choices:
                kwargs["choices"] = opt.spec.choices
        parser.add_argument(opt.spec.flag, **kwargs)


def _store_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The global options; every command that opens the store takes them before or after its name."""
    _setting_flags(parser, every_command=True, suppress=suppress)


def _version() -> str:
    try:
        return metadata.version("iamd")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _command(sub: Any, name: str, help_text: str, description: str | None = None) -> argparse.ArgumentParser:
    """A (sub)command that also takes the global options after its name."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=description or help_text)
    _store_options(parser, suppress=True)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iamd", description="Self-hosted AWS-compatible IAM and STS.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _store_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = _command(sub, "serve", "run the server")
    _setting_flags(serve, every_command=False, suppress=False)

    acc = _command(sub, "accounts", "manage accounts")
    acc_sub = acc.add_subparsers(dest="accounts_command", required=True, metavar="ACTION")
    create = _command(acc_sub, "create", "create an account and print its root access key as JSON")
    create.add_argument("--account-id", default=None, help="the 12-digit account id (default: a random one)")
    create.add_argument("--name", default=None, help="the account's name (default: account-ID)")
    _command(acc_sub, "list", "list accounts as JSON")
    root_login = _command(
        acc_sub, "set-root-login", "set the root user's console email and password (the password is read from stdin)"
    )
    root_login.add_argument("account_id", help="the account whose root user signs in")
    root_login.add_argument("--email", required=True, help="the root user's sign-in email address")

    keys = _command(sub, "keys", "session token keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    _command(keys_sub, "rotate", "make a new primary token key (older tokens stay valid until they expire)")

    roles = _command(sub, "roles", "role operations for operators")
    roles_sub = roles.add_subparsers(dest="roles_command", required=True, metavar="ACTION")
    revoke = _command(roles_sub, "revoke-sessions", "deny all sessions of a role issued before now")
    revoke.add_argument("role_name", help="the role's name")
    revoke.add_argument("--account-id", default=None, help="the role's account (default: the default account)")

    mfa_parser = _command(sub, "mfa", "MFA devices for operators")
    mfa_sub = mfa_parser.add_subparsers(dest="mfa_command", required=True, metavar="ACTION")
    imp = _command(
        mfa_sub,
        "import-tokens",
        "import hardware TOTP tokens from a vendor's PSKC (RFC 6030) seed file",
        description="Import hardware TOTP tokens; users then enable them with EnableMFADevice by serial number. "
        "Encrypted files: the password or the pre-shared key (hex) is read from the named environment "
        "variable, or else from the first line of standard input.",
    )
    imp.add_argument("file", type=Path, help="the .pskc file")
    imp.add_argument(
        "--partition",
        dest="token_partition",
        choices=("aws", "aws-cn", "aws-us-gov"),
        default=None,
        help="restrict the tokens to a partition (not the store's partition, which is IAMD_PARTITION)",
    )
    secret = imp.add_mutually_exclusive_group()
    secret.add_argument("--password-env", metavar="VAR", help="environment variable holding the PBKDF2 password")
    secret.add_argument("--key-hex-env", metavar="VAR", help="environment variable holding the pre-shared key (hex)")
    secret.add_argument(
        "--stdin",
        choices=("password", "key-hex"),
        default=None,
        help="read the password or the pre-shared key (hex) from standard input",
    )

    policy_cmd.register(sub)
    policies_cmd.register(sub, lambda p: _store_options(p, suppress=True))
    audit_cmd.register(sub, lambda p: _store_options(p, suppress=True))
    services_cmd.register(sub, lambda p: _store_options(p, suppress=True))
    workloads_cmd.register(sub, lambda p: _store_options(p, suppress=True))
    rolesanywhere_cmd.register(sub, lambda p: _store_options(p, suppress=True))
    for name, help_text in _STANDALONE.items():
        standalone = sub.add_parser(name, help=help_text, add_help=False)
        standalone.add_argument("args", nargs=argparse.REMAINDER, help=f"see iamd {name} --help")
    return parser


_STANDALONE = {
    "agent": "the workload credentials agent (iamd agent --help); needs no store",
    "credential-helper": "the Roles Anywhere credential helper (iamd credential-helper --help); needs no store",
}


def _standalone(argv: list[str]) -> int:
    """``iamd agent ...`` and ``iamd credential-helper ...`` run beside workloads, without a store."""
    if argv[0] == "agent":
        from iamd.agent.cli import main as agent_main

        return agent_main(argv[1:])
    from iamd.helper.cli import main as helper_main

    return helper_main(argv[1:])


FLAG_DESTS = {opt.name: opt.path for opt in OPTIONS if opt.spec.flag}
"""The dest of each setting's flag (its option name) -> the option's path in the settings."""


def settings_of(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """The settings from the environment, the flags given on the command line winning."""
    return load_settings(environ, {path: getattr(args, dest, None) for dest, path in FLAG_DESTS.items()})


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run one command; the settings come from ``environ`` (default: the process's environment)."""
    env = os.environ if environ is None else environ
    words = sys.argv[1:] if argv is None else argv
    if words and words[0] in _STANDALONE:
        return _standalone(words)
    args = build_parser().parse_args(argv)
    if args.command == "policy":
        return policy_cmd.run(args)
    try:
        settings = settings_of(args, env)
    except ValueError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.logging.log_level, settings.server.access_log)
    if settings.store.data_dir is None and settings.store.database_url is None:
        print("iamd: give --data-dir (or IAMD_DATA_DIR) or --database-url", file=sys.stderr)
        return 2
    if args.command == "serve":
        return serve(settings)
    if args.command == "accounts":
        return accounts_command(args, settings)
    if args.command == "mfa":
        return mfa_command(args, settings, env)
    if args.command == "policies":
        return policies_cmd.run(args, settings)
    if args.command == "workloads":
        return workloads_cmd.run(args, settings)
    if args.command == "rolesanywhere":
        return rolesanywhere_cmd.run(args, settings)
    if args.command == "services":
        return services_cmd.run(args, settings)
    if args.command == "audit":
        return audit_cmd.run(args, settings)
    return admin_command(args, settings)


def serve(settings: Settings) -> int:
    import uvicorn

    from iamd.services.runtime import ConfigError, Runtime

    try:
        runtime = Runtime(settings)
        runtime.prepare_store()
        runtime.bootstrap()
        runtime.close()
    except ConfigError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return 2
    # uvicorn's app factory reads the settings from the environment, in every worker process
    os.environ.update(settings_to_env(settings))
    os.environ[STORE_PREPARED_VARIABLE] = "1"
    server, level = settings.server, settings.logging.log_level
    if server.workers > 1 and settings.metrics.enabled:
        _prepare_metrics_dir(settings)
    proxies = server.forwarded_allow_ips
    uvicorn.run(
        "iamd.web.app:create_app",
        factory=True,
        host=server.host,
        port=server.port,
        workers=server.workers if server.workers > 1 else None,
        log_level=level,
        log_config=logs.logging_config(level, server.access_log),
        access_log=False,  # iamd.access replaces uvicorn's access log
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        ssl_certfile=str(server.tls_cert) if server.tls_cert else None,
        ssl_keyfile=str(server.tls_key) if server.tls_key else None,
    )
    return 0


def _prepare_metrics_dir(settings: Settings) -> None:
    """Several workers share their metrics through files: the directory is set before any worker starts."""
    import tempfile

    from iamd import metrics

    data_dir = settings.store.data_dir
    path = data_dir / "metrics" if data_dir is not None else Path(tempfile.mkdtemp(prefix="iamd-metrics-"))
    metrics.prepare_multiprocess_dir(path)


def accounts_command(args: argparse.Namespace, settings: Settings) -> int:
    from iamd.services import accounts
    from iamd.services.runtime import ConfigError, Runtime

    try:
        runtime = Runtime(settings)
        runtime.prepare_store()
    except ConfigError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return 2
    try:
        if args.accounts_command == "create":
            try:
                with runtime.db.write() as conn:
                    creds = accounts.create_account(
                        conn, runtime.box, runtime.clock, account_id=args.account_id, name=args.name
                    )
            except accounts.AccountError as exc:
                print(f"iamd: {exc}", file=sys.stderr)
                return 1
            print(json.dumps(creds.as_json(), indent=2))
        elif args.accounts_command == "set-root-login":
            return _set_root_login(runtime, args.account_id, args.email)
        else:
            with runtime.db.read() as conn:
                listed = accounts.list_accounts(conn)
            for row in listed:
                row["CreatedAt"] = iso8601(float(str(row["CreatedAt"])))
            print(json.dumps(listed, indent=2))
    finally:
        runtime.close()
    return 0


def _set_root_login(runtime: Runtime, account_id: str, email: str) -> int:
    from iamd.services.console.signin import set_root_login

    password = sys.stdin.readline().rstrip("\r\n")
    try:
        set_root_login(runtime, account_id, email, password)
    except ValueError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"AccountId": account_id, "RootEmail": email}))
    return 0


def admin_command(args: argparse.Namespace, settings: Settings) -> int:
    from iamd.services import admin
    from iamd.services.runtime import ConfigError, Runtime

    try:
        runtime = Runtime(settings)
        runtime.prepare_store()
    except ConfigError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "keys":
            # under the start-up lock: two rotations at once still leave exactly one primary key
            with runtime.db.startup_lock(), runtime.db.write() as conn:
                key_id = admin.rotate_token_keys(conn, runtime.box, runtime.clock)
            print(json.dumps({"PrimaryKeyId": key_id}))
        else:
            with runtime.db.write() as conn:
                result = admin.revoke_role_sessions(conn, runtime.clock, args.account_id, args.role_name)
            print(json.dumps(result))
    except admin.AdminError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return 1
    finally:
        runtime.close()
    return 0


def _pskc_secrets(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[str | None, bytes | None]:
    """The password or pre-shared key for an encrypted PSKC file (env variable or stdin)."""
    password: str | None = None
    key_hex: str | None = None
    if args.password_env:
        password = environ.get(args.password_env)
        if password is None:
            raise ValueError(f"environment variable {args.password_env} is not set")
    elif args.key_hex_env:
        key_hex = environ.get(args.key_hex_env)
        if key_hex is None:
            raise ValueError(f"environment variable {args.key_hex_env} is not set")
    elif args.stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if args.stdin == "password":
            password = line
        else:
            key_hex = line
    key: bytes | None = None
    if key_hex is not None:
        try:
            key = bytes.fromhex(key_hex.strip())
        except ValueError as exc:
            raise ValueError("the pre-shared key must be hexadecimal") from exc
    return password, key


def mfa_command(args: argparse.Namespace, settings: Settings, environ: Mapping[str, str]) -> int:
    from iamd.services import pskc
    from iamd.services.runtime import ConfigError, Runtime

    try:
        password, key = _pskc_secrets(args, environ)
        tokens = pskc.parse(args.file.read_bytes(), password=password, key=key)
    except (OSError, ValueError) as exc:
        print(f"iamd: {args.file}: {exc}; nothing was imported", file=sys.stderr)
        return 1
    try:
        runtime = Runtime(settings)
        runtime.prepare_store()
    except ConfigError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return 2
    try:
        with runtime.db.write() as conn:
            imported = pskc.import_tokens(conn, runtime.box, runtime.clock.time(), tokens, args.token_partition)
    except pskc.PskcError as exc:
        print(f"iamd: {args.file}: {exc}", file=sys.stderr)
        return 1
    finally:
        runtime.close()
    print(json.dumps({"Imported": imported, "Partition": args.token_partition}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
