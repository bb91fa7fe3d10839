"""Start-up: several nodes starting at once on a new database, the master key beside an existing
database, and the permissions of everything iamd writes in its data directory."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from iamd.core.crypto import new_key_text
from iamd.store import tables as t
from tests.support.server import (
    ACCOUNT_ID,
    ROOT_KEY,
    ROOT_SECRET,
    Server,
    free_port,
    postgres_database,
    start_server,
)

NODES = 4
ROUNDS = 3


def launch(data_dir: Path, database_url: str | None, env: dict[str, str]) -> Server:
    """Start one node without waiting for it (``wait_ready`` waits)."""
    port = free_port()
    args = [sys.executable, "-m", "iamd", "serve", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--data-dir", str(data_dir)]
    if database_url:
        args += ["--database-url", database_url]
    log = open(data_dir.parent / f"node-{port}.log", "wb")  # noqa: SIM115 - lives as long as the node
    full_env = {**os.environ, "IAMD_LOG_LEVEL": "warning", "IAMD_CACHE_REFRESH_SECONDS": "0.5", **env}
    proc = subprocess.Popen(args, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    return Server(url=f"http://127.0.0.1:{port}", data_dir=data_dir, process=proc, database_url=database_url, env=env)


def wait_ready(node: Server) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            port = node.url.rsplit(":", 1)[1]
            log = (node.data_dir.parent / f"node-{port}.log").read_text()
            raise AssertionError(f"a node exited with {node.process.returncode}:\n{log}")
        with contextlib.suppress(OSError), urllib.request.urlopen(node.url + "/healthz", timeout=2) as resp:
            if resp.status == 200:
                return
        time.sleep(0.1)
    raise AssertionError("a node did not become ready in 90 s")


@contextlib.contextmanager
def nodes_started_at_once(
    data_dirs: list[Path], database_url: str | None, env: dict[str, str]
) -> Iterator[list[Server]]:
    for d in data_dirs:
        d.mkdir(parents=True, exist_ok=True)
    nodes = [launch(d, database_url, env) for d in data_dirs]
    try:
        for node in nodes:
            wait_ready(node)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def assert_one_store(nodes: list[Server], database_url: str, account_id: str, key: str, secret: str) -> None:
    """Every node serves the one default account, and they share one primary token key."""
    for node in nodes:
        ident = node.client("sts", key, secret).get_caller_identity()
        assert ident["Arn"] == f"arn:aws:iam::{account_id}:root"
    # a session issued by one node is accepted by every other: one token key ring
    creds = nodes[0].client("sts", key, secret).get_session_token()["Credentials"]
    for node in nodes[1:]:
        sts = node.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        assert sts.get_caller_identity()["Account"] == account_id
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            accounts = conn.execute(sa.select(t.accounts.c.id, t.accounts.c.is_default)).all()
            primaries = conn.execute(
                sa.select(sa.func.count()).select_from(t.token_keys).where(t.token_keys.c.is_primary.is_(True))
            ).scalar()
            checks = conn.execute(
                sa.select(sa.func.count()).select_from(t.settings).where(t.settings.c.key == "master_key_check")
            ).scalar()
    finally:
        engine.dispose()
    assert [(a.id, bool(a.is_default)) for a in accounts] == [(account_id, True)]
    assert primaries == 1
    assert checks == 1


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_nodes_starting_at_once_on_new_postgresql_with_a_shared_key(round_: int, pg_url: str, tmp_path: Path) -> None:
    env = {
        "IAMD_MASTER_KEY": new_key_text(),
        "IAMD_ACCOUNT_ID": ACCOUNT_ID,
        "IAMD_ROOT_ACCESS_KEY_ID": ROOT_KEY,
        "IAMD_ROOT_SECRET_ACCESS_KEY": ROOT_SECRET,
    }
    with postgres_database() as url:
        dirs = [tmp_path / f"node{i}" for i in range(NODES)]
        with nodes_started_at_once(dirs, url, env) as nodes:
            assert_one_store(nodes, url, ACCOUNT_ID, ROOT_KEY, ROOT_SECRET)
        for d in dirs:
            assert not (d / "master.key").exists()  # the key came from the environment


def generated_root(data_dir: Path) -> tuple[str, str, str]:
    creds = json.loads((data_dir / "root-credentials.json").read_text())
    return creds["AccountId"], creds["AccessKeyId"], creds["SecretAccessKey"]


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_nodes_starting_at_once_on_new_postgresql_with_one_data_dir(round_: int, pg_url: str, tmp_path: Path) -> None:
    """Nothing given: the nodes agree on one master.key, one generated default account and its key."""
    shared = tmp_path / "shared"
    with postgres_database() as url, nodes_started_at_once([shared] * NODES, url, {}) as nodes:
        assert_one_store(nodes, url, *generated_root(shared))


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_nodes_starting_at_once_on_one_new_sqlite_file(round_: int, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    with nodes_started_at_once([shared] * NODES, None, {}) as nodes:
        assert_one_store(nodes, f"sqlite:///{shared / 'iamd.db'}", *generated_root(shared))


# -- the master key beside an existing database ---------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iamd", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def test_a_missing_master_key_beside_an_existing_sqlite_database_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    srv.stop()
    (data / "master.key").unlink()
    proc = run_cli("serve", "--data-dir", str(data), "--port", str(free_port()))
    assert proc.returncode == 2
    assert f"{data / 'master.key'} is missing" in proc.stderr
    assert "Restore master.key from your backup" in proc.stderr and "IAMD_MASTER_KEY" in proc.stderr
    assert not (data / "master.key").exists()
    # the admin commands refuse the same way
    listed = run_cli("--data-dir", str(data), "accounts", "list")
    assert listed.returncode == 2 and "is missing" in listed.stderr
    assert not (data / "master.key").exists()


def test_a_missing_master_key_beside_an_existing_postgresql_database_is_refused(pg_url: str, tmp_path: Path) -> None:
    with postgres_database() as url:
        first = start_server(tmp_path / "a", url)
        first.stop()
        proc = run_cli("--data-dir", str(tmp_path / "b"), "--database-url", url, "accounts", "list")
        assert proc.returncode == 2
        assert "is missing" in proc.stderr and "Restore master.key" in proc.stderr
        assert not (tmp_path / "b" / "master.key").exists()
        # with the key back, the database opens again
        (tmp_path / "b").mkdir(exist_ok=True)
        (tmp_path / "b" / "master.key").write_bytes((tmp_path / "a" / "master.key").read_bytes())
        again = run_cli("--data-dir", str(tmp_path / "b"), "--database-url", url, "accounts", "list")
        assert again.returncode == 0, again.stderr
        assert [a["AccountId"] for a in json.loads(again.stdout)] == [ACCOUNT_ID]


def test_a_missing_master_key_file_setting_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "iamd.key"
    proc = run_cli("--data-dir", str(tmp_path / "d"), "accounts", "list", env={"IAMD_MASTER_KEY_FILE": str(missing)})
    assert proc.returncode == 2
    assert str(missing) in proc.stderr and "IAMD_MASTER_KEY_FILE" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not missing.exists()


def test_a_new_database_gets_a_new_master_key(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    proc = run_cli("--data-dir", str(data), "accounts", "list")
    assert proc.returncode == 0, proc.stderr
    assert len((data / "master.key").read_text().strip()) == 44


# -- permissions ------------------------------------------------------------------------------


def test_every_file_in_the_data_dir_is_private_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "private"
    env = {"IAMD_LOG_LEVEL": "warning"}  # the root key is generated: root-credentials.json is written too
    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "iamd", "serve", "--data-dir", str(data), "--port", str(port)],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.umask(0o022),
        )
    node = Server(url=f"http://127.0.0.1:{port}", data_dir=data, process=proc, database_url=None)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            with contextlib.suppress(OSError), urllib.request.urlopen(node.url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    break
            assert time.monotonic() < deadline, "iamd did not start"
            time.sleep(0.1)
        _, key, secret = generated_root(data)
        node.client("iam", key, secret).create_user(UserName="writes-the-wal")
        # the admin CLI writes to the same directory (under the same umask)
        created = subprocess.run(
            [sys.executable, "-m", "iamd", "--data-dir", str(data), "accounts", "create"],
            capture_output=True,
            env={**os.environ, **env},
            preexec_fn=lambda: os.umask(0o022),
            timeout=60,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        names = {p.name for p in data.iterdir()}
        assert {"iamd.db", "iamd.db-wal", "iamd.db-shm", "master.key", "root-credentials.json"} <= names
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for path in data.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    finally:
        node.stop()
    for path in data.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


# -- serve options reach every worker -------------------------------------------------------------

RP_WARNING = "IAMD_WEBAUTHN_RP_ID is not set"
ISO_LOG_LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR) [\w.]+: ")


def server_log(server: Server) -> str:
    return (server.data_dir / f"server-{server.url.rsplit(':', 1)[1]}.log").read_text()


def test_flags_reach_every_worker(tmp_path: Path) -> None:
    """--host given as a flag reaches both workers' console (each warns that it listens beyond
    loopback without a relying party id); the log format and the access log reach them too."""
    srv = start_server(
        tmp_path / "workers",
        extra_args=["--host", "0.0.0.0", "--workers", "2", "--partition", "aws-cn", "--log-level", "info"],
    )
    try:
        iam = srv.client("iam", region="cn-north-1")
        for n in range(6):
            assert iam.create_user(UserName=f"u{n}")["User"]["Arn"].startswith("arn:aws-cn:iam::")
    finally:
        srv.stop()
    text = server_log(srv)
    assert text.count(RP_WARNING) == 2
    assert text.count("INFO iamd.access: ") == text.count("action=iam:CreateUser") + text.count("path=/healthz")
    assert text.count("action=iam:CreateUser") == 6
    assert "plugin" not in text  # Alembic's "setup plugin ..." lines
    assert "Running upgrade" in text  # (INFO lines are there)
    lines = text.splitlines()
    assert lines and all(ISO_LOG_LINE.match(line) for line in lines), text


def test_host_flag_with_one_worker_warns_once_and_access_log_variable_silences(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "one", extra_args=["--host", "0.0.0.0"], extra_env={"IAMD_ACCESS_LOG": "0"})
    try:
        srv.client("iam").list_users()
    finally:
        srv.stop()
    text = server_log(srv)
    assert text.count(RP_WARNING) == 1
    assert "iamd.access" not in text


def test_no_access_log_reaches_every_worker(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "quiet-workers", extra_args=["--workers", "2", "--no-access-log"])
    try:
        iam = srv.client("iam")
        for _ in range(6):
            iam.list_users()
    finally:
        srv.stop()
    text = server_log(srv)
    assert "iamd.access" not in text
    assert RP_WARNING not in text  # 127.0.0.1: loopback


@pytest.mark.slow
def test_token_key_rotations_at_once_leave_one_primary_key(pg_url: str, tmp_path: Path) -> None:
    env = {"IAMD_MASTER_KEY": new_key_text(), "IAMD_LOG_LEVEL": "warning"}
    with postgres_database() as url:
        store = ["--data-dir", str(tmp_path), "--database-url", url]
        assert run_cli(*store, "accounts", "list", env=env).returncode == 0  # a migrated store with its first key
        rotations = [
            subprocess.Popen(
                [sys.executable, "-m", "iamd", *store, "keys", "rotate"],
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(NODES)
        ]
        outputs = [proc.communicate(timeout=120) for proc in rotations]
        assert [proc.returncode for proc in rotations] == [0] * NODES, outputs
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                keys = conn.execute(sa.select(t.token_keys.c.id, t.token_keys.c.is_primary)).all()
        finally:
            engine.dispose()
        assert len(keys) == NODES + 1
        assert sum(bool(k.is_primary) for k in keys) == 1
