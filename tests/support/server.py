"""Start real iamd servers for tests: a subprocess on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

PG_ADMIN_URL = os.environ.get("IAMD_TEST_PG_ADMIN", "postgresql://127.0.0.1:5432/test")
ACCOUNT_ID = "123456789012"
ROOT_KEY = "AKIAIOSFODNN7EXAMPLE"
ROOT_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AwsCliError(Exception):
    def __init__(self, returncode: int, stderr: str) -> None:
        super().__init__(f"aws exited {returncode}: {stderr}")
        self.returncode = returncode
        self.stderr = stderr


@dataclass
class Server:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    database_url: str | None
    env: dict[str, str] = field(default_factory=dict)
    account_id: str = ACCOUNT_ID
    access_key_id: str = ROOT_KEY
    secret_access_key: str = ROOT_SECRET

    def client(
        self,
        service: str = "iam",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        region: str = "us-east-1",
    ) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=access_key_id or self.access_key_id,
            aws_secret_access_key=secret_access_key or self.secret_access_key,
            aws_session_token=session_token,
            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30),
        )

    def aws(self, *args: str, access_key_id: str | None = None, secret_access_key: str | None = None) -> Any:
        """Run the AWS CLI against this server; returns parsed JSON output (or raises with stderr)."""
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": access_key_id or self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": secret_access_key or self.secret_access_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_MAX_ATTEMPTS": "1",
        }
        env.pop("AWS_SESSION_TOKEN", None)
        proc = subprocess.run(
            [sys.executable, "-m", "awscli", "--endpoint-url", self.url, "--output", "json", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise AwsCliError(proc.returncode, proc.stderr)
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def reset(self) -> None:
        req = urllib.request.Request(self.url + "/_iamd/reset", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200

    def cli(self, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the admin CLI against this server's store."""
        store = ["--database-url", self.database_url] if self.database_url else []
        return subprocess.run(
            [sys.executable, "-m", "iamd", "--data-dir", str(self.data_dir), *store, *args],
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            input=input_text,
            timeout=60,
            check=False,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_server(
    data_dir: Path,
    database_url: str | None = None,
    *,
    dev: bool = True,
    extra_env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
    bootstrap_env: bool = True,
    port: int | None = None,
) -> Server:
    port = port or free_port()
    env = {
        "IAMD_CACHE_REFRESH_SECONDS": "0.5",
        "IAMD_LOG_LEVEL": "warning",
        **(extra_env or {}),
    }
    if bootstrap_env:
        env.update(
            IAMD_ACCOUNT_ID=ACCOUNT_ID, IAMD_ROOT_ACCESS_KEY_ID=ROOT_KEY, IAMD_ROOT_SECRET_ACCESS_KEY=ROOT_SECRET
        )
    args = [sys.executable, "-m", "iamd", "serve", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--data-dir", str(data_dir)]
    if database_url:
        args += ["--database-url", database_url]
    if dev:
        args.append("--dev")
    args += extra_args or []
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / f"server-{port}.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"iamd exited with {proc.returncode}: {(data_dir / f'server-{port}.log').read_text()}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
            if resp.status == 200:
                break
        time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("iamd did not become ready in 60 s")
    server = Server(url=url, data_dir=data_dir, process=proc, database_url=database_url, env=env)
    if not bootstrap_env:
        creds = json.loads((data_dir / "root-credentials.json").read_text())
        server.account_id = creds["AccountId"]
        server.access_key_id = creds["AccessKeyId"]
        server.secret_access_key = creds["SecretAccessKey"]
    return server


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test session; dropped afterwards."""
    import psycopg

    name = f"iamd_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False
