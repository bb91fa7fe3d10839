"""The ``iamd`` command: serve, and the admin commands that work on the same store."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iamd.cli import policies_cmd, policy_cmd
from iamd.core.config import Settings, settings_from_env

if TYPE_CHECKING:
    from iamd.services.runtime import Runtime


def _store_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument("--data-dir", type=Path, default=default, help="data directory (env IAMD_DATA_DIR)")
    parser.add_argument(
        "--database-url",
        default=default,
        help="SQLAlchemy URL, e.g. postgresql+psycopg://host/db (env IAMD_DATABASE_URL); default: SQLite in DIR",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iamd", description="Self-hosted AWS-compatible IAM and STS.")
    _store_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    _store_options(serve, suppress=True)
    serve.add_argument("--host", default=None, help="listen address (env IAMD_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="listen port (env IAMD_PORT, default 8080)")
    serve.add_argument("--workers", type=int, default=None, help="worker processes (env IAMD_WORKERS, default 1)")
    serve.add_argument("--dev", action="store_true", default=None, help="enable POST /_iamd/reset (env IAMD_DEV)")
    serve.add_argument("--partition", choices=("aws", "aws-cn", "aws-us-gov"), default=None)
    serve.add_argument("--region", default=None, help="default region (env IAMD_REGION)")
    serve.add_argument("--log-level", default=None, choices=("debug", "info", "warning", "error"))
    serve.add_argument("--tls-cert", type=Path, default=None, help="serve HTTPS with this PEM certificate chain")
    serve.add_argument("--tls-key", type=Path, default=None, help="the PEM private key of --tls-cert")
    serve.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="reverse proxies whose X-Forwarded-For/-Proto headers are trusted (comma-separated; default none)",
    )

    acc = sub.add_parser("accounts", help="manage accounts")
    _store_options(acc, suppress=True)
    acc_sub = acc.add_subparsers(dest="accounts_command", required=True)
    create = acc_sub.add_parser("create", help="create an account and print its root access key as JSON")
    create.add_argument("--account-id", default=None)
    create.add_argument("--name", default=None)
    acc_sub.add_parser("list", help="list accounts as JSON")
    root_login = acc_sub.add_parser(
        "set-root-login", help="set the root user's console email and password (the password is read from stdin)"
    )
    root_login.add_argument("account_id")
    root_login.add_argument("--email", required=True)

    keys = sub.add_parser("keys", help="session token keys")
    _store_options(keys, suppress=True)
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser("rotate", help="make a new primary token key (older tokens stay valid until they expire)")

    roles = sub.add_parser("roles", help="role operations for operators")
    _store_options(roles, suppress=True)
    roles_sub = roles.add_subparsers(dest="roles_command", required=True)
    revoke = roles_sub.add_parser("revoke-sessions", help="deny all sessions of a role issued before now")
    revoke.add_argument("role_name")
    revoke.add_argument("--account-id", default=None, help="the role's account (default: the default account)")

    mfa_parser = sub.add_parser("mfa", help="MFA devices for operators")
    _store_options(mfa_parser, suppress=True)
    mfa_sub = mfa_parser.add_subparsers(dest="mfa_command", required=True)
    imp = mfa_sub.add_parser(
        "import-tokens",
        help="import hardware TOTP tokens from a vendor's PSKC (RFC 6030) seed file",
        description="Import hardware TOTP tokens; users then enable them with EnableMFADevice by serial number. "
        "Encrypted files: the password or the pre-shared key (hex) is read from the named environment "
        "variable, or else from the first line of standard input.",
    )
    imp.add_argument("file", type=Path, help="the .pskc file")
    imp.add_argument(
        "--partition", choices=("aws", "aws-cn", "aws-us-gov"), default=None, help="restrict the tokens to a partition"
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
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return settings_from_env(
        data_dir=getattr(args, "data_dir", None),
        database_url=getattr(args, "database_url", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        workers=getattr(args, "workers", None),
        dev=getattr(args, "dev", None),
        partition=getattr(args, "partition", None),
        region=getattr(args, "region", None),
        log_level=getattr(args, "log_level", None),
        tls_cert=getattr(args, "tls_cert", None),
        tls_key=getattr(args, "tls_key", None),
        forwarded_allow_ips=getattr(args, "forwarded_allow_ips", None),
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "policy":
        return policy_cmd.run(args)
    try:
        settings = _settings(args)
    except ValueError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.data_dir is None and settings.database_url is None:
        print("iamd: give --data-dir (or IAMD_DATA_DIR) or --database-url", file=sys.stderr)
        return 2
    if args.command == "serve":
        return serve(settings)
    if args.command == "accounts":
        return accounts_command(args, settings)
    if args.command == "mfa":
        return mfa_command(args, settings)
    if args.command == "policies":
        return policies_cmd.run(args, settings)
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
    _export_settings(settings)
    os.environ["IAMD_STORE_PREPARED"] = "1"
    proxies = settings.forwarded_allow_ips
    uvicorn.run(
        "iamd.web.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers if settings.workers > 1 else None,
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
    )
    return 0


def _export_settings(settings: Settings) -> None:
    """Workers are separate processes: hand them the settings through IAMD_* variables."""
    values = {
        "IAMD_DATA_DIR": str(settings.data_dir.resolve()) if settings.data_dir else None,
        "IAMD_DATABASE_URL": settings.database_url,
        "IAMD_PARTITION": settings.partition,
        "IAMD_REGION": settings.region,
        "IAMD_DEV": "1" if settings.dev else "0",
        "IAMD_LOG_LEVEL": settings.log_level,
    }
    for key, value in values.items():
        if value is not None:
            os.environ[key] = value


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
                print(json.dumps(accounts.list_accounts(conn), indent=2))
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
        with runtime.db.write() as conn:
            if args.command == "keys":
                key_id = admin.rotate_token_keys(conn, runtime.box, runtime.clock)
                print(json.dumps({"PrimaryKeyId": key_id}))
            else:
                result = admin.revoke_role_sessions(conn, runtime.clock, args.account_id, args.role_name)
                print(json.dumps(result))
    except admin.AdminError as exc:
        print(f"iamd: {exc}", file=sys.stderr)
        return 1
    finally:
        runtime.close()
    return 0


def _pskc_secrets(args: argparse.Namespace) -> tuple[str | None, bytes | None]:
    """The password or pre-shared key for an encrypted PSKC file (env variable or stdin)."""
    password: str | None = None
    key_hex: str | None = None
    if args.password_env:
        password = os.environ.get(args.password_env)
        if password is None:
            raise ValueError(f"environment variable {args.password_env} is not set")
    elif args.key_hex_env:
        key_hex = os.environ.get(args.key_hex_env)
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


def mfa_command(args: argparse.Namespace, settings: Settings) -> int:
    from iamd.services import pskc
    from iamd.services.runtime import ConfigError, Runtime

    try:
        password, key = _pskc_secrets(args)
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
            imported = pskc.import_tokens(conn, runtime.box, runtime.clock.time(), tokens, args.partition)
    except pskc.PskcError as exc:
        print(f"iamd: {args.file}: {exc}", file=sys.stderr)
        return 1
    finally:
        runtime.close()
    print(json.dumps({"Imported": imported, "Partition": args.partition}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
