"""Several iamd processes on one database, and the admin CLI beside them.

The documented bound: a change committed anywhere is seen by every node within one second
(IAMD_CACHE_REFRESH_SECONDS=0.5 by default; a node re-reads the shared generation at most that
often).  These tests wait at most that bound.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import Server, postgres_database, start_server

BOUND_SECONDS = 1.0


@pytest.fixture(params=["sqlite", "postgresql"])
def two_nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    if request.param == "postgresql":
        request.getfixturevalue("pg_url")
        with postgres_database() as url:
            a = start_server(tmp_path / "a", url)
            # the second node shares the master key through its data dir's copy
            (tmp_path / "b").mkdir()
            (tmp_path / "b" / "master.key").write_bytes((tmp_path / "a" / "master.key").read_bytes())
            b = start_server(tmp_path / "b", url)
            yield a, b
            a.stop()
            b.stop()
    else:
        shared = tmp_path / "shared"
        a = start_server(shared)
        b = start_server(shared)
        yield a, b
        a.stop()
        b.stop()


def eventually(check: Any, bound: float = BOUND_SECONDS) -> Any:
    """Retry ``check`` until it passes; fail if it still fails after the bound (plus request time)."""
    deadline = time.monotonic() + bound
    while True:
        started = time.monotonic()
        try:
            return check()
        except (AssertionError, ClientError):
            if started > deadline:
                raise
            time.sleep(0.05)


def test_user_created_on_one_node_is_seen_on_the_other(two_nodes: tuple[Server, Server]) -> None:
    a, b = two_nodes
    a.client("iam").create_user(UserName="shared-user")
    eventually(lambda: b.client("iam").get_user(UserName="shared-user"))


def test_access_key_created_on_one_node_works_on_the_other_within_bound(two_nodes: tuple[Server, Server]) -> None:
    a, b = two_nodes
    iam_a = a.client("iam")
    iam_a.create_user(UserName="k")
    key = iam_a.create_access_key(UserName="k")["AccessKey"]
    sts_b = b.client("sts", key["AccessKeyId"], key["SecretAccessKey"])
    eventually(lambda: sts_b.get_caller_identity())
    iam_a.update_access_key(UserName="k", AccessKeyId=key["AccessKeyId"], Status="Inactive")

    def refused() -> None:
        try:
            sts_b.get_caller_identity()
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "InvalidClientTokenId"
        else:
            raise AssertionError("the deactivated key still works")

    eventually(refused)


def test_admin_cli_account_is_seen_by_running_server(two_nodes: tuple[Server, Server]) -> None:
    a, _ = two_nodes
    proc = a.cli("accounts", "create", "--name", "team-b")
    assert proc.returncode == 0, proc.stderr
    creds = json.loads(proc.stdout)
    assert set(creds) == {"AccountId", "AccessKeyId", "SecretAccessKey"}
    assert len(creds["AccountId"]) == 12 and creds["AccessKeyId"].startswith("AKIA")
    sts = a.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"])
    ident = eventually(lambda: sts.get_caller_identity())
    assert ident["Arn"] == f"arn:aws:iam::{creds['AccountId']}:root"
    # the new account is isolated from the default one
    assert sts.get_caller_identity()["Account"] != a.account_id
    a.client("iam").create_user(UserName="only-in-default")
    other_iam = a.client("iam", creds["AccessKeyId"], creds["SecretAccessKey"])
    assert other_iam.list_users()["Users"] == []
    listed = json.loads(a.cli("accounts", "list").stdout)
    assert {x["AccountId"] for x in listed} == {a.account_id, creds["AccountId"]}


def test_generated_root_credentials_file(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "gen", bootstrap_env=False)
    try:
        path = tmp_path / "gen" / "root-credentials.json"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        creds = json.loads(path.read_text())
        assert len(creds["SecretAccessKey"]) == 40
        ident = srv.client("sts").get_caller_identity()
        assert ident["Account"] == creds["AccountId"]
        log = next((tmp_path / "gen").glob("server-*.log"))
        assert creds["SecretAccessKey"] not in log.read_text()
    finally:
        srv.stop()


def test_partition_shapes_arns(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "cn", extra_args=["--partition", "aws-cn"])
    try:
        user = srv.client("iam", region="cn-north-1").create_user(UserName="u")["User"]
        assert user["Arn"].startswith("arn:aws-cn:iam::")
    finally:
        srv.stop()
