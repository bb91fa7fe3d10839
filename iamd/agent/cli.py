"""``iamd agent enroll|run``: the workload credentials agent.

* ``enroll --endpoint URL --bootstrap-token-file F [--state-dir D] [--region R]`` makes the agent's key
  and trades the bootstrap token ``iamd workloads register`` printed for the workload's certificate.
* ``run [--state-dir D]`` serves the bound role's credentials on an IMDSv2-compatible endpoint
  (``--imds HOST:PORT``, default ``127.0.0.1:8169``; ``169.254.169.254:80`` needs that address on a
  local interface) and, with ``--container HOST:PORT``, on the container credentials endpoint, whose
  token is written to ``--container-token-file`` (0600, no trailing newline: SDKs send the file's bytes).
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from iamd.agent.container import DEFAULT_PATH, ContainerCredentialsService
from iamd.agent.credentials import CredentialCache, CredentialSourceError
from iamd.agent.http import App
from iamd.agent.imds import ImdsService
from iamd.agent.server import DEFAULT_HOP_LIMIT, AgentServer, Listener
from iamd.agent.workload import IamdWorkloadSource, enroll
from iamd.core.clock import SystemClock

__all__ = ["main"]

DEFAULT_STATE_DIR = Path("/var/lib/iamd-agent")
DEFAULT_IMDS = "127.0.0.1:8169"


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not HOST:PORT")
    return host.strip("[]"), int(port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iamd agent", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    en = commands.add_parser("enroll", help="enrol this machine or container with iamd")
    en.add_argument("--endpoint", required=True, help="iamd's base URL (https://iamd.example.com)")
    en.add_argument("--bootstrap-token-file", required=True, type=Path, help="file holding the bootstrap token")
    en.add_argument("--region", default="us-east-1", help="the region the agent reports and signs for (us-east-1)")
    run = commands.add_parser("run", help="serve credentials on the metadata and container endpoints")
    for sub in (en, run):
        sub.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help=f"({DEFAULT_STATE_DIR})")
        sub.add_argument("--ca-bundle", type=Path, help="CA certificates that verify iamd's TLS certificate")
    run.add_argument("--imds", type=_address, default=_address(DEFAULT_IMDS), help=f"HOST:PORT ({DEFAULT_IMDS})")
    run.add_argument("--no-imds", action="store_true", help="serve no metadata endpoint")
    run.add_argument("--allow-imdsv1", action="store_true", help="answer GETs without a session token (IMDSv1)")
    run.add_argument("--hop-limit", type=int, default=DEFAULT_HOP_LIMIT, help="IP TTL of token responses (1)")
    run.add_argument("--container", type=_address, help="HOST:PORT of the container credentials endpoint")
    run.add_argument("--container-token-file", type=Path, help="where to write the container endpoint's token")
    run.add_argument("--session-duration", type=int, help="seconds (default: 3600, capped by the role)")
    return parser


def _token_file(path: Path) -> str:
    """A fresh token, written 0600 without a trailing newline."""
    token = secrets.token_urlsafe(32)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    os.replace(temporary, path)
    return token


def _run(options: argparse.Namespace) -> int:
    source = IamdWorkloadSource(
        options.state_dir,
        duration_seconds=options.session_duration,
        imds_v1_allowed=options.allow_imdsv1,
        ca_bundle=options.ca_bundle,
    )
    clock = SystemClock()
    cache = CredentialCache(source, clock)
    listeners: list[Listener] = []
    if not options.no_imds:
        imds: App = ImdsService(source.state.identity(clock.now()), cache, clock, allow_v1=options.allow_imdsv1)
        listeners.append(Listener(options.imds[0], options.imds[1], imds, options.hop_limit))
    if options.container is not None:
        if options.container_token_file is None:
            raise ValueError("--container needs --container-token-file")
        token = _token_file(options.container_token_file)
        listeners.append(
            Listener(options.container[0], options.container[1], ContainerCredentialsService(cache, lambda: token))
        )
    if not listeners:
        raise ValueError("nothing to serve: give --container or leave the metadata endpoint on")
    server = AgentServer(listeners, cache, clock)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with server:
        addresses = server.addresses
        for listener, (host, port) in zip(listeners, addresses, strict=True):
            if isinstance(listener.app, ImdsService):
                sys.stderr.write(f"metadata endpoint: export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://{host}:{port}/\n")
            else:
                sys.stderr.write(
                    f"container endpoint: export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://{host}:{port}{DEFAULT_PATH} "
                    f"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={options.container_token_file}\n"
                )
        sys.stderr.flush()
        stop.wait()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if options.command == "enroll":
            token = options.bootstrap_token_file.read_text().strip()
            state = enroll(
                options.endpoint, token, options.state_dir, region=options.region, ca_bundle=options.ca_bundle
            )
            sys.stdout.write(f"enrolled as workload {state.workload_id} ({state.document.get('roleArn', '')})\n")
            return 0
        return _run(options)
    except (OSError, ValueError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    except CredentialSourceError as error:
        sys.stderr.write(f"error: {error.message}\n")
        return 1
