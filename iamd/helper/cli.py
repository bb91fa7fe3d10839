"""``python -m iamd.helper`` (later ``iamd credential-helper``): the Roles Anywhere credential helper.

* ``credential-process`` prints the ``credential_process`` JSON (``Version`` 1) for an AWS profile::

    [profile onprem]
    credential_process = python -m iamd.helper credential-process --certificate /etc/pki/me.crt \\
        --private-key /etc/pki/me.key --trust-anchor-arn ARN --profile-arn ARN --role-arn ARN \\
        --endpoint https://iamd.example.com

* ``serve`` serves the same credentials on a local IMDSv2-compatible endpoint (default
  ``127.0.0.1:9911``), refreshing them ahead of expiry; point SDKs at it with
  ``AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9911/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from iamd.agent.credentials import CredentialCache, CredentialSourceError, CredentialsUnavailable
from iamd.agent.http import aws_timestamp
from iamd.agent.imds import ImdsService, InstanceIdentity
from iamd.agent.server import AgentServer, Listener
from iamd.core.clock import SystemClock
from iamd.helper.files import HelperFileError, load_signing_material
from iamd.helper.session import RolesAnywhereClient, SessionRequest

__all__ = ["main"]

DEFAULT_PORT = 9911
DEFAULT_HOP_LIMIT = 64
"""What AWS's signing helper uses for its ``serve`` endpoint."""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--certificate", required=True, type=Path, help="the X.509 certificate (PEM)")
    parser.add_argument("--private-key", required=True, type=Path, help="its private key (PEM: PKCS#8, PKCS#1 or SEC1)")
    parser.add_argument("--intermediates", type=Path, help="intermediate CA certificates to send (PEM bundle)")
    parser.add_argument("--trust-anchor-arn", required=True)
    parser.add_argument("--profile-arn", required=True)
    parser.add_argument("--role-arn", required=True)
    parser.add_argument(
        "--endpoint", help="CreateSession base URL (default: https://rolesanywhere.REGION.amazonaws.com)"
    )
    parser.add_argument("--region", help="signing region (default: the trust anchor's)")
    parser.add_argument("--session-duration", type=int, default=3600, help="seconds, 900 to 43200 (3600)")
    parser.add_argument("--role-session-name", help="needs acceptRoleSessionName on the profile")
    parser.add_argument("--ca-bundle", type=Path, help="CA certificates to verify the endpoint's TLS certificate")
    parser.add_argument("--no-verify-ssl", action="store_true", help="do not verify the endpoint's TLS certificate")
    parser.add_argument("--with-proxy", action="store_true", help="use HTTP(S)_PROXY from the environment")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iamd credential-helper", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    process = commands.add_parser("credential-process", help="print credential_process JSON")
    _common(process)
    serve = commands.add_parser("serve", help="serve credentials on a local IMDSv2-compatible endpoint")
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on ({DEFAULT_PORT}; 0: any)")
    serve.add_argument("--hop-limit", type=int, default=DEFAULT_HOP_LIMIT, help="IP TTL of token responses (64)")
    return parser


def _client(options: argparse.Namespace) -> RolesAnywhereClient:
    material = load_signing_material(options.certificate, options.private_key, options.intermediates)
    request = SessionRequest(
        trust_anchor_arn=options.trust_anchor_arn,
        profile_arn=options.profile_arn,
        role_arn=options.role_arn,
        duration_seconds=options.session_duration,
        role_session_name=options.role_session_name,
    )
    return RolesAnywhereClient(
        material,
        request,
        endpoint=options.endpoint,
        region=options.region,
        ca_bundle=options.ca_bundle,
        verify_tls=not options.no_verify_ssl,
        use_proxy=options.with_proxy,
    )


def _credential_process(options: argparse.Namespace) -> int:
    creds = _client(options).fetch()
    output = {
        "Version": 1,
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key,
        "SessionToken": creds.session_token,
        "Expiration": aws_timestamp(creds.expiration),
    }
    sys.stdout.write(json.dumps(output) + "\n")
    return 0


def _serve(options: argparse.Namespace) -> int:
    client = _client(options)
    clock = SystemClock()
    cache = CredentialCache(client, clock)
    cache.get()  # fail fast, as AWS's helper does, when the first CreateSession is refused
    role_arn = options.role_arn
    identity = InstanceIdentity(
        role_name=role_arn.rsplit("/", 1)[-1],
        region=options.region or SessionRequest(options.trust_anchor_arn, options.profile_arn, role_arn).region(),
        account_id=role_arn.split(":")[4] if role_arn.count(":") >= 5 else "",
    )
    service = ImdsService(identity, cache, clock)
    server = AgentServer([Listener(options.host, options.port, service, options.hop_limit)], cache, clock)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with server:
        host, port = server.addresses[0]
        sys.stderr.write(f"Serving credentials on http://{host}:{port}/\n")
        sys.stderr.write(f"export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://{host}:{port}/\n")
        sys.stderr.flush()
        stop.wait()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if options.command == "credential-process":
            return _credential_process(options)
        return _serve(options)
    except (HelperFileError, ValueError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    except CredentialSourceError as error:
        sys.stderr.write(f"error: {error.message}\n")
        return 1
    except CredentialsUnavailable as error:
        sys.stderr.write(f"error: {error.cause.message}\n")
        return 1
