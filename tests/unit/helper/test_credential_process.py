"""``python -m iamd.helper credential-process`` against a local CreateSession stand-in.

The stand-in (tests/support/rolesanywhere_stub.py) runs iamd's own verifier on every request; iamd's real
CreateSession handler comes in stage 2 of issue 12. The helper runs as a subprocess, as an AWS profile's
``credential_process`` runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.support import pki
from tests.support.rolesanywhere_stub import CreateSessionStub, running_stub, tls_files

REPO = Path(__file__).resolve().parents[3]
ANCHOR = "arn:aws:rolesanywhere:eu-west-3:123456789012:trust-anchor/ta1"
PROFILE = "arn:aws:rolesanywhere:eu-west-3:123456789012:profile/p1"
ROLE = "arn:aws:iam::123456789012:role/path/onprem"


def helper_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def arguments(files: tuple[Path, Path, Path | None], endpoint: str, *extra: str) -> list[str]:
    cert, key, chain = files
    args = ["--certificate", str(cert), "--private-key", str(key)]
    if chain is not None:
        args += ["--intermediates", str(chain)]
    return [
        *args,
        "--trust-anchor-arn",
        ANCHOR,
        "--profile-arn",
        PROFILE,
        "--role-arn",
        ROLE,
        "--endpoint",
        endpoint,
        *extra,
    ]


def run_helper(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iamd.helper", "credential-process", *args],
        capture_output=True,
        text=True,
        env=helper_env(),
        timeout=60,
        check=False,
    )


@pytest.fixture
def root() -> pki.Issued:
    return pki.root_ca("helper root")


@pytest.fixture
def stub(root: pki.Issued) -> Iterator[CreateSessionStub]:
    with running_stub(CreateSessionStub(anchors=[root.certificate])) as running:
        yield running


@pytest.mark.parametrize(("key_type", "key_form"), [("ec", "traditional"), ("rsa", "traditional"), ("rsa", "pkcs8")])
def test_prints_credential_process_json(
    tmp_path: Path, root: pki.Issued, stub: CreateSessionStub, key_type: pki.KeyType, key_form: str
) -> None:
    leaf = root.issue_ca("helper intermediate", key_type=key_type).issue_leaf("host-17", key_type=key_type)
    files = pki.write_pem(tmp_path, "host", leaf, key_form=key_form)  # type: ignore[arg-type]
    done = run_helper(*arguments(files, stub.url, "--session-duration", "1800"))
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)
    assert sorted(output) == ["AccessKeyId", "Expiration", "SecretAccessKey", "SessionToken", "Version"]
    assert output["Version"] == 1
    assert output["AccessKeyId"] == stub.accepted[0].access_key_id
    assert output["Expiration"].endswith("Z")
    accepted = stub.accepted[0]
    assert accepted.parameters == {
        "profileArn": PROFILE,
        "roleArn": ROLE,
        "trustAnchorArn": ANCHOR,
        "durationSeconds": 1800,
    }
    signature = accepted.verified.signature
    assert signature.region == "eu-west-3"
    assert signature.intermediates == tuple(leaf.intermediates)


def test_role_session_name_goes_in_the_body(tmp_path: Path, root: pki.Issued, stub: CreateSessionStub) -> None:
    files = pki.write_pem(tmp_path, "host", root.issue_leaf("host"))
    done = run_helper(*arguments(files, stub.url, "--role-session-name", "build-42"))
    assert done.returncode == 0, done.stderr
    assert stub.accepted[0].parameters["roleSessionName"] == "build-42"


def test_untrusted_certificate_gets_no_credentials(tmp_path: Path, stub: CreateSessionStub) -> None:
    files = pki.write_pem(tmp_path, "intruder", pki.root_ca("elsewhere").issue_leaf("intruder"))
    done = run_helper(*arguments(files, stub.url))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("error: CreateSession failed (HTTP 403, AccessDeniedException): Untrusted")
    assert "Traceback" not in done.stderr


def test_bad_input_is_reported_before_any_request(tmp_path: Path, root: pki.Issued, stub: CreateSessionStub) -> None:
    cert, _, _ = pki.write_pem(tmp_path, "a", root.issue_leaf("a"))
    _, key_b, _ = pki.write_pem(tmp_path, "b", root.issue_leaf("b"))
    done = run_helper(*arguments((cert, key_b, None), stub.url))
    assert done.returncode == 2 and "does not belong to the certificate" in done.stderr
    files = pki.write_pem(tmp_path, "c", root.issue_leaf("c"))
    done = run_helper(*arguments(files, stub.url, "--session-duration", "60"))
    assert done.returncode == 2 and "900 to 43200" in done.stderr
    mixed = arguments(files, stub.url)
    mixed[mixed.index(PROFILE)] = PROFILE.replace("eu-west-3", "us-east-1")
    done = run_helper(*mixed)
    assert done.returncode == 2 and "must match" in done.stderr
    assert stub.accepted == [] and stub.refused == []


def test_https_endpoint_is_verified(tmp_path: Path, root: pki.Issued) -> None:
    files = pki.write_pem(tmp_path, "host", root.issue_leaf("host"))
    cert, key, bundle = tls_files(tmp_path / "tls")
    with running_stub(CreateSessionStub(anchors=[root.certificate]), tls=(cert, key)) as stub:
        unverified = run_helper(*arguments(files, stub.url))
        assert unverified.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in unverified.stderr
        verified = run_helper(*arguments(files, stub.url, "--ca-bundle", str(bundle)))
        assert verified.returncode == 0, verified.stderr
        insecure = run_helper(*arguments(files, stub.url, "--no-verify-ssl"))
        assert insecure.returncode == 0, insecure.stderr
    assert len(stub.accepted) == 2


def test_boto3_profile_with_credential_process(
    tmp_path: Path, root: pki.Issued, stub: CreateSessionStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = pki.write_pem(tmp_path, "host", root.issue_leaf("host", key_type="rsa"))
    command = " ".join([sys.executable, "-m", "iamd.helper", "credential-process", *arguments(files, stub.url)])
    config = tmp_path / "config"
    config.write_text(f"[profile onprem]\ncredential_process = {command}\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    credentials = boto3.Session(profile_name="onprem").get_credentials()
    assert credentials is not None and credentials.method == "custom-process"
    frozen = credentials.get_frozen_credentials()
    assert frozen.access_key == stub.accepted[0].access_key_id
    assert frozen.token == "token-1"
