"""SSH public keys and signing certificates against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from iamd.core.quotas import QuotaSettings
from tests.support.server import ACCOUNT_ID, Server


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def second_account(iamd: Server) -> tuple[str, Any]:
    proc = iamd.cli("accounts", "create")
    assert proc.returncode == 0, proc.stderr
    creds = json.loads(proc.stdout)
    client = iamd.client("iam", access_key_id=creds["AccessKeyId"], secret_access_key=creds["SecretAccessKey"])
    return creds["AccountId"], client


@cache
def rsa_key(index: int, bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def openssh(key: rsa.RSAPrivateKey, comment: str = "user@example") -> str:
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{line} {comment}" if comment else line


def pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def md5_fingerprint(openssh_line: str) -> str:
    digest = hashlib.md5(base64.b64decode(openssh_line.split()[1])).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, 32, 2))


@cache
def certificate(index: int) -> str:
    key = rsa_key(100 + index)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"signer-{index}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1000 + index)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def sha1_id(cert_pem: str) -> str:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return cert.fingerprint(hashes.SHA1()).hex().upper()


# --- SSH public keys ---------------------------------------------------------------------------------------


def test_ssh_key_upload_get_list_delete(iam: Any) -> None:
    iam.create_user(UserName="git")
    body = openssh(rsa_key(1))
    uploaded = iam.upload_ssh_public_key(UserName="git", SSHPublicKeyBody=body)["SSHPublicKey"]
    key_id = uploaded["SSHPublicKeyId"]
    assert key_id.startswith("APKA") and len(key_id) == 21
    assert uploaded["UserName"] == "git"
    assert uploaded["Status"] == "Active"
    assert uploaded["Fingerprint"] == md5_fingerprint(body)
    assert uploaded["SSHPublicKeyBody"] == body
    assert "UploadDate" in uploaded

    as_ssh = iam.get_ssh_public_key(UserName="GIT", SSHPublicKeyId=key_id, Encoding="SSH")["SSHPublicKey"]
    assert as_ssh["SSHPublicKeyBody"] == body
    assert as_ssh["Fingerprint"] == uploaded["Fingerprint"]
    as_pem = iam.get_ssh_public_key(UserName="git", SSHPublicKeyId=key_id, Encoding="PEM")["SSHPublicKey"]
    assert as_pem["SSHPublicKeyBody"].startswith("-----BEGIN PUBLIC KEY-----")
    loaded = serialization.load_pem_public_key(as_pem["SSHPublicKeyBody"].encode())
    assert isinstance(loaded, rsa.RSAPublicKey)
    assert loaded.public_numbers() == rsa_key(1).public_key().public_numbers()

    listed = iam.list_ssh_public_keys(UserName="git")["SSHPublicKeys"]
    assert listed == [
        {"UserName": "git", "SSHPublicKeyId": key_id, "Status": "Active", "UploadDate": uploaded["UploadDate"]}
    ]
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="git")
    assert error_of(exc) == ("DeleteConflict", 409)

    iam.update_ssh_public_key(UserName="git", SSHPublicKeyId=key_id, Status="Inactive")
    assert iam.list_ssh_public_keys(UserName="git")["SSHPublicKeys"][0]["Status"] == "Inactive"
    with pytest.raises(ClientError) as exc:
        iam.update_ssh_public_key(UserName="git", SSHPublicKeyId=key_id, Status="Expired")
    assert error_of(exc) == ("InvalidInput", 400)

    iam.delete_ssh_public_key(UserName="git", SSHPublicKeyId=key_id)
    assert iam.list_ssh_public_keys(UserName="git")["SSHPublicKeys"] == []
    calls: list[Callable[[], Any]] = [
        lambda: iam.get_ssh_public_key(UserName="git", SSHPublicKeyId=key_id, Encoding="SSH"),
        lambda: iam.update_ssh_public_key(UserName="git", SSHPublicKeyId=key_id, Status="Active"),
        lambda: iam.delete_ssh_public_key(UserName="git", SSHPublicKeyId=key_id),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("NoSuchEntity", 404)
        assert exc.value.response["Error"]["Message"] == f"The Public Key with id {key_id} cannot be found."
    iam.delete_user(UserName="git")


def test_ssh_key_pem_upload(iam: Any) -> None:
    iam.create_user(UserName="pem")
    key = rsa_key(2)
    uploaded = iam.upload_ssh_public_key(UserName="pem", SSHPublicKeyBody=pem(key))["SSHPublicKey"]
    line = openssh(key, comment="")
    assert uploaded["Fingerprint"] == md5_fingerprint(line)
    got = iam.get_ssh_public_key(UserName="pem", SSHPublicKeyId=uploaded["SSHPublicKeyId"], Encoding="SSH")
    assert got["SSHPublicKey"]["SSHPublicKeyBody"] == line
    pkcs1 = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()
    with pytest.raises(ClientError) as exc:  # the same key in another PEM flavour is still the same key
        iam.upload_ssh_public_key(UserName="pem", SSHPublicKeyBody=pkcs1)
    assert error_of(exc) == ("DuplicateSSHPublicKey", 400)
    with pytest.raises(ClientError) as exc:
        iam.upload_ssh_public_key(UserName="pem", SSHPublicKeyBody=line)
    assert error_of(exc) == ("DuplicateSSHPublicKey", 400)


def test_ssh_key_rejections(iam: Any) -> None:
    iam.create_user(UserName="r")
    small = openssh(rsa_key(3, bits=1024))
    ed = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    cases = [
        (small, "InvalidPublicKey"),
        ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQ== truncated", "InvalidPublicKey"),
        ("ssh-rsa !!!not-base64!!!", "InvalidPublicKey"),
        ("-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----", "InvalidPublicKey"),
        ("hello world", "UnrecognizedPublicKeyEncoding"),
        (ed, "UnrecognizedPublicKeyEncoding"),
        (ec_pem, "UnrecognizedPublicKeyEncoding"),
    ]
    for body, code in cases:
        with pytest.raises(ClientError) as exc:
            iam.upload_ssh_public_key(UserName="r", SSHPublicKeyBody=body)
        assert error_of(exc) == (code, 400), body
    assert iam.list_ssh_public_keys(UserName="r")["SSHPublicKeys"] == []
    with pytest.raises(ClientError) as exc:
        iam.upload_ssh_public_key(UserName="ghost", SSHPublicKeyBody=openssh(rsa_key(1)))
    assert error_of(exc) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as exc:
        iam.list_ssh_public_keys(UserName="ghost")
    assert error_of(exc) == ("NoSuchEntity", 404)


def test_ssh_key_quota_and_pagination(iam: Any) -> None:
    limit = QuotaSettings().ssh_keys_per_user
    iam.create_user(UserName="many")
    ids = sorted(
        iam.upload_ssh_public_key(UserName="many", SSHPublicKeyBody=openssh(rsa_key(10 + i)))["SSHPublicKey"][
            "SSHPublicKeyId"
        ]
        for i in range(limit)
    )
    with pytest.raises(ClientError) as exc:
        iam.upload_ssh_public_key(UserName="many", SSHPublicKeyBody=openssh(rsa_key(10 + limit)))
    assert error_of(exc) == ("LimitExceeded", 409)
    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"UserName": "many", "MaxItems": 2}
        if marker:
            kwargs["Marker"] = marker
        page = iam.list_ssh_public_keys(**kwargs)
        pages += 1
        seen += [k["SSHPublicKeyId"] for k in page["SSHPublicKeys"]]
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
        assert not marker.startswith("APKA")  # opaque
    assert seen == ids
    assert pages == (limit + 1) // 2
    # The same key may belong to another user.
    iam.create_user(UserName="twin")
    iam.upload_ssh_public_key(UserName="twin", SSHPublicKeyBody=openssh(rsa_key(10)))


def test_root_lists_no_ssh_keys(iam: Any) -> None:
    assert iam.list_ssh_public_keys()["SSHPublicKeys"] == []


def test_ssh_cross_account(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="dev")
    key_id = iam.upload_ssh_public_key(UserName="dev", SSHPublicKeyBody=openssh(rsa_key(1)))["SSHPublicKey"][
        "SSHPublicKeyId"
    ]
    _, other = second_account(iamd)
    other.create_user(UserName="dev")
    calls: list[Callable[[], Any]] = [
        lambda: other.get_ssh_public_key(UserName="dev", SSHPublicKeyId=key_id, Encoding="SSH"),
        lambda: other.delete_ssh_public_key(UserName="dev", SSHPublicKeyId=key_id),
        lambda: other.update_ssh_public_key(UserName="dev", SSHPublicKeyId=key_id, Status="Inactive"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("NoSuchEntity", 404)
    assert other.list_ssh_public_keys(UserName="dev")["SSHPublicKeys"] == []
    assert iam.list_ssh_public_keys(UserName="dev")["SSHPublicKeys"][0]["Status"] == "Active"


def test_ssh_aws_cli(iamd: Server) -> None:
    iamd.aws("iam", "create-user", "--user-name", "cli")
    out = iamd.aws("iam", "upload-ssh-public-key", "--user-name", "cli", "--ssh-public-key-body", openssh(rsa_key(1)))
    key_id = out["SSHPublicKey"]["SSHPublicKeyId"]
    got = iamd.aws(
        "iam", "get-ssh-public-key", "--user-name", "cli", "--ssh-public-key-id", key_id, "--encoding", "PEM"
    )
    assert got["SSHPublicKey"]["SSHPublicKeyBody"].startswith("-----BEGIN PUBLIC KEY-----")
    iamd.aws("iam", "delete-ssh-public-key", "--user-name", "cli", "--ssh-public-key-id", key_id)


# --- signing certificates ----------------------------------------------------------------------------------


def test_signing_certificate_lifecycle(iam: Any) -> None:
    iam.create_user(UserName="signer")
    body = certificate(1)
    cert = iam.upload_signing_certificate(UserName="signer", CertificateBody=body)["Certificate"]
    assert cert["CertificateId"] == sha1_id(body)
    assert len(cert["CertificateId"]) == 40
    assert cert["UserName"] == "signer"
    assert cert["Status"] == "Active"
    assert body.endswith("-----END CERTIFICATE-----\n")
    assert cert["CertificateBody"] == body  # as uploaded, trailing newline included
    listed = iam.list_signing_certificates(UserName="signer")["Certificates"]
    assert [c["CertificateId"] for c in listed] == [cert["CertificateId"]]
    assert listed[0]["CertificateBody"] == body

    with pytest.raises(ClientError) as exc:
        iam.upload_signing_certificate(UserName="signer", CertificateBody=body)
    assert error_of(exc) == ("DuplicateCertificate", 409)
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="signer")
    assert error_of(exc) == ("DeleteConflict", 409)

    iam.update_signing_certificate(UserName="signer", CertificateId=cert["CertificateId"], Status="Inactive")
    assert iam.list_signing_certificates(UserName="signer")["Certificates"][0]["Status"] == "Inactive"
    iam.delete_signing_certificate(UserName="signer", CertificateId=cert["CertificateId"])
    assert iam.list_signing_certificates(UserName="signer")["Certificates"] == []
    calls: list[Callable[[], Any]] = [
        lambda: iam.update_signing_certificate(UserName="signer", CertificateId=cert["CertificateId"], Status="Active"),
        lambda: iam.delete_signing_certificate(UserName="signer", CertificateId=cert["CertificateId"]),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("NoSuchEntity", 404)
        assert (
            exc.value.response["Error"]["Message"]
            == f"The Certificate with id {cert['CertificateId']} cannot be found."
        )
    iam.delete_user(UserName="signer")


def test_malformed_certificates(iam: Any) -> None:
    iam.create_user(UserName="m")
    real = certificate(2)
    for body in (
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----",
        real[: len(real) // 2] + "\n-----END CERTIFICATE-----\n",
        pem(rsa_key(1)),
    ):
        with pytest.raises(ClientError) as exc:
            iam.upload_signing_certificate(UserName="m", CertificateBody=body)
        assert error_of(exc) == ("MalformedCertificate", 400)
    assert iam.list_signing_certificates(UserName="m")["Certificates"] == []
    with pytest.raises(ClientError) as exc:
        iam.upload_signing_certificate(UserName="ghost", CertificateBody=real)
    assert error_of(exc) == ("NoSuchEntity", 404)


def test_signing_certificate_quota_and_pagination(iam: Any) -> None:
    limit = QuotaSettings().signing_certificates_per_user
    iam.create_user(UserName="q")
    ids = sorted(
        iam.upload_signing_certificate(UserName="q", CertificateBody=certificate(10 + i))["Certificate"][
            "CertificateId"
        ]
        for i in range(limit)
    )
    with pytest.raises(ClientError) as exc:
        iam.upload_signing_certificate(UserName="q", CertificateBody=certificate(10 + limit))
    assert error_of(exc) == ("LimitExceeded", 409)
    assert exc.value.response["Error"]["Message"] == f"Cannot exceed quota for CertificatesPerUser: {limit}"
    first = iam.list_signing_certificates(UserName="q", MaxItems=1)
    assert first["IsTruncated"] is True
    assert ids[0] not in first["Marker"]
    rest = iam.list_signing_certificates(UserName="q", Marker=first["Marker"])
    assert [c["CertificateId"] for c in first["Certificates"] + rest["Certificates"]] == ids


def test_root_signing_certificates(iam: Any) -> None:
    body = certificate(3)
    cert = iam.upload_signing_certificate(CertificateBody=body)["Certificate"]
    assert cert["CertificateId"] == sha1_id(body)
    assert [c["CertificateId"] for c in iam.list_signing_certificates()["Certificates"]] == [cert["CertificateId"]]
    iam.create_user(UserName="u")
    assert iam.list_signing_certificates(UserName="u")["Certificates"] == []
    with pytest.raises(ClientError) as exc:  # the root's certificate is not the user's
        iam.delete_signing_certificate(UserName="u", CertificateId=cert["CertificateId"])
    assert error_of(exc) == ("NoSuchEntity", 404)
    iam.update_signing_certificate(CertificateId=cert["CertificateId"], Status="Inactive")
    assert iam.list_signing_certificates()["Certificates"][0]["Status"] == "Inactive"
    iam.delete_signing_certificate(CertificateId=cert["CertificateId"])
    assert iam.list_signing_certificates()["Certificates"] == []


def test_signing_certificate_cross_account(iamd: Server, iam: Any) -> None:
    iam.create_user(UserName="dev")
    cert_id = iam.upload_signing_certificate(UserName="dev", CertificateBody=certificate(4))["Certificate"][
        "CertificateId"
    ]
    root_cert = iam.upload_signing_certificate(CertificateBody=certificate(5))["Certificate"]["CertificateId"]
    other_id, other = second_account(iamd)
    assert other_id != ACCOUNT_ID
    assert other.list_signing_certificates()["Certificates"] == []
    with pytest.raises(ClientError) as exc:
        other.list_signing_certificates(UserName="dev")
    assert error_of(exc) == ("NoSuchEntity", 404)
    calls: list[Callable[[], Any]] = [
        lambda: other.delete_signing_certificate(CertificateId=root_cert),
        lambda: other.update_signing_certificate(CertificateId=cert_id, Status="Inactive"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("NoSuchEntity", 404)
    assert [c["CertificateId"] for c in iam.list_signing_certificates()["Certificates"]] == [root_cert]


def test_signing_certificate_aws_cli(iamd: Server) -> None:
    iamd.aws("iam", "create-user", "--user-name", "cli")
    body = certificate(6)
    out = iamd.aws("iam", "upload-signing-certificate", "--user-name", "cli", "--certificate-body", body)
    cert_id = out["Certificate"]["CertificateId"]
    listed = iamd.aws("iam", "list-signing-certificates", "--user-name", "cli")["Certificates"]
    assert [c["CertificateId"] for c in listed] == [cert_id]
    assert out["Certificate"]["CertificateBody"] == listed[0]["CertificateBody"] == body
    iamd.aws("iam", "delete-signing-certificate", "--user-name", "cli", "--certificate-id", cert_id)
