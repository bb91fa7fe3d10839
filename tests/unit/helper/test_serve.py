"""``python -m iamd.helper serve``: CreateSession credentials on a local IMDSv2 endpoint, read by botocore.

CreateSession is the local stand-in of tests/support/rolesanywhere_stub.py (iamd's verifier inside);
iamd's own handler comes in stage 2 of issue 12.
"""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import botocore.session
import pytest

from tests.support import pki
from tests.support.rolesanywhere_stub import CreateSessionStub, running_stub
from tests.unit.helper.test_credential_process import arguments, helper_env


def start_serve(*args: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "iamd.helper", "serve", "--port", "0", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=helper_env(),
    )
    assert process.stderr is not None
    for line in process.stderr:
        match = re.match(r"Serving credentials on http://127\.0\.0\.1:(\d+)/", line)
        if match:
            return process, int(match.group(1))
    process.wait(timeout=30)
    raise AssertionError(f"serve exited with {process.returncode} before listening")


@pytest.fixture
def root() -> pki.Issued:
    return pki.root_ca("serve root")


@pytest.fixture
def stub(root: pki.Issued) -> Iterator[CreateSessionStub]:
    with running_stub(CreateSessionStub(anchors=[root.certificate])) as running:
        yield running


def test_botocore_reads_served_credentials(
    tmp_path: Path, root: pki.Issued, stub: CreateSessionStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = pki.write_pem(tmp_path, "host", root.issue_leaf("host-9"))
    process, port = start_serve(*arguments(files, stub.url))
    try:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{port}/")
        credentials = botocore.session.Session().get_credentials()
        assert credentials is not None and credentials.method == "iam-role"
        assert credentials.get_frozen_credentials().access_key == stub.accepted[0].access_key_id

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("PUT", "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        token = connection.getresponse().read().decode()
        connection.request(
            "GET", "/latest/meta-data/iam/security-credentials/", headers={"X-aws-ec2-metadata-token": token}
        )
        assert connection.getresponse().read() == b"onprem"
        connection.request("GET", "/latest/meta-data/iam/security-credentials/onprem")
        assert connection.getresponse().status == 401
        connection.close()
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


def test_serve_stops_when_the_first_session_is_refused(tmp_path: Path, stub: CreateSessionStub) -> None:
    files = pki.write_pem(tmp_path, "intruder", pki.root_ca("elsewhere").issue_leaf("intruder"))
    done = subprocess.run(
        [sys.executable, "-m", "iamd.helper", "serve", "--port", "0", *arguments(files, stub.url)],
        capture_output=True,
        text=True,
        env=helper_env(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: CreateSession failed (HTTP 403, AccessDeniedException): Untrusted")
    assert "Traceback" not in done.stderr
