"""A database that went away: AWS-style 503 answers, no stack traces, and the server keeps serving."""

from __future__ import annotations

import urllib.request
import uuid
from pathlib import Path

import psycopg
import pytest
from botocore.exceptions import ClientError

from tests.support.server import PG_ADMIN_URL, start_server


def test_postgres_database_dropped_under_a_running_server(tmp_path: Path, pg_url: str) -> None:
    name = f"iamd_outage_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_url.rsplit("/", 1)[0] + "/" + name
    srv = start_server(tmp_path / "outage", url)
    try:
        iam = srv.client("iam")
        iam.create_user(UserName="before")
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        with pytest.raises(ClientError) as exc:
            iam.create_user(UserName="during")
        err = exc.value.response
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert err["Error"]["Code"] == "ServiceUnavailable"
        assert "Traceback" not in err["Error"]["Message"]
        with urllib.request.urlopen(srv.url + "/healthz", timeout=5) as resp:
            assert resp.status == 200
        assert srv.process.poll() is None
    finally:
        srv.stop()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
